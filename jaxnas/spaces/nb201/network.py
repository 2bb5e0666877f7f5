"""NAS-Bench-201's TinyNetwork as one Flax program with the cell as data.

The cell's six op choices arrive as an int array ``ops`` ``[6]``; each edge is
a ``lax.switch`` on its op index, so one compiled program serves all 15,625
cells and only the chosen op runs. Every edge owns the parameters of both
convolutions so the variable tree has one shape for the whole space; the
kernels of the op not chosen are initialised to zero (they never run, and
per-layer measures such as ``l2_norm`` then see the real cell's weights).
:func:`jaxnas.spaces.nb201.spec.param_count` gives the real cell's count.

Network (Dong & Yang 2020): stem conv3x3 3->C + BN; N cells at C; residual
block C->2C; N cells at 2C; residual block 2C->4C; N cells at 4C; BN-ReLU
(``lastact``); global average pool; linear.

Tap sites (see :mod:`jaxnas.nn`): every ReLU-Conv-BN edge leaving node i sees
the same input (node i), so the cell reports node i once with a count equal
to the number of conv edges leaving it, which is exactly what a per-call hook
would accumulate; the two ReLUs of each residual block and ``lastact`` report
with count 1. Features: ``stem`` (stem output), ``op`` (the output of each
edge's op; 'none' reports nothing), ``cell``, ``block`` (residual block
outputs), ``pre_pool`` (after ``lastact``). BN statistics: every BN that
runs (stem, conv ops, residual blocks, ``lastact``).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxnas import nn as jnn
from jaxnas.spaces.nb201 import spec

Array = jax.Array
OPTIONS = jnn.NetOptions()


def edge_params(module: nn.Module, c: int, weight_init: str,
                ops: Array | None = None) -> list[dict]:
  """Both convolutions (and their BN affine) of every edge of a cell at width
  ``c``, created on ``module`` (a compact module, inside its ``__call__``)
  in a fixed order: keys k1, k3 (kernels), s1, b1, s3, b3 (BN). With ``ops``
  the kernel of a conv that is not the edge's op is zero."""
  w_init = jnn.get_init(weight_init)
  params = []
  for e in range(spec.NUM_EDGES):
    live1 = 1.0 if ops is None else (ops[e] == spec.CONV1).astype(jnp.float32)
    live3 = 1.0 if ops is None else (ops[e] == spec.CONV3).astype(jnp.float32)
    params.append(dict(
        k1=module.param(f'edge{e}_conv1x1_kernel', w_init, (1, 1, c, c),
                        live1),
        k3=module.param(f'edge{e}_conv3x3_kernel', w_init, (3, 3, c, c),
                        live3),
        s1=module.param(f'edge{e}_bn1x1_scale', jnn.ones, (c,)),
        b1=module.param(f'edge{e}_bn1x1_bias', jnn.zeros, (c,)),
        s3=module.param(f'edge{e}_bn3x3_scale', jnn.ones, (c,)),
        b3=module.param(f'edge{e}_bn3x3_bias', jnn.zeros, (c,)),
    ))
  return params


def edge_gates(module: nn.Module, batch: int, c: int) -> list[dict]:
  """The gates of both convolutions of every edge (None unless asked)."""
  return [dict(g1=jnn.gate(module, f'edge{e}_conv1x1_kernel', batch, c),
               g3=jnn.gate(module, f'edge{e}_conv3x3_kernel', batch, c))
          for e in range(spec.NUM_EDGES)]


def edge_stats(module: nn.Module, c: int, opts: jnn.NetOptions
               ) -> list[tuple[jnn.BNStats | None, jnn.BNStats | None]]:
  """The running statistics of both BatchNorms of every edge (``(conv1x1,
  conv3x3)`` per edge; Nones unless kept, see :func:`jaxnas.nn.bn_stats`)."""
  return [(jnn.bn_stats(module, f'edge{e}_bn1x1', c, opts),
           jnn.bn_stats(module, f'edge{e}_bn3x3', c, opts))
          for e in range(spec.NUM_EDGES)]


