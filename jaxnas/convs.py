"""Convolutions and pools of the search-space networks (NHWC, HWIO).

Stride-1 size-keeping convolutions have a custom backward pass that keeps
XLA:CPU fast inside ``lax.switch`` / ``lax.scan`` (see :func:`conv`).
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp

Array = jax.Array

_DIMS = ('NHWC', 'HWIO', 'NHWC')


def lax_conv(x: Array, kernel: Array, stride: int, padding) -> Array:
  if isinstance(padding, int):
    padding = ((padding, padding), (padding, padding))
  return jax.lax.conv_general_dilated(x, kernel, (stride, stride), padding,
                                      dimension_numbers=_DIMS)


@jax.custom_vjp
def _same_conv(x: Array, kernel: Array) -> Array:
  """Stride-1 convolution with an odd kernel, padded to keep the size."""
  return lax_conv(x, kernel, 1, kernel.shape[0] // 2)


def _flip(kernel: Array) -> Array:
  """The kernel of the transposed convolution: rotated 180, I and O
  swapped (for a stride-1 size-keeping convolution)."""
  return kernel[::-1, ::-1].transpose(0, 1, 3, 2)


def _same_conv_fwd(x, kernel):
  return _same_conv(x, kernel), (x, kernel)


def _same_conv_bwd(res, g):
  """Both gradients as ordinary NHWC / HWIO convolutions.

  XLA:CPU runs the convolutions JAX's own transpose rules emit (batch and
  feature dimensions swapped) 40-100x slower inside ``lax.switch`` and
  ``lax.scan`` bodies than outside (measured: one 3x3 conv's weight
  gradient, batch 64 at 32x32x16, 1.2 s in a switch vs 0.03 s); with the
  operands transposed explicitly the same products run at full speed
  everywhere, and the results are bit-identical. Every derivative of these
  is again one of the two functions, so Hessian products stay fast too.
  """
  x, kernel = res
  return _same_conv(g, _flip(kernel)), _filter_grad(x, g, kernel.shape[0])


# Images per convolution of the filter gradient (see _filter_grad).
FILTER_GRAD_CHUNK = 16


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _filter_grad(x: Array, g: Array, k: int) -> Array:
  """dW[i, j, c, o] = sum_{b,h,w} xp[b, h+i, w+j, c] g[b, h, w, o] (xp: x
  padded by k // 2): a valid convolution of ``[C, H', W', B]`` by
  ``[H, W, B, O]``, i.e. standard layouts, summed over chunks of
  ``FILTER_GRAD_CHUNK`` images. The batch is the contracted feature
  dimension of that convolution, and XLA:CPU runs it (and the transposes
  feeding it) far slower per image when it is large. Measured (3x3, 32x32x16,
  batch 256, inside a ``lax.switch``): 108 ms in one piece, 65 ms in chunks
  of 64, 28.5 ms in chunks of 16; at 8x8x64, 28 ms against 16 ms."""
  p = k // 2
  xp = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
  total = None
  for start in range(0, x.shape[0], FILTER_GRAD_CHUNK):
    part = slice(start, start + FILTER_GRAD_CHUNK)
    dw = jax.lax.conv_general_dilated(
        xp[part].transpose(3, 1, 2, 0), g[part].transpose(1, 2, 0, 3),
        (1, 1), 'VALID', dimension_numbers=_DIMS)
    total = dw if total is None else total + dw
  return total.transpose(1, 2, 0, 3)


def _filter_grad_fwd(x, g, k):
  return _filter_grad(x, g, k), (x, g)


def _filter_grad_bwd(k, res, w_bar):
  del k
  x, g = res
  return _same_conv(g, _flip(w_bar)), _same_conv(x, w_bar)


_same_conv.defvjp(_same_conv_fwd, _same_conv_bwd)
_filter_grad.defvjp(_filter_grad_fwd, _filter_grad_bwd)


def conv(x: Array, kernel: Array, stride: int = 1,
         padding: int | str = 'SAME') -> Array:
  """2-D convolution, NHWC input, HWIO kernel, no bias.

  A stride-1 convolution with an odd kernel and the size-keeping padding
  has a custom backward pass (see :func:`_same_conv_bwd`); reverse-mode
  differentiation of it works to any order, forward mode does not (use
  reverse-over-reverse for Hessian products).
  """
  k = kernel.shape[0]
  if (stride == 1 and k % 2 == 1 and kernel.shape[1] == k and
      padding in (k // 2, 'SAME')):
    return _same_conv(x, kernel)
  return lax_conv(x, kernel, stride, padding)


def depthwise_conv(x: Array, kernel: Array, stride: int = 1,
                   dilation: int = 1) -> Array:
  """Depthwise 2-D convolution (PyTorch's ``groups=C``), NHWC, no bias.

  Args:
    x: ``[B, H, W, C]``.
    kernel: ``[k, k, 1, C]`` (HWIO with one input channel per group; k odd).
    stride: the window stride.
    dilation: the kernel's dilation; the padding is ``dilation * (k - 1) //
      2`` on every side (DARTS's sep / dil convs), so a stride-1 output keeps
      the size and a stride-s one has ``ceil(H / s)`` rows.

  Returns:
    ``[B, ceil(H / stride), ceil(W / stride), C]``.

  Computed as the sum of ``k * k`` shifted (strided) slices of the padded
  input times the kernel's taps, not as ``lax.conv_general_dilated`` with
  ``feature_group_count=C``: XLA:CPU ran the grouped convolution 40x slower
  (batch 32 at 32x32x32, 3x3: 62 ms against 1.5 ms) and its gradient 10x
  slower again inside a ``lax.switch`` (one sep_conv_3x3 gradient: 2.5 s in
  a switch, 0.25 s outside), while this form's gradient (slices, pads and
  products) runs at the same speed in and out of a switch, differentiates
  to any order in either mode, and agrees with the grouped convolution to
  float32 rounding.
  """
  k = kernel.shape[0]
  pad = dilation * (k - 1) // 2
  _, h, w, _ = x.shape
  h_out, w_out = -(-h // stride), -(-w // stride)
  xp = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  out = None
  for i in range(k):
    for j in range(k):
      r, c = i * dilation, j * dilation
      tap = xp[:, r:r + stride * (h_out - 1) + 1:stride,
               c:c + stride * (w_out - 1) + 1:stride] * kernel[i, j, 0]
      out = tap if out is None else out + tap
  return out


def _pool_3x3(x: Array, init: float, op: Callable, stride: int) -> Array:
  return jax.lax.reduce_window(x, init, op, (1, 3, 3, 1),
                               (1, stride, stride, 1),
                               ((0, 0), (1, 1), (1, 1), (0, 0)))


def avg_pool_3x3(x: Array, stride: int = 1) -> Array:
  """3x3 average pool, pad 1, padding not counted in the mean (PyTorch's
  ``count_include_pad=False``)."""
  total = _pool_3x3(x, 0.0, jax.lax.add, stride)
  counts = _pool_3x3(jnp.ones((1,) + x.shape[1:3] + (1,), x.dtype), 0.0,
                     jax.lax.add, stride)
  return total / counts


def max_pool_3x3(x: Array, stride: int = 1) -> Array:
  """3x3 max pool, pad 1 (the padding never wins)."""
  return _pool_3x3(x, -jnp.inf, jax.lax.max, stride)
