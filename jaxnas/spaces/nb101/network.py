"""NAS-Bench-101's network as one Flax program with the cell as data.

Network (Ying et al. 2019; google-research/nasbench ``model_builder.py``, and
the PyTorch port NASWOT used): stem 3x3 conv-BN-ReLU 3 -> C; ``num_stacks``
stacks of ``cells_per_stack`` cells, a 2x2 stride-2 max-pool before every
stack after the first, which doubles the width (its first cell maps the old
width to the new one); global average pool; dense. Every conv-BN-ReLU is a
conv without bias, train-mode BN and a ReLU. The cell rules (vertex channels,
truncation, input projections, output concat) are those documented in
:mod:`jaxnas.spaces.nb101.params`.

One program for every cell
--------------------------
The cell is padded to :data:`NUM_SLOTS` = 7 *slots*: the input is slot 0, the
output slot 6, the interior vertices of a V-vertex cell slots 1..V-2; the other
slots are inactive. :func:`cell_arrays` turns a cell into int32 arrays

* ``adjacency`` ``[7, 7]``: the matrix in slot coordinates;
* ``ops`` ``[7]``: per slot :data:`CONV3X3`, :data:`CONV1X1`,
  :data:`MAXPOOL3X3` or :data:`INACTIVE` (also for slots 0 and 6);
* ``channels`` ``[num_stacks, 7]``: the real channel count of every slot in
  each stack (``params.vertex_channels``; 0 for inactive slots);

and the program computes every slot of a cell at the stack's full width W
with a channel mask (channels >= the slot's count are zero): interior inputs
are masked (which is the reference's truncation, since vertex channels never
grow along interior edges), each op is a ``lax.switch`` on the slot's op
index, each input projection a ``lax.cond`` on its edge. The output concat is
a sum of the feeders' outputs rolled to their channel offsets. The first cell
of a stack sees its input zero-padded to W (real count in ``in_channels``),
so all cells of a stack share one shape and are one ``nn.scan``.

Weights are stored at the padded shapes and initialised with the REAL fans
(:func:`jaxnas.nn.masked_kernel_init`) and zero outside the real blocks, so
the real blocks have the exact-shape network's distribution. Every slot owns
a 1x1 projection and both conv kernels, so the variable tree has one shape
for the whole space; :func:`jaxnas.spaces.nb101.params.param_count` gives the
real network's count.

ReLU taps (see :mod:`jaxnas.nn`): every conv-BN-ReLU that exists in the real
network (stem, input projections, conv vertices) reports its BN output once,
with the slot's channel mask, so padded channels never count as units.
Max-pool and inactive slots, and projections of absent edges, report nothing.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import nn as jnn
from jaxnas.spaces.nb101 import params as params_lib
from jaxnas.spaces.nb101 import spec

Array = jax.Array

NUM_SLOTS = spec.MAX_VERTICES
OUTPUT_SLOT = NUM_SLOTS - 1
# Op index of a slot; the first three follow spec.OPS.
CONV3X3, CONV1X1, MAXPOOL3X3, INACTIVE = 0, 1, 2, 3
assert spec.OPS[CONV3X3] == spec.CONV3X3
assert spec.OPS[CONV1X1] == spec.CONV1X1
assert spec.OPS[MAXPOOL3X3] == spec.MAXPOOL3X3


def slots(cell: spec.Cell) -> list[int]:
  """The slot of every vertex of `cell` (the output always goes to slot 6)."""
  return list(range(cell.num_vertices - 1)) + [OUTPUT_SLOT]


def stack_widths(stem_channels: int, num_stacks: int) -> list[int]:
  """Output channels of every stack's cells."""
  return [stem_channels * 2**s for s in range(num_stacks)]


def cell_arrays(cell: spec.Cell, stem_channels: int,
                num_stacks: int) -> dict[str, np.ndarray]:
  """The data the compiled network takes for `cell` (see the module doc)."""
  where = slots(cell)
  adjacency = np.zeros((NUM_SLOTS, NUM_SLOTS), np.int32)
  adjacency[np.ix_(where, where)] = cell.matrix
  ops = np.full(NUM_SLOTS, INACTIVE, np.int32)
  for v in range(1, cell.num_vertices - 1):
    ops[v] = spec.OPS.index(cell.ops[v])
  channels = np.zeros((num_stacks, NUM_SLOTS), np.int32)
  for s, width in enumerate(stack_widths(stem_channels, num_stacks)):
    # Vertex channels depend on the output width only (the first cell of a
    # stack has the same interior channels as the others).
    channels[s, where] = params_lib.vertex_channels(width, width, cell.matrix)
  return {'adjacency': adjacency, 'ops': ops, 'channels': channels}


