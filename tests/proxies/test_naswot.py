import csv

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxnas import data as data_lib
from jaxnas import native
from jaxnas.engine import Engine
from jaxnas.proxies import get_proxies
from jaxnas.proxies import naswot
from jaxnas.spaces.nb201 import NB201Space
from tests.conftest import reference_file

# (native, feature_major): the C++ kernel, and both XLA layouts.
NATIVE = pytest.param(
    (True, False), id='native', marks=pytest.mark.skipif(
        not native.naswot_gram_available(),
        reason='native NASWOT kernel could not be built here (see stderr)'))
PATHS = [NATIVE, pytest.param((False, True), id='xla_feature_major'),
         pytest.param((False, False), id='xla_batch_major')]


def _brute(x):
  b = x.shape[0]
  c = x.reshape(b, -1) > 0
  return np.array([[np.sum(c[i] == c[j]) for j in range(b)] for i in range(b)])


@pytest.mark.parametrize('path', PATHS)
@pytest.mark.parametrize('shape', [(5, 7), (4, 3, 3, 2), (8, 16, 16, 4),
                                   (3, 130)])  # 130: a partial 64-bit word
def test_code_kernel_is_agreement_count(shape, path):
  use_native, feature_major = path
  rng = np.random.default_rng(1)
  x = rng.normal(size=shape).astype(np.float32)
  x[0] = x[1]  # identical rows agree everywhere
  x[2] = 0.0   # zeros are 'off' codes
  k = np.asarray(naswot.code_kernel(jnp.asarray(x), None, feature_major,
                                    use_native))
  np.testing.assert_array_equal(k, _brute(x))
  assert k[0, 1] == np.prod(shape[1:])


@pytest.mark.parametrize('path', PATHS)
def test_masked_code_kernel_counts_real_channels_only(path):
  use_native, feature_major = path
  rng = np.random.default_rng(4)
  x = rng.normal(size=(6, 3, 3, 24)).astype(np.float32)
  keep = rng.random(24) > 0.4
  k = np.asarray(naswot.code_kernel(jnp.asarray(x), jnp.asarray(keep, jnp.float32),
                                    feature_major, use_native))
  np.testing.assert_array_equal(k, _brute(x[..., keep]))


@pytest.mark.parametrize('feature_major', [True, False])
def test_code_kernel_splits_long_rows_exactly(monkeypatch, feature_major):
  # Rows longer than float32's exact-integer range are split into pieces;
  # shrink the range so a small input takes that path (uneven last piece).
  monkeypatch.setattr(naswot, '_EXACT_F32', 8)
  x = np.random.default_rng(3).normal(size=(6, 5, 5)).astype(np.float32)
  k = np.asarray(naswot.code_kernel(jnp.asarray(x), None, feature_major,
                                    False))
  np.testing.assert_array_equal(k, _brute(x))


def test_code_kernel_without_the_native_kernel(monkeypatch):
  monkeypatch.setattr(native, '_state', {})
  monkeypatch.setenv('JAXNAS_NATIVE', '0')
  with pytest.raises(RuntimeError, match='native=True'):
    naswot.code_kernel(jnp.ones((2, 3)), native=True)
  # The automatic choice falls back to the XLA formulation.
  x = np.random.default_rng(5).normal(size=(4, 9)).astype(np.float32)
  np.testing.assert_array_equal(np.asarray(naswot.code_kernel(jnp.asarray(x))),
                                _brute(x))


def test_tap_counts_multiply_and_skip_zero():
  x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 10)), jnp.float32)
  tap = naswot.NaswotTap()
  acc = tap.init(4)
  acc = tap.relu(acc, x, jnp.int32(3))
  acc = tap.relu(acc, x, jnp.int32(0))
  np.testing.assert_array_equal(np.asarray(acc), 3 * _brute(np.asarray(x)))


def test_score_is_logdet_in_float64():
  rng = np.random.default_rng(0)
  codes = rng.integers(0, 2, size=(6, 50))
  k = np.array([[np.sum(a == b) for b in codes] for a in codes])
  score, note = naswot.naswot_from_kernel(k)
  assert note is None
  assert score == pytest.approx(np.log(np.linalg.det(k.astype(np.float64))))


def test_singular_kernel_is_none_with_note():
  k = np.full((4, 4), 7)  # identical codes for every input
  score, note = naswot.naswot_from_kernel(k)
  assert score is None
  assert 'singular' in note


def test_agrees_with_naslib_published_nwot():
  """External check: jaxnas NASWOT on the benchmark network (C=16, N=5)
  against NASLib's published ``nwot`` (NAS-Bench-Suite-Zero, CIFAR-10 rows
  of nb201_zc_naslib_subset.csv; batch of 32 real CIFAR-10 images, another
  batch and init than NASLib's). The sample is 24 cells evenly spaced in
  NASLib's nwot rank, so it spans the range the proxy ranks over."""
  with open(reference_file('nb201_zc_naslib_subset.csv')) as f:
    rows = [r for r in csv.DictReader(f) if r['dataset'] == 'cifar10'
            and np.isfinite(float(r['nwot']))]
  rows.sort(key=lambda r: float(r['nwot']))
  sample = [rows[i] for i in np.linspace(0, len(rows) - 1, 24).astype(int)]
  batch = data_lib.load_batch('npz:' + reference_file('cifar10_sample.npz'),
                              batch_size=32)
  space = NB201Space()
  engine = Engine(space, get_proxies(['naswot']),
                  num_classes=batch.num_classes)
  archs = [space.parse(r['arch_str']) for r in sample]
  ours = [s['naswot'].values[0] for s in engine.score(
      jax.random.key(0), archs, batch.images, batch.labels)]
  theirs = [float(r['nwot']) for r in sample]
  rho = stats.spearmanr(ours, theirs).statistic
  print(f'Spearman(jaxnas naswot, NASLib nwot) over {len(sample)} cells: '
        f'{rho:.4f}')
  assert rho >= 0.98, f'Spearman(jaxnas naswot, NASLib nwot) = {rho:.3f}'
