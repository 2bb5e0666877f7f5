"""NAS-Bench-201's TinyNetwork as one Flax program with the cell as data.

The cell's six op choices arrive as an int array ``ops`` ``[6]``; each edge is
a ``lax.switch`` on its op index, so one compiled program serves all 15,625
cells and only the chosen op runs. Every edge owns the parameters of both
convolutions (the real cell would own only the chosen one's), so the variable
tree has one shape for the whole space; :func:`jaxnas.spaces.nb201.spec.
param_count` gives the real cell's count.

Network (Dong & Yang 2020): stem conv3x3 3->C + BN; N cells at C; residual
block C->2C; N cells at 2C; residual block 2C->4C; N cells at 4C; BN-ReLU
(``lastact``); global average pool; linear.

ReLU taps (see :mod:`jaxnas.nn`): every ReLU-Conv-BN edge leaving node i sees
the same input (node i), so the cell reports node i once with a count equal to
the number of conv edges leaving it, which is exactly what a per-call hook
would accumulate. The two ReLUs of each residual block and ``lastact`` report
with count 1. Skip, pool and none edges report nothing.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxnas import nn as jnn
from jaxnas.spaces.nb201 import spec

Array = jax.Array


class Cell(nn.Module):
  """One NB201 cell at constant width; ``__call__((x, acc), ops)``."""
  channels: int
  weight_init: str = 'torch'
  tap: jnn.Tap = jnn.NO_TAP

  @nn.compact
  def __call__(self, carry: tuple[Array, Any], ops: Array):
    x, acc = carry
    params = edge_params(self, self.channels, self.weight_init)
    is_conv = ((ops == spec.CONV1) | (ops == spec.CONV3)).astype(jnp.int32)

    nodes = [x]
    relus = []
    sums = [None, None, None, None]
    for e, (i, j) in enumerate(spec.EDGES):
      if i == len(relus):
        # Node i is complete (EDGES is node-major): report it once for each
        # ReLU-Conv-BN edge that reads it, and take its ReLU once for them.
        count = sum(is_conv[k] for k, (a, _) in enumerate(spec.EDGES)
                    if a == i)
        acc = self.tap.update(acc, nodes[i], count)
        relus.append(jax.nn.relu(nodes[i]))
      sums[j] = _edge(ops[e], nodes[i], relus[i], sums[j], params[e])
      if i == j - 1:  # the last edge into node j
        nodes.append(sums[j])
    return (nodes[3], acc), None


def edge_params(module: nn.Module, c: int, weight_init: str) -> list[dict]:
  """Both convolutions (and their BN affine) of every edge of a cell at width
  ``c``, created on ``module`` (a compact module, inside its ``__call__``)
  in a fixed order: keys k1, k3 (kernels), s1, b1, s3, b3 (BN)."""
  w_init = jnn.get_init(weight_init)
  params = []
  for e in range(spec.NUM_EDGES):
    params.append(dict(
        k1=module.param(f'edge{e}_conv1x1', w_init, (1, 1, c, c)),
        k3=module.param(f'edge{e}_conv3x3', w_init, (3, 3, c, c)),
        s1=module.param(f'edge{e}_bn1x1_scale', nn.initializers.ones, (c,)),
        b1=module.param(f'edge{e}_bn1x1_bias', nn.initializers.zeros, (c,)),
        s3=module.param(f'edge{e}_bn3x3_scale', nn.initializers.ones, (c,)),
        b3=module.param(f'edge{e}_bn3x3_bias', nn.initializers.zeros, (c,)),
    ))
  return params


def _edge(op: Array, x: Array, relu_x: Array, partial: Array | None,
          p: dict) -> Array:
  """partial + op(x), one branch per op (the add is fused into the branch).

  ``relu_x`` is relu(x), shared by all conv edges leaving the same node.
  """

  def add(y):
    return y if partial is None else partial + y

  def none(x, r):
    del r
    return jnp.zeros_like(x) if partial is None else partial

  def skip(x, r):
    del r
    return add(x)

  def conv1(x, r):
    del x
    y = jnn.conv(r, p['k1'], 1, 0)
    return add(jnn.batch_norm(y, p['s1'], p['b1']))

  def conv3(x, r):
    del x
    y = jnn.conv(r, p['k3'], 1, 1)
    return add(jnn.batch_norm(y, p['s3'], p['b3']))

  def pool(x, r):
    del r
    return add(jnn.avg_pool_3x3(x))

  return jax.lax.switch(op, (none, skip, conv1, conv3, pool), x, relu_x)


class ResidualBlock(nn.Module):
  """NB201's reduction block: stride-2 ReLU-conv-BN pair + pooled shortcut."""
  features: int
  weight_init: str = 'torch'
  tap: jnn.Tap = jnn.NO_TAP

  @nn.compact
  def __call__(self, x: Array, acc: Any) -> tuple[Array, Any]:
    h, acc = jnn.relu(x, acc, self.tap)
    h = jnn.ConvBN(self.features, 3, 2, self.weight_init, name='conv_a')(h)
    h, acc = jnn.relu(h, acc, self.tap)
    h = jnn.ConvBN(self.features, 3, 1, self.weight_init, name='conv_b')(h)
    s = nn.avg_pool(x, (2, 2), (2, 2))
    kernel = self.param('shortcut', jnn.get_init(self.weight_init),
                        (1, 1, x.shape[-1], self.features))
    return h + jnn.conv(s, kernel, 1, 0), acc


class TinyNetwork(nn.Module):
  """NB201 TinyNetwork; ``apply(variables, images, ops) -> (logits, acc)``.

  Attributes:
    channels: C, width of the first stage (16 in the benchmark).
    cells_per_stage: N (5 in the benchmark).
    num_classes: logits (1 for scoring, as the NASWOT reference).
    weight_init: weight initialiser name ('torch' default, 'he_normal').
    tap: the proxy's ReLU tap.
  """
  channels: int = 16
  cells_per_stage: int = 5
  num_classes: int = 1
  weight_init: str = 'torch'
  tap: jnn.Tap = jnn.NO_TAP

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
    acc = self.tap.init(images.shape[0])
    c = self.channels
    x = jnn.ConvBN(c, 3, 1, self.weight_init, name='stem')(images)
    for stage in range(3):
      width = c * 2**stage
      if stage:
        x, acc = ResidualBlock(width, self.weight_init, self.tap,
                               name=f'reduce{stage}')(x, acc)
      cells = nn.scan(Cell, variable_axes={'params': 0},
                      split_rngs={'params': True}, in_axes=nn.broadcast,
                      length=self.cells_per_stage)
      (x, acc), _ = cells(width, self.weight_init, self.tap,
                          name=f'stage{stage}')((x, acc), ops)
    scale = self.param('lastact_scale', nn.initializers.ones, (x.shape[-1],))
    bias = self.param('lastact_bias', nn.initializers.zeros, (x.shape[-1],))
    x, acc = jnn.relu(jnn.batch_norm(x, scale, bias), acc, self.tap)
    x = jnp.mean(x, axis=(1, 2))
    logits = nn.Dense(self.num_classes, kernel_init=jnn.get_init(self.weight_init),
                      bias_init=jnn.torch_bias_init(x.shape[-1]),
                      name='classifier')(x)
    return logits, acc
