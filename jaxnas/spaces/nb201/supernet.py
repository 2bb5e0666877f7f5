"""The NB201 supernet of TE-NAS: every op on every edge, the mask as data.

An edge carries any subset of the five NB201 ops. Which ones is a 0/1 mask
``[6 edges, 5 ops]`` passed to the compiled program as data, so pruning
changes the mask, never the program. Edge e computes

  sum over ops o with mask[e, o] = 1 of  w[e, o] * o(x),
  w[e, o] = mask[e, o] / sum_o' mask[e, o'],

which is what the reference's ``softmax(alphas)`` gives with alphas 0 for the
kept ops and -INF for the pruned ones (Chen et al. 2021, VITA-Group/TENAS
``search_cells.py``): each of the k ops left on an edge weighs 1/k ('none'
counts in k when it is on, and contributes zeros). A masked-out op is
multiplied by 0 (exact zeros and zero gradients; see :func:`_mixed_edge`)
and reports no ReLU to the tap. An edge with no op on gives zeros. A single NB201 cell is the supernet with a
one-hot mask (weights 1): :func:`one_hot` turns an op array into it, so the
NB201 cells of a correlation study and the masks of the pruning search run
through one compiled program.

Network (TE-NAS's ``TinyNetworkDarts``): optional stem conv3x3 3->C + BN;
``stages`` stages of ``cells_per_stage`` supernet cells at widths C, 2C, 4C,
with NB201's residual reduction block between stages; BN-ReLU (``lastact``);
global average pool; linear. TE-NAS sizes: C=3, N=1, 3 stages with a stem for
the NTK; C=1, one stage of one cell, no stem (input channels = C) for the
linear regions. Building blocks are :mod:`jaxnas.nn`'s and NB201's
:class:`~jaxnas.spaces.nb201.network.ResidualBlock`; parameter names follow
:class:`~jaxnas.spaces.nb201.network.TinyNetwork`'s (stage cells are named
``stage{s}_cell{n}`` instead of a scanned ``stage{s}``).

ReLU taps: every ReLU-Conv-BN op reading node i sees relu(node i), so the
cell reports node i once with a count equal to the number of conv ops that
are on across the edges leaving it (each conv op owns a ReLU in the
reference); the reduction blocks' ReLUs and ``lastact`` report with count 1.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import nn as jnn
from jaxnas.errors import SpecError
from jaxnas.spaces.nb201 import network
from jaxnas.spaces.nb201 import spec

Array = jax.Array
MASK_SHAPE = (spec.NUM_EDGES, spec.NUM_OPS)

# --------------------------------------------------------------------------
# Masks (NumPy, host side).


def check_mask(mask) -> np.ndarray:
  """Validates a 0/1 op mask ``[6, 5]``; returns it as float32."""
  arr = np.asarray(mask)
  if arr.shape != MASK_SHAPE:
    raise SpecError(f'NB201 supernet mask: expected shape {MASK_SHAPE} '
                    f'(edges x ops), got {arr.shape}')
  if not np.all((arr == 0) | (arr == 1)):
    raise SpecError(f'NB201 supernet mask: entries must be 0 or 1, got '
                    f'{sorted(set(np.unique(arr).tolist()))}')
  return arr.astype(np.float32)


def one_hot(ops) -> np.ndarray:
  """The mask of one NB201 cell: op array ``[6]`` -> float32 ``[6, 5]``."""
  ops = spec.check_ops(ops)
  return np.eye(spec.NUM_OPS, dtype=np.float32)[ops]


def full_mask(with_none: bool = False) -> np.ndarray:
  """Every op on every edge; TE-NAS starts without 'none' (with_none=False)."""
  mask = np.ones(MASK_SHAPE, np.float32)
  if not with_none:
    mask[:, spec.NONE] = 0.0
  return mask


def mask_ops(mask) -> np.ndarray | None:
  """The op array of a single-path mask (one op per edge), else None."""
  mask = check_mask(mask)
  if not np.all(mask.sum(1) == 1):
    return None
  return mask.argmax(1).astype(np.int32)


def format_mask(mask) -> str:
  """E.g. ``'0->1:skip_connect,nor_conv_3x3|0->2:...'``; empty edges '-'."""
  mask = check_mask(mask)
  parts = []
  for e, (i, j) in enumerate(spec.EDGES):
    names = [spec.OPS[o] for o in np.flatnonzero(mask[e])]
    parts.append(f'{i}->{j}:{",".join(names) or "-"}')
  return '|'.join(parts)


def edge_weights(mask: Array) -> Array:
  """``[6, 5]`` 0/1 -> each op's share on its edge (1/k of the k kept)."""
  mask = jnp.asarray(mask, jnp.float32)
  return mask / jnp.maximum(jnp.sum(mask, axis=-1, keepdims=True), 1.0)


# --------------------------------------------------------------------------
# Network.


