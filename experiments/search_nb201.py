"""Accuracy vs budget of the benchmark searches on NB201 CIFAR-10 (NumPy).

Searches optimise ``cifar10_valid`` of the ground-truth table; the table
reports the chosen cell's ``cifar10_valid`` and ``cifar10_test`` (mean +- std
over runs) at each budget, with and without dedup, and the mean number of
lookups dedup saved (proposals answered from the cache).

A run stopped after b queries is the same as a run with budget b (no search
here looks at its budget except to stop), so one run at the largest budget
gives every column.

AREA's training-free score is, for now, the published
``naswot_v1_jacov_cifar10`` column of nb201_proxies_all.csv (joined on
``index``).

Usage: python experiments/search_nb201.py [--data=/work/shared/data]
       [--runs=200] [--budgets=100,300]
"""

import argparse
import csv
import importlib.util
import os
import sys
import time

import numpy as np

from jaxnas.search import evolution as ev
from jaxnas.search import reinforce as rf


def load_nb201_spec():
  """jaxnas.spaces.nb201.spec without the package (whose __init__ imports
  JAX for the network)."""
  import jaxnas  # pylint: disable=g-import-not-at-top
  path = os.path.join(os.path.dirname(jaxnas.__file__), 'spaces', 'nb201',
                      'spec.py')
  module_spec = importlib.util.spec_from_file_location('nb201_spec', path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module


spec = load_nb201_spec()


class Space:
  """The NB201 space's search interface (same as NB201Space's)."""

  def sample(self, rng, n):
    return list(spec.sample(rng, n))

  def mutate(self, arch, rng):
    return spec.mutate(arch, rng)

  def iso_key(self, arch):
    return spec.iso_key(arch)

  def format(self, arch):
    return spec.format(arch)


def read_table(data):
  rows = {}
  with open(os.path.join(data, 'nb201_ground_truth.csv'), newline='') as f:
    for row in csv.DictReader(f):
      rows[spec.to_id(spec.parse(row['arch_str']))] = row
  assert len(rows) == spec.NUM_CELLS
  proxy_by_index = {}
  with open(os.path.join(data, 'nb201_proxies_all.csv'), newline='') as f:
    for row in csv.DictReader(f):
      text = row['naswot_v1_jacov_cifar10'].strip()
      proxy_by_index[row['index']] = float(text) if text else None
  col = lambda name: np.array([float(rows[i][name])
                               for i in range(spec.NUM_CELLS)])
  proxy = np.array([np.nan if proxy_by_index.get(rows[i]['index']) is None
                    else proxy_by_index[rows[i]['index']]
                    for i in range(spec.NUM_CELLS)])
  return col('cifar10_valid'), col('cifar10_test'), proxy


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--data', default='/work/shared/data')
  parser.add_argument('--runs', type=int, default=200)
  parser.add_argument('--budgets', default='100,300')
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args()
  budgets = [int(b) for b in args.budgets.split(',')]
  top = max(budgets)
  valid, test, proxy = read_table(args.data)
  print(f'table: best cifar10_valid {valid.max():.2f} (its test '
        f'{test[valid.argmax()]:.2f}); best test {test.max():.2f}; '
        f'proxy defined for {np.isfinite(proxy).sum()} cells')
  lookup = lambda a: float(valid[spec.to_id(a)])
  test_of = lambda a: float(test[spec.to_id(a)])

  def score(a):
    s = proxy[spec.to_id(a)]
    return None if not np.isfinite(s) else float(s)

  space = Space()
  dec = rf.nb201_decisions(space)
  algos = {
      'random': lambda **kw: ev.repeat(ev.random_search, args.runs, args.seed,
                                       space, lookup, top, **kw),
      'RE P10 S3': lambda **kw: ev.repeat(
          ev.regularized_evolution, args.runs, args.seed, space, lookup, top,
          population=10, tournament=3, **kw),
      'RE P20 S5': lambda **kw: ev.repeat(
          ev.regularized_evolution, args.runs, args.seed, space, lookup, top,
          population=20, tournament=5, **kw),
      'AREA M20 K10 S3': lambda **kw: ev.repeat(
          ev.area, args.runs, args.seed, space, lookup, top, score_fn=lambda cells: [score(a) for a in cells],
          m=20, keep=10, tournament=3, **kw),
      'REINFORCE lr0.5': lambda **kw: ev.repeat(
          rf.reinforce, args.runs, args.seed, dec, lookup, top, lr=0.5, **kw),
  }
  print(f'{args.runs} runs; mean +- std of the chosen cell. Last column: '
        'dedup on: mean lookups answered by the cache (saved); dedup off: '
        'mean queries spent on an already-queried class')
  header = f'{"algorithm":18s} {"dedup":5s} {"budget":>6s} ' \
           f'{"c10_valid":>14s} {"c10_test":>14s} {"saved/rep":>9s}'
  print(header)
  print('-' * len(header))
  for name, run in algos.items():
    for dedup in (True, False):
      t0 = time.time()
      results = run(dedup=dedup)
      secs = time.time() - t0
      vs = ev.summarize(results, budgets)
      ts = ev.summarize(results, budgets, metric=test_of)
      for b in budgets:
        if dedup:  # cache hits within the budget: lookups saved
          saved = np.mean([r.reused_within(b) for r in results])
        else:  # queries that repeated an already-queried class: paid twice
          saved = np.mean([b - len({space.iso_key(a) for a in r.archs[:b]})
                           for r in results])
        print(f'{name:18s} {"on" if dedup else "off":5s} {b:6d} '
              f'{vs[b][0]:7.2f}+-{vs[b][1]:4.2f} '
              f'{ts[b][0]:7.2f}+-{ts[b][1]:4.2f} '
              f'{saved:9.1f}' + (f'   ({secs:.1f}s)' if b == top else ''))
  sys.stdout.flush()


if __name__ == '__main__':
  main()
