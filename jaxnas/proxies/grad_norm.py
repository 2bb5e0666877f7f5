"""grad_norm (NASLib): sum over conv / dense layers of ||dL/dW_l||_F (norms
added, not squared), L the mean cross-entropy with real labels."""

from __future__ import annotations

import jax.numpy as jnp

from jaxnas import nn as jnn
from jaxnas.proxies import base


def make() -> base.Proxy:

  def device(ctx):
    grads, _ = ctx.loss_grads()
    return jnn.layer_sum(lambda g: jnp.linalg.norm(g), grads)

  return base.Proxy('grad_norm', host=base.finite('grad_norm'),
                    device=device, needs=base.Needs(grads=True))
