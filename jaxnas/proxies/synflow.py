"""synflow (Tanaka et al. 2020, as NASLib computes it): every parameter
replaced by its absolute value, BatchNorm removed, one all-ones input
``[1, H, W, C]``, R = the sum of the outputs; score = sum over conv / dense
weights of |W * dR/dW|; reported as log(score), as NASLib reports it.

NASLib computes in float64 because the score passes float32's range (up to
e^117 on NASLib's NB201 cells, e^165 on its NB101 cells). Here it stays in
float32 by exact powers of two. This network (positive weights, no BN,
ReLUs acting on nonnegative values, linear pooling) is positively
homogeneous of degree one in its input and in every feature that all paths
cross, apart from the classifier's bias, which no weight gradient sees. So:

* the input is scaled by ``2^-SCALE_BITS``;
* at every stem, cell and reduction-block output of single-input networks
  (NB201, NB101: the ``gradient`` sites of :mod:`jaxnas.taps`) the feature
  is divided by ``2^e``, ``e`` its largest value's rounded log2 (a constant
  to differentiation), so no feature grows past a cell's own gain;
* the backward pass starts from ``2^-e_R`` instead of 1, ``e_R`` the
  rounded log2 of the rescaled R, so the backward values stay near 1 / the
  forward values.

With the factors held constant, the rescaled R is the true R times one
factor, and so is every weight's gradient (the factor of the input and the
sites before a weight times that of the sites after it and of the seed):
log(score) = log(rescaled score) + (SCALE_BITS + sum e + e_R) log 2, exact
up to float32 round-off (checked against float64 computations in the tests,
past float32's range). Networks without sites (DARTS's two-input cells)
rely on the input scale alone: NASLib's NB301 cells reach e^118, whose
rescaled R (e^85) still fits.

Before the sites, the input and the seed were both scaled by 2^-48: that
left synflow infinite on 4 of 96 NASLib NB101 cells (log scores 126-132:
the forward pass, scaled by 2^-48 only, passed float32's range)."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from jaxnas import nn as jnn
from jaxnas.proxies import base

SCALE_BITS = 48
SITES = ('stem', 'cell', 'block')


def _log2_peak(x: jax.Array) -> jax.Array:
  """Rounded log2 of the largest |x| (0 when x is all zeros), as int32."""
  peak = jax.lax.stop_gradient(jnp.max(jnp.abs(x)))
  safe = jnp.where(peak > 0, peak, 1.0)
  return jnp.round(jnp.log2(safe)).astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class Renormalise(jnn.Tap):
  """Divides each stem / cell / block output by a power of two near its
  peak; the accumulator is the sum of the exponents (int32)."""
  hooks = frozenset({'gradient'})

  def init(self, batch_size: int) -> jax.Array:
    del batch_size
    return jnp.zeros((), jnp.int32)

  def gradient(self, acc, x, kind):
    if kind not in SITES:
      return x, acc
    e = _log2_peak(x)
    return jnp.ldexp(x, -e), acc + e


RENORMALISE = Renormalise()


def host(out) -> base.HostResult:
  value, exponent = float(out[0]), int(out[1])
  if value == 0.0:
    return None, ('synflow is 0: no weight gradient reaches the output (no '
                  'path from input to output)')
  offset = (SCALE_BITS + exponent) * math.log(2.0)
  return base.finite('synflow', lambda v: math.log(v) + offset)(value)


def make() -> base.Proxy:

  def device(ctx):
    params = jax.tree.map(jnp.abs, ctx.params)
    x = jnp.ldexp(ctx.images, -SCALE_BITS)

    def total(p):
      logits, sites = ctx.apply_tapped({'params': p}, x, RENORMALISE)
      return jnp.sum(logits), sites

    r, pullback, sites = jax.vjp(total, params, has_aux=True)
    e_r = _log2_peak(r)
    (grads,) = pullback(jnp.ldexp(jnp.ones_like(r), -e_r))
    score = jnn.layer_sum(lambda w, g: jnp.sum(jnp.abs(w * g)), params, grads)
    return score, sites + e_r

  return base.Proxy('synflow', host=host, device=device,
                    needs=base.Needs(bn=False, inputs='ones', backward=True))
