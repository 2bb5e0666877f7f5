"""Tests of jaxnas.data: batches, normalisation, labels, errors."""

import dataclasses

import numpy as np
import pytest

from jaxnas import data
from jaxnas.errors import DataError
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


def test_data_seed_changes_the_subset_not_the_init_seed(tmp_path):
  """--data_seed draws the --shuffle subset (default: --seed)."""
  from jaxnas.cli.results import load_data  # pylint: disable=g-import-not-at-top
  from jaxnas.config import RunConfig  # pylint: disable=g-import-not-at-top
  path = write_npz(tmp_path / 'd.npz', n=20)
  cfg = RunConfig(mode='score', data=f'npz:{path}', batch_size=5,
                  shuffle=True, seed=0)
  by_seed = {s: data.load_batch(f'npz:{path}', 5, shuffle=True,
                                seed=s).fingerprint for s in (0, 7)}
  assert by_seed[0] != by_seed[7]
  assert load_data(cfg).fingerprint == by_seed[0]
  assert load_data(dataclasses.replace(cfg, data_seed=7)).fingerprint == (
      by_seed[7])


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


def test_batches_carry_labels_and_classes(tmp_path):
  path = write_npz(tmp_path / 'd.npz', n=20)
  raw = np.load(path)
  b = data.load_batch(f'npz:{path}', 5, shuffle=True, seed=2)
  idx = np.sort(np.random.default_rng(2).choice(20, 5, replace=False))
  np.testing.assert_array_equal(b.labels, raw['labels'][idx])
  np.testing.assert_allclose(b.images, data.normalize(raw['images'][idx]))
  assert b.labels.dtype == np.int32 and b.num_classes == 10  # CIFAR-10 norm
  assert data.load_batch(f'npz:{path}', 5, norm='cifar100').num_classes == 100
  s = data.load_batch('synthetic', 8, seed=1)
  assert s.labels.shape == (8,) and 0 <= s.labels.min() <= s.labels.max() < 10


def test_fingerprint_covers_labels(tmp_path):
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (6, 8, 8, 3), np.uint8)
  labels = rng.integers(0, 10, 6)
  np.savez(tmp_path / 'a.npz', images=images, labels=labels)
  np.savez(tmp_path / 'b.npz', images=images, labels=(labels + 1) % 10)
  np.savez(tmp_path / 'c.npz', images=images)
  fps = {data.load_batch(f'npz:{tmp_path}/{n}.npz', 6).fingerprint
         for n in 'abc'}
  assert len(fps) == 3


def test_npz_num_classes_and_bad_labels(tmp_path):
  images = np.zeros((4, 8, 8, 3), np.uint8)
  np.savez(tmp_path / 'n.npz', images=images, labels=[0, 1, 2, 119],
           num_classes=120)
  assert data.load_batch(f'npz:{tmp_path}/n.npz', 4).num_classes == 120
  np.savez(tmp_path / 'bad.npz', images=images, labels=[0.5, 1, 2, 3])
  with pytest.raises(DataError, match='expected integers'):
    data.load_batch(f'npz:{tmp_path}/bad.npz', 4)
  with pytest.raises(DataError, match=r'values must be in \[0, 10\)'):
    data.check_labels(np.array([0, 10]), 2, 10)
