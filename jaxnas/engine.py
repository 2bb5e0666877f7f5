"""The one engine: every proxy, one compiled program per (space, proxy set,
batch shape, mesh).

The architecture is data. :class:`Engine` compiles

  f(init keys [A, K], arch arrays [A, ...], data) -> per proxy [A, K, ...]

with ``jax.jit`` over a ``shard_map`` on a device :class:`~jax.sharding.Mesh`
with an ``arch`` axis and an ``init`` axis: each device runs one
architecture (its op indices stay unbatched, so a ``lax.switch`` runs only
the chosen op) and its share of the initialisations. Inside, for each init
and each *group* of proxies that need the same network and input
(:meth:`jaxnas.proxies.base.Needs.group_key`), the network is initialised
once, one forward pass feeds every tap of the group, and one backward pass
every gradient user; then each proxy's device function runs on the shared
:class:`~jaxnas.proxies.base.Context`. Initialisations are a ``lax.map``
(``init_chunk`` of them vmapped per step) or, when a proxy asks, written
out ``unroll_chunk`` per step (all 64 NTK inits written out took >24 GB).

Given variables: ``score(..., variables=...)`` (and ``run``) scores
networks whose parameters the caller holds (e.g. trained ones, per
architecture with a leading ``[inits]`` axis) instead of initialising them:
the program takes them as one more input, sharded like the keys, and every
group on the space's own network uses them; a proxy that builds another
network or initialises its own (ntk_cond, linear_regions, zen) cannot score
them and is refused.

Keys: architecture ``a`` uses ``fold_in(seed key, arch_id(a))`` (so a score
does not depend on the order architectures are visited) split into one key
per init; a group whose proxies ask for a ``salt`` initialises from
``fold_in(init key, salt)``.

:attr:`Engine.compilations` counts programs lowered (each lowering is one
trace): scoring any number of cells of one space must leave it at 1.
"""

from __future__ import annotations

import math
import time
from typing import Any, Iterable, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental.shard_map import shard_map
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from jaxnas import data as data_lib
from jaxnas import nn as jnn
from jaxnas.proxies.base import Context, Proxy, init_variables
from jaxnas.proxies.groups import Group, make_groups
from jaxnas.scores import ArchScores, ProxyResult

GAUSSIAN_SALT = 0x5eed  # the key of a 'gaussian' input: fold_in(key, this)
PROXY_SALT = 0x9e37  # a proxy's own key: fold_in(group key, this)


