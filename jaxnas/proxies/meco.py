"""MeCo: minimum eigenvalue of feature-map correlations (Jiang et al.,
NeurIPS 2023).

As the official code (HamsterMimi/MeCo, ``correlation/NAS_Bench_201.py``,
measure 'meco') computes it: a forward hook on every module takes the first
sample of the module's output, reshapes it to ``[C, H*W]``, forms the Pearson
correlation matrix of the C channels (``torch.corrcoef``; NaN / inf entries,
from constant channels, set to 0), and keeps the smallest real part of its
eigenvalues (``torch.linalg.eig``); the score is the sum over hooks, NaN /
inf dropped. The NB201 script feeds one image (batch size 1, the first of
the training loader, 32x32) to a network with PyTorch's default init; its
NB101 measure feeds one N(0, 1) image of 64x64 instead (``inputs='gaussian'``
here, at the data's resolution).

Mapping onto jaxnas: "every module" becomes every *feature* site a space
reports (:data:`jaxnas.taps.FEATURE_KINDS`): the stem's output, every op's
output ('none' ops and NB101's inactive slots report nothing), every cell's
and reduction block's output and the features before the global pool. Each
site counts once. PyTorch's hooks also see containers and layers whose
output is one of these tensors (an op's Sequential, its BN, its conv: the
same channel correlation, since train-mode BN is a positive per-channel
affine map), ReLUs inside ops, and outputs without spatial extent (pooled
features, logits: a ``[C, 1]`` reshape whose correlation is all NaN, so they
add 0); jaxnas does not weight sites by these multiplicities.

Constant channels are left out of the correlation matrix (the official code
zeroes their rows and columns, which adds an eigenvalue 0). This is what
keeps NB101's padded channels (zero in the padded program, absent in the
real network) out; a real constant channel is rare in these networks (a
train-mode BN output has zero mean over H*W per channel, so it is only
constant when its whole map is). A site with no non-constant channel adds
0, as in the official code. The eigenvalues are taken on the device in
float32 (``eigvalsh``: the matrix is symmetric), as the official code takes
them in float32; the host sums them in float64.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import nn as jnn
from jaxnas.proxies import base

Array = jax.Array
INPUTS = ('batch', 'gaussian')


def min_correlation_eigenvalue(feature: Array) -> tuple[Array, Array]:
  """Smallest eigenvalue of the channel correlation of one feature map.

  Args:
    feature: ``[H, W, C]`` (one sample).

  Returns:
    ``(lambda_min, live)``: the smallest eigenvalue of the C' x C' Pearson
    correlation matrix of the C' non-constant channels, and C' (0: no such
    channel, and lambda_min is meaningless).
  """
  c = feature.shape[-1]
  f = feature.reshape(-1, c).astype(jnp.float32)
  f = f - jnp.mean(f, axis=0)
  ss = jnp.sum(f * f, axis=0)
  live = ss > 0
  z = f * jnp.where(live, jax.lax.rsqrt(jnp.where(live, ss, 1.0)), 0.0)
  corr = jnp.dot(z.T, z, precision=jax.lax.Precision.HIGHEST)
  both = live[:, None] & live[None, :]
  # A left-out channel gets an isolated diagonal entry above every
  # eigenvalue of a correlation matrix (<= C), so it is never the minimum.
  corr = jnp.where(both, corr, 0.0) + jnp.diag(jnp.where(live, 0.0, c + 1.0))
  return jnp.linalg.eigvalsh(corr)[0], jnp.sum(live.astype(jnp.int32))


@dataclasses.dataclass(frozen=True)
class MecoTap(jnn.Tap):
  """Records ``(lambda_min, live channels)`` of the first sample at every
  feature site (see :func:`min_correlation_eigenvalue`)."""
  capacity: int = 1024
  hooks = frozenset({'feature'})

  def init(self, batch_size: int) -> jnn.Record:
    del batch_size
    return jnn.Record.empty(self.capacity, (2,))

  def feature(self, acc: jnn.Record, x: Array, kind: str) -> jnn.Record:
    del kind
    if x.ndim != 4:
      return acc
    value, live = min_correlation_eigenvalue(x[0])
    return acc.put(jnp.stack([value, live.astype(jnp.float32)]))


TAP = MecoTap()


def host(out) -> base.HostResult:
  values, count = out
  jnn.check_record(count, TAP.capacity, 'meco record')
  sites = np.asarray(values, np.float64)[:int(count)]
  if not len(sites):
    return None, 'meco: the network reports no feature map'
  lam = sites[sites[:, 1] > 0, 0]
  lam = lam[np.isfinite(lam)]
  return float(np.sum(lam)), None


def make(inputs: str = 'batch') -> base.Proxy:
  """MeCo: sum over feature sites of the smallest eigenvalue of the channel
  correlation of one image's features (higher is better). ``inputs``:
  'batch' (the first image; the NB201 script) or 'gaussian' (one N(0, 1)
  image; the NB101 measure)."""
  if inputs not in INPUTS:
    raise ValueError(f'inputs={inputs!r}; choose one of {", ".join(INPUTS)}')

  def device(ctx):
    acc = ctx.tap(TAP)
    return acc.values, acc.count

  return base.Proxy('meco', host=host, device=device,
                    needs=base.Needs(inputs=inputs, batch_size=1, tap=TAP),
                    options=(('inputs', inputs),))
