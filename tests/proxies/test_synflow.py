import math

import jax
import numpy as np
import pytest

from tests.proxies.conftest import fd_grad, get, live_kernels


def test_log_of_abs_weight_times_gradient_of_output_sum(suite):
  """float64 NumPy: |params|, BN removed, one all-ones image, R = sum of
  logits; score = log sum |W * dR/dW| over the kernels. The engine's float32
  with a rescaled input gives the same log."""
  for case in suite.values():
    params = jax.tree.map(np.abs, case.params())
    ones = np.ones((1,) + case.images.shape[1:])

    def total(p):
      return case.forward(p, images=ones, bn_on=False)[0].sum()

    grads = fd_grad(total, params, live_kernels(case, params), step=1e-5)
    want = sum(np.sum(np.abs(get(params, p) * g)) for p, g in grads.items())
    assert case.values['synflow'] == pytest.approx(math.log(want), abs=1e-4)
