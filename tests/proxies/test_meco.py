"""meco against NumPy: np.corrcoef over the channels of the first image's
feature map at every site the NumPy NB201 forward marks (stem, ops, cells,
reduction blocks, pre-pool), float64 eigenvalues; and swap + meco + naswot
in one program."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import engine
from jaxnas import nn as jnn
from jaxnas.proxies import base, get_proxies, get_proxy, meco
from jaxnas.spaces import get_space
from tests import numpy_nb201 as npn
from tests.proxies.conftest import ARCHS, CLASSES, KEY

# Three channels: a one-channel network's correlations are all 1.
SPACE = get_space('nb201', channels=3, cells_per_stage=1)


def reference_min_eigenvalue(feature):
  """Smallest eigenvalue of np.corrcoef of the non-constant channels of a
  [H, W, C] map (None when every channel is constant)."""
  rows = feature.reshape(-1, feature.shape[-1]).T
  rows = rows[np.ptp(rows, axis=1) > 0]
  if not len(rows):
    return None
  corr = np.atleast_2d(np.corrcoef(rows))
  return float(np.linalg.eigvalsh(corr)[0])


@pytest.fixture(scope='module')
def scored():
  rng = np.random.default_rng(8)
  images = rng.normal(size=(4, 8, 8, 3)).astype(np.float32)
  labels = rng.integers(0, CLASSES, size=4)
  proxies = get_proxies(['swap', 'meco', 'naswot'],
                        {'swap': {'batch_size': 4}})
  eng = engine.Engine(SPACE, proxies, num_classes=CLASSES, devices=1)
  archs = list(ARCHS.values())
  rows = list(eng.score(KEY, archs, images, labels))
  assert eng.compilations == 1  # three proxies, two groups, one program
  return images, archs, rows


def test_meco_sums_min_eigenvalues_over_feature_sites(scored):
  images, archs, rows = scored
  net = SPACE.network(jnn.NetOptions('torch'), CLASSES)
  init = jax.jit(lambda k, x, a: base.init_variables(net, k, x, a))
  for arch, row in zip(archs, rows):
    key = jax.random.split(jax.random.fold_in(KEY, SPACE.arch_id(arch)), 1)[0]
    params = jax.tree.map(lambda a: np.asarray(a, np.float64),
                          init(key, images[:1], arch)['params'])
    sites = []
    npn.forward(params, images[:1].astype(np.float64), arch, 1, sites=sites)
    kinds = {k for k, _ in sites}
    assert kinds == {'stem', 'op', 'cell', 'block', 'pre_pool'}
    values = [reference_min_eigenvalue(x[0]) for _, x in sites]
    want = sum(v for v in values if v is not None)
    got = row.results['meco'].values[0]
    # float32 eigenvalues on the device; 2x2 maps in the last stage make
    # 12-channel correlations of rank <= 3 (eigenvalue 0 up to rounding).
    assert got == pytest.approx(want, abs=1e-4)


def test_constant_and_padded_channels_are_left_out():
  rng = np.random.default_rng(1)
  f = rng.normal(size=(5, 5, 6)).astype(np.float32)
  f[..., 2] = 0.0  # a padded channel
  f[..., 4] = 3.0  # a constant one
  value, live = meco.min_correlation_eigenvalue(jnp.asarray(f))
  assert int(live) == 4
  assert float(value) == pytest.approx(reference_min_eigenvalue(f), abs=1e-5)
  value, live = meco.min_correlation_eigenvalue(jnp.zeros((3, 3, 4)))
  assert int(live) == 0


def test_host_drops_dead_sites_and_non_finite_values():
  values = np.zeros((meco.TAP.capacity, 2), np.float32)
  values[:4] = [[0.5, 3], [np.nan, 3], [7.0, 0], [0.25, 2]]
  assert meco.host((values, np.int32(4))) == (0.75, None)
  value, note = meco.host((values, np.int32(0)))
  assert value is None and 'no feature map' in note
  with pytest.raises(ValueError, match='raise its capacity'):
    meco.host((values, np.int32(meco.TAP.capacity + 1)))


def test_options():
  proxy = get_proxy('meco', inputs='gaussian')
  assert proxy.needs.inputs == 'gaussian' and proxy.needs.batch_size == 1
  assert proxy.higher_is_better and proxy.key == 'meco(inputs=gaussian)'
  with pytest.raises(Exception, match="inputs='ones'"):
    get_proxy('meco', inputs='ones')
