"""The scoring engine: one compiled program per (space, proxy, batch shape).

The architecture is data. :class:`Scorer` jits one function

  f(key, arch_arrays, images) -> proxy device output, stacked over inits

where ``key`` is the architecture's own key (``fold_in(seed key, arch id)``,
so a score does not depend on the order architectures are visited) and the
initialisations are ``split(key, inits)`` mapped inside the same call with
``lax.map`` (``map_batch`` > 1 vmaps that many inits at once). With several
devices, ``pmap`` runs a different architecture on each.

Compilations are counted by a trace counter (:attr:`Scorer.traces`): scoring
any number of cells of one space must leave it at 1 per device count.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import data as data_lib
from jaxnas.proxies import Proxy


@dataclasses.dataclass
class ArchResult:
  """Scores of one architecture: one value per init (None if undefined)."""
  arch: Any
  values: list[float | None]
  notes: list[str]
  seconds: float

  @property
  def finite(self) -> list[float]:
    return [v for v in self.values if v is not None]

  @property
  def mean(self) -> float | None:
    f = self.finite
    return float(np.mean(f)) if f else None

  @property
  def std(self) -> float | None:
    f = self.finite
    return float(np.std(f)) if f else None

  @property
  def note(self) -> str | None:
    if not self.notes:
      return None
    bad = len(self.values) - len(self.finite)
    return f'{bad}/{len(self.values)} inits undefined: {self.notes[0]}'


def run_group(fn, args, group: int, real: int) -> tuple[Any, float]:
  """Runs a compiled per-group program; returns its host outputs with a
  leading device axis (added when ``group == 1``, i.e. no pmap) and the
  seconds per real (unpadded) member of the group."""
  t0 = time.perf_counter()
  out = jax.device_get(fn(*args))
  if group == 1:
    out = jax.tree.map(lambda x: x[None], out)
  return out, (time.perf_counter() - t0) / real


class Scorer:
  """Scores architectures of one space with one proxy on one batch.

  Args:
    space: a space object (see :mod:`jaxnas.spaces`).
    proxy: the proxy (see :mod:`jaxnas.proxies`).
    inits: initialisations per architecture, all in one call.
    map_batch: inits vmapped together inside the ``lax.map`` (1 = pure map).
    weight_init: initialiser name ('torch' or 'he_normal').
    devices: number of local devices to spread architectures over
      (default: all local devices).
    balance: with several devices, group architectures of similar cost
      (the space's ``cost_hint``) on the devices of one call, since a call
      lasts as long as its slowest architecture; results are then yielded
      in completion order (each carries its ``arch``), not input order.
  """

  # Architectures sorted by cost together (a window of this many calls).
  BALANCE_WINDOW_CALLS = 8

  def __init__(self, space, proxy: Proxy, inits: int = 1, map_batch: int = 1,
               weight_init: str = 'torch', devices: int | None = None,
               balance: bool = False):
    if inits < 1:
      raise ValueError(f'inits must be >= 1, got {inits}')
    self.space = space
    self.proxy = proxy
    self.inits = inits
    self.map_batch = max(1, min(map_batch, inits))
    self.network = space.network(tap=proxy.tap, weight_init=weight_init)
    available = jax.local_device_count()
    self.devices = available if devices is None else devices
    if not 1 <= self.devices <= available:
      raise ValueError(f'devices={devices} but {available} local device(s) '
                       'are available')
    self.balance = balance and self.devices > 1 and hasattr(space,
                                                            'cost_hint')
    self.traces = 0
    self.compile_seconds = 0.0
    fn = self._one_arch
    if self.devices > 1:
      self._fn = jax.pmap(fn, in_axes=(0, 0, None),
                          devices=jax.local_devices()[:self.devices])
    else:
      self._fn = jax.jit(fn)
    self._compiled = {}

  def _one_arch(self, key, arch_arrays, images):
    self.traces += 1  # Python side effect: runs once per trace.
    network, proxy = self.network, self.proxy
    tiny = images[:2, :8, :8]  # param shapes do not depend on the batch

    def one_init(k):
      variables = network.init(k, tiny, arch_arrays)
      logits, acc = network.apply(variables, images, arch_arrays)
      return proxy.device(logits, acc)

    keys = jax.random.split(key, self.inits)
    if self.map_batch == 1:
      return jax.lax.map(one_init, keys)
    return jax.lax.map(one_init, keys, batch_size=self.map_batch)

  def compiled(self, *args):
    """The program for these argument shapes, compiled ahead of time on
    first use (so per-architecture times exclude compilation)."""
    sig = str(jax.tree.map(lambda x: (x.shape, x.dtype), args))
    if sig not in self._compiled:
      t0 = time.perf_counter()
      self._compiled[sig] = self._fn.lower(*args).compile()
      self.compile_seconds += time.perf_counter() - t0
    return self._compiled[sig]

  def score(self, seed_key: jax.Array, archs: Sequence[Any],
            images: jax.Array) -> Iterable[ArchResult]:
    """Yields an :class:`ArchResult` per arch as each is ready: in input
    order, or in completion order if the scorer balances (see the class).

    Args:
      seed_key: the run's key; arch i uses ``fold_in(seed_key, arch_id)``.
      archs: architectures of the space (already validated).
      images: ``[batch, height, width, channels]`` float32, normalised.
    """
    images = jnp.asarray(data_lib.check_float_batch(images, 'images'))
    group = self.devices
    archs = list(archs)
    if self.balance:
      window = group * self.BALANCE_WINDOW_CALLS
      for start in range(0, len(archs), window):
        part = archs[start:start + window]
        # Costliest first, neighbours in cost share a call.
        part.sort(key=self.space.cost_hint, reverse=True)
        archs[start:start + window] = part
    for start in range(0, len(archs), group):
      chunk = list(archs[start:start + group])
      real = len(chunk)
      chunk += [chunk[-1]] * (group - real)  # pad the last group
      keys = [jax.random.fold_in(seed_key, self.space.arch_id(a))
              for a in chunk]
      arrays = [self.space.arch_arrays(a) for a in chunk]
      if group > 1:
        args = (jnp.stack(keys),
                jax.tree.map(lambda *xs: np.stack(xs), *arrays), images)
      else:
        args = (keys[0], jax.tree.map(jnp.asarray, arrays[0]), images)
      out, seconds = run_group(self.compiled(*args), args, group, real)
      for d in range(real):
        values, notes = [], []
        for i in range(self.inits):
          value, note = self.proxy.host(
              jax.tree.map(lambda x, d=d, i=i: x[d, i], out))
          values.append(value)
          if note:
            notes.append(note)
        yield ArchResult(chunk[d], values, notes, seconds)
