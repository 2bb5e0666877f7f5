"""Image batches for scoring and splits for training: tfds datasets, npz
files, synthetic noise.

``--data`` values: ``cifar10``, ``cifar100``, ``imagenet16-120`` (tfds),
``npz:PATH`` (arrays ``images`` uint8 ``[N, H, W, 3]`` and optionally
``labels`` and ``num_classes``), ``synthetic`` (uniform uint8 noise with
seeded random labels). Images are normalised with the reference constants of
the dataset (NASWOT / NB201 code); npz and synthetic data use CIFAR-10's
unless ``norm`` says otherwise. A batch carries its labels (when the source
has them) and the number of classes of its dataset: the npz file's
``num_classes``, else that of the dataset whose normalisation it uses.

Training (:func:`load_splits`) takes whole train and test splits as uint8
(the npz file's ``split`` array: 0 train, 1 test); augmentation,
normalisation and prefetching are :mod:`jaxnas.train.input`'s.

Offline, a tfds dataset that is not prepared on disk fails within seconds (a
5 s connection probe to the dataset's host) with a message naming the
alternatives, instead of tfds's minutes of download retries.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
from urllib import parse as urlparse

import numpy as np

from jaxnas.errors import DataError

# (mean, std) per channel, in [0, 1] units (the references' constants).
NORMS = {
    'cifar10': ((125.3 / 255, 123.0 / 255, 113.9 / 255),
                (63.0 / 255, 62.1 / 255, 66.7 / 255)),
    'cifar100': ((129.3 / 255, 124.1 / 255, 112.4 / 255),
                 (68.2 / 255, 65.4 / 255, 70.4 / 255)),
    'imagenet16-120': ((122.68 / 255, 116.66 / 255, 104.01 / 255),
                       (63.22 / 255, 61.26 / 255, 65.09 / 255)),
    'none': ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
}

# tfds name, split, and a label filter for each tfds-backed dataset.
TFDS = {
    'cifar10': ('cifar10', 'train', None),
    'cifar100': ('cifar100', 'train', None),
    # ImageNet16-120 (Chrabaszcz et al. 2017, as used by NB201): the 16x16
    # downsampled ImageNet restricted to its first 120 classes.
    'imagenet16-120': ('imagenet_resized/16x16', 'train', 120),
}
PROBE_TIMEOUT = 5.0
# Classes of each dataset (the head size of networks scored on it).
NUM_CLASSES = {'cifar10': 10, 'cifar100': 100, 'imagenet16-120': 120}


@dataclasses.dataclass(frozen=True)
class Batch:
  """A normalised batch and where it came from.

  Attributes:
    images: float32 ``[batch, height, width, 3]``, normalised.
    labels: int32 ``[batch]``, or None when the source has none.
    num_classes: classes of the dataset (the head size).
    source: the ``--data`` value that produced it.
    norm: the normalisation used.
    fingerprint: hash of the normalised pixels and the labels (keys stored
      results).
    note: set when something noteworthy happened (e.g. a fallback).
  """
  images: np.ndarray
  labels: np.ndarray | None
  num_classes: int
  source: str
  norm: str
  fingerprint: str
  note: str | None = None


def check_norm(norm: str | None) -> None:
  """Raises unless ``norm`` is None or a known normalisation."""
  if norm is not None and norm not in NORMS:
    raise DataError(f'unknown normalisation {norm!r}; choose one of '
                    f'{", ".join(NORMS)}')


def normalize(images: np.ndarray, norm: str = 'cifar10') -> np.ndarray:
  """uint8 ``[N, H, W, 3]`` -> float32, (x / 255 - mean) / std."""
  check_images(images, 'images')
  if norm not in NORMS:
    raise DataError(f'unknown normalisation {norm!r}; choose one of '
                    f'{", ".join(NORMS)}')
  mean, std = (np.asarray(v, np.float32) for v in NORMS[norm])
  out = (images.astype(np.float32) / 255.0 - mean) / std
  return out.astype(np.float32)


def check_images(images, name: str) -> None:
  """Raises a one-line DataError unless ``images`` is uint8 [N, H, W, 3]."""
  if not isinstance(images, np.ndarray):
    raise DataError(f'{name}: expected a numpy array, got '
                    f'{type(images).__name__}')
  if images.ndim != 4 or images.shape[-1] != 3:
    raise DataError(f'{name}: expected shape [N, H, W, 3] (NHWC, RGB), got '
                    f'{list(images.shape)}')
  if images.dtype != np.uint8:
    raise DataError(f'{name}: expected dtype uint8 (0..255 pixels), got '
                    f'{images.dtype}')
  if images.shape[0] == 0:
    raise DataError(f'{name}: contains no images')


def check_float_batch(images, name: str = 'batch') -> np.ndarray:
  """Validates a normalised float batch ``[N, H, W, C]``; returns float32."""
  arr = np.asarray(images)
  if arr.ndim != 4:
    raise DataError(f'{name}: expected shape [N, H, W, C], got '
                    f'{list(arr.shape)}')
  if not np.issubdtype(arr.dtype, np.floating):
    raise DataError(f'{name}: expected a float array, got {arr.dtype}')
  if not np.all(np.isfinite(arr)):
    bad = int(np.sum(~np.isfinite(arr)))
    raise DataError(f'{name}: {bad} non-finite value(s) (NaN or inf)')
  return arr.astype(np.float32)


def check_labels(labels, n: int, num_classes: int,
                 name: str = 'labels') -> np.ndarray:
  """Validates integer labels ``[n]`` in ``[0, num_classes)``; int32."""
  arr = np.asarray(labels)
  if arr.shape != (n,):
    raise DataError(f'{name}: expected shape [{n}], got {list(arr.shape)}')
  if not np.issubdtype(arr.dtype, np.integer):
    raise DataError(f'{name}: expected integers, got {arr.dtype}')
  if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
    raise DataError(f'{name}: values must be in [0, {num_classes}), got '
                    f'{int(arr.min())}..{int(arr.max())}')
  return arr.astype(np.int32)


def fingerprint(images: np.ndarray, labels: np.ndarray | None = None) -> str:
  h = hashlib.sha256()
  h.update(str(images.shape).encode())
  h.update(np.ascontiguousarray(images, np.float32).tobytes())
  if labels is not None:
    h.update(b'labels')
    h.update(np.ascontiguousarray(labels, np.int64).tobytes())
  return h.hexdigest()[:16]


def _select(images: np.ndarray, batch_size: int, shuffle: bool, seed: int,
            what: str) -> np.ndarray:
  """The indices of the batch: the first ``batch_size``, or a seeded sorted
  random subset."""
  if batch_size < 1:
    raise DataError(f'batch_size must be >= 1, got {batch_size}')
  if images.shape[0] < batch_size:
    raise DataError(f'{what}: has {images.shape[0]} images, fewer than '
                    f'batch_size={batch_size}')
  if shuffle:
    idx = np.random.default_rng(seed).choice(images.shape[0], batch_size,
                                             replace=False)
    return np.sort(idx)
  return np.arange(batch_size)


def load_npz(path: str) -> tuple[np.ndarray, np.ndarray | None, int | None]:
  """``(images, labels, num_classes)`` of an npz file (validated): uint8
  ``images``, optional integer ``labels`` and scalar ``num_classes``."""
  what = f'data npz:{path}'
  if not os.path.exists(path):
    raise DataError(f'{what}: file not found')
  try:
    with np.load(path) as f:
      if 'images' not in f.files:
        raise DataError(f'{what}: no array named "images" (found: '
                        f'{", ".join(f.files) or "none"})')
      images = f['images']
      labels = f['labels'] if 'labels' in f.files else None
      classes = int(f['num_classes']) if 'num_classes' in f.files else None
  except (OSError, ValueError) as e:
    if isinstance(e, DataError):
      raise
    raise DataError(f'{what}: not a readable npz file ({e})') from e
  check_images(images, what)
  if labels is not None:
    labels = check_labels(labels, images.shape[0],
                          classes or int(np.max(labels, initial=0)) + 1,
                          f'{what} labels')
  return images, labels, classes


def synthetic_images(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
  """Uniform uint8 noise ``[n, size, size, 3]``."""
  rng = np.random.default_rng(seed)
  return rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


def load_batch(data: str, batch_size: int = 128, shuffle: bool = False,
               seed: int = 0, norm: str | None = None,
               data_dir: str | None = None) -> Batch:
  """Loads and normalises one batch as ``--data`` describes it.

  Args:
    data: 'cifar10', 'cifar100', 'imagenet16-120', 'npz:PATH', 'synthetic'.
    batch_size: number of images (the first ones unless ``shuffle``).
    shuffle: draw a seeded random subset instead of the first images.
    seed: seed of the subset (and of synthetic noise and labels).
    norm: normalisation constants to use (default: the dataset's own;
      CIFAR-10's for npz and synthetic data).
    data_dir: tfds data directory (default: tfds's).

  Raises:
    DataError: with a one-line message naming the input.
  """
  check_norm(norm)
  if data.startswith('npz:'):
    images, labels, classes = load_npz(data[4:])
    norm = norm or 'cifar10'
  elif data == 'synthetic':
    rng = np.random.default_rng(seed)
    images = synthetic_images(batch_size, seed=seed)
    norm = norm or 'cifar10'
    classes = NUM_CLASSES.get(norm, 10)
    labels = rng.integers(0, classes, batch_size).astype(np.int32)
  elif data in TFDS:
    images, labels = _load_tfds(data, batch_size, shuffle, seed, data_dir)
    norm, classes = norm or data, NUM_CLASSES[data]
  else:
    raise DataError(f'unknown --data {data!r}; use cifar10, cifar100, '
                    'imagenet16-120, npz:PATH or synthetic')
  if classes is None:
    classes = NUM_CLASSES.get(norm) or int(np.max(labels, initial=0)) + 1
  idx = _select(images, batch_size, shuffle, seed, data)
  images = images[idx]
  labels = None if labels is None else check_labels(labels[idx],
                                                    images.shape[0], classes)
  x = normalize(images, norm)
  return Batch(x, labels, classes, data, norm, fingerprint(x, labels))


def _probe(url: str, timeout: float = PROBE_TIMEOUT) -> str | None:
  """None if a TCP connection to the URL's host opens, else the reason."""
  parts = urlparse.urlparse(url)
  host = parts.hostname
  port = parts.port or (443 if parts.scheme == 'https' else 80)
  if not host:
    return f'no host in {url!r}'
  try:
    with socket.create_connection((host, port), timeout=timeout):
      return None
  except OSError as e:
    return f'{type(e).__name__}: {e}'


def tfds_builder(data: str, data_dir: str | None):
  """The prepared tfds builder of ``data`` (prepared now if its host answers
  the probe; a one-line DataError if not)."""
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  name = TFDS[data][0]
  builder = tfds.builder(name, data_dir=data_dir)
  if not builder.is_prepared():
    homepage = builder.info.homepage or ''
    reason = _probe(homepage) if homepage else 'no download host known'
    if reason is not None:
      raise DataError(
          f'data {data}: tfds dataset {name!r} is not prepared in '
          f'{builder.data_dir_root} and its host is unreachable ({reason}); '
          'use --data=npz:PATH (uint8 NHWC "images") or --data=synthetic, or '
          f'prepare it where there is network (tfds build {name}) and pass '
          '--data_dir')
    builder.download_and_prepare()
  return builder


def tfds_arrays(builder, split: str, max_label: int | None,
                 take: int | None = None) -> tuple[np.ndarray, np.ndarray]:
  """uint8 images and int32 labels of a split (the first ``take``), labels
  below ``max_label`` only when given."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  ds = builder.as_dataset(split=split, shuffle_files=False,
                          as_supervised=True)
  if max_label is not None:
    ds = ds.filter(lambda image, label: label < max_label)
  if take is not None:
    ds = ds.take(take)
  chunks = list(tfds.as_numpy(ds.batch(10_000)))
  images = np.concatenate([im for im, _ in chunks])
  labels = np.concatenate([lb for _, lb in chunks]).astype(np.int32)
  return images, labels


def _load_tfds(data: str, batch_size: int, shuffle: bool, seed: int,
               data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
  """First ``batch_size`` (or, to draw a seeded subset from, the first
  10,000) training images and their labels."""
  del seed
  builder = tfds_builder(data, data_dir)
  _, split, max_label = TFDS[data]
  need = max(batch_size, 10_000) if shuffle else batch_size
  return tfds_arrays(builder, split, max_label, need)
