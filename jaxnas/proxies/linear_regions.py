"""linear_regions: number of linear regions on sampled inputs (TE-NAS).

TE-NAS (Chen, Gong & Wang, ICLR 2021, Sec. 3.2; VITA-Group/TENAS
``procedures/linear_region_counter.py``) feeds a thin network (the NB201
supernet with C=1, one cell, no stem) 3 batches of 1,000 inputs of shape
1x3x3: random 3x3 crops of normalised training images with one random
channel kept. Every ReLU whose input is a 4-D tensor reports its *output*;
the outputs are flattened per input, concatenated and binarised with sign()
(a ReLU output is 0 or positive, so the bit is ``output > 0``, equivalently
``input > 0``). Each input's bit vector is its activation pattern, i.e. the
linear region it falls in; R = the number of distinct patterns. Higher is
better. Each batch runs with its own BatchNorm statistics (train mode, as the
reference's three forward passes).

The count is exact: patterns are packed to bytes on the device and the
distinct rows counted on the host (``np.unique``), not the reference's
float16 ``1 / multiplicity`` sum.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import nn as jnn
from jaxnas.errors import DataError
from jaxnas.proxies import base

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class RegionTap(jnn.Tap):
  """Collects the activation bits of every ReLU on a 4-D tensor.

  The accumulator is a tuple of ``[batch, units]`` bool arrays, one per
  reporting call, so it changes structure with every call: this tap works
  on networks without control flow around their ReLUs (TE-NAS's supernet),
  not inside a scan or switch. A call with a traced ``count`` (conv ops reading a cell
  node) contributes all-zero bits when the count is 0: a column constant
  over the inputs does not change which patterns are distinct.
  """

  hooks = frozenset({'relu'})

  def init(self, batch_size: int) -> tuple:
    del batch_size
    return ()

  def relu(self, acc: tuple, x: Array, count: Any = 1,
           mask: Array | None = None) -> tuple:
    if x.ndim != 4 or (isinstance(count, int) and count == 0):
      return acc
    bits = x > 0
    if mask is not None:
      bits = bits & (jnp.asarray(mask) > 0)
    if not isinstance(count, int):
      bits = bits & (count > 0)
    return acc + (bits.reshape(x.shape[0], -1),)


TAP = RegionTap()


def pack_patterns(acc: tuple) -> Array:
  """The tap's bits as packed rows: uint8 ``[batch, ceil(units / 8)]``."""
  if not acc:
    raise ValueError('linear regions: the network reported no ReLU on a 4-D '
                     'tensor')
  return jnp.packbits(jnp.concatenate(acc, axis=1), axis=1)


def sample_patches(images: np.ndarray, n: int, rng: np.random.Generator,
                   size: int = 3) -> np.ndarray:
  """Random ``size x size`` crops, one random channel each.

  Args:
    images: float ``[num, height, width, channels]``, normalised.
    n: number of patches.
    rng: the generator choosing image, position and channel (uniform, with
      replacement; the reference takes one crop per image from a shuffled
      loader).
    size: crop side (3 in TE-NAS).

  Returns:
    float32 ``[n, size, size, 1]``.
  """
  images = np.asarray(images, np.float32)
  if images.ndim != 4 or images.shape[1] < size or images.shape[2] < size:
    raise DataError(f'linear regions: need images [N, H, W, C] with H, W >= '
                    f'{size}, got {list(images.shape)}')
  num, h, w, c = images.shape
  idx = rng.integers(0, num, n)
  ys = rng.integers(0, h - size + 1, n)
  xs = rng.integers(0, w - size + 1, n)
  ch = rng.integers(0, c, n)
  offsets = np.arange(size)
  rows = (ys[:, None] + offsets)[:, :, None]  # [n, size, 1]
  cols = (xs[:, None] + offsets)[:, None, :]  # [n, 1, size]
  patches = images[idx[:, None, None], rows, cols, ch[:, None, None]]
  return patches[..., None].astype(np.float32)


def make(inputs: int = 3000, batch: int = 1000, size: int = 3
         ) -> base.Proxy:
  """linear_regions on TE-NAS's thin supernet: ``inputs`` patches of
  ``size`` x ``size`` pixels, ``batch`` per forward pass (BN statistics per
  pass, as the reference's three passes)."""
  if inputs < 1 or batch < 1 or inputs % batch:
    raise ValueError(f'linear_regions: inputs={inputs} must be a positive '
                     f'multiple of batch={batch}')

  def prepare(images, rng):
    return sample_patches(images, inputs, rng, size)

  def device(ctx):
    batches = ctx.images.reshape((-1, batch) + ctx.images.shape[1:])

    def one_batch(x):
      return pack_patterns(ctx.run_tap(x, TAP))

    return jax.lax.map(one_batch, batches).reshape(inputs, -1)

  return base.Proxy(
      'linear_regions', host=count_regions, device=device, prepare=prepare,
      needs=base.Needs(form='tenas_regions', inputs='prepared', tap=TAP,
                       salt=1, init_loop='unroll'),
      options=(('inputs', inputs), ('batch', batch)))


def count_regions(patterns) -> tuple[float, str | None]:
  """R = number of distinct rows of the packed patterns ``[n, bytes]``."""
  rows = np.asarray(patterns)
  if rows.ndim != 2 or rows.shape[0] == 0:
    raise ValueError(f'linear regions: expected packed patterns [n, bytes] '
                     f'with n >= 1, got shape {list(rows.shape)}')
  return float(np.unique(rows, axis=0).shape[0]), None
