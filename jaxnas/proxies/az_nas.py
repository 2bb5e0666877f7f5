"""AZ-NAS's training-free scores (Lee & Ham, CVPR 2024; cvlab-yonsei/AZ-NAS,
``NB201/ZeroShotProxy/compute_az_nas_score.py``).

The network is initialised Kaiming-normal (fan-in, ReLU gain; biases 0, BN
1 and 0), BN on batch statistics, and fed N(0, 1) noise of the batch's
shape (the reference's batch is 64). Its *features* are the stem's output
(after its BN) and the output of every cell or block, in forward order
(NB201: stem, the cells, the two residual reduction blocks; NB101 and
DARTS: stem and cells): the ``stem``, ``cell`` and ``block`` feature sites
of :mod:`jaxnas.taps`.

* ``az_expressivity``: for each feature, the channel covariance
  Sigma = X^T X / (B H W) of the centred ``[B H W, C]`` features, its
  eigenvalues s normalised to p = s / sum(s), and the entropy
  sum(-p log(p + 1e-8)); the score is the sum over features.
* ``az_progressivity``: the smallest gain of that entropy from one feature
  to the next.
* ``az_complexity``: the FLOPs (the ``flops`` proxy's count, as the
  reference takes NB201's API FLOPs).

All are higher-is-better (AZ-NAS ranks each ascending and adds the logs of
the normalised ranks). The entropies are computed on the device in float32
(as the reference does, ``eigvalsh`` in float32); a feature whose entropy
is not finite (a constant feature: 0/0 in p; or an eigenvalue below -1e-8
of the trace from round-off) makes the score undefined (None), where the
reference turns the NaN into -inf.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import nn as jnn
from jaxnas.proxies import base
from jaxnas.proxies import cost

KINDS = ('stem', 'cell', 'block')
WEIGHT_INIT = 'he_normal_fan_in'


def feature_entropy(x: jax.Array) -> jax.Array:
  """Entropy of the normalised eigenvalues of the channel covariance of
  ``x`` (``[B, H, W, C]``), float32 scalar."""
  feat = x.reshape(-1, x.shape[-1]).astype(jnp.float32)
  feat = feat - jnp.mean(feat, axis=0, keepdims=True)
  sigma = jnp.matmul(feat.T, feat, precision=jax.lax.Precision.HIGHEST
                     ) / feat.shape[0]
  s = jnp.linalg.eigvalsh(sigma)
  p = s / jnp.sum(s)
  return jnp.sum(-p * jnp.log(p + 1e-8))


@dataclasses.dataclass(frozen=True)
class EntropyTap(jnn.Tap):
  """Records :func:`feature_entropy` of every stem / cell / block feature,
  in forward order."""
  capacity: int = 128
  hooks = frozenset({'feature'})

  def init(self, batch_size: int) -> jnn.Record:
    del batch_size
    return jnn.Record.empty(self.capacity)

  def feature(self, acc, x, kind):
    return acc.put(feature_entropy(x)) if kind in KINDS else acc


TAP = EntropyTap()


def entropies(out) -> tuple[np.ndarray | None, str | None]:
  """The recorded entropies in float64, or None and why."""
  values, count = out
  jnn.check_record(count, TAP.capacity, 'AZ-NAS feature record')
  e = np.asarray(values, np.float64)[:int(count)]
  if e.size == 0:
    return None, 'no stem / cell / block feature was reported'
  bad = np.flatnonzero(~np.isfinite(e))
  if bad.size:
    return None, (f'the entropy of feature {int(bad[0])} is {e[bad[0]]} '
                  '(constant feature, or negative eigenvalues)')
  return e, None


def host_expressivity(out) -> base.HostResult:
  e, note = entropies(out)
  if e is None:
    return None, f'az_expressivity: {note}'
  return base.finite('az_expressivity')(np.sum(e))


def host_progressivity(out) -> base.HostResult:
  e, note = entropies(out)
  if e is None:
    return None, f'az_progressivity: {note}'
  if e.size < 2:
    return None, 'az_progressivity: fewer than two features'
  return base.finite('az_progressivity')(np.min(np.diff(e)))


def needs(batch_size: int, **kwargs) -> base.Needs:
  """AZ-NAS's network and input (shared by its scores' group)."""
  return base.Needs(weight_init=WEIGHT_INIT, inputs='gaussian',
                    batch_size=batch_size, **kwargs)


def _device(ctx):
  acc = ctx.tap(TAP)
  return acc.values, acc.count


def make_expressivity(batch_size: int = 64) -> base.Proxy:
  """Sum over features of the covariance-spectrum entropy."""
  return base.Proxy('az_expressivity', host=host_expressivity,
                    device=_device, needs=needs(batch_size, tap=TAP),
                    options=(('batch_size', batch_size),))


def make_progressivity(batch_size: int = 64) -> base.Proxy:
  """Smallest entropy gain between consecutive features."""
  return base.Proxy('az_progressivity', host=host_progressivity,
                    device=_device, needs=needs(batch_size, tap=TAP),
                    options=(('batch_size', batch_size),))


def make_complexity() -> base.Proxy:
  """The FLOPs, as the ``flops`` proxy counts them (millions)."""
  return dataclasses.replace(cost.make_flops(), name='az_complexity')
