"""Many networks in one compiled step: K seeds of each of A cells.

The networks are laid out on a device :class:`~jax.sharding.Mesh` with an
``arch`` axis and a ``seed`` axis, as the scoring engine lays out
architectures and initialisations (:mod:`jaxnas.engine`):

* different cells go to different devices (architecture as data: a device's
  op indices stay unbatched, so each ``lax.switch`` runs only the chosen
  op); a device holding several cells loops over them with ``lax.map``;
* the seeds of a cell are ``vmap``-ped (parameters, optimiser states and
  batches batched, the ops shared), split over the ``seed`` axis when there
  is one cell and several devices; with ``seed_chunk``, a device's seeds
  are a ``lax.map`` with that many vmapped per step, which bounds memory
  (activations of a chunk, not of all its seeds, are live at once).

So training a population compiles three programs (init, step, eval) once,
whatever A and K. Every state leaf has leading axes ``[A, K]`` (A and K
padded to the mesh, see :class:`Layout`); the batches of seed ``j`` are the
same for every cell.

Keys: network (cell a, seed j) initialises from
``fold_in(fold_in(fold_in(key, INIT_SALT), arch_id(a)), j)``; its data key
(augmentation) is ``fold_in(fold_in(key, DATA_SALT), j)``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental.shard_map import shard_map
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxnas.train.step import Metrics, Trainer, TrainState

INIT_SALT, DATA_SALT = 0x1417, 0xda7a


@dataclasses.dataclass(frozen=True)
class Layout:
  """Which network sits where.

  Attributes:
    order: slot -> index of the architecture in the caller's list
      (``[A_pad]``; padding slots repeat an architecture and are not
      reported).
    real: how many of the ``A_pad`` slots are real.
    seeds: real seeds K; ``seeds_pad`` slots (padding repeats the last).
    arch_devices, seed_devices: the mesh's shape.
  """
  order: tuple[int, ...]
  real: int
  seeds: int
  seeds_pad: int
  arch_devices: int
  seed_devices: int

  @property
  def slots(self) -> list[int]:
    """Slots of the real architectures, in the caller's order."""
    return [self.order.index(i) for i in range(self.real)]


