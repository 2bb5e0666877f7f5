"""swap and swap_reg against a brute-force count of distinct activation
patterns (np.unique over the explicitly concatenated ReLU codes of the NumPy
NB201 forward, N(0, 1) weights)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import engine
from jaxnas.errors import JaxnasError
from jaxnas.proxies import get_proxies, get_proxy, swap
from jaxnas.spaces.nb201 import spec
from tests.proxies.conftest import ARCHS, CLASSES, KEY, SPACE, Case

BATCH = 12


def brute_patterns(relu_inputs, batch=None):
  """Distinct columns of the [samples, units] matrix of ReLU signs."""
  b = batch or relu_inputs[0].shape[0]
  codes = np.concatenate([(x[:b].reshape(b, -1) > 0) for x in relu_inputs], 1)
  return np.unique(codes.T, axis=0).shape[0]


@pytest.fixture(scope='module')
def scored():
  """name -> Case with swap, swap_reg (one program) on BATCH + 2 images,
  of which the proxies use the first BATCH."""
  rng = np.random.default_rng(5)
  images = rng.normal(size=(BATCH + 2, 8, 8, 3)).astype(np.float32)
  labels = rng.integers(0, CLASSES, size=BATCH + 2)
  proxies = get_proxies(['swap', 'swap_reg'],
                        {'swap': {'batch_size': BATCH},
                         'swap_reg': {'batch_size': BATCH, 'mu': 0.1,
                                      'sigma': 0.05}})
  eng = engine.Engine(SPACE, proxies, num_classes=CLASSES, devices=1)
  rows = list(eng.score(KEY, list(ARCHS.values()), images, labels))
  assert eng.compilations == 1
  return {name: Case(arch, {k: v.values[0] for k, v in row.results.items()},
                     images, labels)
          for (name, arch), row in zip(ARCHS.items(), rows)}


@pytest.mark.parametrize('name', sorted(ARCHS))
def test_swap_counts_distinct_patterns_under_gaussian_init(scored, name):
  case = scored[name]
  params = case.params('gaussian')
  relu_inputs = case.forward(params, images=case.images[:BATCH])[1]
  want = brute_patterns(relu_inputs)
  assert case.values['swap'] == want
  p = spec.param_count(case.arch, 1, 1, CLASSES) / 1e3
  factor = math.exp(-(p - 0.1)**2 / 0.05)
  assert case.values['swap_reg'] == pytest.approx(want * factor, rel=1e-12)


def test_tap_masks_skips_and_ignores_non_4d():
  rng = np.random.default_rng(2)
  x = rng.normal(size=(7, 3, 3, 5)).astype(np.float32)
  x[:, :, :, 1] = x[:, :, :, 0]  # repeated columns count once
  keep = np.array([1, 1, 0, 1, 0], np.float32)
  tap = swap.SwapTap()
  acc = tap.relu(tap.init(7), jnp.asarray(x), 1, jnp.asarray(keep))
  assert int(swap.count_patterns(acc)) == brute_patterns(
      [x[..., keep > 0]])
  # A tensor no ReLU reads (count 0, also traced) and a 2-D one add nothing.
  y = rng.normal(size=(7, 2, 2, 3)).astype(np.float32)
  same = tap.relu(acc, jnp.asarray(y), 0)
  assert same is acc
  traced = jax.jit(lambda a, y, c: tap.relu(a, y, c))(acc, y, jnp.int32(0))
  np.testing.assert_array_equal(np.asarray(traced), np.asarray(acc))
  assert tap.relu(acc, jnp.asarray(y[:, :, 0, 0]), 1) is acc
  both = tap.relu(acc, jnp.asarray(y), jnp.int32(2))
  assert int(swap.count_patterns(both)) == brute_patterns(
      [x[..., keep > 0], y])


def test_undefined_without_relus_and_option_checks():
  value, note = swap.host(np.int32(0))
  assert value is None and 'no ReLU' in note
  assert swap.host(np.int32(5)) == (5.0, None)
  with pytest.raises(JaxnasError, match='batch_size=21'):
    get_proxy('swap', batch_size=21)
  with pytest.raises(JaxnasError, match='sigma=0'):
    get_proxy('swap_reg', sigma=0.0)
  with pytest.raises(ValueError, match='at most 20'):
    swap.SwapTap().init(32)
  reg = get_proxy('swap_reg')
  assert reg.needs.weight_init == 'gaussian' and reg.higher_is_better
  assert reg.host(np.int32(0), 1e5)[0] is None
