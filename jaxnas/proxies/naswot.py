"""NASWOT: the binary ReLU-code kernel score (Mellor et al., ICML 2021).

For a minibatch of B inputs, every ReLU call l of the untrained network (in
train mode) binarises its input per example, c_l = (x_l > 0) flattened to
N_l features, and contributes

  K += c_l c_l^T + (1 - c_l)(1 - c_l)^T,      (Mellor et al. 2021, Eq. 2)

so K_ij = N_A - Hamming(c_i, c_j) over all N_A ReLU units. The score is
log|det K| (slogdet's log-magnitude; K is PSD so the sign is ignored).

K is accumulated on the fly by a tap (never holding the codes of more than
one ReLU call). Entries are integer counts. On CPU each per-call matrix
comes from the native kernel of :mod:`jaxnas.native` (packed codes, XOR +
popcount); elsewhere, or without it, from a float32 matmul of +-1 codes
(exact while N_l < 2^24; longer rows are split), converted to int32. Both
give the same integers, summed exactly. The log-determinant is taken on the
host in float64 (float32 loses the small eigenvalues of K).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import native as native_lib
from jaxnas import nn as jnn
from jaxnas.proxies import base

Array = jax.Array
_EXACT_F32 = 2**24


@dataclasses.dataclass(frozen=True)
class NaswotTap(jnn.Tap):
  """Accumulates the NASWOT kernel K (int32 ``[B, B]``) over ReLU inputs.

  ``native``: use the C++ kernel of :mod:`jaxnas.native` (None: when it
  is available and the backend is the CPU). ``feature_major``: in the XLA
  formulation, form each Gram matrix from the codes laid out
  ``[features, B]`` (the default; see :func:`code_kernel`).
  """
  feature_major: bool = True
  native: bool | None = None

  hooks = frozenset({'relu'})

  def init(self, batch_size: int) -> Array:
    return jnp.zeros((batch_size, batch_size), jnp.int32)

  def relu(self, acc: Array, x: Array, count: Any = 1,
           mask: Array | None = None) -> Array:
    def add(a):
      return a + count * code_kernel(x, mask, self.feature_major, self.native)

    if isinstance(count, int):
      return acc if count == 0 else add(acc)
    # Traced count (e.g. conv edges leaving a cell node): skip the kernel
    # when no ReLU reads this tensor.
    return jax.lax.cond(count > 0, add, lambda a: a, acc)


def code_kernel(x: Array, mask: Array | None = None,
                feature_major: bool = True,
                native: bool | None = None) -> Array:
  """K for one ReLU call: ``[B, ...]`` input -> int32 ``[B, B]``.

  With signs s = +1 where x > 0 and -1 elsewhere, s_i . s_j counts agreements
  minus disagreements, so K_ij = N - Hamming_ij = (N + s_i . s_j) / 2.

  ``mask`` (0/1 over the last axis, may be traced) keeps only the real
  channels of a padded tensor: masked units get s = 0 (they add nothing to
  s_i . s_j) and N counts the unmasked units only.

  ``native`` (None: automatic) computes the same integers with the C++
  kernel of :mod:`jaxnas.native` (packed codes, XOR + popcount) instead of
  a float32 Gram product; ``feature_major`` only affects the XLA path.
  """
  b = x.shape[0]
  if native is None:
    native = (jax.default_backend() == 'cpu' and
              native_lib.naswot_gram_available())
  elif native and not native_lib.naswot_gram_available():
    raise RuntimeError('native NASWOT kernel requested (native=True) but '
                       'it could not be built; see the message above')
  if native:
    flat = x.reshape(b, -1).astype(jnp.float32)
    if mask is None:
      units = jnp.ones(flat.shape[1:], jnp.float32)
    else:
      on = (jnp.asarray(mask) > 0).astype(jnp.float32)
      units = jnp.broadcast_to(on, x.shape[1:]).reshape(-1)
    return native_lib.naswot_gram(flat, units)
  s = jnp.where(x > 0, 1.0, -1.0).astype(jnp.float32)
  if mask is None:
    n = s[0].size
  else:
    on = jnp.asarray(mask) > 0
    s = s * on.astype(jnp.float32)
    n = (s[0].size // x.shape[-1]) * jnp.sum(on.astype(jnp.int32))
  s = s.reshape(b, -1)
  axis = 1  # the feature axis, contracted
  if feature_major:
    # [F, B] codes. On XLA:CPU (jax 0.5.3) the Gram product contracting the
    # major axis of both operands took 6.5 ms for F=16384, B=128 against
    # 11.6 ms for [B, F] x [B, F]^T; with the transpose it costs, ~3.5%
    # more NB201 cells/s. The barrier stops XLA from folding the transpose
    # back into the dot.
    s = jax.lax.optimization_barrier(s.T)
    axis = 0
  size = s.shape[axis]
  pieces = max(1, math.ceil(size / (_EXACT_F32 - 1)))
  step = math.ceil(size / pieces)
  agree = jnp.zeros((b, b), jnp.int32)
  for start in range(0, size, step):
    part = jax.lax.slice_in_dim(s, start, min(start + step, size), axis=axis)
    gram = jax.lax.dot_general(part, part, (((axis,), (axis,)), ((), ())),
                               precision=jax.lax.Precision.HIGHEST)
    agree = agree + gram.astype(jnp.int32)
  return (n + agree) // 2


def naswot_from_kernel(kernel) -> tuple[float | None, str | None]:
  """log|det K| in float64 on the host.

  Returns:
    (score, note): ``score`` is None and ``note`` says why when K is singular
    (slogdet gives -inf) or the result is not finite.
  """
  k = np.asarray(kernel, dtype=np.float64)
  sign, logdet = np.linalg.slogdet(k)
  if sign == 0 or not np.isfinite(logdet):
    return None, (f'singular NASWOT kernel (slogdet sign={sign:g}, '
                  f'log|det|={logdet}): inputs with identical ReLU codes')
  return float(logdet), None


TAP = NaswotTap()


def make() -> base.Proxy:
  """NASWOT: log|det K| of the ReLU codes of the whole batch (higher is
  better)."""
  return base.Proxy('naswot', host=naswot_from_kernel,
                    device=lambda ctx: ctx.tap(TAP),
                    needs=base.Needs(tap=TAP))
