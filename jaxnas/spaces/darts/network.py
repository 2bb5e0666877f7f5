"""NASLib's NAS-Bench-301 (DARTS) network as one Flax program with the
genotype as data.

The genotype arrives as the int32 array ``[2, 8, 2]`` of
:func:`jaxnas.spaces.darts.spec.to_array` (cell 0 normal, 1 reduce; pair
``p``; ``(op, input)``), so one compiled program serves every genotype:

* each pair's input is picked from the cell's earlier states by its
  (traced) input index;
* each pair's op is a ``lax.switch`` on its op index, so only the chosen op
  runs;
* in reduction cells the ops reading the cell inputs (states 0 and 1) have
  stride 2 and those reading intermediate nodes stride 1 at the reduced
  size. Which one an edge is depends on its input, which is data, so those
  edges switch over the 14 (op, stride) pairs: branch ``op`` (stride 2)
  takes the chosen cell input, branch ``7 + op`` (stride 1) the chosen
  node, and the index is ``op + 7 * (input >= 2)``. This is exact and runs
  only the real op at its real cost (computing every op at stride 1 and
  subsampling would cost 4x and cannot give the stride-2 skip, a
  FactorizedReduce). Node 0's pairs can only read the cell inputs, so they
  switch over the 7 stride-2 ops.

Network (NASLib ``nasbench301/graph.py``; DARTS's ``NetworkCIFAR`` layout):
stem conv 3x3 3 -> 3C + affine BN; ``layers`` cells, reductions at
``layers // 3`` and ``2 * layers // 3`` (which double C); cell k reads the
outputs of cells k-2 and k-1 (the stem for the first), preprocessed by
ReLU-conv1x1-BN, or by FactorizedReduce for the k-2 input after a
reduction (both with affine BNs); intermediate node j = op(state a) +
op(state b); cell output = concat of the 4 nodes (4C channels); global
average pool; linear. No auxiliary head, no drop path. Cell ops
(:mod:`jaxnas.spaces.darts.ops`) use BNs without affine parameters.

Weights: every edge owns the kernels of every op it may run (sep convs,
dil convs and, in reduction cells, the stride-2 skip's FactorizedReduce;
the two strides of an op share them), so the variable tree has one shape
for the whole space; the kernels of ops not chosen are initialised to zero.
:func:`jaxnas.spaces.darts.cost.param_count` gives the real network's count.

Tap sites (see :mod:`jaxnas.nn`): every ReLU. Sep convs, dil convs and the
stride-2 skip start with a ReLU of their input state, so each state is
reported once, when it is complete, with a count equal to the number of
those edges reading it (data); a sep conv's inner ReLU and the two
preprocessing ReLUs report with count 1. Features: ``stem``, ``op`` (each
edge's output), ``cell``, ``pre_pool`` (the last cell's output, the global
pool's input). BN statistics: every BN (stem, preprocessing, cell ops).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxnas import nn as jnn
from jaxnas.spaces.darts import ops as ops_lib
from jaxnas.spaces.darts import spec

Array = jax.Array
OPTIONS = jnn.NetOptions()


def reduction_cells(layers: int) -> tuple[int, int]:
  """Indices of the two reduction cells (DARTS: ``layers // 3`` and
  ``2 * layers // 3``)."""
  return layers // 3, 2 * layers // 3


def preprocess_specs(name: str, c_in: int, c: int, factorized: bool
                     ) -> list[tuple[str, tuple[int, ...], float]]:
  """``(name, shape, live)`` of a cell input's preprocessing kernels."""
  if factorized:
    return [(f'{name}_fr{i}_kernel', (1, 1, c_in, c // 2), 1.0)
            for i in (1, 2)]
  return [(f'{name}_kernel', (1, 1, c_in, c), 1.0)]


def preprocess(module: nn.Module, name: str, x: Array, c: int,
               factorized: bool, kernels: dict[str, Array], acc: Any
               ) -> tuple[Array, Any]:
  """A cell input's preprocessing on ``module``: ReLU, conv 1x1 (or a
  FactorizedReduce when ``factorized``), BN with affine parameters
  ``{name}_scale`` and ``{name}_bias``."""
  opts = module.opts
  r, acc = jnn.relu(x, acc, opts.tap)

  def weight(kernel_name):
    return (kernels[kernel_name],
            jnn.gate(module, kernel_name, x.shape[0],
                     kernels[kernel_name].shape[-1]))

  if factorized:
    y = ops_lib.factorized_reduce(r, weight(f'{name}_fr1_kernel'),
                                  weight(f'{name}_fr2_kernel'), opts)
  else:
    kernel, gate = weight(f'{name}_kernel')
    y = jnn.apply_gate(opts.conv(r, kernel, 1, 0), gate)
  # ``variable``, not ``param``: no random key needed (see draw_kernels).
  scale = module.variable('params', f'{name}_scale', jnn.ones, None,
                          (c,)).value
  bias = module.variable('params', f'{name}_bias', jnn.zeros, None,
                         (c,)).value
  y, acc, _ = jnn.batch_norm(y, scale, bias, opts, acc)
  return y, acc


class Cell(nn.Module):
  """One DARTS cell at width ``channels`` (its nodes' width; the output has
  4x). ``__call__(s0, s1, cell, acc) -> (output, acc)`` with ``s0``, ``s1``
  the outputs of the two previous cells and ``cell`` the int ``[8, 2]``
  (op, input) pairs of this kind of cell.

  The 8 pairs are one ``lax.scan`` (their kernels and gates stacked on a
  leading axis), so each cell compiles one edge: unrolled, the 8-layer
  network's 64 switches took minutes to compile. The states live in a
  buffer indexed by the input (normal cells: ``[6, B, H, W, C]``; reduction
  cells: the two inputs ``[2, B, H, W, C]`` and the nodes ``[4, B, H/2,
  W/2, C]``), and each pair adds its op's output to its node's slot.

  Attributes:
    channels: C of this cell.
    reduce: a reduction cell (stride 2 on the edges from states 0, 1).
    reduce_prev: the previous cell reduced, so ``s0`` has twice the size of
      ``s1`` and is preprocessed by a FactorizedReduce.
    opts: weight init, BN on/off, the tap.
  """
  channels: int
  reduce: bool = False
  reduce_prev: bool = False
  opts: jnn.NetOptions = OPTIONS

  @nn.compact
  def __call__(self, s0: Array, s1: Array, cell: Array, acc: Any
               ) -> tuple[Array, Any]:
    c, opts, tap = self.channels, self.opts, self.opts.tap
    op, src = cell[:, 0], cell[:, 1]
    stride2 = (src < 2) & self.reduce
    edges = ops_lib.edge_specs(c, op, stride2, self.reduce)
    specs = (preprocess_specs('pre0', s0.shape[-1], c, self.reduce_prev) +
             preprocess_specs('pre1', s1.shape[-1], c, False) + edges)
    # One random draw for all of the cell's kernels (see draw_kernels).
    kernels = jnn.make_kernels(self, specs, opts.weight_init)
    batch = s0.shape[0]
    weights = {name: (kernels[name], jnn.gate(self, name, batch, shape[-1],
                                              spec.NUM_PAIRS))
               for name, shape, _ in edges}
    s0, acc = preprocess(self, 'pre0', s0, c, self.reduce_prev, kernels, acc)
    s1, acc = preprocess(self, 'pre1', s1, c, False, kernels, acc)

    # Each state is reported once for all the edges that start with a
    # ReLU of it; a node when it is complete (after its second pair).
    relu_first = ops_lib.starts_with_relu(op, stride2).astype(jnp.int32)
    readers = jnp.sum(relu_first[None, :] * (
        src[None, :] == jnp.arange(2 + spec.NUM_NODES)[:, None]), axis=1)
    acc = tap.relu(acc, s0, readers[0])
    acc = tap.relu(acc, s1, readers[1])
    pairs = jnp.arange(spec.NUM_PAIRS)
    node = pairs // 2
    report = jnp.where(pairs % 2 == 1, readers[2 + node], 0)
    inputs = jnp.stack([s0, s1])
    if self.reduce:  # nodes only; the inputs are another size
      first = 0
      buf = jnp.zeros((spec.NUM_NODES, batch, s1.shape[1] // 2,
                       s1.shape[2] // 2, c), s1.dtype)
    else:  # every state
      first = 2
      buf = jnp.concatenate([inputs, jnp.zeros((spec.NUM_NODES,) +
                                               s1.shape, s1.dtype)])
    branches = self._branches()

    def edge(carry, xs):
      buf, acc = carry
      o, s, j, count, wts = xs
      if self.reduce:
        x_in = inputs[jnp.minimum(s, 1)]
        x_node = buf[jnp.clip(s - 2, 0, spec.NUM_NODES - 1)]
        index = o + spec.NUM_OPS * (s >= 2).astype(o.dtype)
      else:
        x_in = x_node = buf[s]
        index = o
      y, acc = jax.lax.switch(index, branches, x_in, x_node, wts, acc)
      acc = tap.feature(acc, y, 'op')
      buf = buf.at[first + j].add(y)
      acc = tap.relu(acc, buf[first + j], count)
      return (buf, acc), None

    (buf, acc), _ = jax.lax.scan(edge, (buf, acc),
                                 (op, src, node, report, weights))
    nodes = buf[first:]
    out = jnp.concatenate(list(nodes), axis=-1)
    return out, tap.feature(acc, out, 'cell')

  def _branches(self) -> list:
    """The switch's branches ``(x_in, x_node, weights, acc) -> (y, acc)``:
    the 7 ops at stride 1 on ``x_in`` (normal cells), or at stride 2 on
    ``x_in`` (a cell input) then at stride 1 on ``x_node`` (reduction
    cells)."""
    opts = self.opts

    def branch(o, stride, on_input):
      def run(x_in, x_node, weights, acc):
        x = x_in if on_input else x_node
        return ops_lib.apply_op(o, stride, x, weights, acc, opts)
      return run

    if not self.reduce:
      return [branch(o, 1, True) for o in range(spec.NUM_OPS)]
    return ([branch(o, 2, True) for o in range(spec.NUM_OPS)] +
            [branch(o, 1, False) for o in range(spec.NUM_OPS)])


class DartsNetwork(nn.Module):
  """NASLib's NB301 network; ``apply(variables, images, genotype) ->
  (logits, acc)``.

  Attributes:
    channels: C of the first cells (NB301: 32); the stem has 3C.
    layers: number of cells (NB301: 8).
    num_classes: logits.
    opts: weight init, BN on/off and the proxies' tap.
  """
  channels: int = 32
  layers: int = 8
  num_classes: int = 10
  opts: jnn.NetOptions = OPTIONS

  @nn.compact
  def __call__(self, images: Array, genotype: Array) -> tuple[Array, Any]:
    """Forward pass.

    Args:
      images: ``[batch, height, width, 3]`` float, normalised; height and
        width multiples of 4.
      genotype: int ``[2, 8, 2]`` (cell, pair, (op, input)); not batched.

    Returns:
      logits ``[batch, num_classes]`` and the tap's accumulator.
    """
    if self.layers < 3 or self.channels < 2 or self.channels % 2:
      raise ValueError(f'DARTS network: layers={self.layers} must be >= 3 '
                       f'and channels={self.channels} even and >= 2')
    if images.shape[1] % 4 or images.shape[2] % 4:
      raise ValueError(f'DARTS network: image size {images.shape[1:3]} must '
                       'be a multiple of 4 (two reductions)')
    opts = self.opts
    acc = opts.tap.start(self, images.shape[0])
    c = self.channels
    x, acc = jnn.ConvBN(3 * c, 3, 1, opts, name='stem')(images, acc)
    acc = opts.tap.feature(acc, x, 'stem')
    s0 = s1 = x
    reduce_prev = False
    for i in range(self.layers):
      reduce = i in reduction_cells(self.layers)
      c = 2 * c if reduce else c
      out, acc = Cell(c, reduce, reduce_prev, opts, name=f'cell{i}')(
          s0, s1, genotype[int(reduce)], acc)
      s0, s1, reduce_prev = s1, out, reduce
    acc = opts.tap.feature(acc, s1, 'pre_pool')
    logits = jnn.Dense(self.num_classes, opts.weight_init,
                       name='classifier')(jnp.mean(s1, axis=(1, 2)))
    return logits, acc
