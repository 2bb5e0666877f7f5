"""fisher (Turner et al. 2020, as NASLib computes it): for every conv /
dense output activation a with gradient dL/da, per channel k,
Delta_k = 0.5 * mean_n (sum over positions of a * dL/da)^2; the layer adds
Delta_k times the number of weights feeding channel k (NASLib broadcasts
each channel's value over the weight's fan-in before summing).

The per-example, per-channel sums are the gradients of the networks' gates
(:func:`jaxnas.nn.gate`: ``a * (1 + g)`` with g = 0, so dL/dg_nk is exactly
that sum); fan-ins are counted from the kernel's nonzero entries, which are
the real ones in padded programs (dead weights are zero)."""

from __future__ import annotations

import jax.numpy as jnp
from flax import traverse_util

from jaxnas.proxies import base


def make() -> base.Proxy:

  def device(ctx):
    _, gate_grads = ctx.loss_grads()
    kernels = traverse_util.flatten_dict(ctx.params)
    total = jnp.zeros((), jnp.float32)
    for path, g in traverse_util.flatten_dict(gate_grads).items():
      kernel = kernels[path]
      # g: [batch, channels] or, under a scan over cells, [cells, batch,
      # channels]; kernel: [..., fan_in axes..., channels] likewise.
      delta = 0.5 * jnp.mean(jnp.square(g), axis=-2)
      stacked = g.ndim == 3
      fan_axes = tuple(range(1 if stacked else 0, kernel.ndim - 1))
      fan = jnp.sum((kernel != 0).astype(jnp.float32), axis=fan_axes)
      total = total + jnp.sum(delta * fan)
    return total

  return base.Proxy('fisher', host=base.finite('fisher'), device=device,
                    needs=base.Needs(grads=True, gates=True))
