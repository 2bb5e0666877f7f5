"""AZ-NAS's trainability (Lee & Ham, CVPR 2024; cvlab-yonsei/AZ-NAS,
``NB201/ZeroShotProxy/compute_az_nas_score.py``).

The network and input are AZ-NAS's (:mod:`jaxnas.proxies.az_nas`: Kaiming
normal fan-in, train-mode BN, N(0, 1) noise). Its *features* are the stem's
output and every cell's or reduction block's output, in forward order; block
``k`` is the part of the network from feature ``k - 1`` to feature ``k``.
For each block, a Rademacher cotangent ``g_out`` at its output is pulled
back through that block alone to ``g_in`` at its input; when the block
halves the resolution, ``g_in`` is space-to-depth'ed (PyTorch's
``PixelUnshuffle``) to the output's positions. With both as ``[positions,
channels]``, ``M = g_in^T g_out / positions`` and ``sigma`` its largest
singular value; the block's term is ``-sigma - 1 / (sigma + 1e-6) + 2``
(0 at sigma = 1) and the score is the mean over blocks (higher is better).

One backward pass gives every block's ``g_in``: at each feature site the
network lets the tap stand in for the feature (the ``gradient`` hook of
:mod:`jaxnas.taps`) with an identity whose backward rule drops the
cotangent coming from downstream and sends the block's own Rademacher
cotangent upstream instead; so the cotangent reaching feature ``k - 1`` is
exactly block ``k``'s ``g_in``. That rule also computes block ``k``'s term
there, since it has ``g_in`` and can redraw ``g_out`` from the key; whether
block ``k`` keeps the shape or halves the resolution and doubles the
channels was recorded on the forward pass and is handed back in the seed
cotangent. The terms leave the backward pass as the gradient with respect
to a zero buffer (the ``probes`` collection) that the tap threads through
every site.

Defined for networks whose blocks each read only the previous feature
(NB201, NB101), not DARTS (two-input cells). A block that is the identity
(``g_in == g_out``) makes the reference's score -inf (ranked last): here
the score is undefined (None) with a note, as for AZ-NAS's other scores.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import nn as jnn
from jaxnas.proxies import az_nas
from jaxnas.proxies import base

PROBES = 'probes'  # the variable collection the probe tap reads
# Columns of the probe buffer: the seed the backward pass starts from (is
# there a next block; does it halve the resolution) and what it leaves.
HAS_NEXT, HALVES, TERM, IDENTITY = range(4)
# A feature's shape relative to the previous one (the forward record).
SAME, HALVED, OTHER, FIRST = 0, 1, 2, -1


def block_cotangent(key: jax.Array, index: Any, shape: tuple[int, ...]
                    ) -> jax.Array:
  """The Rademacher ``g_out`` of the block ending at feature ``index``."""
  return jax.random.rademacher(jax.random.fold_in(key, index), shape,
                               jnp.float32)


def block_term(g_in: jax.Array, g_out: jax.Array) -> jax.Array:
  """``-sigma - 1/(sigma + 1e-6) + 2`` of ``M = g_in^T g_out / positions``
  for ``[positions, channels]`` arrays (float32, like the reference)."""
  m = jnp.matmul(g_in.T, g_out, precision=jax.lax.Precision.HIGHEST
                 ) / g_out.shape[0]
  sigma = jnp.max(jnp.linalg.svd(m, compute_uv=False))
  return -sigma - 1.0 / (sigma + 1e-6) + 2.0


def space_to_depth(x: jax.Array) -> jax.Array:
  """``[B, H, W, C] -> [B H W / 4, 4 C]``: each 2x2 patch's values as the
  channels of one position (the order of channels does not change M's
  singular values)."""
  b, h, w, c = x.shape
  x = x.reshape(b, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(-1, 4 * c)


def _next_block(g_in, seed, key, index):
  """Term and identity flag of the block after feature ``index``, from the
  cotangent ``g_in`` reaching it (either hypothesis of its shape)."""
  b, h, w, c = g_in.shape
  same = block_cotangent(key, index + 1, g_in.shape)
  term = block_term(g_in.reshape(-1, c), same.reshape(-1, c))
  identity = jnp.all(g_in == same)
  if h % 2 == 0 and w % 2 == 0:
    halved = block_cotangent(key, index + 1, (b, h // 2, w // 2, 2 * c))
    reduced = seed[HALVES] > 0.5
    term = jnp.where(reduced, block_term(space_to_depth(g_in),
                                         halved.reshape(-1, 2 * c)), term)
    identity = identity & ~reduced
  return term, identity.astype(jnp.float32)


@jax.custom_vjp
def _probe(x, buffer, index, key):
  del index, key
  return x, buffer


def _probe_fwd(x, buffer, index, key):
  return (x, buffer), (index, key)


def _probe_bwd(residuals, cotangents):
  index, key = residuals
  g_in, ct = cotangents
  seed = ct[index]
  term, identity = _next_block(g_in, seed, key, index)
  has_next = seed[HAS_NEXT]
  row = jnp.stack([seed[HAS_NEXT], seed[HALVES], term * has_next,
                   identity * has_next])
  ct = jax.lax.dynamic_update_index_in_dim(ct, row, index, 0)
  g_out = block_cotangent(key, index, g_in.shape)
  float0 = jax.dtypes.float0
  return (g_out, ct, np.zeros((), float0), np.zeros(key.shape, float0))


_probe.defvjp(_probe_fwd, _probe_bwd)


class ProbeState(NamedTuple):
  buffer: jax.Array  # float32 [capacity, 4]
  relation: jax.Array  # int32 [capacity]: SAME / HALVED / OTHER / FIRST
  shape: jax.Array  # int32 [3]: the last feature's (H, W, C)
  count: jax.Array  # int32: features seen
  key: jax.Array  # uint32 [2]


@dataclasses.dataclass(frozen=True)
class BlockProbe(jnn.Tap):
  """Stands in for every stem / cell / block feature (see the module
  docstring); reads ``buffer`` and ``key`` from the ``probes`` collection
  (zeros when absent, as in ``init``)."""
  capacity: int = 64
  hooks = frozenset({'gradient'})

  def init(self, batch_size: int) -> ProbeState:
    del batch_size
    return ProbeState(jnp.zeros((self.capacity, 4), jnp.float32),
                      jnp.full((self.capacity,), FIRST, jnp.int32),
                      jnp.zeros((3,), jnp.int32), jnp.zeros((), jnp.int32),
                      jnp.zeros((2,), jnp.uint32))

  def start(self, module, batch_size: int) -> ProbeState:
    state = self.init(batch_size)
    if module.has_variable(PROBES, 'buffer'):
      state = state._replace(buffer=module.get_variable(PROBES, 'buffer'),
                             key=module.get_variable(PROBES, 'key'))
    return state

  def gradient(self, acc: ProbeState, x, kind):
    if kind not in az_nas.KINDS:
      return x, acc
    shape = jnp.asarray(x.shape[1:], jnp.int32)
    halved = jnp.all(shape * jnp.array([2, 2, 1]) ==
                     acc.shape * jnp.array([1, 1, 2]))
    relation = jnp.where(acc.count == 0, FIRST, jnp.where(
        jnp.all(shape == acc.shape), SAME, jnp.where(halved, HALVED, OTHER)))
    index = jnp.minimum(acc.count, self.capacity - 1)
    x, buffer = _probe(x, acc.buffer, index, acc.key)
    return x, ProbeState(
        buffer, acc.relation.at[index].set(relation.astype(jnp.int32)),
        shape, acc.count + 1, acc.key)


PROBE = BlockProbe()


def _raw_key(key: jax.Array) -> jax.Array:
  if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    return jax.random.key_data(key)
  return key


def _device(ctx: base.Context):
  key = _raw_key(ctx.key)

  def forward(buffer):
    variables = {**ctx.variables, PROBES: {'buffer': buffer, 'key': key}}
    acc = ctx.apply_tapped(variables, ctx.images, PROBE)[1]
    return acc.buffer, acc

  start = PROBE.init(0).buffer
  _, pullback, acc = jax.vjp(forward, start, has_aux=True)
  index = jnp.arange(PROBE.capacity)
  following = jnp.roll(acc.relation, -1)
  seed = start.at[:, HAS_NEXT].set((index + 1 < acc.count).astype(
      jnp.float32)).at[:, HALVES].set((following == HALVED).astype(
          jnp.float32))
  (ct,) = pullback(seed)
  return ct[:, TERM], ct[:, IDENTITY], acc.relation, acc.count


def host(out) -> base.HostResult:
  terms, identity, relation, count = out
  jnn.check_record(count, PROBE.capacity, 'az_trainability probe')
  n = int(count)
  if n < 2:
    return None, ('az_trainability: fewer than two stem / cell / block '
                  'features (defined for nb201 and nb101 networks)')
  other = np.flatnonzero(np.asarray(relation)[1:n] == OTHER)
  if other.size:
    return None, (f'az_trainability: block {int(other[0]) + 1} neither keeps '
                  'the shape nor halves the resolution and doubles the '
                  'channels')
  same = np.flatnonzero(np.asarray(identity)[:n - 1] > 0.5)
  if same.size:
    return None, (f'az_trainability: block {int(same[0]) + 1} is the '
                  'identity (the reference scores the cell -inf)')
  return base.finite('az_trainability')(
      np.mean(np.asarray(terms, np.float64)[:n - 1]))


def make(batch_size: int = 64) -> base.Proxy:
  """Mean over blocks of how far the block's gradient map is from an
  isometry (AZ-NAS's trainability)."""
  return base.Proxy('az_trainability', host=host, device=_device,
                    needs=az_nas.needs(batch_size, backward=True),
                    options=(('batch_size', batch_size),))
