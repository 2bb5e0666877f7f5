"""``--algorithm=tenas`` runs: :func:`jaxnas.search.tenas.search` wired to
the engine (ntk_cond and linear_regions as ordinary proxies on the supernet
form of the space), the data, the results store (round results are stored
as they are measured, so a killed search resumes at its last finished round)
and ``DIR/tenas_rounds.jsonl``. Shared by the NB201 search here and the
DARTS one (:mod:`jaxnas.search.tenas_darts`)."""

from __future__ import annotations

import os
import time
from typing import Callable, Sequence

import numpy as np

from jaxnas.search import tenas
from jaxnas.search.tenas import Measure
from jaxnas.spaces.nb201 import spec


def engine_measure(engine, key, images: Sequence[np.ndarray],
                   rngs: Sequence[np.random.Generator],
                   progress: Callable[[str], None] | None = None) -> Measure:
  """A :data:`jaxnas.search.tenas.Measure` on a :class:`jaxnas.engine.Engine` with the proxies
  ntk_cond and linear_regions and ``inits`` = repeats: repeat r uses
  ``images[r]``, ``rngs[r]`` (patches) and, in round t, the key
  ``fold_in(fold_in(key, t), r)`` for every mask. ``progress`` gets a line
  after each mask."""
  import jax  # pylint: disable=g-import-not-at-top
  repeats = [engine.prepare_data(x, None, r) for x, r in zip(images, rngs)]
  per_init = jax.tree.map(lambda *xs: np.stack(xs), *repeats)

  def measure(round_index, masks):
    round_key = jax.random.fold_in(key, round_index)
    keys = jax.vmap(lambda r: jax.random.fold_in(round_key, r))(
        np.arange(engine.inits))
    out, t0 = [], time.perf_counter()
    for res in engine.run([keys] * len(masks), masks, {}, per_init):
      kappa, regions = res['ntk_cond'], res['linear_regions']
      notes = [n for n in kappa.notes + regions.notes if n]
      out.append((kappa.values, regions.values, notes))
      if progress is not None:
        progress(f'round {round_index}: {len(out)}/{len(masks)} masks '
                 f'measured ({time.perf_counter() - t0:.0f} s)')
    return out

  return measure


class CachedMeasure:
  """A :data:`jaxnas.search.tenas.Measure` that stores each round's results (keyed by round and
  unpruned mask) in a :class:`jaxnas.store.Store` and reads them back on a
  rerun instead of measuring again.

  ``seconds[round]`` is the round's measurement time, compilation excluded
  (the stored time for rounds read back).
  """

  def __init__(self, measure: Measure, store, space: str, seed: int,
               fingerprint: str, repeats: int, config: str,
               compile_seconds: Callable[[], float] = lambda: 0.0):
    self.measure, self.store = measure, store
    self.key = (seed, fingerprint, repeats, config)
    self.space = space
    self.compile_seconds = compile_seconds
    self.seconds: dict[int, float] = {}

  def __call__(self, round_index, masks):
    from jaxnas.spaces.nb201 import supernet  # pylint: disable=g-import-not-at-top
    arch = f'round{round_index}:{supernet.format_mask(masks[0])}'
    rec = self.store.get(self.space, arch, 'tenas_round', *self.key)
    if rec is None:
      t0, c0 = time.perf_counter(), self.compile_seconds()
      out = self.measure(round_index, masks)
      rec = {'results': [list(r) for r in out],
             'seconds': (time.perf_counter() - t0 -
                         (self.compile_seconds() - c0))}
      self.store.put(self.space, arch, 'tenas_round', *self.key, rec)
    self.seconds[round_index] = rec['seconds']
    return [tuple(r) for r in rec['results']]


def tenas_proxies(cfg):
  """ntk_cond and linear_regions with the run's ``--proxy_options``
  (ntk_cond on ``--batch_size`` images unless set); checks
  ``--tenas_repeats``."""
  from jaxnas.errors import JaxnasError  # pylint: disable=g-import-not-at-top
  from jaxnas.proxies import get_proxies  # pylint: disable=g-import-not-at-top
  if cfg.tenas_repeats < 1:
    raise JaxnasError(f'--tenas_repeats must be >= 1, got '
                      f'{cfg.tenas_repeats}')
  options = cfg.proxy_option_dict()
  options.setdefault('ntk_cond', {}).setdefault('batch_size', cfg.batch_size)
  return get_proxies(('ntk_cond', 'linear_regions'), options)


