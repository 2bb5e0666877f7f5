"""The training input pipeline: a seeded stream of batches, augmentation on
the device, prefetching, and padded test batches.

The training images stay uint8 on the host (:class:`jaxnas.train.splits.Splits`).
Network seed ``j`` reads the stream of its own epoch permutations
(``numpy`` generator seeded by ``(seed, j, epoch)``): batch ``t`` is images
``t*B .. (t+1)*B - 1`` of the concatenated permutations, so every batch is
full, an epoch is ``N / B`` steps, and batch ``t`` is a pure function of
``(seed, j, t)``: a resumed run reads exactly the batches an uninterrupted
one would. All architectures trained with seed ``j`` see the same batches
(common random numbers). :class:`Prefetcher` assembles the next batches
and puts them on the devices in a background thread.

Augmentation runs inside the compiled step (:func:`augment`): zero padding
(black pixels, before normalisation, as torchvision's ``RandomCrop(padding)``
and NAS-Bench-101's ``resize_image_with_crop_or_pad`` do), a random crop
back to size and a random horizontal flip, then normalisation with the
dataset's constants, from a key folded from the seed's data key and the
step.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import data as data_lib

Array = jax.Array


class Stream:
  """Batches of one or several seeds' epoch-permutation streams.

  Args:
    images: uint8 ``[N, height, width, 3]``.
    labels: int32 ``[N]``.
    batch_size: images per batch.
    seed: the run's seed.
    seeds: the data seeds' indices ``j`` (one stream each).
  """

  def __init__(self, images: np.ndarray, labels: np.ndarray,
               batch_size: int, seed: int, seeds: list[int]):
    if batch_size < 1:
      raise data_lib.DataError(f'batch_size must be >= 1, got {batch_size}')
    self.images, self.labels = images, labels
    self.batch_size, self.seed, self.seeds = batch_size, seed, list(seeds)
    self._perms: dict[tuple[int, int], np.ndarray] = {}

  def _perm(self, j: int, epoch: int) -> np.ndarray:
    key = (j, epoch)
    if key not in self._perms:
      if len(self._perms) > 4 * len(self.seeds):
        self._perms.clear()
      rng = np.random.default_rng((self.seed, j, epoch))
      self._perms[key] = rng.permutation(self.images.shape[0])
    return self._perms[key]

  def indices(self, j: int, step: int) -> np.ndarray:
    """Indices ``[batch]`` of seed ``j``'s batch at ``step``."""
    n, b = self.images.shape[0], self.batch_size
    epoch, offset = divmod(step * b, n)
    parts, need = [], b
    while need:
      take = self._perm(j, epoch)[offset:offset + need]
      parts.append(take)
      need -= take.size
      epoch, offset = epoch + 1, 0
    return np.concatenate(parts)

  def batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images ``[seeds, batch, h, w, 3]`` and int32 labels
    ``[seeds, batch]`` of every seed at ``step``."""
    idx = np.stack([self.indices(j, step) for j in self.seeds])
    return self.images[idx], self.labels[idx]


class Prefetcher:
  """Iterates ``put(stream.batch(t))`` for ``t`` in ``[start, stop)``,
  computed ``depth`` steps ahead in a background thread.

  Args:
    stream: the :class:`Stream`.
    start, stop: the steps.
    put: host batch -> device batch (e.g. ``jax.device_put`` with the
      program's sharding).
    depth: batches made ahead.
  """

  def __init__(self, stream: Stream, start: int, stop: int,
               put: Callable[[Any], Any], depth: int = 2):
    self._queue: queue.Queue = queue.Queue(maxsize=depth)
    self._stop = threading.Event()

    def work():
      try:
        for step in range(start, stop):
          item = (step, put(stream.batch(step)))
          while not self._stop.is_set():
            try:
              self._queue.put(item, timeout=0.1)
              break
            except queue.Full:
              continue
          if self._stop.is_set():
            return
      except Exception as e:  # pylint: disable=broad-except
        self._queue.put(e)  # re-raised by the consumer

    self._thread = threading.Thread(target=work, daemon=True)
    self._thread.start()
    self._left = stop - start

  def __iter__(self) -> Iterator[tuple[int, Any]]:
    while self._left > 0:
      item = self._queue.get()
      if isinstance(item, Exception):
        raise item
      self._left -= 1
      yield item

  def close(self) -> None:
    self._stop.set()
    self._thread.join(timeout=5.0)


def normalize(images: Array, norm: str) -> Array:
  """uint8 (or float pixel) ``[..., 3]`` -> float32 ``(x / 255 - mean) /
  std`` with the constants of ``norm``, as :func:`jaxnas.data.normalize`."""
  mean, std = (np.asarray(v, np.float32) for v in data_lib.NORMS[norm])
  return (images.astype(jnp.float32) / 255.0 - mean) / std


def augment(key: Array, images: Array, padding: int, flip: bool) -> Array:
  """Random crop after zero padding, and random horizontal flip.

  Args:
    key: PRNG key.
    images: ``[batch, height, width, channels]`` (uint8 pixels).
    padding: pixels of zeros added on each side before the crop (0: none).
    flip: flip each image left-right with probability 1/2.

  Returns:
    ``[batch, height, width, channels]``, same dtype.
  """
  b, h, w, c = images.shape
  k_y, k_x, k_flip = jax.random.split(key, 3)
  if padding:
    padded = jnp.pad(images, ((0, 0), (padding, padding),
                              (padding, padding), (0, 0)))
    dy = jax.random.randint(k_y, (b,), 0, 2 * padding + 1)
    dx = jax.random.randint(k_x, (b,), 0, 2 * padding + 1)
    images = jax.vmap(lambda im, y, x: jax.lax.dynamic_slice(
        im, (y, x, 0), (h, w, c)))(padded, dy, dx)
  if flip:
    mirror = jax.random.bernoulli(k_flip, 0.5, (b,))
    images = jnp.where(mirror[:, None, None, None], images[:, :, ::-1],
                       images)
  return images


def test_batches(images: np.ndarray, labels: np.ndarray, batch_size: int
                 ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
  """The test split in batches of ``batch_size`` (the last padded with
  copies of the first image): ``(images, labels, mask)`` with mask 1 for the
  real images. Eval-mode networks treat images independently, so padding
  changes nothing."""
  n = images.shape[0]
  size = min(batch_size, n)
  out = []
  for start in range(0, n, size):
    x, y = images[start:start + size], labels[start:start + size]
    real = x.shape[0]
    mask = np.zeros(size, np.float32)
    mask[:real] = 1.0
    if real < size:
      x = np.concatenate([x, np.repeat(x[:1], size - real, 0)])
      y = np.concatenate([y, np.repeat(y[:1], size - real, 0)])
    out.append((x, y, mask))
  return out