def plan(archs: Sequence[Any], seeds: int, devices: int,
         cost=None) -> Layout:
  """Spreads A cells x K seeds over ``devices``: cells over devices first
  (one program per device, different cells in parallel), seeds over the
  rest. With ``cost`` (the space's cost hint), each device's cells are
  balanced by a greedy longest-first assignment, since a step lasts as long
  as the slowest device."""
  a = len(archs)
  if a < 1 or seeds < 1 or devices < 1:
    raise ValueError(f'need archs, seeds and devices >= 1, got {a}, {seeds}, '
                     f'{devices}')
  arch_devices = min(a, devices)
  seed_devices = max(1, min(seeds, devices // arch_devices))
  per = math.ceil(a / arch_devices)
  costs = [float(cost(x)) if cost else 1.0 for x in archs]
  bins: list[list[int]] = [[] for _ in range(arch_devices)]
  loads = [0.0] * arch_devices
  for i in sorted(range(a), key=lambda i: (-costs[i], i)):
    d = min((d for d in range(arch_devices) if len(bins[d]) < per),
            key=lambda d: (loads[d], d))
    bins[d].append(i)
    loads[d] += costs[i]
  # Padding slots repeat the cheapest cell: the least wasted work.
  cheapest = min(range(a), key=lambda i: (costs[i], i))
  order = []
  for b in bins:
    b.sort()
    order.extend(b + [cheapest] * (per - len(b)))
  seeds_pad = math.ceil(seeds / seed_devices) * seed_devices
  return Layout(tuple(order), a, seeds, seeds_pad, arch_devices,
                seed_devices)


class Population:
  """Trains the networks of a :class:`Layout` together.

  Args:
    trainer: the single-network functions.
    space: the space (``arch_arrays``, ``arch_id``, ``cost_hint``).
    archs: the cells (validated).
    seeds: networks per cell.
    devices: local devices to use (default: all).
    seed_chunk: seeds vmapped together per step of a ``lax.map`` over a
      device's seeds (default None: all of them vmapped at once).

  Attributes:
    layout: the :class:`Layout`.
    mesh: the device mesh (``arch``, ``seed``).
    compilations: programs compiled so far (init, step and eval: 3 for any
      population, plus one per other test-batch shape).
  """

  def __init__(self, trainer: Trainer, space, archs: Sequence[Any],
               seeds: int = 1, devices: int | None = None,
               seed_chunk: int | None = None):
    available = jax.local_devices()
    count = len(available) if devices is None else devices
    if not 1 <= count <= len(available):
      raise ValueError(f'devices={devices} but {len(available)} local '
                       'device(s) are available')
    if seed_chunk is not None and seed_chunk < 1:
      raise ValueError(f'seed_chunk={seed_chunk}; it must be >= 1')
    self.trainer, self.space, self.archs = trainer, space, list(archs)
    self.seed_chunk = seed_chunk
    self.layout = plan(self.archs, seeds, count,
                       getattr(space, 'cost_hint', None))
    lay = self.layout
    used = np.array(available[:lay.arch_devices * lay.seed_devices])
    self.mesh = Mesh(used.reshape(lay.arch_devices, lay.seed_devices),
                     ('arch', 'seed'))
    arrays = [space.arch_arrays(self.archs[i]) for i in lay.order]
    self.arch_arrays = jax.device_put(
        jax.tree.map(lambda *xs: np.stack(xs), *arrays), self.sharding('arch'))
    self.compilations = 0
    self.compile_seconds = 0.0
    self._compiled: dict[tuple, Any] = {}

  # --- layout helpers ---------------------------------------------------

  def sharding(self, *axes) -> NamedSharding:
    return NamedSharding(self.mesh, P(*axes))

  @property
  def seed_index(self) -> list[int]:
    """The seed of every seed slot (padding repeats the last)."""
    lay = self.layout
    return [min(j, lay.seeds - 1) for j in range(lay.seeds_pad)]

  def keys(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Init keys ``[A_pad, K_pad]`` and data keys ``[K_pad]`` (see the
    module doc), as raw key data placed on the mesh."""
    init = jax.random.fold_in(key, INIT_SALT)
    data = jax.random.fold_in(key, DATA_SALT)
    ids = [self.space.arch_id(self.archs[i]) for i in self.layout.order]
    init_keys = jnp.stack([jnp.stack([
        jax.random.fold_in(jax.random.fold_in(init, a), j)
        for j in self.seed_index]) for a in ids])
    data_keys = jnp.stack([jax.random.fold_in(data, j)
                           for j in self.seed_index])
    return (jax.device_put(init_keys, self.sharding('arch', 'seed')),
            jax.device_put(data_keys, self.sharding('seed')))

  # --- per-device programs ------------------------------------------------

  def _over_archs(self, fn, *xs):
    """``fn`` on each of this device's cells (leading axis of every x):
    directly for one, a ``lax.map`` for several (ops stay unbatched)."""
    if jax.tree.leaves(xs)[0].shape[0] == 1:
      out = fn(*jax.tree.map(lambda x: x[0], xs))
      return jax.tree.map(lambda x: x[None], out)
    return jax.lax.map(lambda a: fn(*a), xs)

  def _over_seeds(self, fn, seeded):
    """``fn`` on each seed slot of this device (leading axis of every leaf
    of ``seeded``): all vmapped, or a ``lax.map`` vmapping ``seed_chunk``
    per step."""
    if self.seed_chunk is None:
      return jax.vmap(fn)(seeded)
    return jax.lax.map(fn, seeded, batch_size=self.seed_chunk
                       if self.seed_chunk > 1 else None)

  def _init(self, keys, arch):
    return self._over_archs(
        lambda k, a: self._over_seeds(lambda ki: self.trainer.init(ki, a), k),
        keys, arch)

  def _step(self, state, arch, images, labels, data_keys):
    return self._over_archs(
        lambda s, a: self._over_seeds(
            lambda x: self.trainer.step(x[0], a, *x[1:]),
            (s, images, labels, data_keys)), state, arch)

  def _eval(self, state, arch, images, labels, mask):
    return self._over_archs(
        lambda s, a: self._over_seeds(
            lambda si: self.trainer.evaluate(si, a, images, labels, mask), s),
        state, arch)

  def _program(self, name: str, args: tuple, in_specs, out_specs,
               donate: tuple[int, ...] = ()):
    """The compiled program ``name`` for these argument shapes."""
    sig = (name, str(jax.tree.map(lambda x: (x.shape, x.dtype), args)))
    if sig not in self._compiled:
      t0 = time.perf_counter()
      fn = {'init': self._init, 'step': self._step, 'eval': self._eval}[name]
      mapped = shard_map(fn, self.mesh, in_specs=in_specs,
                         out_specs=out_specs, check_rep=False)
      self._compiled[sig] = jax.jit(mapped, donate_argnums=donate).lower(
          *args).compile()
      self.compilations += 1
      self.compile_seconds += time.perf_counter() - t0
    return self._compiled[sig]

  # --- the population's operations ----------------------------------------

  def init(self, init_keys: jax.Array) -> TrainState:
    """Every network's fresh state, leaves ``[A_pad, K_pad, ...]``."""
    args = (init_keys, self.arch_arrays)
    return self._program('init', args, (P('arch', 'seed'), P('arch')),
                         P('arch', 'seed'))(*args)

  def put_batch(self, batch: tuple[np.ndarray, np.ndarray]
                ) -> tuple[jax.Array, jax.Array]:
    """A host batch (images ``[K_pad, B, ...]``, labels ``[K_pad, B]``) on
    the devices, split over the seed axis."""
    return jax.device_put(batch, self.sharding('seed'))

  def step(self, state: TrainState, batch, data_keys: jax.Array
           ) -> tuple[TrainState, Metrics]:
    """One update of every network (``state`` is donated)."""
    args = (state, self.arch_arrays, *batch, data_keys)
    spec = P('arch', 'seed')
    return self._program('step', args,
                         (spec, P('arch'), P('seed'), P('seed'), P('seed')),
                         (spec, spec), donate=(0,))(*args)

  def evaluate(self, state: TrainState, batches) -> tuple[np.ndarray,
                                                          np.ndarray]:
    """Mean test loss and accuracy ``[A_pad, K_pad]`` over padded test
    batches (:func:`jaxnas.train.input.test_batches`)."""
    loss = correct = 0.0
    total = 0.0
    for images, labels, mask in batches:
      args = (state, self.arch_arrays, images, labels, mask)
      fn = self._program('eval', args,
                         (P('arch', 'seed'), P('arch'), P(), P(), P()),
                         (P('arch', 'seed'), P('arch', 'seed')))
      l, c = fn(*args)
      loss, correct = loss + l, correct + c
      total += float(mask.sum())
    return (np.asarray(jax.device_get(loss)) / total,
            np.asarray(jax.device_get(correct)) / total)

  def network_state(self, state: TrainState, arch: int, seed: int
                    ) -> TrainState:
    """The state of one network (host arrays): cell ``arch`` (index in the
    caller's list), seed ``seed``."""
    slot = self.layout.slots[arch]
    return jax.tree.map(lambda x: np.asarray(x[slot, seed]),
                        jax.device_get(state))
