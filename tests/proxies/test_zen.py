import jax
import numpy as np
import pytest

from jaxnas import engine


def test_zen_from_gaussian_init_inputs_and_bn_variances(suite):
  """NumPy forward with the engine's Gaussian weights and inputs: log of the
  mean L1 distance of the pre-pool features, plus sum over BNs of log
  sqrt(0.81 + 0.09 v1 + 0.1 v2), v the mean unbiased batch variances."""
  for case in suite.values():
    params = case.params('gaussian')
    x = np.asarray(jax.random.normal(jax.random.fold_in(
        case.key, engine.GAUSSIAN_SALT), case.images.shape), np.float64)
    eps = np.asarray(jax.random.normal(jax.random.fold_in(
        case.key, engine.PROXY_SALT), case.images.shape), np.float64)
    runs = []
    for inp in (x, x + 0.01 * eps):
      feats, variances = {}, []
      case.forward(params, images=inp, features=feats,
                   bn_hook=lambda m, v, n: variances.append(
                       np.mean(v * n / (n - 1))))
      runs.append((feats['pre_pool'], np.asarray(variances)))
    (f1, v1), (f2, v2) = runs
    distance = np.mean(np.sum(np.abs(f1 - f2), axis=(1, 2, 3)))
    want = np.log(distance) + np.sum(np.log(np.sqrt(0.81 + 0.09 * v1 +
                                                    0.1 * v2)))
    assert case.values['zen'] == pytest.approx(want, rel=1e-4, abs=1e-3)
