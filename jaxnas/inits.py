"""Weight initialisers of the search-space networks, by name.

Kernels are HWIO (conv) or IO (dense); fans follow PyTorch's convention
(fan_in = I x receptive field, fan_out = O x receptive field).
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


# (variance scale, fan mode, distribution) of each named initialiser:
# * 'torch': PyTorch's default for Conv2d / Linear weights,
#   kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
#   variance 1 / (3 fan_in);
# * 'he_normal': He (Kaiming) normal, fan-out mode, ReLU gain (NASWOT's NB101
#   port, TE-NAS); 'he_normal_fan_in' the fan-in variant (AZ-NAS);
# * 'gaussian': N(0, 1) whatever the fan (Zen-NAS, SWAP);
# * 'lecun_normal': variance 1 / fan_in, TF1's variance_scaling_initializer()
#   (NAS-Bench-101's training code; TF truncates, with the same variance).
# Distributions are untruncated. Dense biases: PyTorch's uniform for 'torch',
# zeros otherwise.
_INIT_RULES = {
    'torch': (1.0 / 3.0, 'fan_in', 'uniform'),
    'he_normal': (2.0, 'fan_out', 'normal'),
    'he_normal_fan_in': (2.0, 'fan_in', 'normal'),
    'gaussian': (1.0, 'none', 'normal'),
    'lecun_normal': (1.0, 'fan_in', 'normal'),
}
INIT_NAMES = tuple(_INIT_RULES)


def _rule(name: str) -> tuple[float, str, str]:
  try:
    return _INIT_RULES[name]
  except KeyError:
    raise ValueError(f'unknown weight init {name!r}; choose one of '
                     f'{", ".join(_INIT_RULES)}') from None


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
  field = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
  return field * shape[-2], field * shape[-1]


def _draw(key, shape, variance, distribution):
  if distribution == 'uniform':
    w = jax.random.uniform(key, shape, jnp.float32, -1.0, 1.0)
    return w * jnp.sqrt(3.0 * variance)
  return jax.random.normal(key, shape, jnp.float32) * jnp.sqrt(variance)


def get_init(name: str) -> Callable:
  """Kernel initialiser ``init(key, shape, live=1)`` by name.

  ``live`` (0/1, may be traced) multiplies the draw: a weight that exists in
  the padded program but not in the real network (an op not chosen) is 0.
  The dtype is always float32.
  """
  scale, mode, distribution = _rule(name)

  def init(key, shape, live=1.0, dtype=jnp.float32):
    del dtype  # always float32, whatever jax_enable_x64 says
    fan_in, fan_out = _fans(shape)
    fan = {'fan_in': fan_in, 'fan_out': fan_out, 'none': 1}[mode]
    # As jax.nn.initializers.variance_scaling computes it (bit for bit).
    variance = jnp.array(scale / fan, dtype=jnp.float32)
    return _draw(key, shape, variance, distribution) * live

  return init


def draw_kernels(key: Array, shapes: list[tuple[int, ...]], name: str,
                 live: list[Any]) -> list[Array]:
  """Kernels drawn with the initialiser ``name`` from one random draw (the
  same distribution as :func:`get_init` per kernel).

  XLA:CPU compiles every random draw (threefry) separately and the time
  grows faster than their number (measured: 50 draws 5.9 s, 450 draws
  238 s), so a network with hundreds of kernels outside scans draws them
  together.

  Args:
    key: the random key.
    shapes: each kernel's shape (HWIO or IO; the fans come from it).
    name: the initialiser (see :data:`INIT_NAMES`).
    live: per kernel, a 0/1 factor (may be traced; 0: a weight the real
      network lacks), either a scalar or a vector of n factors, in which
      case n kernels of the shape are stacked on a leading axis.

  Returns:
    The kernels, ``shape`` or ``[n, *shape]``.
  """
  scale, mode, distribution = _rule(name)
  full = [tuple(jnp.shape(l)) + tuple(s) for s, l in zip(shapes, live)]
  sizes = [int(np.prod(s)) for s in full]
  flat = _draw(key, (sum(sizes),), jnp.array(1.0, jnp.float32), distribution)
  out, offset = [], 0
  for shape, stacked, size, l in zip(shapes, full, sizes, live):
    fan_in, fan_out = _fans(shape)
    fan = {'fan_in': fan_in, 'fan_out': fan_out, 'none': 1}[mode]
    variance = jnp.array(scale / fan, dtype=jnp.float32)
    w = flat[offset:offset + size].reshape(stacked) * jnp.sqrt(variance)
    l = jnp.asarray(l, jnp.float32)
    out.append(w * l.reshape(l.shape + (1,) * len(shape)))
    offset += size
  return out


def make_kernels(module: nn.Module, specs: list[tuple[str, tuple[int, ...],
                                                      Any]],
                 name: str) -> dict[str, Array]:
  """Parameters ``{param name: kernel}`` of ``module`` (inside its compact
  ``__call__``) for ``specs`` = ``(param name, shape, live)`` (see
  :func:`draw_kernels`), drawn from one key when they do not exist yet."""
  drawn = []

  def value(i):
    if not drawn:
      drawn.extend(draw_kernels(module.make_rng('params'),
                                [s for _, s, _ in specs], name,
                                [l for _, _, l in specs]))
    return drawn[i]

  return {n: module.variable('params', n, value, i).value
          for i, (n, _, _) in enumerate(specs)}


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
  scale, mode, distribution = _rule(name)

  def init(key, shape, in_mask, out_mask, dtype=jnp.float32):
    del dtype
    field = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    in_mask = jnp.asarray(in_mask, jnp.float32)
    out_mask = jnp.asarray(out_mask, jnp.float32)
    if mode == 'none':
      variance = scale
    else:
      real = jnp.sum(in_mask if mode == 'fan_in' else out_mask)
      variance = scale / jnp.maximum(field * real, 1.0)  # 0 for dead slots
    w = _draw(key, shape, variance, distribution)
    return w * in_mask[:, None] * out_mask

  return init


def ones(key, shape, dtype=jnp.float32):
  del key, dtype
  return jnp.ones(shape, jnp.float32)


def zeros(key, shape, dtype=jnp.float32):
  del key, dtype
  return jnp.zeros(shape, jnp.float32)


def torch_bias_init(fan_in: int) -> Callable:
  """PyTorch's Linear bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
  bound = 1.0 / float(fan_in)**0.5

  def init(key, shape, dtype=jnp.float32):
    del dtype
    return jax.random.uniform(key, shape, jnp.float32, -bound, bound)

  return init