def bn_no_tap(x: Array, scale: Array, bias: Array, opts: jnn.NetOptions
              ) -> tuple[Array, Array, Array]:
  """Train-mode BN without a tap: (y, mean, var); identity when BN is off."""
  if not opts.bn:
    zero = jnp.zeros(x.shape[-1:], x.dtype)
    return x, zero, zero
  mean, var = jnn.moments(x)
  inv = jax.lax.rsqrt(var + 1e-5) * scale
  return x * inv + (bias - mean * inv), mean, var


class Cell(nn.Module):
  """One NB201 cell at constant width; ``__call__((x, acc), ops)``."""
  channels: int
  opts: jnn.NetOptions = OPTIONS

  @nn.compact
  def __call__(self, carry: tuple[Array, Any], ops: Array):
    x, acc = carry
    opts, tap = self.opts, self.opts.tap
    params = edge_params(self, self.channels, opts.weight_init, ops)
    gates = edge_gates(self, x.shape[0], self.channels)
    stats = edge_stats(self, self.channels, opts)
    is_conv = ((ops == spec.CONV1) | (ops == spec.CONV3)).astype(jnp.int32)
    nodes, relus, sums = [x], [], [None, None, None, None]
    for e, (i, j) in enumerate(spec.EDGES):
      if i == len(relus):
        # Node i is complete (EDGES is node-major): report it once for each
        # ReLU-Conv-BN edge that reads it, and take its ReLU once for them.
        count = sum(is_conv[k] for k, (a, _) in enumerate(spec.EDGES)
                    if a == i)
        acc = tap.relu(acc, nodes[i], count)
        relus.append(jax.nn.relu(nodes[i]))
      sums[j], acc, stats[e] = _edge(ops[e], nodes[i], relus[i], sums[j],
                                     acc, params[e], gates[e], stats[e], opts)
      jnn.store_bn_stats(self, f'edge{e}_bn1x1', stats[e][0])
      jnn.store_bn_stats(self, f'edge{e}_bn3x3', stats[e][1])
      if i == j - 1:  # the last edge into node j
        nodes.append(sums[j])
    out, acc = jnn.feature(nodes[3], acc, tap, 'cell')
    return (out, acc), None


def _edge(op: Array, x: Array, relu_x: Array, partial: Array | None,
          acc: Any, p: dict, g: dict, stats: tuple, opts: jnn.NetOptions
          ) -> tuple[Array, Any, tuple]:
  """``(partial + op(x), acc, stats)``, one branch per op (the add is fused
  into the branch). ``relu_x`` is relu(x), shared by all conv edges leaving
  the same node. The op reports its output (an ``op`` feature) and its BN
  statistics to the tap; 'none' reports nothing. ``stats`` (running
  statistics of the conv1x1 and conv3x3 BNs, or Nones) comes back with the
  chosen conv's updated.
  """
  tap = opts.tap

  def out(y, acc, new=stats):
    return ((y if partial is None else partial + y),
            tap.feature(acc, y, 'op'), new)

  def none(x, r, acc):
    del r
    return (jnp.zeros_like(x) if partial is None else partial), acc, stats

  def skip(x, r, acc):
    del r
    return out(x, acc)

  def conv(r, acc, kernel, gate, scale, bias, padding, which):
    y = jnn.apply_gate(opts.conv(r, kernel, 1, padding), gate)
    y, acc, new = jnn.batch_norm(y, scale, bias, opts, acc, stats[which])
    return out(y, acc, stats[:which] + (new,) + stats[which + 1:])

  def conv1(x, r, acc):
    del x
    return conv(r, acc, p['k1'], g['g1'], p['s1'], p['b1'], 0, 0)

  def conv3(x, r, acc):
    del x
    return conv(r, acc, p['k3'], g['g3'], p['s3'], p['b3'], 1, 1)

  def pool(x, r, acc):
    del r
    return out(jnn.avg_pool_3x3(x), acc)

  return jax.lax.switch(op, (none, skip, conv1, conv3, pool), x, relu_x, acc)


