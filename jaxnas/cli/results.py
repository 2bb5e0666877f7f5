"""The one results source of the modes: proxy scores of architectures,
computed by the engine (and stored), or read from a precomputed table.

Every score is committed to the SQLite store the moment it exists, keyed by
everything that determines it; ``scores.jsonl`` is appended once all
requested proxies of an architecture are known. A rerun skips what is stored,
imports a ``scores.jsonl`` made with the same settings (e.g. committed from
another machine) when the store lacks it, and rebuilds a damaged store from
that file.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from typing import Any, Sequence

from jaxnas import data as data_lib
from jaxnas.cli import shards as shards_lib
from jaxnas.cli.common import Progress, log
from jaxnas.config import RunConfig
from jaxnas.errors import DataError, JaxnasError
from jaxnas.proxies import Proxy, get_proxies
from jaxnas.store import JsonlLog, open_or_rebuild

LOG_KEY = ('space', 'arch', 'seed', 'data_fingerprint', 'inits', 'network',
           'proxies')


def load_data(cfg: RunConfig) -> data_lib.Batch:
  """The scoring batch of ``--data``; ``python run.py`` without ``--data``
  falls back to synthetic noise when CIFAR-10 cannot be had (and says so)."""
  try:
    batch = data_lib.load_batch(cfg.data or 'cifar10', cfg.batch_size,
                                cfg.shuffle,
                                cfg.seed if cfg.data_seed is None
                                else cfg.data_seed, cfg.norm, cfg.data_dir)
  except DataError as e:
    if not (cfg.mode == 'quickstart' and cfg.data is None):
      raise
    note = (f'{e}; falling back to --data=synthetic (uniform noise images, '
            'CIFAR-10 normalisation)')
    log(f'WARNING: {note}')
    batch = data_lib.load_batch('synthetic', cfg.batch_size, False, cfg.seed,
                                cfg.norm)
    batch = dataclasses.replace(batch, note=note)
  log(f'data: {batch.source}, {batch.images.shape[0]} images '
      f'{list(batch.images.shape[1:])}, {batch.num_classes} classes, '
      f'norm={batch.norm}, fingerprint {batch.fingerprint}')
  return batch


class ScoreSource:
  """Scores computed with the engine, through the store."""

  def __init__(self, cfg: RunConfig, space,
               proxies: Sequence[Proxy] | None = None):
    self.cfg, self.space = cfg, space
    self.proxies = list(proxies) if proxies is not None else get_proxies(
        cfg.proxies, cfg.proxy_option_dict())
    self.batch = load_data(cfg)
    self.num_classes = cfg.num_classes or self.batch.num_classes
    # Several processes: each scores its share into a shard of its own
    # (jaxnas.cli.shards); process 0 merges them into the store at the end.
    self.shards = (shards_lib.Shards(cfg.output, cfg.num_processes,
                                     cfg.process_id or 0)
                   if (cfg.num_processes or 1) > 1 else None)
    self.store_path = cfg.store or os.path.join(cfg.output, 'store.sqlite')
    self.store, _ = open_or_rebuild(
        self.shards.store_path if self.shards else self.store_path, log)
    # Everything besides data, seed, inits and the proxy's own options that
    # changes a score.
    self.network = (f'{space!r} weight_init={cfg.weight_init} '
                    f'classes={self.num_classes}')
    self.engines: dict[tuple[str, ...], Any] = {}
    self.logs: dict[str, JsonlLog] = {}

  @property
  def names(self) -> list[str]:
    return [p.name for p in self.proxies]

  def proxy(self, name: str) -> Proxy:
    return next(p for p in self.proxies if p.name == name)

  def data_info(self) -> dict[str, Any]:
    return {'data': self.batch.source, 'norm': self.batch.norm,
            'num_classes': self.num_classes,
            'data_fingerprint': self.batch.fingerprint,
            'data_note': self.batch.note,
            'proxies': {p.name: {'key': p.key,
                                 'higher_is_better': p.higher_is_better}
                        for p in self.proxies}}

  def _key(self, proxy: Proxy) -> tuple:
    """(space, proxy, seed, data, inits, config) of the store."""
    return (self.space.name, proxy.name, self.cfg.seed,
            self.batch.fingerprint, self.cfg.inits,
            f'{self.network} {proxy.key}')

  def _engine(self, names: tuple[str, ...]):
    if names not in self.engines:
      from jaxnas import engine  # pylint: disable=g-import-not-at-top
      cfg = self.cfg
      self.engines[names] = engine.Engine(
          self.space, [self.proxy(n) for n in names], cfg.inits,
          cfg.init_chunk, cfg.weight_init, self.num_classes, cfg.devices,
          init_devices=cfg.init_devices, balance=True,
          unroll_chunk=cfg.unroll_chunk)
    return self.engines[names]

  def _stored(self, proxy: Proxy, names: list[str]) -> dict[str, dict]:
    space, pname, *rest = self._key(proxy)
    if len(names) <= 64:  # a few lookups beat reading the whole table
      return {n: r for n in names if (r := self.store.get(
          space, n, pname, *rest)) is not None}
    return self.store.get_all(space, pname, *rest)

  def records(self, archs: Sequence[Any],
              log_path: str | None = None) -> list[dict[str, Any]]:
    """One record per arch (all proxies), computing what is not stored.

    Records are appended to ``log_path`` (JSON lines) as they complete.
    With several processes, this process computes its share only
    (:mod:`jaxnas.cli.shards`); process 0 returns every arch's record and
    writes ``log_path``, the others return their share's.
    """
    if self.shards is not None:
      if log_path is None:
        raise ValueError('several processes need the scores.jsonl path')
      return self._records_sharded(archs, log_path)
    return self._records(archs, log_path)

  def _records(self, archs: Sequence[Any],
               log_path: str | None = None) -> list[dict[str, Any]]:
    names = [self.space.format(a) for a in archs]
    unique = list(dict.fromkeys(names))
    by_name = dict(zip(names, archs))
    jl = self._log(log_path) if log_path else None
    results: dict[str, dict[str, dict]] = {n: {} for n in unique}
    for proxy in self.proxies:
      for n, rec in self._stored(proxy, unique).items():
        if n in results:
          results[n][proxy.name] = rec
    todo: dict[tuple[str, ...], list[str]] = {}
    for n in unique:
      missing = tuple(p for p in self.names if p not in results[n])
      if missing:
        todo.setdefault(missing, []).append(n)
      elif jl is not None:  # catch the log up with stored work
        self._emit(jl, n, results[n])
    for missing, todo_names in todo.items():
      self._compute(missing, [by_name[n] for n in todo_names], results, jl,
                    len(unique))
    return [self._flatten(n, results[n]) for n in names]

  def _identity(self) -> list[Any]:
    """What a scores.jsonl record must carry to be this run's."""
    return [self.space.name, self.cfg.seed, self.batch.fingerprint,
            self.cfg.inits, self.network, self.names,
            {p.name: p.key for p in self.proxies}]

  def _is_ours(self, rec: dict[str, Any]) -> bool:
    keys = rec.get('proxy_keys', {})
    return ([rec.get('space'), rec.get('seed'), rec.get('data_fingerprint'),
             rec.get('inits'), rec.get('network'), rec.get('proxies')] ==
            self._identity()[:6] and
            all(keys.get(p.name, p.name) == p.key for p in self.proxies))

  def _records_sharded(self, archs: Sequence[Any],
                       log_path: str) -> list[dict[str, Any]]:
    sh = self.shards
    names = [self.space.format(a) for a in archs]
    by_name = dict(zip(names, archs))
    shares = shards_lib.shares(list(dict.fromkeys(names)), sh.num_processes)
    mine = shares[sh.process_id]
    # An earlier run's merged log (read only here: process 0 appends to it
    # once every share is done).
    self._import_records(shards_lib.read_complete_jsonl(log_path), log_path,
                         only=set(mine))
    log(f'process {sh.process_id} of {sh.num_processes}: {len(mine)} of '
        f'{sum(map(len, shares))} architectures are its share')
    own = self._records([by_name[n] for n in mine],
                        sh.log_path(sh.process_id))
    identity = self._identity()
    sh.mark_done(shards_lib.fingerprint(identity, mine), len(mine))
    sh.wait_all([shards_lib.fingerprint(identity, s) for s in shares], log,
                self.cfg.progress_seconds)
    if sh.process_id != 0:
      return own
    return self._merge(names, shares, log_path)

  def _merge(self, names: list[str], shares: list[list[str]],
             log_path: str) -> list[dict[str, Any]]:
    """Process 0, every share done: the shard logs into the one store
    and the one ``log_path``, in the run's order."""
    sh = self.shards
    recs: dict[str, dict[str, Any]] = {}
    for i, share in enumerate(shares):
      path = sh.log_path(i)
      got = {r['arch']: r for r in shards_lib.read_complete_jsonl(path)
             if self._is_ours(r)}
      missing = [n for n in share if n not in got]
      if missing:
        raise JaxnasError(f'{path}: process {i} marked its share done but '
                          f'{len(missing)} of its architectures are missing '
                          f'(e.g. {missing[0]}); rerun the command')
      recs.update((n, got[n]) for n in share)
    store, _ = open_or_rebuild(self.store_path, log)
    try:
      self._import_records(recs.values(), 'the shards', store=store)
    finally:
      store.close()
    jl = JsonlLog(log_path, LOG_KEY)
    order = list(dict.fromkeys(names))
    jl.extend([recs[n] for n in order if recs[n] not in jl])
    log(f'process 0: merged {len(shares)} shards ({len(order)} '
        f'architectures) into {log_path} and {self.store_path}')
    return [recs[n] for n in names]

  def _compute(self, missing, archs, results, jl, total) -> None:
    import jax  # pylint: disable=g-import-not-at-top
    what = ','.join(missing)
    log(f'{what}: {total - len(archs)} stored, {len(archs)} to score')
    engine = self._engine(missing)
    progress = Progress(len(archs), f'{what} scoring',
                        self.cfg.progress_seconds)
    for res in engine.score(jax.random.PRNGKey(self.cfg.seed), archs,
                            self.batch.images, self.batch.labels):
      name = self.space.format(res.arch)  # may come in completion order
      share = res.seconds / len(missing)
      for pname in missing:
        r = res[pname]
        rec = {'value': r.mean, 'std': r.std, 'each': r.values,
               'seconds': share}
        if r.note:
          rec['note'] = r.note
        space, _, *rest = self._key(self.proxy(pname))
        self.store.put(space, name, pname, *rest, rec)
        results[name][pname] = rec
      if jl is not None:
        self._emit(jl, name, results[name])
      progress.update()
    log(f'{what}: {engine.compilations} compilation(s), '
        f'{engine.compile_seconds:.1f} s')

  def _log(self, path: str) -> JsonlLog:
    """The JSON-lines log at ``path``, opened (and imported) once."""
    if path not in self.logs:
      self.logs[path] = JsonlLog(path, LOG_KEY)
      self._import_log(path)
    return self.logs[path]

  def _import_log(self, path: str) -> None:
    """Stores the results of an existing scores.jsonl made with this exact
    configuration, so a rerun resumes from it without the SQLite file."""
    if not os.path.exists(path):
      return
    with open(path) as f:
      lines = [json.loads(l) for l in f if l.strip()]
    self._import_records(lines, path)

  def _import_records(self, lines, source: str, only: set[str] | None = None,
                      store=None) -> None:
    """Stores (in ``store``, default this source's) the results of
    flattened records made with this configuration (of archs in ``only``
    if given) that it lacks."""
    store = self.store if store is None else store
    imported = 0
    for rec in lines:
      if (rec.get('space'), rec.get('seed'), rec.get('data_fingerprint'),
          rec.get('inits'), rec.get('network')) != (
              self.space.name, self.cfg.seed, self.batch.fingerprint,
              self.cfg.inits, self.network):
        continue
      if only is not None and rec.get('arch') not in only:
        continue
      keys = rec.get('proxy_keys', {})
      for proxy in self.proxies:
        if (proxy.name not in rec.get('proxies', []) or
            keys.get(proxy.name, proxy.name) != proxy.key):
          continue
        space, pname, *rest = self._key(proxy)
        if store.get(space, rec['arch'], pname, *rest) is not None:
          continue
        value = rec[pname]
        stored = {'value': value, 'std': rec.get(f'{pname}_std', 0.0),
                  'each': rec.get(f'{pname}_each', [value]),
                  'seconds': rec['seconds'] / len(rec['proxies'])}
        note = dict(rec.get('notes', {})).get(pname)
        if note:
          stored['note'] = note
        store.put(space, rec['arch'], pname, *rest, stored)
        imported += 1
    if imported:
      log(f'imported {imported} stored result(s) from {source}')

  def _flatten(self, name: str, per_proxy: dict[str, dict]) -> dict[str, Any]:
    rec = {'space': self.space.name, 'arch': name, 'seed': self.cfg.seed,
           'inits': self.cfg.inits, 'data': self.batch.source,
           'data_fingerprint': self.batch.fingerprint,
           'network': self.network, 'proxies': self.names}
    keys = {p.name: p.key for p in self.proxies if p.key != p.name}
    if keys:
      rec['proxy_keys'] = keys
    notes, seconds = {}, 0.0
    for proxy in self.names:
      r = per_proxy[proxy]
      rec[proxy] = r['value']
      if self.cfg.inits > 1:
        rec[f'{proxy}_std'] = r['std']
        rec[f'{proxy}_each'] = r['each']
      seconds += r['seconds']
      if r.get('note'):
        notes[proxy] = r['note']
    rec['seconds'] = seconds
    if notes:
      rec['notes'] = notes
      rec['note'] = '; '.join(f'{p}: {n}' for p, n in notes.items())
    return rec

  def _emit(self, jl: JsonlLog, name: str, per_proxy: dict) -> None:
    rec = self._flatten(name, per_proxy)
    if rec not in jl:
      jl.append(rec)


