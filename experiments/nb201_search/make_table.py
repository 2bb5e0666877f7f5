"""Benchmark-driven searches on NB201 CIFAR-10, beside the papers' numbers.

  python experiments/nb201_search/make_table.py            # writes RESULTS.md

Random search, regularised evolution (RE), AREA and REINFORCE optimise
``cifar10_valid`` of the NB201 ground-truth table under a budget of trained-cell
lookups, 500 runs each, with isomorphism deduplication on (a cell whose class
was already looked up costs nothing) and off (the published protocol). The
table reports the chosen cell's ``cifar10_valid`` and ``cifar10_test`` (mean
+- std over runs) at each budget and the budget dedup saves.

AREA's training-free score is jaxnas's own NASWOT score of every cell
(``experiments/nb201_naswot/scores.csv``, made by ``score_all.flags``); a
cell without a defined score (singular K) is never kept.

A run stopped after b queries is the same as a run with budget b (no search
here looks at its budget except to stop), so one run at the largest budget
gives every column. NumPy only; about a minute per algorithm.

Flags: --data (default $JAXNAS_REFERENCE_DATA or ../shared/data), --runs,
--budgets, --seed, --output.
"""

import argparse
import csv
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)

from jaxnas.cli import common  # pylint: disable=g-import-not-at-top,wrong-import-position
from jaxnas.search import evolution as ev  # pylint: disable=g-import-not-at-top,wrong-import-position
from jaxnas.search import reinforce as rf  # pylint: disable=g-import-not-at-top,wrong-import-position
from jaxnas.spaces.nb201 import NB201Space  # pylint: disable=g-import-not-at-top,wrong-import-position
from jaxnas.spaces.nb201 import spec  # pylint: disable=g-import-not-at-top,wrong-import-position

# Published NB201 CIFAR-10 numbers (valid = x-valid of 'cifar10-valid',
# test = 'cifar10' test), mean +- std. Their budget is simulated training
# time (12,000 s of the benchmark's per-cell time), not a number of lookups.
PAPERS = [
    ('random', 'Dong & Yang 2020, Table 5 (RS)', (90.93, 0.36), (93.70, 0.36)),
    ('RE', 'Dong & Yang 2020, Table 5 (REA)', (91.19, 0.31), (93.92, 0.30)),
    ('REINFORCE', 'Dong & Yang 2020, Table 5', (91.09, 0.37), (93.85, 0.37)),
    ('AREA', 'Mellor et al. 2021, Table 2', (91.20, 0.27), None),
]


def read_columns(data: str) -> tuple[np.ndarray, np.ndarray]:
  valid = np.full(spec.NUM_CELLS, np.nan)
  test = np.full(spec.NUM_CELLS, np.nan)
  with open(os.path.join(data, 'nb201_ground_truth.csv'), newline='') as f:
    for row in csv.DictReader(f):
      i = spec.to_id(spec.parse(row['arch_str']))
      valid[i], test[i] = float(row['cifar10_valid']), float(row['cifar10_test'])
  if np.isnan(valid).any():
    raise SystemExit('nb201_ground_truth.csv does not cover every cell')
  return valid, test