class ResidualBlock(nn.Module):
  """NB201's reduction block: stride-2 ReLU-conv-BN pair + pooled shortcut."""
  features: int
  opts: jnn.NetOptions = OPTIONS

  @nn.compact
  def __call__(self, x: Array, acc: Any) -> tuple[Array, Any]:
    tap = self.opts.tap
    h, acc = jnn.relu(x, acc, tap)
    h, acc = jnn.ConvBN(self.features, 3, 2, self.opts, name='conv_a')(h,
                                                                       acc)
    h, acc = jnn.relu(h, acc, tap)
    h, acc = jnn.ConvBN(self.features, 3, 1, self.opts, name='conv_b')(h,
                                                                       acc)
    s = nn.avg_pool(x, (2, 2), (2, 2))
    kernel = self.param('shortcut_kernel',
                        jnn.get_init(self.opts.weight_init),
                        (1, 1, x.shape[-1], self.features))
    s = jnn.apply_gate(self.opts.conv(s, kernel, 1, 0),
                       jnn.gate(self, 'shortcut_kernel', x.shape[0],
                                self.features))
    return jnn.feature(h + s, acc, tap, 'block')


def head(module: nn.Module, x: Array, acc: Any, opts: jnn.NetOptions,
         num_classes: int) -> tuple[Array, Any]:
  """``lastact`` (BN-ReLU), global average pool, classifier; created on
  ``module`` (shared by the NB201 network and the TE-NAS supernet)."""
  scale = module.param('lastact_scale', jnn.ones, (x.shape[-1],))
  bias = module.param('lastact_bias', jnn.zeros, (x.shape[-1],))
  stats = jnn.bn_stats(module, 'lastact', x.shape[-1], opts)
  x, acc, stats = jnn.batch_norm(x, scale, bias, opts, acc, stats)
  jnn.store_bn_stats(module, 'lastact', stats)
  x, acc = jnn.relu(x, acc, opts.tap)
  acc = opts.tap.feature(acc, x, 'pre_pool')
  x = jnp.mean(x, axis=(1, 2))
  logits = jnn.Dense(num_classes, opts.weight_init, name='classifier')(x)
  return logits, acc


class TinyNetwork(nn.Module):
  """NB201 TinyNetwork; ``apply(variables, images, ops) -> (logits, acc)``.

  Attributes:
    channels: C, width of the first stage (16 in the benchmark).
    cells_per_stage: N (5 in the benchmark).
    num_classes: logits (the data's classes; NASWOT's score ignores them).
    opts: weight init, BN on/off and the proxies' tap.
  """
  channels: int = 16
  cells_per_stage: int = 5
  num_classes: int = 10
  opts: jnn.NetOptions = OPTIONS

  @nn.compact
  def __call__(self, images: Array, ops: Array) -> tuple[Array, Any]:
    """Forward pass.

    Args:
      images: ``[batch, height, width, 3]`` float, normalised.
      ops: int ``[6]`` op indices (one cell; not batched).

    Returns:
      logits ``[batch, num_classes]`` and the tap's accumulator.
    """
    if self.cells_per_stage < 1:
      raise ValueError(f'cells_per_stage must be >= 1, got '
                       f'{self.cells_per_stage}')
    opts = self.opts
    acc = opts.tap.start(self, images.shape[0])
    c = self.channels
    x, acc = jnn.ConvBN(c, 3, 1, opts, name='stem')(images, acc)
    x, acc = jnn.feature(x, acc, opts.tap, 'stem')
    for stage in range(3):
      width = c * 2**stage
      if stage:
        x, acc = ResidualBlock(width, opts, name=f'reduce{stage}')(x, acc)
      cells = nn.scan(Cell, variable_axes={'params': 0, jnn.GATES: 0,
                                           jnn.BATCH_STATS: 0},
                      split_rngs={'params': True}, in_axes=nn.broadcast,
                      length=self.cells_per_stage,
                      unroll=self.cells_per_stage if opts.unroll else 1)
      (x, acc), _ = cells(width, opts, name=f'stage{stage}')((x, acc), ops)
    return head(self, x, acc, opts, self.num_classes)
