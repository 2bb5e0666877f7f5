"""snip (Lee et al. 2019, as NASLib computes it): sum over conv / dense
weights of |dL/dW * W|, L the mean cross-entropy of the batch with its real
labels, BatchNorm on batch statistics."""

from __future__ import annotations

import jax.numpy as jnp

from jaxnas import nn as jnn
from jaxnas.proxies import base


def make() -> base.Proxy:

  def device(ctx):
    grads, _ = ctx.loss_grads()
    return jnn.layer_sum(lambda w, g: jnp.sum(jnp.abs(w * g)), ctx.params,
                         grads)

  return base.Proxy('snip', host=base.finite('snip'), device=device,
                    needs=base.Needs(grads=True))
