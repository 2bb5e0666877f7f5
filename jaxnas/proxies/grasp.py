"""grasp (Wang et al. 2020, as NASLib computes it): with g = dL/dW on the
batch (held fixed) and Hg the Hessian-vector product d(g . dL/dW)/dW over
the conv / dense weights, score = sum(-W * Hg), signed. L is the mean
cross-entropy with real labels; BatchNorm parameters are held fixed, as
NASLib differentiates the conv / linear weights only.

W . Hg is the mixed second directional derivative d^2/ds dt of
L(W + s W + t g) at 0 (kernel directions only), computed here exactly in
forward mode (a ``jvp`` of a ``jvp``): about four forward passes, no
backward pass, against reverse over reverse (NASLib's ``create_graph``),
which XLA:CPU ran ~5x slower and compiled for minutes longer."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnas import nn as jnn
from jaxnas.proxies import base


def make() -> base.Proxy:

  def device(ctx):
    grads, _ = ctx.loss_grads()
    g = jnn.only_kernels(grads)
    w = jnn.only_kernels(ctx.params)

    def loss(s, t):
      params = jax.tree.map(lambda p, a, b: p + s * a + t * b, ctx.params,
                            w, g)
      logits = ctx.apply_forward_mode({'params': params}, ctx.images)
      return base.cross_entropy(logits, ctx.labels)

    def along_g(s):
      return jax.jvp(lambda t: loss(s, t), (jnp.float32(0),),
                     (jnp.float32(1),))[1]

    return -jax.jvp(along_g, (jnp.float32(0),), (jnp.float32(1),))[1]

  return base.Proxy('grasp', host=base.finite('grasp'), device=device,
                    needs=base.Needs(grads=True))
