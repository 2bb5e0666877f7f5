import numpy as np
import pytest

from tests.proxies.conftest import get


def test_minus_weight_times_hessian_gradient_product(suite, loss_grads):
  """sum(-W * H g) over the kernels is minus the mixed second derivative of
  L(W + s W + t g) at 0 (BN parameters fixed), by central differences."""
  for name, case in suite.items():
    params, grads = loss_grads[name]
    paths = list(grads)

    def shifted(s, t):
      p = _copy(params)
      for path in paths:
        leaf = get(p, path)
        leaf += s * get(params, path) + t * grads[path]
      return case.loss(p)

    h = 1e-5  # ReLU kinks: larger steps cross them (1e-3 is 2x off)
    mixed = (shifted(h, h) - shifted(h, -h) - shifted(-h, h) +
             shifted(-h, -h)) / (4 * h * h)
    assert case.values['grasp'] == pytest.approx(-mixed, rel=1e-3)


def _copy(tree):
  if isinstance(tree, dict):
    return {k: _copy(v) for k, v in tree.items()}
  return np.array(tree)
