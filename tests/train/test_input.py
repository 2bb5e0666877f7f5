"""The batch stream (a pure function of seed, network seed and step; epochs
are permutations), augmentation against NumPy, padded test batches."""

import jax
import numpy as np
import pytest

from jaxnas.train import input as input_lib


def test_stream_epochs_are_permutations_and_batches_pure():
  images = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1) * np.ones(
      (1, 2, 2, 3), np.uint8)
  labels = np.arange(10, dtype=np.int32)
  stream = input_lib.Stream(images, labels, 4, seed=0, seeds=[0, 1])
  first = np.concatenate([stream.batch(t)[1][0] for t in range(5)])
  assert sorted(first[:10]) == list(range(10))  # epoch 0
  assert sorted(first[10:20]) == list(range(10))  # epoch 1
  other = input_lib.Stream(images, labels, 4, seed=0, seeds=[0, 1])
  np.testing.assert_array_equal(other.batch(3)[1], stream.batch(3)[1])
  x, y = stream.batch(2)
  assert x.shape == (2, 4, 2, 2, 3) and not np.array_equal(y[0], y[1])
  np.testing.assert_array_equal(x[..., 0, 0, 0], y)


def test_augment_is_a_padded_crop_and_flip():
  rng = np.random.default_rng(0)
  images = rng.integers(1, 256, (16, 5, 5, 3), np.uint8)
  out = np.asarray(input_lib.augment(jax.random.PRNGKey(0), images, 2, True))
  padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
  offsets = set()
  for im, o in zip(padded, out):
    hits = [(dy, dx, f) for dy in range(5) for dx in range(5)
            for f in (False, True)
            if np.array_equal((im[dy:dy + 5, dx:dx + 5, :][:, ::-1] if f
                               else im[dy:dy + 5, dx:dx + 5, :]), o)]
    assert hits, 'not a crop of the padded image'
    offsets.add(hits[0])
  assert len(offsets) > 4  # per-image randomness
  same = input_lib.augment(jax.random.PRNGKey(0), images, 0, False)
  np.testing.assert_array_equal(same, images)


def test_test_batches_pad_and_mask():
  images = np.arange(7, dtype=np.uint8).reshape(7, 1, 1, 1)
  labels = np.arange(7, dtype=np.int32)
  batches = input_lib.test_batches(images, labels, 3)
  assert [b[2].tolist() for b in batches] == [[1, 1, 1], [1, 1, 1],
                                              [1, 0, 0]]
  assert batches[-1][1].tolist() == [6, 6, 6]


def test_normalize_matches_data_module():
  from jaxnas import data as data_lib  # pylint: disable=g-import-not-at-top
  images = np.random.default_rng(0).integers(0, 256, (2, 3, 3, 3), np.uint8)
  np.testing.assert_allclose(input_lib.normalize(images, 'cifar100'),
                             data_lib.normalize(images, 'cifar100'),
                             rtol=1e-6)


def test_bad_batch_size_is_refused():
  with pytest.raises(Exception, match='batch_size'):
    input_lib.Stream(np.zeros((2, 1, 1, 3), np.uint8), np.zeros(2), 0, 0,
                     [0])