class SuperCell(nn.Module):
  """One NB201 supernet cell at constant width.

  ``__call__(x, acc, weights)``: ``x`` ``[batch, h, w, channels]``,
  ``weights`` float ``[6, 5]`` (see :func:`edge_weights`); returns
  ``(node 3, acc)``.
  """
  channels: int
  opts: jnn.NetOptions = network.OPTIONS

  @nn.compact
  def __call__(self, x: Array, acc: Any, weights: Array):
    tap = self.opts.tap
    params = network.edge_params(self, self.channels, self.opts.weight_init)
    on = weights > 0
    conv_on = (on[:, spec.CONV1].astype(jnp.int32) +
               on[:, spec.CONV3].astype(jnp.int32))
    nodes, relus, sums = [x], [], [None] * 4
    for e, (i, j) in enumerate(spec.EDGES):
      if i == len(relus):  # node i complete (EDGES is node-major)
        count = sum(conv_on[k] for k, (a, _) in enumerate(spec.EDGES)
                    if a == i)
        acc = tap.relu(acc, nodes[i], count)
        relus.append(jax.nn.relu(nodes[i]))
      y = _mixed_edge(weights[e], nodes[i], relus[i], params[e], self.opts)
      sums[j] = y if sums[j] is None else sums[j] + y
      if i == j - 1:  # the last edge into node j
        nodes.append(sums[j])
    return nodes[3], tap.feature(acc, nodes[3], 'cell')


def _mixed_edge(w: Array, x: Array, relu_x: Array, p: dict,
                opts: jnn.NetOptions) -> Array:
  """sum_o w[o] * o(x); ops with w[o] = 0 add exact zeros.

  Every op is computed and scaled by its weight (0 when masked out) rather
  than skipped with ``lax.cond``: on XLA:CPU the conditionals made the
  backward pass of the full supernet 2.7x slower (0.53 s vs 0.20 s, batch
  72, C=3), while a one-hot cell costs about the same either way (0.17 s vs
  0.21 s). A masked-out op's output is finite (BN of a constant is 0), so
  its zero weight gives exact zeros and zero gradients; its ReLU is not
  reported to the tap (the counts come from the mask).
  """
  conv1, _, _ = network.bn_no_tap(opts.conv(relu_x, p['k1'], 1, 0), p['s1'],
                                  p['b1'], opts)
  conv3, _, _ = network.bn_no_tap(opts.conv(relu_x, p['k3'], 1, 1), p['s3'],
                                  p['b3'], opts)
  # 'none' adds zeros.
  return (w[spec.SKIP] * x + w[spec.CONV1] * conv1 + w[spec.CONV3] * conv3 +
          w[spec.POOL] * jnn.avg_pool_3x3(x))


class SuperNetwork(nn.Module):
  """TE-NAS's NB201 supernet; ``apply(variables, images, arch)`` with
  ``arch`` an op mask ``[6, 5]`` or a cell's op array ``[6]`` (its one-hot
  mask).

  Attributes:
    channels: C, width of the first stage (3 for the NTK, 1 for regions).
    cells_per_stage: N cells per stage (1 in TE-NAS).
    stages: 3 = the full C, 2C, 4C network; 1 = one stage, no reduction.
    stem: conv3x3 3->C + BN first; without it the input must have C
      channels.
    num_classes: logits (the dataset's classes in TE-NAS).
    opts: weight init, BN on/off and the proxies' tap.
  """
  channels: int = 3
  cells_per_stage: int = 1
  stages: int = 3
  stem: bool = True
  num_classes: int = 10
  opts: jnn.NetOptions = network.OPTIONS

  @nn.compact
  def __call__(self, images: Array, arch: Array) -> tuple[Array, Any]:
    """Forward pass.

    Args:
      images: ``[batch, height, width, in_channels]`` float, normalised.
      arch: 0/1 ``[6, 5]`` ops on per edge, or int ``[6]`` op indices (data;
        not batched).

    Returns:
      logits ``[batch, num_classes]`` and the tap's accumulator.
    """
    if self.cells_per_stage < 1 or self.stages < 1:
      raise ValueError(f'supernet needs cells_per_stage >= 1 and stages >= '
                       f'1, got {self.cells_per_stage} and {self.stages}')
    c, opts = self.channels, self.opts
    if not self.stem and images.shape[-1] != c:
      raise ValueError(f'supernet without stem: input has '
                       f'{images.shape[-1]} channels, expected C={c}')
    if arch.shape == (spec.NUM_EDGES,):
      arch = jax.nn.one_hot(arch, spec.NUM_OPS, dtype=jnp.float32)
    weights = edge_weights(arch)
    acc = opts.tap.start(self, images.shape[0])
    x = images
    if self.stem:
      x, acc = jnn.ConvBN(c, 3, 1, opts, name='stem')(x, acc)
      acc = opts.tap.feature(acc, x, 'stem')
    for stage in range(self.stages):
      width = c * 2**stage
      if stage:
        x, acc = network.ResidualBlock(width, opts,
                                       name=f'reduce{stage}')(x, acc)
      for n in range(self.cells_per_stage):
        x, acc = SuperCell(width, opts, name=f'stage{stage}_cell{n}')(
            x, acc, weights)
    return network.head(self, x, acc, opts, self.num_classes)


def region_init(weight_init: str) -> str:
  """TE-NAS's Kaiming init is fan-out for the NTK network and fan-in for the
  regions network ('he_normal' -> 'he_normal_fan_in'); others unchanged."""
  return {'he_normal': 'he_normal_fan_in'}.get(weight_init, weight_init)


def kappa_network(num_classes: int = 10,
                  opts: jnn.NetOptions = network.OPTIONS) -> SuperNetwork:
  """TE-NAS's NTK network: C=3, N=1, stem, 3 stages."""
  return SuperNetwork(3, 1, 3, True, num_classes, opts)


def regions_network(opts: jnn.NetOptions = network.OPTIONS) -> SuperNetwork:
  """TE-NAS's linear-region network: C=1, one cell, no stem (fan-in
  Kaiming where the run asks for Kaiming, see :func:`region_init`)."""
  opts = dataclasses.replace(opts, weight_init=region_init(opts.weight_init))
  return SuperNetwork(1, 1, 1, False, 1, opts)
