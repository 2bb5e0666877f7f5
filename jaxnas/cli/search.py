"""``--mode=search``: NASWOT's sample-N-pick-best, the benchmark-driven
searches (random, RE, AREA, REINFORCE) and TE-NAS's pruning; one
``search.jsonl`` line per run and ``search_summary.json``."""

from __future__ import annotations

import json
import os
import time
from typing import Any, Callable

import numpy as np

from jaxnas import search as search_lib
from jaxnas.cli import common
from jaxnas.cli.results import score_source
from jaxnas.config import RunConfig
from jaxnas.errors import JaxnasError, SpecError

BENCHMARK_SEARCHES = ('random', 're', 'area', 'reinforce')


def run(cfg: RunConfig) -> dict[str, Any]:
  space = common.make_space(cfg)
  table = common.load_benchmark(cfg, space)
  if cfg.algorithm == 'naswot':
    runs, seconds = proxy_search(cfg, space)
  elif cfg.algorithm in BENCHMARK_SEARCHES:
    runs, seconds = benchmark_search(cfg, space, table)
  elif cfg.algorithm == 'tenas':
    # pylint: disable=g-import-not-at-top
    from jaxnas.search import tenas_darts, tenas_runs
    common.write_config(cfg)
    runner = (tenas_darts if space.name == 'darts' else tenas_runs)
    runs, seconds, info = runner.run_searches(cfg, space, common.log)
    common.write_config(cfg, info)
  else:
    raise JaxnasError(f'unknown --algorithm={cfg.algorithm!r}')
  return write_results(cfg, space, table, runs, seconds)


def proxy_search(cfg: RunConfig, space):
  """NASWOT Algorithm 1 with the first of ``--proxies`` (its direction):
  each run keeps the best of ``--n_samples`` uniform draws."""
  rng = np.random.default_rng(cfg.seed)
  pool = common.score_table_pool(cfg, space)
  if pool is None:
    candidates = search_lib.naswot_sample_runs(space, rng, cfg.runs,
                                               cfg.n_samples)
  else:  # uniform over the scored cells, with replacement; drawn in the
    # space's id order so the runs do not depend on the file's row order
    pool.sort(key=space.arch_id)
    candidates = [[pool[i] for i in rng.integers(0, len(pool),
                                                 cfg.n_samples)]
                  for _ in range(cfg.runs)]
  src = score_source(cfg, space)
  common.write_config(cfg, src.data_info())
  proxy = src.proxies[0]
  name = space.format
  unique = list({name(a): a for run in candidates for a in run}.values())
  common.log(f'search: {cfg.runs} runs x {cfg.n_samples} samples, '
             f'{len(unique)} distinct cells to score by {proxy.name} '
             f'({"higher" if proxy.higher_is_better else "lower"} is better)')
  recs = {r['arch']: r for r in src.records(
      unique, os.path.join(cfg.output, 'scores.jsonl'))}
  runs = search_lib.naswot_search(candidates,
                                  lambda a: recs[name(a)][proxy.name],
                                  proxy.higher_is_better)
  seconds = [sum(recs[name(a)]['seconds'] for a in c) for c in candidates]
  return runs, seconds


def covered_space(space, table):
  """``space`` restricted to the cells ``table`` covers, if it misses any.

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
  common.log(f'search restricted to the cells {table.path} covers: '
             f'{len(table.rows)} of {space.num_cells} looked up, '
             f'{len(cells)} with a graph to sample from; mutations retry '
             'until covered')
  return ev.CoveredSpace(space, cells, lambda a: space.bench_key(a) in table)


def benchmark_search(cfg: RunConfig, space, table):
  """Budgeted searches on trained-accuracy lookups (budget = --n_samples
  distinct lookups; with --dedup a cell isomorphic to one already looked up
  costs nothing). Run r uses the generator default_rng([seed, r])."""
  from jaxnas.search import evolution as ev  # pylint: disable=g-import-not-at-top
  from jaxnas.search import reinforce as rf  # pylint: disable=g-import-not-at-top
  if table is None:
    raise JaxnasError(f'--algorithm={cfg.algorithm} needs '
                      '--benchmark=csv:PATH')
  table.check_metric(cfg.search_metric)
  if cfg.algorithm == 'reinforce' and cfg.space != 'nb201':
    raise JaxnasError(f'--algorithm=reinforce is not available for '
                      f'{cfg.space} yet')
  score_fn = None
  if cfg.algorithm == 'area':
    src = score_source(cfg, space)
    common.write_config(cfg, src.data_info())
    proxy = src.proxies[0]
    log_path = os.path.join(cfg.output, 'scores.jsonl')
    # Oriented so that higher is better (AREA keeps the highest).
    score_fn = lambda cells: [None if r[proxy.name] is None else
                              proxy.sign() * r[proxy.name]
                              for r in src.records(cells, log_path)]
  else:
    common.write_config(cfg)
  lookup = lambda a: table.value(space.bench_key(a), cfg.search_metric)
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
      res = rf.reinforce(rf.nb201_decisions(space), lookup, budget, rng,
                         lr=cfg.lr, dedup=cfg.dedup)
    seconds.append(time.perf_counter() - t0)
    out.append(search_lib.RunResult(run, res.arch, res.value, res.queries,
                                    res.note, res.reused))
  return out, seconds


def write_results(cfg: RunConfig, space, table, runs, seconds
                  ) -> dict[str, Any]:
  """``search.jsonl`` (one line per run) and ``search_summary.json``."""
  metrics_list = cfg.metric.split(',')

  def accuracy(arch, metric):
    return None if table is None or arch is None else table.value(
        space.bench_key(arch), metric)

  with open(os.path.join(cfg.output, 'search.jsonl'), 'w') as f:
    for r, sec in zip(runs, seconds):
      rec = {'run': r.run, 'algorithm': cfg.algorithm,
             'arch': None if r.arch is None else space.format(r.arch),
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
    accs = [a for r in runs if (a := accuracy(r.arch, m)) is not None]
    summary['metrics'][m] = stats = common.summary_stats(accs)
    if stats['n']:
      common.log(f'{cfg.algorithm}{budget} over {cfg.runs} runs: {m} '
                 f'{stats["mean"]:.2f} +- {stats["std"]:.2f} (sample sd, '
                 f'n={stats["n"]})')
  summary['search_seconds_mean'] = float(np.mean(seconds)) if seconds else 0
  common.write_json(os.path.join(cfg.output, 'search_summary.json'), summary)
  return summary


SearchFn = Callable[[RunConfig, Any], tuple[list, list]]
