import numpy as np
import pytest

from tests.proxies.conftest import get


def test_sum_of_abs_gradient_times_weight(suite, loss_grads):
  for name, case in suite.items():
    params, grads = loss_grads[name]
    want = sum(np.sum(np.abs(g * get(params, p))) for p, g in grads.items())
    assert case.values['snip'] == pytest.approx(want, rel=1e-4)
