"""Scoring on the NB201 supernet: TE-NAS's ntk_cond and linear_regions.

:class:`jaxnas.engine.Scorer` assumes one network per space fed one batch,
with the proxy reading logits and ReLU taps. TE-NAS needs two networks of its
own (the C=3 supernet for the NTK, the C=1 one-cell supernet for linear
regions), the NTK needs the apply function (it differentiates), and the
regions need their own inputs (3x3 patches). So this module has a small
scorer in the same spirit:

* the architecture is data: an op mask ``[6, 5]`` (a one-hot mask for an
  NB201 cell, any mask for the pruning search), so one compiled program
  serves every cell and every supernet;
* one jitted call computes all the initialisations, each with its own data
  (the same batch repeated for a correlation study; a different batch per
  repeat in the search): ``unroll`` inits per step of a ``lax.map``, and no
  loop at all when ``unroll >= inits``. Measured on XLA:CPU (NTK of the C=3
  supernet, batch 72, one init): 24 CPU-s without a loop, 95 CPU-s inside a
  ``lax.map`` (even of length 1: the weight-gradient convolutions get
  non-default layouts inside a while loop), 44 CPU-s per init when 3 inits
  are vmapped (grouped convolutions). So inits are unrolled, not vmapped;
  the price is compile time (about linear in ``unroll``);
* with several devices, ``pmap`` runs a different mask on each;
* :attr:`SupernetScorer.traces` counts traces (1 for any number of masks).

A :class:`Measure` is one quantity on one network: its device part (inside
the jitted call), host part (``(value, note)`` in float64) and its data
(NTK: the images; regions: patches sampled from them). Several measures can
share one program (the search computes kappa and R of each mask together).
:class:`ProxyScorer` wraps a single measure behind ``engine.Scorer``'s
interface for ``--mode=score|correlate``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import data as data_lib
from jaxnas import engine
from jaxnas.errors import JaxnasError
from jaxnas.proxies import linear_regions
from jaxnas.proxies import ntk
from jaxnas.spaces.nb201 import supernet

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class NtkMeasure:
  """kappa of the NTK of ``network`` on a batch of images."""
  network: supernet.SuperNetwork
  implementation: str = 'jacobian_contraction'
  name: str = 'ntk_cond'
  salt: int = 0  # the init key is fold_in(key, salt)

  def prepare(self, images: np.ndarray, rng: np.random.Generator
              ) -> np.ndarray:
    del rng
    return np.asarray(images, np.float32)

  def device(self, key: Array, mask: Array, images: Array) -> Array:
    net = self.network
    variables = net.init(key, images[:2, :8, :8], mask)
    apply = lambda params, x: net.apply({'params': params}, x, mask)[0]
    return ntk.empirical_ntk(apply, variables['params'], images,
                             self.implementation)

  def host(self, theta) -> tuple[float, str | None]:
    return ntk.condition_number(theta)


@dataclasses.dataclass(frozen=True)
class RegionsMeasure:
  """R of ``network`` (a thin supernet with a :class:`RegionTap`)."""
  network: supernet.SuperNetwork
  inputs: int = 3000
  batch: int = 1000
  size: int = 3
  name: str = 'linear_regions'
  salt: int = 1

  def __post_init__(self):
    if self.inputs < 1 or self.batch < 1 or self.inputs % self.batch:
      raise JaxnasError(f'linear regions: region_inputs={self.inputs} must '
                        f'be a positive multiple of region_batch='
                        f'{self.batch}')

  def prepare(self, images: np.ndarray, rng: np.random.Generator
              ) -> np.ndarray:
    return linear_regions.sample_patches(images, self.inputs, rng, self.size)

  def device(self, key: Array, mask: Array, patches: Array) -> Array:
    net = self.network
    variables = net.init(key, patches[:2], mask)
    batches = patches.reshape((-1, self.batch) + patches.shape[1:])

    def one_batch(x):  # BN statistics per batch, as the reference
      return linear_regions.pack_patterns(net.apply(variables, x, mask)[1])

    codes = jax.lax.map(one_batch, batches)
    return codes.reshape(self.inputs, -1)

  def host(self, patterns) -> tuple[float, str | None]:
    return linear_regions.count_regions(patterns)


def region_init(weight_init: str) -> str:
  """TE-NAS's Kaiming init is fan-out for the NTK network and fan-in for the
  regions network ('he_normal' -> 'he_normal_fan_in'); others unchanged."""
  return {'he_normal': 'he_normal_fan_in'}.get(weight_init, weight_init)


def make_measure(name: str, weight_init: str = 'torch',
                 num_classes: int = 10, region_inputs: int = 3000,
                 region_batch: int = 1000,
                 implementation: str = 'jacobian_contraction'):
  """The measure of proxy ``name`` at TE-NAS's network sizes."""
  if name == 'ntk_cond':
    return NtkMeasure(supernet.kappa_network(num_classes, weight_init),
                      implementation)
  if name == 'linear_regions':
    net = supernet.regions_network(linear_regions.TAP,
                                   region_init(weight_init))
    return RegionsMeasure(net, region_inputs, region_batch)
  raise ValueError(f'no supernet measure for proxy {name!r}')