class Engine:
  """Scores architectures of one space with several proxies at once.

  Args:
    space: a space object (see :mod:`jaxnas.spaces`).
    proxies: the proxies (see :mod:`jaxnas.proxies`); names must differ.
    inits: initialisations per architecture, all in one call.
    init_chunk: inits vmapped together per step of the map over inits.
    weight_init: the run's initialiser (proxies may ask for their own).
    num_classes: the data's number of classes (proxies may ask otherwise).
    devices: local devices to use (default: all).
    init_devices: devices sharing one architecture's inits (the mesh's
      ``init`` axis; ``devices`` must be a multiple). 1: one architecture
      per device. None: all of them when ``inits`` is a multiple of their
      number (no padded inits), else 1.
    balance: with several architectures per call, group architectures of
      similar cost (the space's ``cost_hint``) in one call, since a call
      lasts as long as its slowest architecture; results are then yielded
      in completion order (each carries its ``arch``), not input order.
    unroll_chunk: inits written out per loop step when a proxy asks so.
  """

  BALANCE_WINDOW_CALLS = 8  # archs sorted by cost together (in calls)

  def __init__(self, space, proxies: Sequence[Proxy], inits: int = 1,
               init_chunk: int = 1, weight_init: str = 'torch',
               num_classes: int = 10, devices: int | None = None,
               init_devices: int | None = 1, balance: bool = False,
               unroll_chunk: int = 8):
    if inits < 1 or unroll_chunk < 1:
      raise ValueError(f'inits and unroll_chunk must be >= 1, got '
                       f'inits={inits}, unroll_chunk={unroll_chunk}')
    names = [p.name for p in proxies]
    if not names or len(set(names)) != len(names):
      raise ValueError(f'proxies must be given once each, got {names}')
    self.space, self.proxies = space, tuple(proxies)
    self.inits, self.weight_init = inits, weight_init
    self.init_chunk = max(1, min(init_chunk, inits))
    self.unroll_chunk = unroll_chunk
    self.num_classes = num_classes
    self.image_size = 32  # set from the data by score(); for static proxies
    available = jax.local_devices()
    count = len(available) if devices is None else devices
    if not 1 <= count <= len(available):
      raise ValueError(f'devices={devices} but {len(available)} local '
                       'device(s) are available')
    if init_devices is None:
      init_devices = count if inits % count == 0 else 1
    if init_devices < 1 or count % init_devices:
      raise ValueError(f'init_devices={init_devices} must divide the '
                       f'{count} devices used')
    self.mesh = Mesh(np.array(available[:count]).reshape(
        count // init_devices, init_devices), ('arch', 'init'))
    self.arch_devices, self.init_devices = self.mesh.devices.shape
    self.groups = make_groups(self.proxies)
    self.balance = (balance and self.arch_devices > 1 and
                    hasattr(space, 'cost_hint'))
    self.networks = {g.key: self._network(g) for g in self.groups}
    self.compilations = 0
    self.compile_seconds = 0.0
    self._compiled: dict[str, Any] = {}

  # --- the program ------------------------------------------------------

  def _network(self, group: Group):
    needs = group.needs
    backward = any(p.needs.backward or p.needs.grads or p.needs.input_grads
                   for p in group.proxies)
    opts = jnn.NetOptions(needs.weight_init or self.weight_init, needs.bn,
                          group.taps, unroll=backward)
    return self.space.network(opts, needs.num_classes or self.num_classes,
                              form=needs.form)

  @property
  def unroll(self) -> bool:
    """Inits written out: one per device, or a proxy asks (inside a
    ``while`` loop XLA:CPU gave the weight-gradient convolutions slow
    layouts: the NTK ran 4x, the suite's backward passes ~3x slower)."""
    per_device = math.ceil(self.inits / self.init_devices)
    return per_device == 1 or any(p.needs.init_loop == 'unroll'
                                  for p in self.proxies)

  def _group_outputs(self, group: Group, key: jax.Array, arch, data,
                     given=None) -> dict[str, Any]:
    needs, net = group.needs, self.networks[group.key]
    k = key if needs.salt is None else jax.random.fold_in(key, needs.salt)
    images, labels = data['images'], data.get('labels')
    if needs.batch_size is not None:
      images = images[:needs.batch_size]
      labels = None if labels is None else labels[:needs.batch_size]
    if needs.inputs == 'ones':
      images = jnp.ones((1,) + images.shape[1:], images.dtype)
      labels = None
    elif needs.inputs == 'gaussian':
      images = jax.random.normal(jax.random.fold_in(k, GAUSSIAN_SALT),
                                 images.shape, images.dtype)
    elif needs.inputs == 'prepared':
      images = data['prepared'][group.proxies[0].name]
    variables = (init_variables(net, k, images, arch) if given is None
                 else given)
    ctx = Context(net, arch, variables, images,
                  labels if group.any('labels') or group.any('grads')
                  else None, jax.random.fold_in(k, PROXY_SALT), group.taps,
                  needs.num_classes or self.num_classes, group.any('grads'),
                  group.any('gates'), group.any('input_grads'))
    return {p.name: p.device(ctx) for p in group.proxies}

  def _one_init(self, key, arch, data, given=None) -> dict[str, Any]:
    out = {}
    for group in self.groups:
      out.update(self._group_outputs(group, key, arch, data, given))
    return out

  def _device_program(self, keys, arch, shared, per_init, given):
    """One device's work: keys ``[1, k]``, arch leaves ``[1, ...]``,
    per-init data leaves ``[k, ...]``, given variables ``[1, k, ...]`` (or
    none); returns ``[1, k, ...]`` leaves."""
    keys = keys[0]
    arch = jax.tree.map(lambda x: x[0], arch)
    given = jax.tree.map(lambda x: x[0], given)
    has_given = bool(jax.tree.leaves(given))

    def one(xs):
      key, own, variables = xs
      return self._one_init(key, arch, {**shared, **own},
                            variables if has_given else None)

    xs = (keys, per_init, given)
    if self.unroll:
      out = _unrolled_map(one, xs, self.unroll_chunk)
    else:
      out = jax.lax.map(one, xs, batch_size=self.init_chunk
                        if self.init_chunk > 1 else None)
    return jax.tree.map(lambda x: x[None], out)

  def _program(self, per_init_spec, given_spec):
    return jax.jit(shard_map(
        self._device_program, self.mesh,
        in_specs=(P('arch', 'init'), P('arch'), P(), per_init_spec,
                  given_spec),
        out_specs=P('arch', 'init'), check_rep=False))

  def _compiled_for(self, args) -> Any:
    """The program for these argument shapes, compiled ahead of time on
    first use (so per-architecture times exclude compilation)."""
    sig = str(jax.tree.map(lambda x: (x.shape, x.dtype), args))
    if sig not in self._compiled:
      t0 = time.perf_counter()
      per_init = P('init') if jax.tree.leaves(args[3]) else P()
      given = P('arch', 'init') if jax.tree.leaves(args[4]) else P()
      self._compiled[sig] = self._program(per_init, given).lower(
          *args).compile()
      self.compilations += 1
      self.compile_seconds += time.perf_counter() - t0
    return self._compiled[sig]

  # --- data -------------------------------------------------------------

  def prepare_data(self, images: np.ndarray, labels: np.ndarray | None,
                   rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The program's data for one batch: images, labels if any proxy needs
    them, and each 'prepared' proxy's own input (from ``rng``)."""
    images = data_lib.check_float_batch(images, 'images')
    data = {'images': images}
    want_labels = any(p.needs.labels or p.needs.grads for p in self.proxies
                      if p.device is not None)
    if want_labels:
      if labels is None:
        users = [p.name for p in self.proxies
                 if p.needs.labels or p.needs.grads]
        raise data_lib.DataError(f'proxies {", ".join(users)} need labels '
                                 'and the data has none')
      data['labels'] = data_lib.check_labels(labels, images.shape[0],
                                             self.num_classes)
    prepared = {p.name: p.prepare(images, rng) for p in self.proxies
                if p.prepare is not None}
    if prepared:
      data['prepared'] = prepared
    for p in self.proxies:
      n = p.needs.batch_size
      if p.device is not None and n is not None and n > images.shape[0]:
        raise data_lib.DataError(f'proxy {p.key} needs {n} images; the '
                                 f'batch has {images.shape[0]}')
    return data

  # --- running ----------------------------------------------------------

  def check_given(self) -> None:
    """Raises unless every proxy can score given variables (its group runs
    the space's own network with the run's initialiser)."""
    for group in self.groups:
      needs = group.needs
      if needs.form != 'cell' or needs.weight_init is not None:
        names = ', '.join(p.name for p in group.proxies)
        raise ValueError(f'proxies {names} build or initialise a network '
                         'of their own; they cannot score given variables')

  def run(self, init_keys: Sequence[jax.Array], archs: Sequence[Any],
          shared: dict[str, Any], per_init: dict[str, Any] | None = None,
          variables: Sequence[Any] | None = None) -> Iterator[ArchScores]:
    """Yields an :class:`ArchScores` per architecture, in order.

    Args:
      init_keys: per architecture, its ``[K]`` init keys.
      archs: architectures of the space (already validated).
      shared: data every init sees (:meth:`prepare_data`).
      per_init: data with a leading ``[K]`` axis, init i seeing slice i
        (e.g. TE-NAS's batch per repeat); keys not in ``shared``.
      variables: per architecture, the variables to score (``{'params':
        ...}``, leaves with a leading ``[K]`` axis) instead of fresh
        initialisations (see the module doc).
    """
    if len(init_keys) != len(archs):
      raise ValueError(f'{len(init_keys)} key sets for {len(archs)} archs')
    if variables is not None:
      if len(variables) != len(archs):
        raise ValueError(f'{len(variables)} variable sets for {len(archs)} '
                         'archs')
      self.check_given()
    per_init = per_init or {}
    k = self.inits
    k_pad = math.ceil(k / self.init_devices) * self.init_devices
    shared = jax.tree.map(jnp.asarray, shared)
    per_init = jax.tree.map(lambda x: _pad(jnp.asarray(x), k_pad), per_init)
    group = self.arch_devices
    archs = list(archs)
    for start in range(0, len(archs), group):
      chunk = archs[start:start + group]
      keys = list(init_keys[start:start + group])
      real = len(chunk)
      chunk = chunk + [chunk[-1]] * (group - real)  # pad the last call
      keys = keys + [keys[-1]] * (group - real)
      key_arr = jnp.stack([_pad(jnp.asarray(ks), k_pad) for ks in keys])
      arrays = [self.space.arch_arrays(a) for a in chunk]
      arch_arr = jax.tree.map(lambda *xs: jnp.asarray(np.stack(xs)), *arrays)
      given = {}
      if variables is not None:
        own = list(variables[start:start + group])
        own += [own[-1]] * (group - real)
        given = jax.tree.map(lambda *xs: jnp.stack(
            [_pad(jnp.asarray(x), k_pad) for x in xs]), *own)
      args = (key_arr, arch_arr, shared, per_init, given)
      fn = self._compiled_for(args)
      t0 = time.perf_counter()
      out = jax.device_get(fn(*args))
      seconds = (time.perf_counter() - t0) / real
      for d in range(real):
        yield ArchScores(chunk[d], self._host(chunk[d], out, d), seconds)

  def _host(self, arch, out: dict[str, Any], d: int
            ) -> dict[str, ProxyResult]:
    results = {}
    for p in self.proxies:
      if p.static is not None:
        value = float(p.static(self.space, arch, self.num_classes,
                               self.image_size))
        results[p.name] = ProxyResult([value] * self.inits,
                                      [None] * self.inits)
        continue
      extra = () if p.host_static is None else (float(p.host_static(
          self.space, arch, self.num_classes, self.image_size)),)
      pairs = [p.host(jax.tree.map(lambda x, i=i: x[d, i], out[p.name]),
                      *extra)
               for i in range(self.inits)]
      results[p.name] = ProxyResult([v for v, _ in pairs],
                                    [n for _, n in pairs])
    return results

  def arch_keys(self, seed_key: jax.Array, archs: Sequence[Any]
                ) -> list[jax.Array]:
    """Per architecture, ``split(fold_in(seed_key, arch_id), inits)``."""
    return [jax.random.split(jax.random.fold_in(seed_key,
                                                self.space.arch_id(a)),
                             self.inits) for a in archs]

  def score(self, seed_key: jax.Array, archs: Sequence[Any],
            images: np.ndarray, labels: np.ndarray | None = None,
            variables: Sequence[Any] | None = None) -> Iterable[ArchScores]:
    """Yields an :class:`ArchScores` per arch as each is ready: in input
    order, or in completion order if the engine balances (see the class).

    Args:
      seed_key: the run's key; arch a uses ``fold_in(seed_key, arch_id)``.
      archs: architectures of the space (already validated).
      images: ``[batch, height, width, channels]`` float32, normalised.
      labels: int ``[batch]`` (needed by some proxies).
      variables: per architecture, the variables to score instead of
        fresh ones: ``{'params': ...}`` with a leading ``[inits]`` axis on
        every leaf (e.g. the trained seeds of a cell).
    """
    rng = np.random.default_rng(
        np.asarray(jax.random.key_data(seed_key)).ravel().tolist())
    data = self.prepare_data(images, labels, rng)
    self.image_size = int(np.asarray(images).shape[1])
    archs = list(archs)
    if not any(p.device is not None for p in self.proxies):
      for a in archs:  # static proxies only: nothing to compile
        yield ArchScores(a, self._host(a, {}, 0), 0.0)
      return
    order = list(range(len(archs)))
    if self.balance:
      window = self.arch_devices * self.BALANCE_WINDOW_CALLS
      for start in range(0, len(archs), window):
        part = order[start:start + window]
        # Costliest first, neighbours in cost share a call.
        part.sort(key=lambda i: self.space.cost_hint(archs[i]), reverse=True)
        order[start:start + window] = part
    archs = [archs[i] for i in order]
    if variables is not None:
      variables = [variables[i] for i in order]
    yield from self.run(self.arch_keys(seed_key, archs), archs, data,
                        variables=variables)


def _unrolled_map(fn, xs, chunk: int):
  """``lax.map(fn, xs)`` with the calls written out: ``chunk`` per step of
  a ``lax.map`` over whole chunks, the remainder after it."""
  n = jax.tree.leaves(xs)[0].shape[0]
  whole = n - n % chunk if n > chunk else 0

  def written_out(part):
    rows = jax.tree.leaves(part)[0].shape[0]
    outs = [fn(jax.tree.map(lambda x, i=i: x[i], part)) for i in range(rows)]
    return jax.tree.map(lambda *ys: jnp.stack(ys), *outs)

  pieces = []
  if whole:
    steps = jax.tree.map(
        lambda x: x[:whole].reshape((-1, chunk) + x.shape[1:]), xs)
    pieces.append(jax.tree.map(lambda y: y.reshape((whole,) + y.shape[2:]),
                               jax.lax.map(written_out, steps)))
  if whole < n:
    pieces.append(written_out(jax.tree.map(lambda x: x[whole:], xs)))
  return jax.tree.map(lambda *ys: jnp.concatenate(ys), *pieces)


def _pad(x: jax.Array, n: int) -> jax.Array:
  """``x`` with its leading axis padded to ``n`` by repeating the last row."""
  if x.shape[0] == n:
    return x
  return jnp.concatenate([x, jnp.repeat(x[-1:], n - x.shape[0], axis=0)])