def run_setup(cfg, space, proxies, run: int, engine,
              log: Callable[[str], None]):
  """One TE-NAS run's data and measure, shared by the NB201 and DARTS
  searches: run ``run`` uses seed ``cfg.seed + run`` (data subset with
  ``--shuffle``, init keys, patches) and ``cfg.tenas_repeats`` batches of
  ``--batch_size`` images. The engine (of ``proxies``) is made on the
  first run and reused (pass None first).

  Returns:
    (seed, pool, engine, measure): the run's seed, its data (a
    :class:`jaxnas.data.Batch` of all repeats), the engine, and
    :func:`engine_measure`'s measure.
  """
  import jax  # pylint: disable=g-import-not-at-top
  from jaxnas import data as data_lib  # pylint: disable=g-import-not-at-top
  from jaxnas import engine as engine_lib  # pylint: disable=g-import-not-at-top
  repeats = cfg.tenas_repeats
  seed = cfg.seed + run
  pool = data_lib.load_batch(cfg.data, cfg.batch_size * repeats,
                             cfg.shuffle, seed, cfg.norm, cfg.data_dir)
  if engine is None:
    engine = engine_lib.Engine(space, proxies, inits=repeats,
                               weight_init=cfg.weight_init,
                               num_classes=cfg.num_classes or
                               pool.num_classes, devices=cfg.devices)
  batches = np.split(pool.images, repeats)
  rngs = [np.random.default_rng([seed, r]) for r in range(repeats)]
  measure = engine_measure(engine, jax.random.PRNGKey(seed), batches, rngs,
                           log)
  return seed, pool, engine, measure


def run_searches(cfg, space, log: Callable[[str], None]):
  """``--algorithm=tenas``: ``cfg.runs`` searches, run r with seed
  ``cfg.seed + r`` (data subset with ``--shuffle``, init keys, patches).

  Returns:
    (results, seconds, data_info): a :class:`jaxnas.search.RunResult` per
    run, the wall seconds of each search (compilation excluded; rounds read
    back from the store count their stored time), and the data provenance.
  """
  from jaxnas import search as search_lib  # pylint: disable=g-import-not-at-top
  from jaxnas.errors import JaxnasError  # pylint: disable=g-import-not-at-top
  from jaxnas.store import JsonlLog, Store  # pylint: disable=g-import-not-at-top
  if space.name != 'nb201':
    raise JaxnasError(f'--algorithm=tenas runs on the NB201 or DARTS supernet; '
                      f'--space={space.name} is not supported')
  proxies = tenas_proxies(cfg)
  repeats = cfg.tenas_repeats
  store = Store(cfg.store or os.path.join(cfg.output, 'store.sqlite'))
  config = f'tenas weight_init={cfg.weight_init} ' + ' '.join(
      p.key for p in proxies)
  rounds_log = JsonlLog(os.path.join(cfg.output, 'tenas_rounds.jsonl'),
                        ('run', 'seed', 'data_fingerprint', 'config', 'round',
                         'mask'))
  results, seconds, info, engine = [], [], {}, None
  for run in range(cfg.runs):
    seed, pool, engine, raw = run_setup(
        cfg, space, proxies, run, engine,
        lambda msg, run=run: log(f'tenas run {run} {msg}'))
    info = {'data': pool.source, 'norm': pool.norm, 'data_note': pool.note}
    measure = CachedMeasure(raw, store, 'nb201', seed, pool.fingerprint,
                            repeats, config, lambda: engine.compile_seconds)

    def on_round(r, run=run, seed=seed, fp=pool.fingerprint):
      log(f'tenas run {run} (seed {seed}) ' + tenas.format_round(r))
      rec = {'run': run, 'seed': seed, 'data_fingerprint': fp,
             'config': config, **r.to_json()}
      if rec not in rounds_log:
        rounds_log.append(rec)

    log(f'tenas run {run} (seed {seed}): data {pool.source} fingerprint '
        f'{pool.fingerprint}, {repeats} repeats x {cfg.batch_size} images')
    outcome = tenas.search(measure, None, cfg.tenas_precision, 1, on_round)
    arch = outcome.ops
    seconds.append(sum(measure.seconds.values()))
    log(f'tenas run {run}: {spec.format(arch)} after {len(outcome.rounds)} '
        f'rounds, {seconds[-1]:.1f} s (+ compile '
        f'{engine.compile_seconds:.1f} s so far, {engine.compilations} '
        'compilation(s))')
    results.append(search_lib.RunResult(run, arch, None,
                                        outcome.masks_measured))
  info['compile_seconds'] = engine.compile_seconds if engine else 0.0
  info['compilations'] = engine.compilations if engine else 0
  return results, seconds, info
