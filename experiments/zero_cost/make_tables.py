"""Tables of the zero-cost experiments: jaxnas's NASLib suite against
NASLib's published scores (parity) and both against trained accuracies.

  python experiments/zero_cost/make_tables.py [--data_dir=../shared/data]

Reads the ``scores.jsonl`` of the runs in this folder (whichever exist) and
the reference data; writes ``tables.md`` and ``parity.json`` here.
Spearman over the cells where both values are defined (NASLib's sentinels
-1e8 / -inf / empty are undefined); the accuracy columns are computed on
the cells where jaxnas's and NASLib's values are both defined, so the two
columns compare like with like.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os

import numpy as np
from scipy import stats

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SUITE = ('params', 'flops', 'l2_norm', 'synflow', 'snip', 'grad_norm',
         'plain', 'grasp', 'fisher', 'jacov', 'epe_nas', 'naswot', 'zen')
NASLIB_NAME = {'naswot': 'nwot'}
# The parity thresholds: Spearman(jaxnas, NASLib) >= this.
PARITY = {'params': 0.99, 'flops': 0.99, 'synflow': 0.99, 'naswot': 0.95,
          'snip': 0.95, 'grad_norm': 0.95, 'fisher': 0.95, 'l2_norm': 0.90,
          'jacov': 0.90, 'zen': 0.90, 'grasp': 0.70, 'epe_nas': 0.70}
# ... and |Spearman vs accuracy - NASLib's| <= this (0.05 otherwise).
ACC_TOLERANCE = {'grasp': 0.08, 'epe_nas': 0.08, 'plain': 0.08}
RUNS = {  # run folder -> (space, label)
    'nb201_b64': ('nb201', 'NB201, 725 cells, batch 64'),
    'nb201_synflow': ('nb201', 'NB201, 725 cells, synflow after the '
                      'float32 overflow fix'),
    'nb201_b32': ('nb201', 'NB201, 725 cells, batch 32'),
    'nb101_b32': ('nb101', 'NB101, 500 cells, batch 32'),
    'nb101_synflow': ('nb101', 'NB101, 500 cells, synflow after the '
                      'per-site rescaling'),
}


def _float(text) -> float:
  try:
    v = float(text)
  except (TypeError, ValueError):
    return math.nan
  return math.nan if (not math.isfinite(v) or v == -1e8) else v


def _spearman(a, b) -> tuple[float, int]:
  a, b = np.asarray(a, float), np.asarray(b, float)
  ok = np.isfinite(a) & np.isfinite(b)
  if ok.sum() < 3:
    return math.nan, int(ok.sum())
  return float(stats.spearmanr(a[ok], b[ok]).statistic), int(ok.sum())


def reference(space: str, data_dir: str) -> dict[str, dict[str, float]]:
  """arch -> {naslib proxy values, accuracies} for the run's cells."""
  out = {}
  if space == 'nb201':
    truth = {r['arch_str']: r for r in csv.DictReader(open(os.path.join(
        data_dir, 'nb201_ground_truth.csv')))}
    zen = {r['index']: r['zen_cifar10'] for r in csv.DictReader(open(
        os.path.join(data_dir, 'nb201_proxies_all.csv')))}
    for r in csv.DictReader(open(os.path.join(
        data_dir, 'nb201_zc_naslib_subset.csv'))):
      if r['dataset'] != 'cifar10':
        continue
      rec = {p: _float(r[NASLIB_NAME.get(p, p)]) for p in SUITE
             if p != 'zen'}
      rec['zen'] = _float(zen[r['index']])
      rec['val_accuracy'] = _float(r['val_accuracy'])
      rec['cifar10_test'] = _float(truth[r['arch_str']]['cifar10_test'])
      out[r['arch_str']] = rec
  else:
    zen = {r['nb101_hash']: r['zen'] for r in csv.DictReader(open(
        os.path.join(data_dir, 'nb101_zen_naslib.csv')))}
    for r in csv.DictReader(open(os.path.join(data_dir,
                                              'nb101_zc_naslib_500.csv'))):
      rec = {p: _float(r[p]) for p in SUITE if p in r}
      rec['zen'] = _float(zen.get(r['nb101_hash']))
      rec['val_accuracy'] = _float(r['val_accuracy_naslib'])
      out[r['nb101_hash']] = rec
  return out


def _key(space: str, arch: str) -> str:
  if space == 'nb201':
    return arch
  from jaxnas.spaces.nb101 import strings  # pylint: disable=g-import-not-at-top
  return strings.parse(arch).module_hash


def parity(run: str, space: str, data_dir: str) -> dict | None:
  mine = _scores(run, space)
  if mine is None:
    return None
  ref = reference(space, data_dir)
  cells = [k for k in ref if k in mine]
  accs = ['cifar10_test', 'val_accuracy'] if space == 'nb201' else [
      'val_accuracy']
  rows = {}
  for p in SUITE:
    if p not in ref[cells[0]] or p not in mine[cells[0]]:
      continue
    a = [math.nan if mine[c][p] is None else mine[c][p] for c in cells]
    b = [ref[c][p] for c in cells]
    rho, n = _spearman(a, b)
    row = {'spearman_vs_naslib': rho, 'n': n,
           'undefined_jaxnas': sum(1 for v in a if not math.isfinite(v)),
           'undefined_naslib': sum(1 for v in b if not math.isfinite(v))}
    both = [i for i in range(len(cells)) if math.isfinite(a[i]) and
            math.isfinite(b[i])]
    for acc in accs:
      y = [ref[cells[i]][acc] for i in both]
      row[f'jaxnas_vs_{acc}'] = _spearman([a[i] for i in both], y)[0]
      row[f'naslib_vs_{acc}'] = _spearman([b[i] for i in both], y)[0]
    rows[p] = row
  return {'cells': len(cells), 'accuracies': accs, 'proxies': rows}


