"""grasp (Wang et al. 2020, as NASLib computes it): with g = dL/dW on the
batch (held fixed) and Hg the Hessian-vector product d(g . dL/dW)/dW over
the conv / dense weights, score = sum(-W * Hg), signed. L is the mean
cross-entropy with real labels; BatchNorm parameters are held fixed, as
NASLib differentiates the conv / linear weights only."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnas import nn as jnn
from jaxnas.proxies import base


def _dot(a, b) -> jax.Array:
  return sum(jnp.vdot(x, y) for x, y in zip(jax.tree.leaves(a),
                                             jax.tree.leaves(b)))


def make() -> base.Proxy:

  def device(ctx):
    grads, _ = ctx.loss_grads()
    # The tangent is g on the kernels and 0 elsewhere, so the kernel part of
    # H t is H_ww g_w, the product over the weights alone.
    tangent = jnn.only_kernels(grads)

    def loss(params):
      return base.cross_entropy(ctx.apply({'params': params}, ctx.images)[0],
                                ctx.labels)

    # H t by reverse over reverse, as NASLib's create_graph does (the
    # convolutions' custom backward pass has no forward-mode rule).
    hg = jax.grad(lambda p: _dot(jax.grad(loss)(p), tangent))(ctx.params)
    return jnn.layer_sum(lambda w, h: -jnp.sum(w * h), ctx.params, hg)

  return base.Proxy('grasp', host=base.finite('grasp'), device=device,
                    needs=base.Needs(grads=True, backward=True))
