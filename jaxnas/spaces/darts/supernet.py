"""TE-NAS's DARTS supernet: 8 candidate ops on each of a cell's 14 edges,
the op mask as data.

A mask is 0/1 ``[2 cells, 14 edges, 8 ops]`` (cell 0 normal, 1 reduce).
Edges are node-major: edge ``e`` feeds node ``j`` from state ``s`` in
:data:`EDGES` order ``(0,0), (0,1), (1,0), (1,1), (1,2), (2,0), ...``, which
is TE-NAS's ``sorted('{j}<-{s}')`` order. Ops are in TE-NAS's
``DARTS_SPACE`` order (:data:`OPS`, 'none' first). Edge e computes

  sum over ops o on of  (1 / k) * o(x)      (k = ops on the edge),

what TE-NAS's ``MixedOp.forward_darts`` gives with alphas 0 for the kept
ops and -1000 for the pruned ones (softmax weights 1/k and 0; ops with a
weight <= 0.01 are not run, so they report no ReLU). An edge with no op on
gives zeros. A genotype's int ``[2, 8, 2]`` array is also accepted: its
one-op-per-chosen-edge mask (:func:`genotype_mask`).

Network (VITA-Group/TENAS ``search_model_darts_nasnet.NASNetworkDARTS`` with
``super_type='nasnet-super'``): optional stem conv 3x3 3 -> C + affine BN
(``stem_multiplier`` 1); cells at widths C, 2C (reduction), 4C (reduction)
... as NASNet's layout with N cells per stage, cut after ``depth`` cells
(TE-NAS: C=1, N=1, depth=2: one normal cell at C, one reduction cell at
2C); preprocessing ReLU-conv1x1-BN (a FactorizedReduce after a reduction);
BN-ReLU (``lastact``); global average pool; linear. Its ops differ from
NASLib's NB301 ops (:mod:`jaxnas.spaces.darts.ops`): BNs are affine, pools
have no BN, and FactorizedReduce pads one row and column at the end (so odd
sizes, e.g. the 3x3 patches of the linear regions, reduce to ceil(H / 2)).

TE-NAS sizes: the NTK network has the stem; the linear-region network has
none (its 1-channel 3x3 patches enter the first cell directly).

ReLU taps: a state's ReLU is reported once with a count equal to the
number of ops on across the edges leaving it that start with a ReLU (sep /
dil convs, the stride-2 skip); a sep conv's inner ReLU with its op's on/off;
preprocessing and ``lastact`` with count 1. Every stage runs unrolled (no
scan or switch), so taps with per-call accumulators (linear regions) work.
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
from jaxnas.spaces.darts import spec

Array = jax.Array
OPS = ('none', 'skip_connect', 'sep_conv_3x3', 'sep_conv_5x5',
       'dil_conv_3x3', 'dil_conv_5x5', 'avg_pool_3x3', 'max_pool_3x3')
NONE = 0
NUM_OPS = len(OPS)
EDGES = tuple((j, s) for j in range(spec.NUM_NODES) for s in range(j + 2))
NUM_EDGES = len(EDGES)  # 14
MASK_SHAPE = (len(spec.CELLS), NUM_EDGES, NUM_OPS)
EDGE_GROUPS = ((0, 2), (2, 5), (5, 9), (9, 14))  # the edges into node j
# spec op index -> supernet op index
FROM_SPEC = np.array([OPS.index(name) for name in spec.OPS], np.int32)
_CONVS = {'sep_conv_3x3': (3, 1, 2), 'sep_conv_5x5': (5, 1, 2),
          'dil_conv_3x3': (3, 2, 1), 'dil_conv_5x5': (5, 2, 1)}
OPTIONS = jnn.NetOptions()

# --------------------------------------------------------------------------
# Masks (NumPy, host side).


def edge_index(node: int, src: int) -> int:
  return node * (node + 3) // 2 + src


def check_mask(mask) -> np.ndarray:
  arr = np.asarray(mask)
  if arr.shape != MASK_SHAPE:
    raise SpecError(f'DARTS supernet mask: expected shape {MASK_SHAPE} '
                    f'(cells x edges x ops), got {arr.shape}')
  if not np.all((arr == 0) | (arr == 1)):
    raise SpecError('DARTS supernet mask: entries must be 0 or 1')
  return arr.astype(np.float32)


def full_mask(with_none: bool = False) -> np.ndarray:
  """Every op on every edge; TE-NAS starts without 'none'."""
  mask = np.ones(MASK_SHAPE, np.float32)
  if not with_none:
    mask[:, :, NONE] = 0.0
  return mask


def genotype_mask(arch) -> np.ndarray:
  """The mask of one genotype: its 16 (op, input) pairs on, all else off."""
  arr = spec.to_array(arch)
  mask = np.zeros(MASK_SHAPE, np.float32)
  for c in range(len(spec.CELLS)):
    for p, (op, src) in enumerate(arr[c]):
      mask[c, edge_index(p // 2, src), FROM_SPEC[op]] = 1.0
  return mask


def mask_genotype(mask) -> spec.Genotype | None:
  """The genotype of a mask with 2 single-op edges into each node and no
  other op on ('none' never chosen), else None. A node's pairs are in input
  order (TE-NAS's ``genotype()`` with equal weights)."""
  mask = check_mask(mask)
  arr = np.zeros(spec.ARRAY_SHAPE, np.int32)
  for c in range(len(spec.CELLS)):
    for j, (lo, hi) in enumerate(EDGE_GROUPS):
      on = [e for e in range(lo, hi) if mask[c, e].any()]
      if len(on) != 2 or any(mask[c, e].sum() != 1 or mask[c, e, NONE]
                             for e in on):
        return None
      for k, e in enumerate(on):
        op = int(np.flatnonzero(mask[c, e])[0])
        arr[c, 2 * j + k] = (list(FROM_SPEC).index(op), EDGES[e][1])
  return spec.from_array(arr)


def format_mask(mask) -> str:
  """E.g. ``'normal 0<-0:skip_connect,sep_conv_3x3 0<-1:... | reduce ...'``
  (an edge with no op: '-')."""
  mask = check_mask(mask)
  cells = []
  for c, name in enumerate(spec.CELLS):
    edges = [f'{j}<-{s}:' + (','.join(OPS[o] for o in
                                       np.flatnonzero(mask[c, e])) or '-')
             for e, (j, s) in enumerate(EDGES)]
    cells.append(f'{name} ' + ' '.join(edges))
  return ' | '.join(cells)


def to_mask(arch: Array) -> Array:
  """In the program: a genotype array ``[2, 8, 2]`` -> its mask; a mask
  passes through."""
  if arch.shape == MASK_SHAPE:
    return jnp.asarray(arch, jnp.float32)
  op, src = arch[..., 0], arch[..., 1]
  node = jnp.arange(spec.NUM_PAIRS) // 2
  edge = node * (node + 3) // 2 + src
  cells = jnp.broadcast_to(jnp.arange(len(spec.CELLS))[:, None], op.shape)
  return jnp.zeros(MASK_SHAPE, jnp.float32).at[
      cells, edge, jnp.asarray(FROM_SPEC)[op]].set(1.0)


# --------------------------------------------------------------------------
# Network.


def _bn(module, name: str, x: Array, acc: Any) -> tuple[Array, Any]:
  """Affine train-mode BN (parameters ``{name}_scale``, ``{name}_bias``)."""
  c = x.shape[-1]
  scale = module.variable('params', f'{name}_scale', jnn.ones, None,
                          (c,)).value
  bias = module.variable('params', f'{name}_bias', jnn.zeros, None,
                         (c,)).value
  y, acc, _ = jnn.batch_norm(x, scale, bias, module.opts, acc)
  return y, acc


def _fr_specs(name: str, c_in: int, c: int) -> list:
  return [(f'{name}_fr1_kernel', (1, 1, c_in, c // 2), 1.0),
          (f'{name}_fr2_kernel', (1, 1, c_in, c - c // 2), 1.0)]


def _factorized_reduce(module, name: str, x: Array, kernels, acc, count=1):
  """TE-NAS's FactorizedReduce: ReLU, 1x1 convs of x and of x shifted by
  one (zero-padded at the end), both at stride 2, concatenated, BN."""
  opts = module.opts
  r, acc = jnn.relu(x, acc, opts.tap, count)
  shifted = jnp.pad(r, ((0, 0), (0, 1), (0, 1), (0, 0)))[:, 1:, 1:]
  y = jnp.concatenate([
      opts.conv(r[:, ::2, ::2], kernels[f'{name}_fr1_kernel'], 1, 0),
      opts.conv(shifted[:, ::2, ::2], kernels[f'{name}_fr2_kernel'], 1, 0)],
                      axis=-1)
  return _bn(module, name, y, acc)


class SuperCell(nn.Module):
  """One TE-NAS DARTS search cell; ``__call__(s0, s1, weights, acc)`` with
  ``weights`` ``[14, 8]`` (1/k per kept op) -> (concat of the 4 nodes,
  acc)."""
  channels: int
  reduce: bool = False
  reduce_prev: bool = False
  opts: jnn.NetOptions = OPTIONS

  @nn.compact
  def __call__(self, s0, s1, weights, acc):
    c, opts, tap = self.channels, self.opts, self.opts.tap
    specs = (_fr_specs('pre0', s0.shape[-1], c) if self.reduce_prev else
             [('pre0_kernel', (1, 1, s0.shape[-1], c), 1.0)])
    specs.append(('pre1_kernel', (1, 1, s1.shape[-1], c), 1.0))
    for e, (_, s) in enumerate(EDGES):
      for name, (k, _, units) in _CONVS.items():
        for u in range(units):
          specs += [(f'e{e}_{name}_dw{u}_kernel', (k, k, 1, c), 1.0),
                    (f'e{e}_{name}_pw{u}_kernel', (1, 1, c, c), 1.0)]
      if self.reduce and s < 2:
        specs += _fr_specs(f'e{e}_skip', c, c)
    kernels = jnn.make_kernels(self, specs, opts.weight_init)

    if self.reduce_prev:
      s0, acc = _factorized_reduce(self, 'pre0', s0, kernels, acc)
    else:
      r, acc = jnn.relu(s0, acc, tap)
      s0, acc = _bn(self, 'pre0', opts.conv(r, kernels['pre0_kernel'], 1, 0),
                    acc)
    r, acc = jnn.relu(s1, acc, tap)
    s1, acc = _bn(self, 'pre1', opts.conv(r, kernels['pre1_kernel'], 1, 0),
                  acc)
    on = weights > 0
    relu_ops = [OPS.index(n) for n in _CONVS]
    states = [s0, s1]
    for j in range(spec.NUM_NODES):
      node = 0.0
      for e, (jj, s) in enumerate(EDGES):
        if jj == j:
          stride = 2 if self.reduce and s < 2 else 1
          y, acc = self._edge(e, states[s], stride, weights[e], on[e],
                              kernels, acc)
          node = node + y
      states.append(node)
    # Each state's ReLU, reported once it is complete and every reader is
    # known (all reads are counted over the 14 edges).
    for s, x in enumerate(states[:-1]):
      count = 0
      for e, (_, s2) in enumerate(EDGES):
        if s2 != s:
          continue
        for o in relu_ops:
          count = count + on[e, o].astype(jnp.int32)
        if self.reduce and s < 2:
          count = count + on[e, OPS.index('skip_connect')].astype(jnp.int32)
      acc = tap.relu(acc, x, count)
    out = jnp.concatenate(states[2:], axis=-1)
    return out, tap.feature(acc, out, 'cell')

  def _edge(self, e, x, stride, w, on, kernels, acc):
    """sum_o w[o] * o(x) over the 7 real ops ('none' adds zeros)."""
    opts = self.opts
    out = 0.0
    r = jax.nn.relu(x)  # its report is the cell's (see __call__)
    for o, name in enumerate(OPS):
      if name == 'none':
        continue
      if name in ('avg_pool_3x3', 'max_pool_3x3'):
        pool = jnn.avg_pool_3x3 if name[0] == 'a' else jnn.max_pool_3x3
        y = pool(x, stride)
      elif name == 'skip_connect':
        if stride == 1:
          y = x
        else:
          y, acc = _factorized_reduce(self, f'e{e}_skip', x, kernels, acc,
                                      count=0)  # reported with the state
      else:
        k, dilation, units = _CONVS[name]
        y = r
        for u in range(units):
          if u:
            y, acc = jnn.relu(y, acc, opts.tap, on[o].astype(jnp.int32))
          y = jnn.depthwise_conv(y, kernels[f'e{e}_{name}_dw{u}_kernel'],
                                 stride if u == 0 else 1, dilation)
          y = opts.conv(y, kernels[f'e{e}_{name}_pw{u}_kernel'], 1, 0)
          y, acc = _bn(self, f'e{e}_{name}_bn{u}', y, acc)
      out = out + w[o] * y
    return out, acc


class SuperNetwork(nn.Module):
  """TE-NAS's DARTS supernet; ``apply(variables, images, arch)`` with
  ``arch`` a mask ``[2, 14, 8]`` or a genotype array ``[2, 8, 2]``.

  Attributes:
    channels: C (TE-NAS: 1).
    cells_per_stage: N (TE-NAS: 1).
    depth: cells kept (TE-NAS: 2); None for all 3N.
    stem: conv3x3 3 -> C + BN first; without it the input has min(3, C)
      channels.
    num_classes: logits.
    opts: weight init, BN on/off and the tap.
  """
  channels: int = 1
  cells_per_stage: int = 1
  depth: int | None = 2
  stem: bool = True
  num_classes: int = 10
  opts: jnn.NetOptions = OPTIONS

  @nn.compact
  def __call__(self, images: Array, arch: Array) -> tuple[Array, Any]:
    c, n, opts = self.channels, self.cells_per_stage, self.opts
    if not self.stem and images.shape[-1] != min(3, c):
      raise ValueError(f'DARTS supernet without stem: input has '
                       f'{images.shape[-1]} channels, expected {min(3, c)}')
    mask = to_mask(arch)
    weights = mask / jnp.maximum(jnp.sum(mask, -1, keepdims=True), 1.0)
    acc = opts.tap.start(self, images.shape[0])
    x = images
    if self.stem:
      x, acc = jnn.ConvBN(c, 3, 1, opts, name='stem')(x, acc)
    widths = [c] * n + [2 * c] * n + [4 * c] * n
    reduces = ([False] * n + [True] + [False] * (n - 1) + [True] +
               [False] * (n - 1))
    depth = len(widths) if self.depth is None else self.depth
    s0 = s1 = x
    reduce_prev = False
    for i, (width, reduce) in enumerate(zip(widths[:depth], reduces)):
      out, acc = SuperCell(width, reduce, reduce_prev, opts,
                           name=f'cell{i}')(s0, s1, weights[int(reduce)],
                                            acc)
      s0, s1, reduce_prev = s1, out, reduce
    y, acc = _bn(self, 'lastact', s1, acc)
    y, acc = jnn.relu(y, acc, opts.tap)
    logits = jnn.Dense(self.num_classes, opts.weight_init,
                       name='classifier')(jnp.mean(y, axis=(1, 2)))
    return logits, acc


def kappa_network(num_classes: int = 10,
                  opts: jnn.NetOptions = OPTIONS) -> SuperNetwork:
  """TE-NAS's NTK network on DARTS: C=1, N=1, 2 cells, stem."""
  return SuperNetwork(1, 1, 2, True, num_classes, opts)


def regions_network(opts: jnn.NetOptions = OPTIONS) -> SuperNetwork:
  """TE-NAS's linear-region network on DARTS: C=1, N=1, 2 cells, no stem
  (fan-in Kaiming where the run asks for Kaiming, as on NB201)."""
  from jaxnas.spaces.nb201 import supernet as nb201_supernet  # pylint: disable=g-import-not-at-top
  opts = dataclasses.replace(
      opts, weight_init=nb201_supernet.region_init(opts.weight_init))
  return SuperNetwork(1, 1, 2, False, 1, opts)
