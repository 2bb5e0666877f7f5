"""synflow (Tanaka et al. 2020, as NASLib computes it): every parameter
replaced by its absolute value, BatchNorm removed, one all-ones input
``[1, H, W, C]``, R = the sum of the outputs; score = sum over conv / dense
weights of |W * dR/dW|; reported as log(score), as NASLib reports it.

NASLib computes in float64 because the score of deep cells passes float32's
range (e^89 here). This network (positive weights, no BN, ReLUs acting on
nonnegative values, linear pooling) is positively homogeneous of degree one
in its input apart from the classifier's bias, which no weight gradient
sees; so the input is scaled by 2^-SCALE_BITS, every term of the score
scales by the same factor, and log(score) = log(score at the scaled input)
+ SCALE_BITS log 2 exactly, in float32 without overflow (checked against a
float64 computation in the tests)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxnas import nn as jnn
from jaxnas.proxies import base

SCALE_BITS = 64


def _log_score(value: float) -> float:
  return math.log(value) + SCALE_BITS * math.log(2.0)


def host(out) -> base.HostResult:
  value = float(out)
  if value == 0.0:
    return None, ('synflow is 0: no weight gradient reaches the output (no '
                  'path from input to output)')
  return base.finite('synflow', _log_score)(value)


def make() -> base.Proxy:

  def device(ctx):
    params = jax.tree.map(jnp.abs, ctx.params)
    x = ctx.images * jnp.float32(2.0**-SCALE_BITS)

    def total(p):
      return jnp.sum(ctx.apply({'params': p}, x)[0])

    grads = jax.grad(total)(params)
    return jnn.layer_sum(lambda w, g: jnp.sum(jnp.abs(w * g)), params, grads)

  return base.Proxy('synflow', host=host, device=device,
                    needs=base.Needs(bn=False, inputs='ones', backward=True))
