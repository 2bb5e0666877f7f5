import numpy as np
import pytest

from tests.proxies.conftest import get, live_kernels


def test_sum_of_frobenius_norms_of_the_real_kernels(suite):
  for case in suite.values():
    params = case.params()
    live = live_kernels(case, params)
    want = sum(np.linalg.norm(get(params, p)) for p in live)
    assert case.values['l2_norm'] == pytest.approx(want, rel=1e-5)


def test_kernels_of_ops_not_chosen_are_zero(suite):
  case = suite['mixed']
  params = case.params()
  live = set(live_kernels(case, params))
  from jaxnas import nn as jnn  # pylint: disable=g-import-not-at-top
  dead = [p for p, _ in jnn.tree_paths(params)
          if jnn.is_kernel(p) and p not in live]
  assert dead and all(not np.any(get(params, p)) for p in dead)
