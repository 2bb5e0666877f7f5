"""What the modes share: logging, progress, output files, the space, the
architectures to work on and the ground-truth table."""

from __future__ import annotations

import csv
import importlib.metadata
import json
import math
import os
import platform
import subprocess
import sys
import time
from typing import Any

import numpy as np

from jaxnas import benchmarks as bm
from jaxnas.config import RunConfig
from jaxnas.errors import JaxnasError, SpecError
from jaxnas.spaces import get_space


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
          f'ETA {hms(left)})')


def hms(seconds: float) -> str:
  if not math.isfinite(seconds):
    return '?'
  s = int(round(seconds))
  return f'{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s'


def versions() -> dict[str, str]:
  out = {'python': platform.python_version()}
  for pkg in ('jax', 'jaxlib', 'flax', 'optax', 'numpy', 'neural-tangents',
              'scipy'):
    try:
      out[pkg] = importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
      out[pkg] = 'not installed'
  return out


# Tracked files of these kinds are results (run outputs, tables, notes):
# changing them does not change what a command computes.
RESULT_SUFFIXES = ('.json', '.jsonl', '.csv', '.png', '.md')


def git_revision() -> str | None:
  """The repository's commit (``+dirty`` with uncommitted changes to
  tracked files other than results, so a run rewriting its own committed
  outputs still records a clean revision), or None outside a git
  checkout."""
  root = os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))))
  try:
    rev = subprocess.run(['git', '-C', root, 'rev-parse', 'HEAD'],
                         capture_output=True, text=True, check=True,
                         timeout=10).stdout.strip()
    changed = subprocess.run(['git', '-C', root, 'status', '--porcelain',
                              '--untracked-files=no', '-z'],
                             capture_output=True, text=True, check=True,
                             timeout=10).stdout
  except (OSError, subprocess.SubprocessError):
    return None
  # -z entries: 'XY path', a rename's entry followed by its old path.
  paths = [entry[3:] if entry[2:3] == ' ' else entry
           for entry in changed.split('\0') if entry]
  dirty = any(not p.endswith(RESULT_SUFFIXES) for p in paths)
  return rev + ('+dirty' if dirty else '')


def write_json(path: str, obj: Any) -> None:
  """Writes ``obj`` atomically (a temporary file, then a rename)."""
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    json.dump(obj, f, indent=2, allow_nan=False)
    f.write('\n')
  os.replace(tmp, path)


def is_main(cfg: RunConfig) -> bool:
  """Whether this process writes the run's outputs (the only process, or
  process 0 of several)."""
  return not cfg.process_id


def write_config(cfg: RunConfig, extra: dict[str, Any] | None = None) -> None:
  """``OUTPUT/config.json``: the resolved config, versions, devices, the
  command line, the git revision and ``extra`` (data provenance...).
  Written by process 0 only (its own devices listed) when there are
  several."""
  if not is_main(cfg):
    return
  import jax  # pylint: disable=g-import-not-at-top
  info = {'config': cfg.to_json(), 'versions': versions(),
          'git_revision': git_revision(),
          'devices': [str(d) for d in jax.local_devices()],
          'command': ' '.join(sys.argv)}
  info.update(extra or {})
  write_json(os.path.join(cfg.output, 'config.json'), info)


def make_space(cfg: RunConfig):
  kwargs = {}
  if cfg.channels is not None:
    kwargs['channels'] = cfg.channels
  if cfg.cells_per_stage is not None:
    kwargs['cells_per_stage'] = cfg.cells_per_stage
  return get_space(cfg.space, **kwargs)


def read_lines(path: str) -> list[tuple[int, str]]:
  """``(line number, text)`` of the non-blank, non-comment lines."""
  if not os.path.exists(path):
    raise SpecError(f'--archs file {path}: not found')
  with open(path) as f:
    return [(n, line.strip()) for n, line in enumerate(f, 1)
            if line.strip() and not line.strip().startswith('#')]


def read_archs(space, path: str) -> list[Any]:
  """One architecture a line; blank lines and '#' comments skipped."""
  archs = []
  for n, text in read_lines(path):
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


def benchmark_cells(space, table: bm.Benchmark,
                    allowed: set[str] | None = None) -> list[Any]:
  """The cells of a benchmark's rows (rows without a usable cell skipped,
  and said so), restricted to ``allowed`` names if given."""
  pool, skipped = [], 0
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
    return space.enumerate() if cfg.sample == 0 else space.sample(
        rng, cfg.sample)
  if table is None:
    pool = scored
  else:
    allowed = None if scored is None else {space.format(a) for a in scored}
    pool = benchmark_cells(space, table, allowed)
  if cfg.sample == 0 or cfg.sample >= len(pool):
    return pool
  idx = rng.choice(len(pool), cfg.sample, replace=False)
  return [pool[i] for i in sorted(idx)]


def summary_stats(values) -> dict[str, float | int | None]:
  """Mean, sample standard deviation and count."""
  arr = np.asarray(list(values), np.float64)
  if arr.size == 0:
    return {'mean': None, 'std': None, 'n': 0}
  return {'mean': float(arr.mean()),
          'std': float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
          'n': int(arr.size)}
