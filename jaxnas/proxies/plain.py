"""plain (NASLib): sum over conv / dense weights of dL/dW * W, signed (its
sign follows the batch), L the mean cross-entropy with real labels."""

from __future__ import annotations

import jax.numpy as jnp

from jaxnas import nn as jnn
from jaxnas.proxies import base


def make() -> base.Proxy:

  def device(ctx):
    grads, _ = ctx.loss_grads()
    return jnn.layer_sum(lambda w, g: jnp.sum(w * g), ctx.params, grads)

  return base.Proxy('plain', host=base.finite('plain'), device=device,
                    needs=base.Needs(grads=True))
