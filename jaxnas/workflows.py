"""The run modes behind ``run.py``: score, search, correlate, describe.

Each mode is a function of a :class:`RunConfig`; ``run.py`` only turns flags
into one and calls :func:`run`. Results go to ``config.output``:
``config.json`` (settings, versions, data provenance), ``scores.jsonl``,
``search.jsonl``, ``correlation.json`` / ``correlation.png``,
``describe.jsonl``; the SQLite store (default ``output/store.sqlite``)
caches every score so reruns skip finished work.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib.metadata
import json
import math
import os
import platform
import sys
import time
from typing import Any, Callable, Sequence

import numpy as np

from jaxnas import benchmarks as bm
from jaxnas import data as data_lib
from jaxnas import metrics
from jaxnas import search as search_lib
from jaxnas.errors import DataError, JaxnasError, SpecError
from jaxnas.spaces import get_space
from jaxnas.store import JsonlLog, Store


@dataclasses.dataclass
class RunConfig:
  """Everything a run needs; run.py fills it from flags."""
  mode: str = 'quickstart'
  space: str = 'nb201'
  proxies: tuple[str, ...] = ('naswot',)
  archs: str | None = None
  sample: int | None = None
  data: str = 'cifar10'
  data_fallback: bool = False  # fall back to synthetic if data is unavailable
  batch_size: int = 128
  shuffle: bool = False
  norm: str | None = None
  data_dir: str | None = None
  seed: int = 0
  inits: int = 1
  map_batch: int = 1
  weight_init: str = 'torch'
  devices: int | None = None
  channels: int | None = None
  cells_per_stage: int | None = None
  output: str = 'out'
  store: str | None = None
  score_table: str | None = None
  benchmark: str | None = None
  metric: str = 'cifar10_test'
  search_metric: str = 'cifar10_valid'
  algorithm: str = 'naswot'
  n_samples: int = 100
  runs: int = 10
  progress_seconds: float = 10.0
  arch_order: str = 'given'  # or 'random' (score mode)
  max_vertices: int = 7  # NB101 enumeration
  dedup: bool = True  # benchmark searches: isomorphic repeats are free
  population: int = 10
  tournament: int = 3
  area_m: int = 20
  area_keep: int = 10
  lr: float = 0.5
  # TE-NAS (--algorithm=tenas; ntk_cond / linear_regions proxies).
  tenas_repeats: int = 3
  tenas_precision: int = 3
  num_classes: int = 10  # classifier of the NTK supernet
  region_inputs: int = 3000
  region_batch: int = 1000


# --------------------------------------------------------------------------
# Helpers.


def log(msg: str) -> None:
  print(msg, file=sys.stderr, flush=True)


class Progress:
  """Prints done/total, rate and ETA at most every ``every`` seconds."""

  def __init__(self, total: int, what: str, every: float = 10.0):
    self.total, self.what, self.every = total, what, every
    self.done = 0
    self.first = None  # rate counts from the first item (after compiling)
    self.last = time.perf_counter()

  def update(self, n: int = 1) -> None:
    self.done += n
    now = time.perf_counter()
    if self.first is None:
      self.first = (now, self.done)
    if now - self.last >= self.every or self.done == self.total:
      self.last = now
      t0, d0 = self.first
      rate = (self.done - d0) / (now - t0) if now > t0 else 0.0
      left = (self.total - self.done) / rate if rate > 0 else math.inf
      log(f'{self.what}: {self.done}/{self.total} ({rate:.2f}/s, '
          f'ETA {_hms(left)})')


def _hms(seconds: float) -> str:
  if not math.isfinite(seconds):
    return '?'
  s = int(round(seconds))
  return f'{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s'


def versions() -> dict[str, str]:
  out = {'python': platform.python_version()}
  for pkg in ('jax', 'jaxlib', 'flax', 'numpy', 'neural-tangents', 'scipy'):
    try:
      out[pkg] = importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
      out[pkg] = 'not installed'
  return out


def make_space(cfg: RunConfig):
  kwargs = {}
  if cfg.channels is not None:
    kwargs['channels'] = cfg.channels
  if cfg.cells_per_stage is not None:
    kwargs['cells_per_stage'] = cfg.cells_per_stage
  return get_space(cfg.space, **kwargs)


def read_archs(space, path: str) -> list[Any]:
  """One architecture a line; blank lines and '#' comments skipped."""
  if not os.path.exists(path):
    raise SpecError(f'--archs file {path}: not found')
  archs = []
  with open(path) as f:
    for n, line in enumerate(f, 1):
      text = line.strip()
      if not text or text.startswith('#'):
        continue
      try:
        archs.append(space.parse(text))
      except SpecError as e:
        raise SpecError(f'{path}:{n}: {e}') from None
  if not archs:
    raise SpecError(f'--archs file {path}: contains no architectures')
  return archs


def load_benchmark(cfg: RunConfig, space) -> bm.Benchmark | None:
  if not cfg.benchmark:
    return None
  table = bm.Benchmark.from_flag(cfg.benchmark, space.benchmark_key)
  for metric in cfg.metric.split(','):
    table.check_metric(metric)
  return table


def score_table_pool(cfg: RunConfig, space) -> list[Any] | None:
  """The cells a --score_table covers (None without one)."""
  if not cfg.score_table:
    return None
  path = cfg.score_table.removeprefix('csv:')
  if not os.path.exists(path):
    raise JaxnasError(f'--score_table {cfg.score_table}: file not found')
  with open(path, newline='') as f:
    pool = [space.parse(r['arch']) for r in csv.DictReader(f)]
  log(f'sampling restricted to the {len(pool)} cells of --score_table')
  return pool


def select_archs(cfg: RunConfig, space, table: bm.Benchmark | None,
                 rng: np.random.Generator) -> list[Any]:
  """--archs FILE, or --sample N cells (covered by the benchmark if given,
  and by --score_table if given; N = 0 means every such cell, or the whole
  space)."""
  if cfg.archs:
    return read_archs(space, cfg.archs)
  if cfg.sample is None:
    raise JaxnasError(f'--mode={cfg.mode} needs --archs=FILE or --sample=N')
  scored = score_table_pool(cfg, space)
  if table is None and scored is None:
    pool = space.enumerate() if cfg.sample == 0 else space.sample(
        rng, cfg.sample)
    return pool
  pool = []
  if table is None:
    pool = scored
  else:
    allowed = None if scored is None else {space.format(a) for a in scored}
    skipped = 0
    for row in table.rows.values():
      try:
        arch = space.from_benchmark_row(row)
      except SpecError:
        arch = None
      if arch is None:
        skipped += 1
      elif allowed is None or space.format(arch) in allowed:
        pool.append(arch)
    if skipped:
      log(f'benchmark: {skipped} row(s) without a usable cell skipped; '
          f'{len(pool)} cells to choose from')
  if cfg.sample == 0 or cfg.sample >= len(pool):
    return pool
  idx = rng.choice(len(pool), cfg.sample, replace=False)
  return [pool[i] for i in sorted(idx)]


# --------------------------------------------------------------------------
# Scoring with a store.


class ScoreSource:
  """Proxy scores of architectures: computed (and stored) or from a table."""

  def __init__(self, cfg: RunConfig, space):
    self.cfg, self.space = cfg, space
    self.table: dict[str, dict[str, float | None]] | None = None
    self.batch = None
    self.scorers: dict[str, Any] = {}
    self.logs: dict[str, JsonlLog] = {}
    if cfg.score_table:
      self._load_table(cfg.score_table)
      return
    self.batch = self._load_data()
    self.store = Store(cfg.store or os.path.join(cfg.output, 'store.sqlite'))
    # Everything besides data, seed and inits that changes a score.
    self.config_key = f'{space!r} weight_init={cfg.weight_init}'
    if set(cfg.proxies) & {'ntk_cond', 'linear_regions'}:  # own networks
      from jaxnas.proxies import supernet_scorer  # pylint: disable=g-import-not-at-top
      self.config_key += supernet_scorer.config_suffix(
          cfg.proxies, cfg.num_classes, cfg.region_inputs, cfg.region_batch)

  def _load_data(self):
    cfg = self.cfg
    try:
      batch = data_lib.load_batch(cfg.data, cfg.batch_size, cfg.shuffle,
                                  cfg.seed, cfg.norm, cfg.data_dir)
    except DataError as e:
      if not cfg.data_fallback:
        raise
      note = (f'{e}; falling back to --data=synthetic (uniform noise images, '
              'CIFAR-10 normalisation)')
      log(f'WARNING: {note}')
      batch = data_lib.load_batch('synthetic', cfg.batch_size, False,
                                  cfg.seed, cfg.norm)
      batch = dataclasses.replace(batch, note=note)
    log(f'data: {batch.source}, {batch.images.shape[0]} images '
        f'{list(batch.images.shape[1:])}, norm={batch.norm}, fingerprint '
        f'{batch.fingerprint}')
    return batch

  def _load_table(self, flag: str) -> None:
    if not flag.startswith('csv:'):
      raise JaxnasError(f'--score_table={flag!r}: expected csv:PATH')
    path = flag[4:]
    if not os.path.exists(path):
      raise JaxnasError(f'--score_table csv:{path}: file not found')
    self.table = {}
    with open(path, newline='') as f:
      reader = csv.DictReader(f)
      if 'arch' not in (reader.fieldnames or []):
        raise JaxnasError(f'--score_table csv:{path}: no "arch" column')
      missing = [p for p in self.cfg.proxies if p not in reader.fieldnames]
      if missing:
        raise JaxnasError(f'--score_table csv:{path}: no column for proxy '
                          f'{missing[0]!r}')
      for row in reader:
        rec = {p: (float(row[p]) if row[p] not in ('', 'nan', 'None')
                   else None) for p in self.cfg.proxies}
        rec['seconds'] = float(row.get('seconds') or 0.0)
        self.table[row['arch']] = rec

  def data_info(self) -> dict[str, Any]:
    if self.batch is None:
      return {'score_table': self.cfg.score_table}
    return {'data': self.batch.source, 'norm': self.batch.norm,
            'data_fingerprint': self.batch.fingerprint,
            'data_note': self.batch.note}

  def _scorer(self, proxy_name: str):
    if proxy_name not in self.scorers:
      from jaxnas import engine  # pylint: disable=g-import-not-at-top
      from jaxnas.proxies import get_proxy  # pylint: disable=g-import-not-at-top
      proxy, cfg = get_proxy(proxy_name), self.cfg
      if proxy.scorer is not None:  # TE-NAS proxies: their own networks
        self.scorers[proxy_name] = proxy.scorer(
            self.space, proxy, cfg.inits, cfg.map_batch, cfg.weight_init,
            cfg.devices, num_classes=cfg.num_classes,
            region_inputs=cfg.region_inputs, region_batch=cfg.region_batch)
      else:
        self.scorers[proxy_name] = engine.Scorer(
            self.space, proxy, cfg.inits, cfg.map_batch, cfg.weight_init,
            cfg.devices, balance=True)
    return self.scorers[proxy_name]

  def _key(self, proxy: str) -> tuple:
    return (self.space.name, proxy, self.cfg.seed, self.batch.fingerprint,
            self.cfg.inits, self.config_key)

  def records(self, archs: Sequence[Any],
              log_path: str | None = None) -> list[dict[str, Any]]:
    """One record per arch (all proxies), computing what is not stored.

    Records are appended to ``log_path`` (JSON lines) as they complete.
    """
    if self.table is not None:
      return [self._table_record(a) for a in archs]
    import jax  # pylint: disable=g-import-not-at-top
    cfg, space = self.cfg, self.space
    names = [space.format(a) for a in archs]
    unique = list(dict.fromkeys(names))
    by_name = dict(zip(names, archs))
    jl = self._log(log_path) if log_path else None
    results: dict[str, dict[str, dict]] = {n: {} for n in unique}
    for proxy in cfg.proxies:
      space_name, _, seed, fp, inits, conf = self._key(proxy)
      if len(unique) <= 64:  # a few lookups beat reading the whole table
        stored = {n: r for n in unique if (r := self.store.get(
            space_name, n, proxy, seed, fp, inits, conf)) is not None}
      else:
        stored = self.store.get_all(space_name, proxy, seed, fp, inits, conf)
      todo = []
      for n in unique:
        if n in stored:
          results[n][proxy] = stored[n]
        else:
          todo.append(n)
      if jl is not None:  # catch the log up with stored work
        for n in unique:
          if len(results[n]) == len(cfg.proxies):
            self._emit(jl, n, results[n])
      if not todo:
        continue
      log(f'{proxy}: {len(unique) - len(todo)} stored, {len(todo)} to score')
      scorer = self._scorer(proxy)
      progress = Progress(len(todo), f'{proxy} scoring', cfg.progress_seconds)
      seed_key = jax.random.PRNGKey(cfg.seed)
      for res in scorer.score(seed_key, [by_name[n] for n in todo],
                              self.batch.images):
        name = space.format(res.arch)  # may come in completion order
        rec = {'value': res.mean, 'std': res.std, 'each': res.values,
               'seconds': res.seconds}
        if res.note:
          rec['note'] = res.note
        self.store.put(space_name, name, proxy, seed, fp, inits, conf, rec)
        results[name][proxy] = rec
        if jl is not None and len(results[name]) == len(cfg.proxies):
          self._emit(jl, name, results[name])
        progress.update()
      log(f'{proxy}: {scorer.traces} trace(s), compile '
          f'{scorer.compile_seconds:.1f} s')
    return [self._flatten(n, results[n]) for n in names]

  def _log(self, path: str) -> JsonlLog:
    """The JSON-lines log at ``path``, opened (and imported) once."""
    if path not in self.logs:
      self.logs[path] = JsonlLog(path, ('space', 'arch', 'seed',
                                        'data_fingerprint', 'inits',
                                        'network', 'proxies'))
      self._import_log(path)
    return self.logs[path]

  def _import_log(self, log_path: str) -> None:
    """Stores the results of an existing scores.jsonl made with this exact
    configuration (e.g. committed from a run on another machine), so a
    rerun resumes from it even without the SQLite file."""
    if not os.path.exists(log_path):
      return
    with open(log_path) as f:
      lines = [json.loads(l) for l in f if l.strip()]
    imported = 0
    for rec in lines:
      if (rec.get('space'), rec.get('seed'), rec.get('data_fingerprint'),
          rec.get('inits'), rec.get('network')) != (
              self.space.name, self.cfg.seed, self.batch.fingerprint,
              self.cfg.inits, self.config_key):
        continue
      for proxy in rec.get('proxies', []):
        if proxy not in self.cfg.proxies or proxy not in rec:
          continue
        key = self._key(proxy)
        if self.store.get(key[0], rec['arch'], *key[1:]) is not None:
          continue
        value = rec[proxy]
        stored = {'value': value, 'std': rec.get(f'{proxy}_std', 0.0),
                  'each': rec.get(f'{proxy}_each', [value]),
                  'seconds': rec['seconds'] / len(rec['proxies'])}
        if rec.get('note'):
          stored['note'] = rec['note'].removeprefix(f'{proxy}: ')
        self.store.put(key[0], rec['arch'], *key[1:], stored)
        imported += 1
    if imported:
      log(f'imported {imported} stored result(s) from {log_path}')

  def _flatten(self, name: str, per_proxy: dict[str, dict]) -> dict[str, Any]:
    rec = {'space': self.space.name, 'arch': name, 'seed': self.cfg.seed,
           'inits': self.cfg.inits,
           'data': self.batch.source,
           'data_fingerprint': self.batch.fingerprint,
           'network': self.config_key,
           'proxies': list(self.cfg.proxies)}
    notes, seconds = [], 0.0
    for proxy, r in per_proxy.items():
      rec[proxy] = r['value']
      if self.cfg.inits > 1:
        rec[f'{proxy}_std'] = r['std']
        rec[f'{proxy}_each'] = r['each']
      seconds += r['seconds']
      if r.get('note'):
        notes.append(f'{proxy}: {r["note"]}')
    rec['seconds'] = seconds
    if notes:
      rec['note'] = '; '.join(notes)
    return rec

  def _emit(self, jl: JsonlLog, name: str, per_proxy: dict) -> None:
    rec = self._flatten(name, per_proxy)
    if rec not in jl:
      jl.append(rec)

  def _table_record(self, arch) -> dict[str, Any]:
    name = self.space.format(arch)
    if name not in self.table:
      raise JaxnasError(f'arch {name} is not in --score_table '
                        f'{self.cfg.score_table}')
    rec = {'space': self.space.name, 'arch': name, 'seed': self.cfg.seed}
    rec.update(self.table[name])
    return rec


# --------------------------------------------------------------------------
# Modes.


def write_json(path: str, obj: Any) -> None:
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    json.dump(obj, f, indent=2, allow_nan=False)
    f.write('\n')
  os.replace(tmp, path)


def _write_config(cfg: RunConfig, extra: dict[str, Any]) -> None:
  import jax  # pylint: disable=g-import-not-at-top
  info = {'config': dataclasses.asdict(cfg), 'versions': versions(),
          'devices': [str(d) for d in jax.local_devices()],
          'command': ' '.join(sys.argv)}
  info.update(extra)
  write_json(os.path.join(cfg.output, 'config.json'), info)


def mode_score(cfg: RunConfig) -> list[dict[str, Any]]:
  space = make_space(cfg)
  rng = np.random.default_rng(cfg.seed)
  # With --benchmark, --sample draws from (0: takes all) the cells it covers.
  archs = select_archs(cfg, space, load_benchmark(cfg, space), rng)
  if cfg.arch_order == 'random':
    # A seeded permutation: a partial run is then a uniform sample.
    perm = np.random.default_rng(cfg.seed).permutation(len(archs))
    archs = [archs[i] for i in perm]
  src = ScoreSource(cfg, space)
  _write_config(cfg, src.data_info())
  return src.records(archs, os.path.join(cfg.output, 'scores.jsonl'))


def mode_describe(cfg: RunConfig) -> list[dict[str, Any]]:
  space = make_space(cfg)
  if not cfg.archs:
    rng = np.random.default_rng(cfg.seed)
    lines = [space.format(a) for a in select_archs(cfg, space, None, rng)]
  else:
    if not os.path.exists(cfg.archs):
      raise SpecError(f'--archs file {cfg.archs}: not found')
    with open(cfg.archs) as f:
      lines = [l.strip() for l in f if l.strip() and not l.startswith('#')]
  out = []
  for line in lines:
    try:
      arch = space.parse(line)
    except SpecError as e:
      out.append({'arch': line, 'valid': False, 'error': str(e)})
      continue
    rec = {'arch': space.format(arch), 'valid': True}
    rec.update(space.describe(arch))
    rec['params'] = space.param_count(arch)
    out.append(rec)
  os.makedirs(cfg.output, exist_ok=True)
  with open(os.path.join(cfg.output, 'describe.jsonl'), 'w') as f:
    for rec in out:
      f.write(json.dumps(rec) + '\n')
  return out


def mode_correlate(cfg: RunConfig) -> list[dict[str, Any]]:
  space = make_space(cfg)
  table = load_benchmark(cfg, space)
  if table is None:
    raise JaxnasError('--mode=correlate needs --benchmark=csv:PATH')
  rng = np.random.default_rng(cfg.seed)
  archs = select_archs(cfg, space, table, rng)
  src = ScoreSource(cfg, space)
  _write_config(cfg, src.data_info())
  records = src.records(archs, os.path.join(cfg.output, 'scores.jsonl'))
  out = []
  for proxy in cfg.proxies:
    scores = [r[proxy] for r in records]
    keys = [space.bench_key(space.parse(r['arch'])) for r in records]
    for metric in cfg.metric.split(','):
      acc = [table.value(k, metric) for k in keys]
      try:
        corr = metrics.correlation(scores, acc)
      except ValueError as e:
        raise JaxnasError(f'correlate {proxy} vs {metric}: {e}') from None
      out.append({'proxy': proxy, 'metric': metric, **corr})
      log(f'{proxy} vs {metric}: n={corr["n"]} kendall_tau='
          f'{corr["kendall_tau"]:.3f} spearman={corr["spearman"]:.3f}')
  write_json(os.path.join(cfg.output, 'correlation.json'), out)
  _scatter(os.path.join(cfg.output, 'correlation.png'), records, keys, table,
           cfg, out)
  return out


def _scatter(path: str, records, keys, table, cfg: RunConfig, corr) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  metric = cfg.metric.split(',')[0]
  n = len(cfg.proxies)
  fig, axes = plt.subplots(1, n, figsize=(5 * n, 4), squeeze=False)
  for ax, proxy in zip(axes[0], cfg.proxies):
    pts = [(r[proxy], table.value(k, metric)) for r, k in zip(records, keys)]
    pts = [(s, a) for s, a in pts if s is not None and a is not None]
    if pts:
      s, a = zip(*pts)
      ax.scatter(s, a, s=3, alpha=0.4)
    c = next(c for c in corr if c['proxy'] == proxy and c['metric'] == metric)
    ax.set_title(f'{cfg.space} {proxy}: tau={c["kendall_tau"]:.3f}, '
                 f'rho={c["spearman"]:.3f}, n={c["n"]}')
    ax.set_xlabel(f'{proxy} score')
    ax.set_ylabel(metric)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def mode_search(cfg: RunConfig) -> dict[str, Any]:
  space = make_space(cfg)
  table = load_benchmark(cfg, space)
  os.makedirs(cfg.output, exist_ok=True)
  name = space.format

  def accuracy(arch, metric):
    return None if table is None or arch is None else table.value(
        space.bench_key(arch), metric)

  if cfg.algorithm == 'naswot':
    rng = np.random.default_rng(cfg.seed)
    pool = score_table_pool(cfg, space)
    if pool is None:
      candidates = search_lib.naswot_sample_runs(space, rng, cfg.runs,
                                                 cfg.n_samples)
    else:  # uniform over the scored cells, with replacement
      candidates = [[pool[i] for i in rng.integers(0, len(pool),
                                                   cfg.n_samples)]
                    for _ in range(cfg.runs)]
    proxy = cfg.proxies[0]
    src = ScoreSource(cfg, space)
    _write_config(cfg, src.data_info())
    unique = list({name(a): a for run in candidates for a in run}.values())
    log(f'search: {cfg.runs} runs x {cfg.n_samples} samples, '
        f'{len(unique)} distinct cells to score')
    recs = {r['arch']: r for r in src.records(
        unique, os.path.join(cfg.output, 'scores.jsonl'))}
    runs = search_lib.naswot_search(candidates,
                                    lambda a: recs[name(a)][proxy])
    seconds = [sum(recs[name(a)]['seconds'] for a in c) for c in candidates]
  elif cfg.algorithm in BENCHMARK_SEARCHES:
    if table is None:
      raise JaxnasError(f'--algorithm={cfg.algorithm} needs '
                        '--benchmark=csv:PATH')
    table.check_metric(cfg.search_metric)
    score_fn = None
    if cfg.algorithm == 'area':
      src = ScoreSource(cfg, space)
      _write_config(cfg, src.data_info())
      proxy = cfg.proxies[0]
      log_path = os.path.join(cfg.output, 'scores.jsonl')
      score_fn = lambda cells: [r[proxy] for r in src.records(cells, log_path)]
    else:
      _write_config(cfg, {})
    runs, seconds = benchmark_search(
        cfg, space, lambda a: accuracy(a, cfg.search_metric), score_fn, table)
  elif cfg.algorithm == 'tenas':
    from jaxnas.search import tenas  # pylint: disable=g-import-not-at-top
    _write_config(cfg, {})
    runs, seconds, info = tenas.run_searches(cfg, space, log)
    _write_config(cfg, info)
  else:
    raise JaxnasError(f'unknown --algorithm={cfg.algorithm!r} for '
                      f'{cfg.space}; available: naswot, tenas, '
                      f'{", ".join(BENCHMARK_SEARCHES)}')
  metrics_list = cfg.metric.split(',')
  path = os.path.join(cfg.output, 'search.jsonl')
  with open(path, 'w') as f:
    for r, sec in zip(runs, seconds):
      rec = {'run': r.run, 'algorithm': cfg.algorithm,
             'arch': None if r.arch is None else name(r.arch),
             'score': r.score, 'metric': metrics_list[0],
             'accuracy': accuracy(r.arch, metrics_list[0]),
             'seconds': sec, 'evaluated': r.evaluated}
      for m in metrics_list[1:]:
        rec[m] = accuracy(r.arch, m)
      if r.reused is not None:
        rec['reused'] = r.reused
      if r.note:
        rec['note'] = r.note
      f.write(json.dumps(rec) + '\n')
  summary = {'algorithm': cfg.algorithm, 'runs': cfg.runs, 'metrics': {}}
  # The budget (N samples or lookups) means nothing to TE-NAS's pruning.
  budget = '' if cfg.algorithm == 'tenas' else f' N={cfg.n_samples}'
  if budget:
    summary['n_samples'] = cfg.n_samples
  for m in metrics_list if table is not None else []:
    accs = [accuracy(r.arch, m) for r in runs]
    accs = [a for a in accs if a is not None]
    summary['metrics'][m] = stats = metrics_summary(accs)
    if stats['n']:
      log(f'{cfg.algorithm}{budget} over {cfg.runs} runs: {m} '
          f'{stats["mean"]:.2f} +- {stats["std"]:.2f} (n={stats["n"]})')
  summary['search_seconds_mean'] = float(np.mean(seconds)) if seconds else 0
  write_json(os.path.join(cfg.output, 'search_summary.json'), summary)
  return summary


BENCHMARK_SEARCHES = ('random', 're', 'area', 'reinforce')


def covered_space(space, table: bm.Benchmark):
  """`space` restricted to the cells `table` covers, if it misses any.

  Sampling then draws from the covered cells with a graph and mutation
  retries until the child is covered (see evolution.CoveredSpace); the
  restriction is logged.
  """
  from jaxnas.search import evolution as ev  # pylint: disable=g-import-not-at-top
  if len(table.rows) >= space.num_cells:
    return space
  cells = []
  for row in table.rows.values():
    try:
      cell = space.from_benchmark_row(row)
    except SpecError:
      cell = None
    if cell is not None:
      cells.append(cell)
  log(f'search restricted to the cells {table.path} covers: '
      f'{len(table.rows)} of {space.num_cells} looked up, {len(cells)} '
      'with a graph to sample from; mutations retry until covered')
  return ev.CoveredSpace(space, cells, lambda a: space.bench_key(a) in table)


def benchmark_search(cfg: RunConfig, space, lookup, score_fn, table
                     ) -> tuple[list[search_lib.RunResult], list[float]]:
  """Budgeted searches on trained-accuracy lookups (budget = --n_samples
  distinct lookups; with --dedup a cell isomorphic to one already looked up
  costs nothing). Run r uses the generator default_rng([seed, r])."""
  from jaxnas.search import evolution as ev  # pylint: disable=g-import-not-at-top
  from jaxnas.search import reinforce as rf  # pylint: disable=g-import-not-at-top
  budget, out, seconds = cfg.n_samples, [], []
  space = covered_space(space, table)
  for run in range(cfg.runs):
    rng = np.random.default_rng([cfg.seed, run])
    t0 = time.perf_counter()
    if cfg.algorithm == 'random':
      res = ev.random_search(space, lookup, budget, rng, dedup=cfg.dedup)
    elif cfg.algorithm == 're':
      res = ev.regularized_evolution(space, lookup, budget, rng,
                                     cfg.population, cfg.tournament,
                                     dedup=cfg.dedup)
    elif cfg.algorithm == 'area':
      res = ev.area(space, lookup, budget, rng, score_fn, m=cfg.area_m,
                    keep=cfg.area_keep, tournament=cfg.tournament,
                    dedup=cfg.dedup)
    else:
      if cfg.space != 'nb201':
        raise JaxnasError(f'--algorithm=reinforce is not available for '
                          f'{cfg.space} yet')
      res = rf.reinforce(rf.nb201_decisions(space), lookup, budget, rng,
                         lr=cfg.lr, dedup=cfg.dedup)
    seconds.append(time.perf_counter() - t0)
    out.append(search_lib.RunResult(run, res.arch, res.value, res.queries,
                                    res.note, res.reused))
  return out, seconds


def metrics_summary(values: Sequence[float]) -> dict[str, float]:
  arr = np.asarray(values, np.float64)
  if arr.size == 0:
    return {'mean': None, 'std': None, 'n': 0}
  return {'mean': float(arr.mean()), 'std': float(arr.std()),
          'n': int(arr.size)}


def mode_quickstart(cfg: RunConfig) -> dict[str, Any]:
  """`python run.py`: NASWOT search, N=100 NB201 cells, CIFAR-10 or noise."""
  cfg = dataclasses.replace(cfg, mode='search', algorithm='naswot', runs=1)
  summary = mode_search(cfg)
  with open(os.path.join(cfg.output, 'search.jsonl')) as f:
    best = json.loads(f.readline())
  log(f'best of {cfg.n_samples} NB201 cells by NASWOT: {best["arch"]} '
      f'(score {best["score"]:.2f}); results in {cfg.output}/')
  return summary


def mode_enumerate(cfg: RunConfig) -> dict[str, Any]:
  """Every unique cell of the space, written once to a compact file."""
  if cfg.space != 'nb101':
    space = make_space(cfg)
    n = len(space.enumerate())
    log(f'{cfg.space}: {n} cells (enumerated on the fly, nothing to write)')
    return {'space': cfg.space, 'cells': n}
  from jaxnas.spaces.nb101 import enumeration as nb101  # pylint: disable=g-import-not-at-top
  t0 = time.perf_counter()
  cells = nb101.enumerate_cells(cfg.max_vertices, progress=log)
  seconds = time.perf_counter() - t0
  path = os.path.join(cfg.output, 'nb101_cells.npz')
  nb101.save_enumeration(path, cells)
  out = {'space': 'nb101', 'cells': int(cells.num_cells),
         'max_vertices': cfg.max_vertices, 'seconds': seconds, 'file': path}
  write_json(os.path.join(cfg.output, 'enumerate.json'), out)
  print(f'nb101: {cells.num_cells} unique cells (<= {cfg.max_vertices} '
        f'vertices) in {seconds:.1f} s, written to {path}')
  return out


MODES: dict[str, Callable[[RunConfig], Any]] = {
    'enumerate': mode_enumerate,
    'quickstart': mode_quickstart,
    'score': mode_score,
    'search': mode_search,
    'correlate': mode_correlate,
    'describe': mode_describe,
}


def run(cfg: RunConfig) -> Any:
  if cfg.mode not in MODES:
    raise JaxnasError(f'unknown --mode={cfg.mode!r}; available: '
                      f'{", ".join(MODES)}')
  os.makedirs(cfg.output, exist_ok=True)
  return MODES[cfg.mode](cfg)
