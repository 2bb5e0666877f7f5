"""SWAP: sample-wise activation patterns (Peng et al., ICLR 2024).

As the official code (pym1024/SWAP, ``src/metrics/swap.py``) computes it:
a forward hook on every ``nn.ReLU`` whose input is 4-D keeps its output for
a batch of B samples (16 in the paper and ``correlation.py``); the outputs
are flattened and concatenated into a ``[B, neurons]`` matrix, binarised by
``sign`` (1 where the ReLU is on, 0 elsewhere), and the score is the number
of distinct rows of its transpose: the distinct activation patterns a neuron
shows over the B samples. ``correlation.py`` averages the score over 32
re-initialisations with N(0, 1) conv / dense weights, BN weight 1 and bias
0, zero biases (jaxnas's ``'gaussian'`` init, asked for here; average with
``--inits=32``).

Mapping onto jaxnas: every ReLU site of the network reports its input to a
:class:`SwapTap` (ReLU(x) > 0 exactly where x > 0). A neuron's pattern over
B <= 20 samples is a B-bit integer, so the tap keeps a presence table of the
2^B codes and marks every neuron's code: the number of distinct columns is
the number of marked codes, exact and independent of how many times a
tensor is read (a node read by several ReLU-Conv-BN edges repeats the same
columns, which does not change the count). Padded channels (NB101's masks)
and sites no ReLU reads (count 0) mark nothing.

``swap_reg`` multiplies the score by exp(-(P - mu)^2 / sigma) with P the
real network's parameter count in thousands (the official
``count_parameters``, ``/1e3``). The official code has no defaults for mu
and sigma (without both, no regularisation) and its published script uses
none; jaxnas's defaults are its own choice (see :func:`make_reg`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import nn as jnn
from jaxnas.proxies import base

Array = jax.Array
MAX_BATCH = 20  # 2^20 codes: a 1 MB presence table


@dataclasses.dataclass(frozen=True)
class SwapTap(jnn.Tap):
  """Marks, in a bool ``[2^B + 1]`` table, the B-bit activation pattern of
  every ReLU unit over the batch (the last entry is a sink for units that
  do not count)."""
  hooks = frozenset({'relu'})

  def init(self, batch_size: int) -> Array:
    if batch_size > MAX_BATCH:
      raise ValueError(f'swap: a batch of {batch_size} samples; at most '
                       f'{MAX_BATCH} (the patterns are {MAX_BATCH}-bit codes)')
    return jnp.zeros((2**batch_size + 1,), jnp.bool_)

  def relu(self, acc: Array, x: Array, count: Any = 1,
           mask: Array | None = None) -> Array:
    if x.ndim != 4 or (isinstance(count, int) and count == 0):
      return acc  # the official hook keeps 4-D inputs only
    return acc.at[pattern_codes(x, count, mask)].set(True)


def pattern_codes(x: Array, count: Any = 1,
                  mask: Array | None = None) -> Array:
  """Per unit of ``x`` (``[B, ...]``), its pattern sum_b [x_b > 0] 2^b, or
  the sink index 2^B for units that do not count (masked channels, or a
  tensor no ReLU reads)."""
  b = x.shape[0]
  bits = (x > 0).reshape(b, -1).astype(jnp.int32)
  codes = jnp.sum(bits << jnp.arange(b, dtype=jnp.int32)[:, None], axis=0)
  live = jnp.asarray(count) > 0
  if mask is not None:
    on = jnp.broadcast_to(jnp.asarray(mask) > 0, x.shape[1:]).reshape(-1)
    live = live & on
  return jnp.where(live, codes, 2**b)


TAP = SwapTap()


def count_patterns(acc: Array) -> Array:
  """The number of distinct patterns marked in a :class:`SwapTap` table."""
  return jnp.sum(acc[:-1].astype(jnp.int32))


def host(count) -> base.HostResult:
  n = int(np.asarray(count))
  if n == 0:
    return None, 'swap: the network has no ReLU on a 4-D tensor'
  return float(n), None


def regular_factor(params: float, mu: float, sigma: float) -> float:
  """exp(-(P - mu)^2 / sigma), P = ``params`` / 1e3 (the official
  ``cal_regular_factor``)."""
  return math.exp(-(params / 1e3 - mu)**2 / sigma)


def _needs(batch_size: int) -> base.Needs:
  if not 1 <= batch_size <= MAX_BATCH:
    raise ValueError(f'batch_size={batch_size}; choose 1..{MAX_BATCH}')
  return base.Needs(weight_init='gaussian', batch_size=batch_size, tap=TAP)


def _device(ctx: base.Context) -> Array:
  return count_patterns(ctx.tap(TAP))


def make(batch_size: int = 16) -> base.Proxy:
  """SWAP: distinct activation patterns of the first ``batch_size`` images
  under an N(0, 1) init (higher is better)."""
  return base.Proxy('swap', host=host, device=_device,
                    needs=_needs(batch_size),
                    options=(('batch_size', batch_size),))


def make_reg(batch_size: int = 16, mu: float = 1500.0,
             sigma: float = 1e6) -> base.Proxy:
  """Regularised SWAP: SWAP times exp(-(params/1e3 - mu)^2 / sigma).

  The defaults are jaxnas's (the official code has none): centred at 1.5M
  parameters, about NB201's largest network with C=16, N=5, and wide
  (sigma = 1e6: the smallest NB201 network, 73k parameters, keeps a factor
  exp(-2.04) = 0.13). Set both for other spaces or sizes.
  """
  if not sigma > 0:
    raise ValueError(f'sigma={sigma} must be > 0')

  def host_reg(count, params: float) -> base.HostResult:
    score, note = host(count)
    if score is None:
      return None, note
    return score * regular_factor(params, mu, sigma), None

  return base.Proxy(
      'swap_reg', host=host_reg, device=_device, needs=_needs(batch_size),
      host_static=lambda space, arch, classes, size: space.param_count(
          arch, classes),
      options=(('batch_size', batch_size), ('mu', mu), ('sigma', sigma)))