class ScoreTable:
  """Scores read from ``--score_table=csv:PATH`` (columns ``arch`` and one
  per proxy) instead of computed."""

  def __init__(self, cfg: RunConfig, space):
    self.cfg, self.space = cfg, space
    self.proxies = get_proxies(cfg.proxies, cfg.proxy_option_dict())
    flag = cfg.score_table
    if not flag.startswith('csv:'):
      raise JaxnasError(f'--score_table={flag!r}: expected csv:PATH')
    path = flag[4:]
    if not os.path.exists(path):
      raise JaxnasError(f'--score_table csv:{path}: file not found')
    self.rows: dict[str, dict[str, Any]] = {}
    with open(path, newline='') as f:
      reader = csv.DictReader(f)
      if 'arch' not in (reader.fieldnames or []):
        raise JaxnasError(f'--score_table csv:{path}: no "arch" column')
      names = [p.name for p in self.proxies]
      missing = [p for p in names if p not in reader.fieldnames]
      if missing:
        raise JaxnasError(f'--score_table csv:{path}: no column for proxy '
                          f'{missing[0]!r}')
      for row in reader:
        rec = {p: (float(row[p]) if row[p] not in ('', 'nan', 'None')
                   else None) for p in names}
        rec['seconds'] = float(row.get('seconds') or 0.0)
        self.rows[row['arch']] = rec

  def proxy(self, name: str) -> Proxy:
    return next(p for p in self.proxies if p.name == name)

  def data_info(self) -> dict[str, Any]:
    return {'score_table': self.cfg.score_table}

  def records(self, archs: Sequence[Any],
              log_path: str | None = None) -> list[dict[str, Any]]:
    del log_path  # nothing is computed
    out = []
    for arch in archs:
      name = self.space.format(arch)
      if name not in self.rows:
        raise JaxnasError(f'arch {name} is not in --score_table '
                          f'{self.cfg.score_table}')
      out.append({'space': self.space.name, 'arch': name,
                  'seed': self.cfg.seed, **self.rows[name]})
    return out


def score_source(cfg: RunConfig, space):
  """The results source of a run: a table if ``--score_table``, else the
  engine through the store."""
  return ScoreTable(cfg, space) if cfg.score_table else ScoreSource(cfg,
                                                                    space)
