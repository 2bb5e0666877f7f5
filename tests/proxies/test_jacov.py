import numpy as np
import pytest

from jaxnas.proxies import jacov


def input_jacobian(case):
  """d(sum of all logits)/d(each input pixel), by central differences."""
  params = case.params()
  x = case.images.copy()
  j = np.zeros_like(x)
  for idx in np.ndindex(x.shape):
    old = x[idx]
    x[idx] = old + 1e-6
    up = case.forward(params, images=x)[0].sum()
    x[idx] = old - 1e-6
    down = case.forward(params, images=x)[0].sum()
    x[idx] = old
    j[idx] = (up - down) / 2e-6
  return j.reshape(len(x), -1)


def test_score_of_the_correlation_of_input_jacobians(suite):
  case = suite['mixed']
  corr = np.corrcoef(input_jacobian(case))
  v = np.linalg.eig(corr)[0].real  # NASLib's general eig
  want = -np.sum(np.log(v + 1e-5) + 1.0 / (v + 1e-5))
  assert case.values['jacov'] == pytest.approx(want, rel=1e-3)


def test_constant_jacobian_is_undefined():
  value, note = jacov.host(np.ones((4, 12)))
  assert value is None and 'constant' in note
