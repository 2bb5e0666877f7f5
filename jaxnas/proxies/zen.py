"""zen (Zen-NAS, Lin et al. 2021, as NASLib computes it): a Gaussian
initialisation of its own (conv / dense weights N(0, 1), biases 0, BN 1 and
0), an N(0, 1) input x of the batch's shape and x2 = x + 0.01 eps; f = the
features before the global pool (train-mode BN);
score = log(mean_n sum |f(x) - f(x2)|) + sum over BN layers of
log sqrt(mean_c running_var_c), where the running variance is PyTorch's
after those two forwards from 1 with momentum 0.1:
0.81 + 0.09 v1 + 0.1 v2 (v the unbiased batch variances)."""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import nn as jnn
from jaxnas.proxies import base


class ZenAcc(NamedTuple):
  feature: Any  # the pre-pool features, once reported
  bn: jnn.Record  # mean over channels of each BN's unbiased batch variance


@dataclasses.dataclass(frozen=True)
class ZenTap(jnn.Tap):
  """Keeps the pre-pool features and every BN's mean unbiased variance."""
  capacity: int = 1024
  hooks = frozenset({'feature', 'bn'})

  def init(self, batch_size: int) -> ZenAcc:
    del batch_size
    return ZenAcc(None, jnn.Record.empty(self.capacity))

  def feature(self, acc, x, kind):
    return acc._replace(feature=x) if kind == 'pre_pool' else acc

  def bn(self, acc, mean, var, count):
    unbiased = var * (count / max(count - 1, 1))
    return acc._replace(bn=acc.bn.put(jnp.mean(unbiased)))


TAP = ZenTap()


def host(out) -> base.HostResult:
  distance, bn_term, count = (float(x) for x in out)
  jnn.check_record(count, TAP.capacity, 'zen BN record')
  if distance <= 0.0:
    return None, ('zen: the two inputs give identical features (no path '
                  'from input to output)')
  return base.finite('zen')(np.log(distance) + bn_term)


def make() -> base.Proxy:

  def device(ctx):
    x = ctx.images
    x2 = x + 0.01 * jax.random.normal(ctx.key, x.shape, x.dtype)
    a1, a2 = ctx.tap(TAP), ctx.run_tap(x2, TAP)
    distance = jnp.mean(jnp.sum(jnp.abs(a1.feature - a2.feature),
                                axis=(1, 2, 3)))
    running = 0.81 + 0.09 * a1.bn.values + 0.1 * a2.bn.values
    bn_term = jnp.sum(a1.bn.valid() * 0.5 * jnp.log(running))
    return distance, bn_term, a1.bn.count

  return base.Proxy('zen', host=host, device=device,
                    needs=base.Needs(weight_init='gaussian',
                                     inputs='gaussian', tap=TAP))
