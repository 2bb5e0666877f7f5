"""Training data: a dataset's whole train and test splits, kept uint8 on
the host (normalised and augmented per batch by :mod:`jaxnas.train.input`);
the same ``--data`` values as scoring (:mod:`jaxnas.data`).
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from jaxnas import data as data_lib
from jaxnas.errors import DataError


# The held-out split of each tfds dataset (ImageNet16-120: the validation
# images of its first 120 classes).
TFDS_TEST_SPLIT = {'cifar10': 'test', 'cifar100': 'test',
                   'imagenet16-120': 'validation'}
NPZ_TRAIN, NPZ_TEST = 0, 1  # values of an npz file's ``split`` array
SYNTHETIC_SPLITS = (512, 128)  # train / test images of --data=synthetic


@dataclasses.dataclass(frozen=True)
class Splits:
  """A dataset's training and test images for training networks.

  Attributes:
    train_images: uint8 ``[N, height, width, 3]``.
    train_labels: int32 ``[N]``.
    test_images: uint8 ``[M, height, width, 3]``, or None (no test split).
    test_labels: int32 ``[M]``, or None.
    num_classes: classes of the dataset (the head size).
    source: the ``--data`` value.
    norm: the normalisation constants to use (a :data:`jaxnas.data.NORMS` key).
    fingerprint: hash of both splits (keys checkpoints).
  """
  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray | None
  test_labels: np.ndarray | None
  num_classes: int
  source: str
  norm: str
  fingerprint: str

  def info(self) -> dict:
    """Provenance for ``config.json``."""
    return {'data': self.source, 'norm': self.norm,
            'train_images': int(self.train_images.shape[0]),
            'test_images': (0 if self.test_images is None
                            else int(self.test_images.shape[0])),
            'num_classes': self.num_classes,
            'data_fingerprint': self.fingerprint}


def _split_fingerprint(*arrays) -> str:
  h = hashlib.sha256()
  for a in arrays:
    h.update(b'|' if a is None else str(a.shape).encode())
    if a is not None:
      h.update(np.ascontiguousarray(a).tobytes())
  return h.hexdigest()[:16]


def load_splits(data: str, norm: str | None = None,
                data_dir: str | None = None, seed: int = 0) -> Splits:
  """The training and test splits ``--data`` names, for training.

  * tfds datasets: their train and test splits (ImageNet16-120: train and
    validation, first 120 classes), loaded whole; offline and not prepared,
    the same one-line error as scoring.
  * ``npz:PATH``: ``images`` and ``labels`` (required), optional
    ``num_classes``, and an optional ``split`` array (0 train, 1 test;
    without it every image trains and there is no test split).
  * ``synthetic``: seeded noise with random labels (512 train, 128 test).

  Raises:
    DataError: with a one-line message naming the input.
  """
  data_lib.check_norm(norm)
  if data.startswith('npz:'):
    images, labels, classes = data_lib.load_npz(data[4:])
    if labels is None:
      raise DataError(f'data {data}: training needs an array named "labels"')
    split = _npz_split(data[4:], images.shape[0])
    norm = norm or 'cifar10'
    classes = (classes or data_lib.NUM_CLASSES.get(norm) or
               int(labels.max()) + 1)
    train, test = split == NPZ_TRAIN, split == NPZ_TEST
    parts = (images[train], labels[train],
             images[test] if test.any() else None,
             labels[test] if test.any() else None)
  elif data == 'synthetic':
    n_train, n_test = SYNTHETIC_SPLITS
    norm = norm or 'cifar10'
    classes = data_lib.NUM_CLASSES.get(norm, 10)
    images = data_lib.synthetic_images(n_train + n_test, seed=seed)
    labels = np.random.default_rng(seed).integers(
        0, classes, n_train + n_test).astype(np.int32)
    parts = (images[:n_train], labels[:n_train], images[n_train:],
             labels[n_train:])
  elif data in data_lib.TFDS:
    builder = data_lib.tfds_builder(data, data_dir)
    _, split, max_label = data_lib.TFDS[data]
    parts = (data_lib.tfds_arrays(builder, split, max_label) +
             data_lib.tfds_arrays(builder, TFDS_TEST_SPLIT[data], max_label))
    norm, classes = norm or data, data_lib.NUM_CLASSES[data]
  else:
    raise DataError(f'unknown --data {data!r}; use cifar10, cifar100, '
                    'imagenet16-120, npz:PATH or synthetic')
  if parts[0].shape[0] == 0:
    raise DataError(f'data {data}: no training images')
  train_labels = data_lib.check_labels(parts[1], parts[0].shape[0],
                                       classes, f'{data} train labels')
  test_labels = (None if parts[2] is None else
                 data_lib.check_labels(parts[3], parts[2].shape[0], classes,
                                       f'{data} test labels'))
  return Splits(parts[0], train_labels, parts[2], test_labels, classes, data,
                norm, _split_fingerprint(parts[0], train_labels, parts[2],
                                         test_labels))


def _npz_split(path: str, n: int) -> np.ndarray:
  """The ``split`` array of an npz file (all train when absent)."""
  with np.load(path) as f:
    if 'split' not in f.files:
      return np.full(n, NPZ_TRAIN, np.int8)
    split = np.asarray(f['split'])
  if split.shape != (n,) or not np.isin(split, (NPZ_TRAIN, NPZ_TEST)).all():
    raise DataError(f'data npz:{path}: "split" must be [{n}] values in '
                    f'{{{NPZ_TRAIN} (train), {NPZ_TEST} (test)}}')
  return split