class SupernetScorer:
  """One compiled program: (init keys, mask, per-init data) -> measures.

  Args:
    measures: the quantities computed in each call, in order.
    inits: initialisations per call (each with its own key and data).
    unroll: inits computed per step, unrolled (default: all of them, no
      loop; set it lower for many inits to bound compile time).
    devices: local devices to spread masks over (default: all).
  """

  def __init__(self, measures: Sequence[Any], inits: int = 1,
               unroll: int | None = None, devices: int | None = None):
    if inits < 1:
      raise ValueError(f'inits must be >= 1, got {inits}')
    self.measures = tuple(measures)
    self.inits = inits
    self.unroll = inits if unroll is None else max(1, min(unroll, inits))
    available = jax.local_device_count()
    self.devices = available if devices is None else devices
    if not 1 <= self.devices <= available:
      raise ValueError(f'devices={devices} but {available} local device(s) '
                       'are available')
    self.traces = 0
    self.compile_seconds = 0.0
    if self.devices > 1:
      self._fn = jax.pmap(self._program, in_axes=(0, 0, None),
                          devices=jax.local_devices()[:self.devices])
    else:
      self._fn = jax.jit(self._program)
    self._compiled = {}

  def _program(self, keys: Array, mask: Array, data: tuple) -> tuple:
    """keys ``[K]``, mask ``[6, 5]``, data: per measure ``[K, ...]``."""
    self.traces += 1  # Python side effect: runs once per trace.

    def unrolled(keys, data):  # a Python loop: no while loop in the HLO
      outs = [tuple(m.device(jax.random.fold_in(keys[i], m.salt), mask,
                             x[i]) for m, x in zip(self.measures, data))
              for i in range(keys.shape[0])]
      return jax.tree.map(lambda *xs: jnp.stack(xs), *outs)

    k, step = self.inits, self.unroll
    if step == k:
      return unrolled(keys, data)
    steps = k // step
    split = lambda x: x[:steps * step].reshape((steps, step) + x.shape[1:])
    looped = jax.lax.map(lambda a: unrolled(*a),
                         (split(keys), jax.tree.map(split, data)))
    parts = [jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), looped)]
    if steps * step < k:
      parts.append(unrolled(keys[steps * step:], jax.tree.map(
          lambda x: x[steps * step:], data)))
    return jax.tree.map(lambda *xs: jnp.concatenate(xs), *parts)

  def prepare(self, images_per_init: Sequence[np.ndarray],
              rngs: Sequence[np.random.Generator]) -> tuple:
    """Per measure, the stacked data ``[K, ...]`` of the K inits from their
    images (each init's own batch and generator)."""
    if len(images_per_init) != self.inits or len(rngs) != self.inits:
      raise ValueError(f'expected {self.inits} image batches and generators,'
                       f' got {len(images_per_init)} and {len(rngs)}')
    checked = [data_lib.check_float_batch(x, 'images')
               for x in images_per_init]
    return tuple(np.stack([m.prepare(x, r) for x, r in zip(checked, rngs)])
                 for m in self.measures)

  # The program for these shapes, compiled ahead of time on first use (so
  # per-mask times exclude compilation): the engine's, which needs only
  # _fn, _compiled and compile_seconds.
  compiled = engine.Scorer.compiled

  def run(self, keys: Sequence[Array], masks: Sequence[np.ndarray],
          data: tuple) -> Iterable[tuple[list[list], list[list], float]]:
    """Yields, per mask in order, ``(values, notes, seconds)``.

    ``values[m][i]`` and ``notes[m][i]`` are measure m's host result for
    init i; ``seconds`` is the mask's share of its call's wall time.

    Args:
      keys: per mask, the ``[K]`` init keys.
      masks: per mask, the 0/1 ``[6, 5]`` op mask.
      data: from :meth:`prepare` (shared by all masks).
    """
    if len(keys) != len(masks):
      raise ValueError(f'{len(keys)} key sets for {len(masks)} masks')
    masks = [supernet.check_mask(m) for m in masks]
    data = jax.tree.map(jnp.asarray, data)
    group = self.devices
    for start in range(0, len(masks), group):
      ks = list(keys[start:start + group])
      ms = list(masks[start:start + group])
      real = len(ms)
      ks += [ks[-1]] * (group - real)
      ms += [ms[-1]] * (group - real)
      if group > 1:
        args = (jnp.stack(ks), jnp.asarray(np.stack(ms)), data)
      else:
        args = (ks[0], jnp.asarray(ms[0]), data)
      out, seconds = engine.run_group(self.compiled(*args), args, group,
                                      real)
      for d in range(real):
        values, notes = [], []
        for m, measure in enumerate(self.measures):
          pairs = [measure.host(out[m][d, i]) for i in range(self.inits)]
          values.append([v for v, _ in pairs])
          notes.append([n for _, n in pairs])
        yield values, notes, seconds


