"""zico (ZiCo, Li et al., ICLR 2023; SLDGroup/ZiCo and AZ-NAS's NB201 port):
the batch is split into ``splits`` equal parts (the reference takes that
many loader batches, 2 of 64: the default batch of 128 split in two is the
same); each part's mean cross-entropy (real labels, train-mode BN on that
part) gives one gradient per conv / dense weight. Per layer,

  S_l = sum over weights with std_s(g) != 0 of mean_s |g| / std_s(g)

(std the population one, over the parts), and the score is the sum over
layers with S_l != 0 of log S_l (layers whose gradients are all zero, e.g.
the kernels of unchosen ops, are skipped, as the reference skips them).
Higher is better.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import nn as jnn
from jaxnas.proxies import base


def split_grads(ctx, splits: int) -> list:
  """The parameter gradients of the mean cross-entropy of each of
  ``splits`` consecutive equal parts of the batch (a remainder of fewer
  than ``splits`` images is left out)."""
  size = ctx.images.shape[0] // splits
  if size < 1:
    raise ValueError(f'zico: a batch of {ctx.images.shape[0]} images cannot '
                     f'be split in {splits}')

  def loss(params, images, labels):
    logits = ctx.apply({'params': params}, images)[0]
    return base.cross_entropy(logits, labels)

  return [jax.grad(loss)(ctx.params, ctx.images[i * size:(i + 1) * size],
                         ctx.labels[i * size:(i + 1) * size])
          for i in range(splits)]


def layer_ratios(grads: list) -> jax.Array:
  """S_l of every weight layer (float32 ``[layers]``) from the per-part
  gradients."""
  per_part = [jnn.weight_layers(g) for g in grads]
  out = []
  for layers in zip(*per_part):
    g = jnp.stack([leaf for _, leaf in layers])
    std = jnp.std(g, axis=0)
    mean_abs = jnp.mean(jnp.abs(g), axis=0)
    live = std != 0
    out.append(jnp.sum(jnp.where(live, mean_abs / jnp.where(live, std, 1.0),
                                 0.0)))
  return jnp.stack(out)


def host(out) -> base.HostResult:
  s = np.asarray(out, np.float64)
  if not np.all(np.isfinite(s)):
    return None, f'zico: a layer ratio is not finite ({s.tolist()})'
  live = s[s != 0]
  if live.size == 0:
    return None, ('zico: no layer has a gradient that varies across the '
                  'splits')
  return base.finite('zico')(np.sum(np.log(live)))


def make(splits: int = 2) -> base.Proxy:
  """ZiCo over ``splits`` parts of the batch (>= 2)."""
  if splits < 2:
    raise ValueError(f'zico needs splits >= 2, got {splits}')

  def device(ctx):
    return layer_ratios(split_grads(ctx, splits))

  return base.Proxy('zico', host=host, device=device,
                    needs=base.Needs(labels=True, backward=True),
                    options=(('splits', splits),))