# Noise ceilings: (run, rerun with another seed on some of its cells).
NOISE = {'nb101_seed1': ('nb101_b32', 'nb101')}


def _scores(run: str, space: str) -> dict[str, dict] | None:
  path = os.path.join(HERE, run, 'scores.jsonl')
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return {_key(space, r['arch']): r for r in map(json.loads, f)}


def noise(rerun: str, run: str, space: str, data_dir: str) -> dict | None:
  """Per proxy of ``rerun``: Spearman of jaxnas with itself under other
  inits (seed 0 vs the rerun's seed), and each against NASLib, on the
  cells both runs scored."""
  a, b = _scores(run, space), _scores(rerun, space)
  if a is None or b is None:
    return None
  ref = reference(space, data_dir)
  cells = [c for c in b if c in a and c in ref]
  rows = {}
  for p in b[cells[0]]['proxies']:
    x = [math.nan if a[c][p] is None else a[c][p] for c in cells]
    y = [math.nan if b[c][p] is None else b[c][p] for c in cells]
    z = [ref[c][p] for c in cells]
    rows[p] = {'seed0_vs_seed1': _spearman(x, y)[0],
               'seed0_vs_naslib': _spearman(x, z)[0],
               'seed1_vs_naslib': _spearman(y, z)[0]}
  return {'cells': len(cells), 'run': run, 'proxies': rows}


def noise_markdown(results: dict) -> str:
  lines = []
  for rerun, res in results.items():
    lines += [f'## Noise ceiling: `{res["run"]}` (seed 0) vs `{rerun}` '
              f'(seed 1), {res["cells"]} cells', '',
              '| proxy | seed 0 vs seed 1 | seed 0 vs NASLib | seed 1 vs '
              'NASLib |', '|---|---|---|---|']
    for p, row in res['proxies'].items():
      lines.append(f'| {p} | {_fmt(row["seed0_vs_seed1"])} | '
                   f'{_fmt(row["seed0_vs_naslib"])} | '
                   f'{_fmt(row["seed1_vs_naslib"])} |')
    lines.append('')
  return '\n'.join(lines)


def _fmt(v) -> str:
  return 'n/a' if v is None or not math.isfinite(v) else f'{v:.3f}'


def markdown(results: dict) -> str:
  lines = ['# Zero-cost suite: jaxnas vs NASLib (generated by make_tables.py)',
           '']
  for run, res in results.items():
    space, label = RUNS[run]
    acc = res['accuracies'][0]
    lines += [f'## {label} (`{run}/scores.jsonl`, {res["cells"]} cells)', '',
              f'| proxy | Spearman vs NASLib | target | n | jaxnas vs '
              f'{acc} | NASLib vs {acc} | diff | tolerance |',
              '|---|---|---|---|---|---|---|---|']
    for p, row in res['proxies'].items():
      mine, theirs = row[f'jaxnas_vs_{acc}'], row[f'naslib_vs_{acc}']
      diff = mine - theirs
      target = PARITY.get(p)
      lines.append(
          f'| {p} | {_fmt(row["spearman_vs_naslib"])} | '
          f'{">= " + str(target) if target else "reported"} | {row["n"]} | '
          f'{_fmt(mine)} | {_fmt(theirs)} | {diff:+.3f} | '
          f'{ACC_TOLERANCE.get(p, 0.05)} |')
    if len(res['accuracies']) > 1:
      other = res['accuracies'][1]
      lines += ['', f'Against NASLib\'s `{other}` (same cells):', '',
                '| proxy | jaxnas | NASLib |', '|---|---|---|']
      for p, row in res['proxies'].items():
        lines.append(f'| {p} | {_fmt(row[f"jaxnas_vs_{other}"])} | '
                     f'{_fmt(row[f"naslib_vs_{other}"])} |')
    lines.append('')
  return '\n'.join(lines)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--data_dir', default=os.environ.get(
      'JAXNAS_REFERENCE_DATA', os.path.join(ROOT, '..', 'shared', 'data')))
  args = parser.parse_args()
  results = {}
  for run, (space, _) in RUNS.items():
    res = parity(run, space, args.data_dir)
    if res is not None:
      results[run] = res
  ceilings = {}
  for rerun, (run, space) in NOISE.items():
    res = noise(rerun, run, space, args.data_dir)
    if res is not None:
      ceilings[rerun] = res
  with open(os.path.join(HERE, 'parity.json'), 'w') as f:
    json.dump({**results, 'noise': ceilings}, f, indent=2)
  text = markdown(results) + noise_markdown(ceilings)
  with open(os.path.join(HERE, 'tables.md'), 'w') as f:
    f.write(text)
  print(text)


if __name__ == '__main__':
  main()
