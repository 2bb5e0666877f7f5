import json
import os

import numpy as np
import pytest
from scipy import stats

from jaxnas import data, metrics
from jaxnas.errors import DataError
from jaxnas.store import JsonlLog, Store
from tests.conftest import write_npz


def test_normalisation_uses_reference_constants():
  img = np.zeros((1, 2, 2, 3), np.uint8)
  img[..., 0] = 255
  out = data.normalize(img, 'cifar10')
  np.testing.assert_allclose(out[0, 0, 0],
                             [(1 - 125.3 / 255) / (63.0 / 255),
                              (0 - 123.0 / 255) / (62.1 / 255),
                              (0 - 113.9 / 255) / (66.7 / 255)], rtol=1e-6)
  assert out.dtype == np.float32
  np.testing.assert_allclose(data.normalize(img, 'none')[0, 0, 0], [1, 0, 0])


def test_npz_first_images_and_seeded_shuffle(tmp_path):
  path = write_npz(tmp_path / 'd.npz', n=20)
  raw = np.load(path)['images']
  b = data.load_batch(f'npz:{path}', 5)
  np.testing.assert_allclose(b.images, data.normalize(raw[:5]))
  s1 = data.load_batch(f'npz:{path}', 5, shuffle=True, seed=3)
  s2 = data.load_batch(f'npz:{path}', 5, shuffle=True, seed=3)
  assert s1.fingerprint == s2.fingerprint != b.fingerprint
  assert b.norm == 'cifar10'


@pytest.mark.parametrize('arrays, message', [
    ({'pixels': np.zeros((4, 8, 8, 3), np.uint8)}, 'no array named "images"'),
    ({'images': np.zeros((4, 8, 8, 3), np.float32)}, 'expected dtype uint8'),
    ({'images': np.zeros((4, 8, 8), np.uint8)}, r'expected shape \[N, H, W, 3\]'),
    ({'images': np.zeros((4, 3, 8, 8), np.uint8)}, r'got \[4, 3, 8, 8\]'),
    ({'images': np.zeros((2, 8, 8, 3), np.uint8)}, 'fewer than batch_size=4'),
])
def test_bad_npz_gets_one_line_error(tmp_path, arrays, message):
  path = str(tmp_path / 'bad.npz')
  np.savez(path, **arrays)
  with pytest.raises(DataError, match=message) as e:
    data.load_batch(f'npz:{path}', 4)
  assert '\n' not in str(e.value) and path in str(e.value)


def test_missing_npz_and_unknown_source(tmp_path):
  with pytest.raises(DataError, match='file not found'):
    data.load_batch(f'npz:{tmp_path}/nope.npz', 4)
  with pytest.raises(DataError, match="unknown --data 'mnist'"):
    data.load_batch('mnist', 4)


def test_float_batch_checks():
  with pytest.raises(DataError, match='non-finite'):
    data.check_float_batch(np.full((2, 4, 4, 3), np.nan, np.float32))
  with pytest.raises(DataError, match='expected a float array'):
    data.check_float_batch(np.zeros((2, 4, 4, 3), np.uint8))


def test_synthetic_is_seeded_uniform_noise():
  a = data.load_batch('synthetic', 8, seed=1)
  b = data.load_batch('synthetic', 8, seed=1)
  assert a.fingerprint == b.fingerprint
  raw = data.synthetic_images(1000, seed=0)
  assert raw.dtype == np.uint8 and abs(raw.mean() - 127.5) < 1.0


def test_store_roundtrip_and_persistence(tmp_path):
  path = str(tmp_path / 's.sqlite')
  st = Store(path)
  st.put('nb201', 'a', 'naswot', 0, 'fp', 1, 'cfg', {'value': 1.5})
  st.close()
  st = Store(path)
  assert st.get('nb201', 'a', 'naswot', 0, 'fp', 1, 'cfg') == {'value': 1.5}
  assert st.get('nb201', 'a', 'naswot', 1, 'fp', 1, 'cfg') is None
  assert st.get_all('nb201', 'naswot', 0, 'fp', 1, 'cfg') == {
      'a': {'value': 1.5}}
  with pytest.raises(ValueError):  # NaN is never stored as a number
    st.put('nb201', 'b', 'naswot', 0, 'fp', 1, 'cfg', {'value': float('nan')})


def test_jsonl_log_drops_torn_line(tmp_path):
  path = str(tmp_path / 'scores.jsonl')
  with open(path, 'w') as f:
    f.write(json.dumps({'arch': 'a', 'seed': 0}) + '\n')
    f.write('{"arch": "b", "se')  # killed mid-write
  log = JsonlLog(path, ('arch', 'seed'))
  assert {'arch': 'a', 'seed': 0} in log
  assert {'arch': 'b', 'seed': 0} not in log
  log.append({'arch': 'b', 'seed': 0})
  with open(path) as f:
    lines = [json.loads(l) for l in f]
  assert [l['arch'] for l in lines] == ['a', 'b']


def test_correlation_matches_scipy_and_drops_missing():
  rng = np.random.default_rng(0)
  s = rng.normal(size=50)
  a = s + rng.normal(size=50)
  got = metrics.correlation(list(s) + [None, 1.0], list(a) + [3.0, None])
  assert got['n'] == 50 and got['n_dropped'] == 2
  assert got['kendall_tau'] == pytest.approx(stats.kendalltau(s, a)[0])
  assert got['spearman'] == pytest.approx(stats.spearmanr(s, a)[0])
  assert metrics.correlation([1, 2, 3, 4], [10, 20, 30, 40])[
      'kendall_tau'] == pytest.approx(1.0)
  assert metrics.correlation([1, 2, 3, 4], [4, 3, 2, 1])[
      'spearman'] == pytest.approx(-1.0)