class SupernetResult(engine.ArchResult):
  """An :class:`engine.ArchResult` whose note counts noted inits (ntk_cond
  gives noted inits a defined value, not None)."""

  @property
  def note(self) -> str | None:
    if not self.notes:
      return None
    return f'{len(self.notes)}/{len(self.values)} inits: {self.notes[0]}'


class ProxyScorer:
  """``engine.Scorer``'s interface for ntk_cond or linear_regions on NB201.

  ``map_batch`` is the number of inits unrolled per loop step (see
  :class:`SupernetScorer`; 1 = a ``lax.map`` over inits, unless there is
  only one), not vmapped.

  Init i of an arch uses key ``split(fold_in(seed_key, arch_id), inits)[i]``
  as the engine does; every init sees the same batch, and the region patches
  are sampled once per ``score`` call from the batch with a generator seeded
  by ``seed_key``.
  """

  def __init__(self, space, proxy, inits: int = 1, map_batch: int = 1,
               weight_init: str = 'torch', devices: int | None = None,
               **options: Any):
    if getattr(space, 'name', None) != 'nb201':
      raise JaxnasError(f'proxy {proxy.name} runs on the NB201 supernet; '
                        f'--space={getattr(space, "name", space)} is not '
                        'supported')
    self.space, self.proxy = space, proxy
    self.measure = make_measure(proxy.name, weight_init, **options)
    self.core = SupernetScorer((self.measure,), inits, map_batch, devices)
    self.map_batch = map_batch
    self.inits = inits

  @property
  def traces(self) -> int:
    return self.core.traces

  @property
  def compile_seconds(self) -> float:
    return self.core.compile_seconds

  def score(self, seed_key: Array, archs: Sequence[Any],
            images: np.ndarray) -> Iterable[engine.ArchResult]:
    """Yields a result per arch (op arrays ``[6]``), in order."""
    images = data_lib.check_float_batch(images, 'images')
    rng = np.random.default_rng(
        np.asarray(jax.random.key_data(seed_key)).ravel().tolist())
    one = self.measure.prepare(images, rng)
    data = (np.repeat(one[None], self.inits, axis=0),)
    keys = [jax.random.split(jax.random.fold_in(
        seed_key, self.space.arch_id(a)), self.inits) for a in archs]
    masks = [supernet.one_hot(self.space.arch_arrays(a)) for a in archs]
    for arch, (values, notes, seconds) in zip(
        archs, self.core.run(keys, masks, data)):
      yield SupernetResult(arch, values[0],
                           [n for n in notes[0] if n], seconds)


def config_suffix(proxies: Sequence[str], num_classes: int,
                  region_inputs: int, region_batch: int) -> str:
  """What besides data, seed, inits and weight_init changes a supernet
  proxy's score (for the results store key); '' when none is requested."""
  if not set(proxies) & {'ntk_cond', 'linear_regions'}:
    return ''
  return (f' supernet(kappa C=3 N=1 classes={num_classes}; regions C=1 '
          f'inputs={region_inputs} batch={region_batch})')
