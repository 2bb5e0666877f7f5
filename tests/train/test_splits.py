"""Training splits (jaxnas.train.splits)."""

import numpy as np
import pytest

from jaxnas.errors import DataError
from jaxnas.train import splits


def _npz(path, n=10, split=None, labels=True):
  rng = np.random.default_rng(0)
  arrays = {'images': rng.integers(0, 256, (n, 8, 8, 3), np.uint8)}
  if labels:
    arrays['labels'] = np.arange(n) % 10
  if split is not None:
    arrays['split'] = np.asarray(split)
  np.savez(path, **arrays)
  return f'npz:{path}'


def test_npz_split_array_separates_train_and_test(tmp_path):
  split = [0, 1, 0, 0, 1, 0, 0, 0, 1, 0]
  s = splits.load_splits(_npz(tmp_path / 'a.npz', split=split))
  want_test = np.flatnonzero(np.asarray(split) == 1)
  assert s.train_images.shape[0] == 7 and s.test_images.shape[0] == 3
  np.testing.assert_array_equal(s.test_labels, want_test % 10)
  assert s.train_images.dtype == np.uint8 and s.norm == 'cifar10'
  assert s.num_classes == 10


def test_npz_without_split_trains_on_everything(tmp_path):
  s = splits.load_splits(_npz(tmp_path / 'b.npz'))
  assert s.train_images.shape[0] == 10 and s.test_images is None


def test_synthetic_sizes_and_seeded():
  a, b = splits.load_splits('synthetic'), splits.load_splits('synthetic')
  assert (a.train_images.shape[0], a.test_images.shape[0]) == (
      splits.SYNTHETIC_SPLITS)
  assert a.fingerprint == b.fingerprint
  assert a.fingerprint != splits.load_splits('synthetic', seed=1).fingerprint


@pytest.mark.parametrize('make, message', [
    (lambda p: _npz(p, labels=False), 'training needs an array named'),
    (lambda p: _npz(p, split=[0, 2] + [0] * 8), '"split" must be'),
    (lambda p: 'imagenet', "unknown --data 'imagenet'"),
])
def test_bad_data_is_one_line(tmp_path, make, message):
  with pytest.raises(DataError, match=message) as e:
    splits.load_splits(make(tmp_path / 'c.npz'))
  assert '\n' not in str(e.value)


def test_unknown_norm_is_refused():
  with pytest.raises(DataError, match="unknown normalisation 'x'"):
    splits.load_splits('synthetic', norm='x')