def read_scores(path: str) -> np.ndarray:
  if not os.path.exists(path):
    raise SystemExit(f'{path}: not found; run experiments/nb201_naswot/'
                     'make_tables.py after score_all.flags first')
  scores = np.full(spec.NUM_CELLS, np.nan)
  seen = np.zeros(spec.NUM_CELLS, bool)
  with open(path, newline='') as f:
    for row in csv.DictReader(f):
      i = spec.to_id(spec.parse(row['arch']))
      seen[i] = True
      if row['naswot'].strip():
        scores[i] = float(row['naswot'])
  if not seen.all():
    raise SystemExit(f'{path}: {int((~seen).sum())} cells missing')
  return scores


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--data', default=os.environ.get(
      'JAXNAS_REFERENCE_DATA', os.path.join(ROOT, '..', 'shared', 'data')))
  parser.add_argument('--scores', default=os.path.join(
      ROOT, 'experiments', 'nb201_naswot', 'scores.csv'))
  parser.add_argument('--runs', type=int, default=500)
  parser.add_argument('--budgets', default='25,50,100,300')
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--output', default=os.path.join(HERE, 'RESULTS.md'))
  parser.add_argument('--runs_output', default=os.path.join(HERE,
                                                            'runs.jsonl'),
                      help='every run: its chosen cell and accuracies at '
                      'each budget (the table is made from these)')
  args = parser.parse_args()
  budgets = [int(b) for b in args.budgets.split(',')]
  top = max(budgets)
  valid, test = read_columns(args.data)
  naswot = read_scores(args.scores)
  lookup = lambda a: float(valid[spec.to_id(a)])
  test_of = lambda a: float(test[spec.to_id(a)])

  def score(cells):
    out = naswot[[spec.to_id(a) for a in cells]]
    return [None if np.isnan(s) else float(s) for s in out]

  space = NB201Space()
  decisions = rf.nb201_decisions(space)
  repeat = lambda fn, *a, **kw: ev.repeat(fn, args.runs, args.seed, *a, **kw)
  algos = {
      'random': lambda **kw: repeat(ev.random_search, space, lookup, top, **kw),
      'RE P10 S3': lambda **kw: repeat(
          ev.regularized_evolution, space, lookup, top, population=10,
          tournament=3, **kw),
      'RE P100 S10': lambda **kw: repeat(
          ev.regularized_evolution, space, lookup, top, population=100,
          tournament=10, **kw),
      'AREA M20 K10 S3 (NASWOT)': lambda **kw: repeat(
          ev.area, space, lookup, top, score_fn=score, m=20, keep=10,
          tournament=3, **kw),
      'REINFORCE lr 0.5': lambda **kw: repeat(
          rf.reinforce, decisions, lookup, top, lr=0.5, **kw),
  }
  best = int(np.argmax(valid))
  lines = [
      '# Benchmark-driven searches on NB201 (CIFAR-10)', '',
      'Made by `python experiments/nb201_search/make_table.py` '
      f'(runs={args.runs}, budgets={args.budgets}, seed={args.seed}) at git '
      f'revision {common.git_revision()}. Each '
      'search optimises `cifar10_valid` with a budget of trained-cell '
      'lookups; mean +- sample sd over runs of the chosen cell (every run: '
      '`runs.jsonl`). AREA uses '
      "jaxnas's NASWOT score of every cell (experiments/nb201_naswot). "
      f'Best cell of the table: valid {valid[best]:.2f}, its test '
      f'{test[best]:.2f}.', '',
      '"saved" (dedup on): mean lookups answered by the isomorphism cache '
      'within the budget, i.e. budget a non-deduplicating search would have '
      'spent on repeats. "repeats" (dedup off): mean queries that looked up '
      'a class already looked up in the same run.', '',
      '| algorithm | dedup | budget | cifar10_valid | cifar10_test | saved / '
      'repeats | seconds (all runs) |',
      '|---|---|---|---|---|---|---|']
  valid_at = {}  # (name, dedup, budget) -> chosen cells' cifar10_valid
  runs_file = open(args.runs_output, 'w')
  for name, run in algos.items():
    for dedup in (True, False):
      t0 = time.perf_counter()
      results = run(dedup=dedup)
      secs = time.perf_counter() - t0
      for i, r in enumerate(results):
        at = {}
        for b in budgets:
          arch = r.best_arch_at(b)
          at[str(b)] = {'arch': None if arch is None else spec.format(arch),
                        'cifar10_valid': r.best_at(b),
                        'cifar10_test': None if arch is None else
                        test_of(arch)}
        runs_file.write(json.dumps({'algorithm': name, 'dedup': dedup,
                                    'run': i, 'queries': r.queries,
                                    'reused': r.reused, 'at_budget': at})
                        + '\n')
      for b in budgets:
        valid_at[name, dedup, b] = np.array([r.best_at(b) for r in results])
      vs = ev.summarize(results, budgets)
      ts = ev.summarize(results, budgets, metric=test_of)
      for b in budgets:
        if dedup:
          saved = np.mean([r.reused_within(b) for r in results])
        else:
          saved = np.mean([b - len({space.iso_key(a) for a in r.archs[:b]})
                           for r in results])
        line = (f'| {name} | {"on" if dedup else "off"} | {b} | '
                f'{vs[b][0]:.2f} +- {vs[b][1]:.2f} | '
                f'{ts[b][0]:.2f} +- {ts[b][1]:.2f} | {saved:.1f} | '
                f'{secs:.0f} |')
        lines.append(line)
        print(line, flush=True)
  lines += ['', '## Against random search at equal budget (dedup on)', '',
            '| algorithm | budget | mean gain in cifar10_valid | standard '
            'error |', '|---|---|---|---|']
  for name in list(algos)[1:]:
    for b in budgets:
      a, r = valid_at[name, True, b], valid_at['random', True, b]
      se = np.sqrt(a.var(ddof=1) / len(a) + r.var(ddof=1) / len(r))
      lines.append(f'| {name} | {b} | {a.mean() - r.mean():+.3f} | '
                   f'{se:.3f} |')
  lines += [
      '', '## The papers (budget: 12,000 s of simulated training time)', '',
      '| algorithm | source | cifar10_valid | cifar10_test |', '|---|---|---|---|']
  for name, source, v, t in PAPERS:
    fmt = lambda x: '' if x is None else f'{x[0]:.2f} +- {x[1]:.2f}'
    lines.append(f'| {name} | {source} | {fmt(v)} | {fmt(t)} |')
  lines += [
      '', 'Protocol differences: the papers give each search a simulated '
      'training-time budget and (NB201) search on the accuracy after 12 '
      'epochs; here the budget is a number of lookups and the searched value '
      'is the final `cifar10_valid`, so compare orderings and gaps rather '
      'than absolute values. The papers do not deduplicate isomorphic cells.']
  runs_file.close()
  with open(args.output, 'w') as f:
    f.write('\n'.join(lines) + '\n')
  print(f'wrote {args.output} and {args.runs_output}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