class Cell(nn.Module):
  """One NB101 cell at padded width; ``__call__((x, acc), arch, in_channels)``.

  ``x`` is ``[B, H, W, width]`` with its real channels first (``in_channels``
  of them, the rest zero); ``arch`` holds ``adjacency``, ``ops`` and this
  stack's ``channels`` ``[7]``.
  """
  width: int
  opts: jnn.NetOptions = jnn.NetOptions()

  @nn.compact
  # Long on purpose (~85 lines): the parameters, running statistics and
  # branch closures of one cell share the padded width, the channel masks
  # and the cell input; its parts are the nested helpers below.
  def __call__(self, carry: tuple[Array, Any], arch: dict[str, Array],
               in_channels: Array):
    x, acc = carry
    w, opts, tap = self.width, self.opts, self.opts.tap
    adj = arch['adjacency']
    ops = arch['ops']
    lanes = jnp.arange(w)
    masks = (lanes[None, :] < arch['channels'][:, None]).astype(x.dtype)
    in_mask = (lanes < in_channels).astype(x.dtype)
    kernel_init = jnn.masked_kernel_init(opts.weight_init)

    def conv_bn_params(name, k, in_m, out_m, live):
      # A weight the real network lacks (an op not chosen, a projection of
      # an absent edge) is zero: its out-mask is zeroed.
      kernel = self.param(f'{name}_kernel', kernel_init, (k, k, w, w), in_m,
                          out_m * live)
      return (kernel,
              self.param(f'{name}_scale', jnn.ones, (w,)),
              self.param(f'{name}_bias', jnn.zeros, (w,)),
              jnn.gate(self, f'{name}_kernel', x.shape[0], w))

    # Running statistics (None unless kept), updated by the branch that ran.
    stats = {f'proj{v}': jnn.bn_stats(self, f'proj{v}', w, opts)
             for v in range(1, NUM_SLOTS)}
    for v in range(1, OUTPUT_SLOT):
      for kind in ('conv3x3', 'conv1x1'):
        stats[f'vertex{v}_{kind}'] = jnn.bn_stats(
            self, f'vertex{v}_{kind}', w, opts)

    def live(condition):
      return condition.astype(x.dtype)

    proj = {v: conv_bn_params(f'proj{v}', 1, in_mask, masks[v],
                              live(adj[0, v] > 0))
            for v in range(1, NUM_SLOTS)}
    conv3 = {v: conv_bn_params(f'vertex{v}_conv3x3', 3, masks[v], masks[v],
                               live(ops[v] == CONV3X3))
             for v in range(1, OUTPUT_SLOT)}
    conv1 = {v: conv_bn_params(f'vertex{v}_conv1x1', 1, masks[v], masks[v],
                               live(ops[v] == CONV1X1))
             for v in range(1, OUTPUT_SLOT)}

    def conv_bn_relu(h, acc, p, mask, st):
      kernel, scale, bias, gate = p
      y = jnn.apply_gate(opts.conv(h, kernel, 1, kernel.shape[0] // 2), gate)
      y, acc, st = jnn.batch_norm(y, scale, bias, opts, acc, st)
      acc = tap.relu(acc, y, 1, mask)
      y = jax.nn.relu(y)
      y = y if mask is None else y * mask
      return y, tap.feature(acc, y, 'op'), st

    def add_projection(v, h, acc, mask):
      """h + projection of the cell input to slot v, if input->v."""
      name = f'proj{v}'

      def project(h, acc, st):
        y, acc, st = conv_bn_relu(x, acc, proj[v], mask, st)
        return h + y, acc, st

      h, acc, stats[name] = jax.lax.cond(
          adj[0, v] > 0, project, lambda h, acc, st: (h, acc, st), h, acc,
          stats[name])
      jnn.store_bn_stats(self, name, stats[name])
      return h, acc

    def max_pool(h, acc, st):
      y = nn.max_pool(h, (3, 3), (1, 1), 'SAME')
      return y, tap.feature(acc, y, 'op'), st

    zeros = jnp.zeros(x.shape[:-1] + (w,), x.dtype)
    edge = adj.astype(x.dtype)
    outs = [x]
    for v in range(1, OUTPUT_SLOT):
      mask = masks[v]
      h = zeros
      for u in range(1, v):
        h = h + edge[u, v] * outs[u]
      h = h * mask  # Truncation to this vertex's channels.
      h, acc = add_projection(v, h, acc, mask)

      def conv_op(h, acc, st, v=v, m=mask, kind=0):
        p = (conv3, conv1)[kind][v]
        y, acc, new = conv_bn_relu(h, acc, p, m, st[kind])
        return y, acc, st[:kind] + (new,) + st[kind + 1:]

      branches = (
          conv_op,
          functools.partial(conv_op, kind=1),
          max_pool,
          lambda h, acc, st: (jnp.zeros_like(h), acc, st),
      )
      names = (f'vertex{v}_conv3x3', f'vertex{v}_conv1x1')
      y, acc, new = jax.lax.switch(ops[v], branches, h, acc,
                                   tuple(stats[n] for n in names))
      for n, st in zip(names, new):
        jnn.store_bn_stats(self, n, st)
      outs.append(y)

    # Concat of the feeders (in slot order) at their channel offsets: a
    # feeder's output is zero beyond its count, and the counts of all
    # feeders sum to w, so rolling never wraps real channels.
    widths = adj[1:OUTPUT_SLOT, OUTPUT_SLOT] * arch['channels'][1:OUTPUT_SLOT]
    offsets = jnp.cumsum(widths) - widths
    out = zeros
    for v in range(1, OUTPUT_SLOT):
      out = out + edge[v, OUTPUT_SLOT] * jnp.roll(outs[v], offsets[v - 1], -1)
    out, acc = add_projection(OUTPUT_SLOT, out, acc, None)
    return jnn.feature(out, acc, tap, 'cell'), None


class Network(nn.Module):
  """The NB101 network; ``apply(variables, images, arch) -> (logits, acc)``.

  Attributes:
    stem_channels: C (128 in NB101; NASWOT's port used 16).
    num_stacks: stacks of cells (3).
    cells_per_stack: cells per stack (3).
    num_classes: logits (the data's classes).
    opts: weight init ('torch': PyTorch defaults; 'he_normal': NASWOT's
      NB101 port and NASLib's archai builder: He normal fan-out for convs,
      the classifier N(0, 0.01^2) with a zero bias), BN on/off, the tap.
  """
  stem_channels: int = 128
  num_stacks: int = 3
  cells_per_stack: int = 3
  num_classes: int = 10
  opts: jnn.NetOptions = jnn.NetOptions()

  @nn.compact
  def __call__(self, images: Array, arch: dict[str, Array]
              ) -> tuple[Array, Any]:
    """Forward pass.

    Args:
      images: ``[batch, height, width, 3]`` float, normalised.
      arch: :func:`cell_arrays` of one cell (not batched).

    Returns:
      logits ``[batch, num_classes]`` and the tap's accumulator.
    """
    if self.num_stacks < 1 or self.cells_per_stack < 1:
      raise ValueError(f'num_stacks ({self.num_stacks}) and cells_per_stack '
                       f'({self.cells_per_stack}) must be >= 1')
    opts = self.opts
    acc = opts.tap.start(self, images.shape[0])
    x, acc = jnn.ConvBN(self.stem_channels, 3, 1, opts, name='stem')(images,
                                                                      acc)
    x, acc = jnn.relu(x, acc, opts.tap)
    x, acc = jnn.feature(x, acc, opts.tap, 'stem')
    for s, width in enumerate(stack_widths(self.stem_channels,
                                           self.num_stacks)):
      in_channels = [width] * self.cells_per_stack
      if s:
        x = nn.max_pool(x, (2, 2), (2, 2), 'SAME')
        in_channels[0] = x.shape[-1]
        x = jnp.pad(x, ((0, 0),) * 3 + ((0, width - x.shape[-1]),))
      stack_arch = {'adjacency': arch['adjacency'], 'ops': arch['ops'],
                    'channels': arch['channels'][s]}
      cells = nn.scan(Cell, variable_axes={'params': 0, jnn.GATES: 0,
                                           jnn.BATCH_STATS: 0},
                      split_rngs={'params': True},
                      in_axes=(nn.broadcast, 0),
                      length=self.cells_per_stack,
                      unroll=self.cells_per_stack if opts.unroll else 1)
      (x, acc), _ = cells(width, opts, name=f'stack{s}')(
          (x, acc), stack_arch, jnp.asarray(in_channels, jnp.int32))
    acc = opts.tap.feature(acc, x, 'pre_pool')
    x = jnp.mean(x, axis=(1, 2))
    kernel_init = (nn.initializers.normal(0.01)
                   if opts.weight_init == 'he_normal' else None)
    logits = jnn.Dense(self.num_classes, opts.weight_init, kernel_init,
                       name='classifier')(x)
    return logits, acc
