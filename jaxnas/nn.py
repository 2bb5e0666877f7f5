"""Shared building blocks for the search-space networks.

Layout is NHWC throughout (``[batch, height, width, channels]``).

Taps
----
Zero-cost proxies such as NASWOT look at every ReLU of a network. Instead of
hooks, jaxnas networks thread an explicit accumulator through the forward pass:
each ReLU call site calls ``tap.update(acc, x, count, mask)`` with the ReLU's
*input* ``x`` and the number of ReLU calls that see exactly this input
(``count`` may be a traced integer, e.g. the number of conv edges leaving a
cell node). ``mask`` (optional, possibly traced) is a 0/1 vector over the last
(channel) axis of ``x``: networks that compute a layer at a padded width
(NB101, where a cell's channel counts are data) pass it so that only the real
channels count as ReLU units. A tap is a static, hashable object owned by the
proxy; the network never knows which proxy listens. ``NO_TAP`` ignores
everything.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array

# --------------------------------------------------------------------------
# Initialisers.

# (variance scale, fan mode, distribution) of each named initialiser:
# * 'torch': PyTorch's default for Conv2d / Linear weights,
#   kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
#   variance 1 / (3 fan_in);
# * 'he_normal': He (Kaiming) normal, fan-out mode, ReLU gain (NASWOT's NB101
#   port, TE-NAS); 'he_normal_fan_in' the fan-in variant.
_INIT_RULES = {
    'torch': (1.0 / 3.0, 'fan_in', 'uniform'),
    'he_normal': (2.0, 'fan_out', 'normal'),
    'he_normal_fan_in': (2.0, 'fan_in', 'normal'),
}
INITS = {name: nn.initializers.variance_scaling(*rule)
         for name, rule in _INIT_RULES.items()}
torch_default_init = INITS['torch']
he_normal_fan_out = INITS['he_normal']
he_normal_fan_in = INITS['he_normal_fan_in']


def get_init(name: str) -> Callable:
  """Weight initialiser by name: 'torch' (default), 'he_normal', ..."""
  try:
    return INITS[name]
  except KeyError:
    raise ValueError(f'unknown init {name!r}; choose one of '
                     f'{", ".join(INITS)}') from None


def masked_kernel_init(name: str) -> Callable:
  """The initialiser ``name`` for a kernel stored at a padded shape.

  Returns ``init(key, shape, in_mask, out_mask)`` for an HWIO (or IO) kernel
  of which only the input channels where ``in_mask`` is 1 and the output
  channels where ``out_mask`` is 1 are real; the masks (0/1 vectors of length
  ``shape[-2]`` and ``shape[-1]``) may be traced. The fans are the REAL ones
  (receptive field times the masks' sums), so the real block has exactly the
  distribution of the same initialiser at the real shape; every other entry
  is zero.
  """
  try:
    scale, mode, distribution = _INIT_RULES[name]
  except KeyError:
    raise ValueError(f'unknown init {name!r}; choose one of '
                     f'{", ".join(_INIT_RULES)}') from None

  def init(key, shape, in_mask, out_mask, dtype=jnp.float32):
    field = 1
    for d in shape[:-2]:
      field *= d
    in_mask = jnp.asarray(in_mask, dtype)
    out_mask = jnp.asarray(out_mask, dtype)
    real = jnp.sum(in_mask if mode == 'fan_in' else out_mask)
    variance = scale / jnp.maximum(field * real, 1.0)  # 0 for dead slots
    if distribution == 'uniform':
      w = jax.random.uniform(key, shape, dtype, -1.0, 1.0)
      w = w * jnp.sqrt(3.0 * variance)
    else:
      w = jax.random.normal(key, shape, dtype) * jnp.sqrt(variance)
    return w * in_mask[:, None] * out_mask

  return init


def torch_bias_init(fan_in: int) -> Callable:
  """PyTorch's Linear bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
  bound = 1.0 / float(fan_in)**0.5

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


# --------------------------------------------------------------------------
# Taps.


@dataclasses.dataclass(frozen=True)
class Tap:
  """Base tap: an accumulator over ReLU inputs. Subclasses override both."""

  def init(self, batch_size: int) -> Any:
    del batch_size
    return ()

  def update(self, acc: Any, x: Array, count: Any = 1,
             mask: Array | None = None) -> Any:
    del x, count, mask
    return acc


NO_TAP = Tap()


def relu(x: Array, acc: Any, tap: Tap, count: Any = 1,
         mask: Array | None = None) -> tuple[Array, Any]:
  """A ReLU that reports its input to ``tap``; returns (relu(x), acc)."""
  return jax.nn.relu(x), tap.update(acc, x, count, mask)


# --------------------------------------------------------------------------
# Layers.


def batch_norm(x: Array, scale: Array, bias: Array,
               eps: float = 1e-5) -> Array:
  """Train-mode BatchNorm over (N, H, W) with the batch's statistics.

  Both moments come from one matrix-vector product of a row of 1/M with
  ``[x, x^2]`` (``[M, 2C]``, M = N*H*W): on XLA:CPU this ran 2-3x faster than
  two column reductions. Running averages are not tracked: scoring never
  evaluates in eval mode.
  """
  c = x.shape[-1]
  flat = x.reshape(-1, c)
  weights = jnp.full((1, flat.shape[0]), 1.0 / flat.shape[0], x.dtype)
  moments = jnp.dot(weights, jnp.concatenate([flat, jnp.square(flat)], 1),
                    precision=jax.lax.Precision.HIGHEST)[0]
  mean, mean_sq = moments[:c], moments[c:]
  var = jnp.maximum(mean_sq - jnp.square(mean), 0.0)
  inv = jax.lax.rsqrt(var + eps) * scale
  return x * inv + (bias - mean * inv)


def conv(x: Array, kernel: Array, stride: int = 1,
         padding: int | str = 'SAME') -> Array:
  """2-D convolution, NHWC input, HWIO kernel, no bias."""
  if isinstance(padding, int):
    padding = ((padding, padding), (padding, padding))
  return jax.lax.conv_general_dilated(
      x, kernel, (stride, stride), padding,
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def avg_pool_3x3(x: Array) -> Array:
  """3x3 average pool, stride 1, pad 1, padding not counted in the mean."""
  window, strides, pad = (1, 3, 3, 1), (1, 1, 1, 1), ((0, 0), (1, 1), (1, 1),
                                                      (0, 0))
  total = jax.lax.reduce_window(x, 0.0, jax.lax.add, window, strides, pad)
  ones = jnp.ones((1,) + x.shape[1:3] + (1,), x.dtype)
  counts = jax.lax.reduce_window(ones, 0.0, jax.lax.add, window, strides, pad)
  return total / counts


class ConvBN(nn.Module):
  """Conv (no bias) -> train-mode BN. Parameters: kernel, bn scale and bias."""
  features: int
  kernel_size: int
  stride: int = 1
  weight_init: str = 'torch'

  @nn.compact
  def __call__(self, x: Array) -> Array:
    k = self.kernel_size
    kernel = self.param('kernel', get_init(self.weight_init),
                        (k, k, x.shape[-1], self.features))
    scale = self.param('scale', nn.initializers.ones, (self.features,))
    bias = self.param('bias', nn.initializers.zeros, (self.features,))
    return batch_norm(conv(x, kernel, self.stride, k // 2), scale, bias)
