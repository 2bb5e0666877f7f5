"""The DARTS cell ops as NASLib's NB301 network builds them (JAX).

Every op maps ``[B, H, W, C]`` to ``[B, H / stride, W / stride, C]``; its BNs
have no affine parameters (NASLib's ``affine=False``):

* ``max_pool_3x3`` / ``avg_pool_3x3``: 3x3 pool (pad 1; the average does not
  count the padding), then BN;
* ``skip_connect``: the identity at stride 1; at stride 2 a
  FactorizedReduce: ReLU, two 1x1 convs C -> C/2 on the even and on the odd
  rows and columns, concatenated, BN;
* ``sep_conv_kxk``: two separable convs: ReLU, depthwise kxk (the stride),
  pointwise 1x1, BN, ReLU, depthwise kxk, pointwise 1x1, BN;
* ``dil_conv_kxk``: ReLU, depthwise kxk with dilation 2, pointwise 1x1, BN.

A cell's edge kernels (:func:`edge_specs`, stacked over its 8 pairs) and
their gates are created outside the edges' ``lax.switch`` and handed to
:func:`apply_op` inside as one pair's ``{name: (kernel, gate)}``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxnas import nn as jnn
from jaxnas.spaces.darts import spec

Array = jax.Array
# op -> (kernel size, dilation, separable convs stacked)
CONVS = {spec.SEP3: (3, 1, 2), spec.SEP5: (5, 1, 2), spec.DIL3: (3, 2, 1),
         spec.DIL5: (5, 2, 1)}


def _parts(op: int, c: int) -> list[tuple[str, tuple[int, ...]]]:
  """(part name, kernel shape) of the kernels of a conv op at width c."""
  k, _, units = CONVS[op]
  out = []
  for u in range(1, units + 1):
    suffix = str(u) if units > 1 else ''
    out += [(f'dw{suffix}', (k, k, 1, c)), (f'pw{suffix}', (1, 1, c, c))]
  return out


def kernel_name(op: int, part: str) -> str:
  """The name of the cell's stacked edge kernel (one per pair on its
  leading axis), e.g. ``edge_sep_conv_5x5_dw2_kernel``."""
  return f'edge_{spec.OPS[op]}_{part}_kernel'


def edge_specs(c: int, op: Array, stride2: Array, reduce: bool
               ) -> list[tuple[str, tuple[int, ...], Array]]:
  """``(name, shape, live)`` of every kernel the 8 edges of a cell may use
  (:func:`jaxnas.nn.draw_kernels`: stacked, one per pair), named by
  :func:`kernel_name`. ``op`` and ``stride2`` are the pairs' ``[8]`` op
  indices and strides; ``live`` is 1 only for the kernels of a pair's op
  (and, for the FactorizedReduce of a reduction cell's skip, only when the
  pair has stride 2), so the others are initialised to zero."""
  out = []
  for o in CONVS:
    for part, shape in _parts(o, c):
      out.append((kernel_name(o, part), shape, (op == o).astype(jnp.float32)))
  if reduce:
    live = ((op == spec.SKIP) & stride2).astype(jnp.float32)
    for part in ('fr1', 'fr2'):
      out.append((kernel_name(spec.SKIP, part), (1, 1, c, c // 2), live))
  return out


def starts_with_relu(op: Array, stride2: Array) -> Array:
  """Whether each op begins with a ReLU of its input (conv ops and the
  stride-2 skip); ``op`` and ``stride2`` broadcast."""
  conv = jnp.zeros(jnp.shape(op), bool)
  for o in CONVS:
    conv = conv | (op == o)
  return conv | ((op == spec.SKIP) & stride2)


def factorized_reduce(r: Array, fr1: tuple[Array, Any],
                      fr2: tuple[Array, Any], opts: jnn.NetOptions) -> Array:
  """The two halves of a FactorizedReduce (no BN) of ``r`` (already through
  its ReLU): the (kernel, gate) ``fr1`` on the even rows and columns,
  ``fr2`` on the odd ones (PyTorch's stride-2 1x1 convs of ``x`` and
  ``x[:, :, 1:, 1:]``), concatenated on channels."""
  halves = []
  for (kernel, gate), start in ((fr1, 0), (fr2, 1)):
    y = opts.conv(r[:, start::2, start::2], kernel, 1, 0)
    halves.append(jnn.apply_gate(y, gate))
  return jnp.concatenate(halves, axis=-1)


def _bn(x: Array, acc: Any, opts: jnn.NetOptions) -> tuple[Array, Any]:
  """BatchNorm without affine parameters."""
  y, acc, _ = jnn.batch_norm(x, 1.0, 0.0, opts, acc)
  return y, acc


def apply_op(op: int, stride: int, x: Array, weights: dict, acc: Any,
             opts: jnn.NetOptions) -> tuple[Array, Any]:
  """Op ``op`` (static) at ``stride`` on ``x`` with one edge's weights
  ``{kernel name: (kernel, gate)}``: ``(y, acc)``.

  The first ReLU of a conv op or stride-2 skip is not reported (the cell
  reports each state once for all of them); a sep conv's inner ReLU is.
  """
  if op == spec.MAX_POOL:
    return _bn(jnn.max_pool_3x3(x, stride), acc, opts)
  if op == spec.AVG_POOL:
    return _bn(jnn.avg_pool_3x3(x, stride), acc, opts)
  if op == spec.SKIP:
    if stride == 1:
      return x, acc
    y = factorized_reduce(jax.nn.relu(x),
                          weights[kernel_name(spec.SKIP, 'fr1')],
                          weights[kernel_name(spec.SKIP, 'fr2')], opts)
    return _bn(y, acc, opts)
  k, dilation, units = CONVS[op]
  y = jax.nn.relu(x)
  for u in range(1, units + 1):
    if u > 1:
      y, acc = jnn.relu(y, acc, opts.tap)
    suffix = str(u) if units > 1 else ''
    kernel, gate = weights[kernel_name(op, f'dw{suffix}')]
    y = jnn.apply_gate(jnn.depthwise_conv(y, kernel, stride if u == 1 else 1,
                                          dilation), gate)
    kernel, gate = weights[kernel_name(op, f'pw{suffix}')]
    y = jnn.apply_gate(opts.conv(y, kernel, 1, 0), gate)
    y, acc = _bn(y, acc, opts)
  return y, acc
