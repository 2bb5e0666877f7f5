"""synflow (Tanaka et al. 2020, as NASLib computes it): every parameter
replaced by its absolute value, BatchNorm removed, one all-ones input
``[1, H, W, C]``, R = the sum of the outputs; score = sum over conv / dense
weights of |W * dR/dW|; reported as log(score), as NASLib reports it.

NASLib computes in float64 because the score of deep cells passes float32's
range (up to e^115 on NB201's cells, and the gradient reaching the input
about e^107). This network (positive weights, no BN, ReLUs acting on
nonnegative values, linear pooling) is positively homogeneous of degree one
in its input apart from the classifier's bias, which no weight gradient
sees, and R is linear in the cotangent that seeds the backward pass. So
the input is scaled by 2^-SCALE_BITS (forward values stay below e^82) and
so is the cotangent (backward values below e^74): every term of the score
scales by 2^-2 SCALE_BITS and log(score) = log(score at the scaled input
and cotangent) + 2 SCALE_BITS log 2, in float32 without overflow (checked
against float64 computations in the tests). Scaling only the input (2^-64)
left the backward pass to overflow: NaN on 7 of NASLib's 725 cells, the
heaviest all-convolution ones."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxnas import nn as jnn
from jaxnas.proxies import base

SCALE_BITS = 48


def _log_score(value: float) -> float:
  return math.log(value) + 2 * SCALE_BITS * math.log(2.0)


def host(out) -> base.HostResult:
  value = float(out)
  if value == 0.0:
    return None, ('synflow is 0: no weight gradient reaches the output (no '
                  'path from input to output)')
  return base.finite('synflow', _log_score)(value)


def make() -> base.Proxy:

  def device(ctx):
    params = jax.tree.map(jnp.abs, ctx.params)
    scale = jnp.float32(2.0**-SCALE_BITS)
    x = ctx.images * scale

    def total(p):
      return jnp.sum(ctx.apply({'params': p}, x)[0]) * scale

    grads = jax.grad(total)(params)
    return jnn.layer_sum(lambda w, g: jnp.sum(jnp.abs(w * g)), params, grads)

  return base.Proxy('synflow', host=host, device=device,
                    needs=base.Needs(bn=False, inputs='ones', backward=True))
