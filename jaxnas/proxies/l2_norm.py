"""l2_norm (NASLib): the sum over conv / dense layers of the Frobenius norm
of the untrained weight, sum_l ||W_l||_F. No data. Weights of ops the cell
does not use are zero in the padded programs, so they add nothing."""

from __future__ import annotations

import jax.numpy as jnp

from jaxnas import nn as jnn
from jaxnas.proxies import base


def make() -> base.Proxy:
  return base.Proxy(
      'l2_norm', host=base.finite('l2_norm'),
      device=lambda ctx: jnn.layer_sum(jnp.linalg.norm, ctx.params))
