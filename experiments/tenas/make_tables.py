"""Tables of the TE-NAS paper on NB201 from this directory's runs.

  python experiments/tenas/make_tables.py [DIR]

DIR (default: this directory) holds correlation/ and search_cifar10/.

Reads what correlation.flags and search_cifar10.flags wrote (partial runs
too) and writes RESULTS.md with each number beside the paper's (Chen, Gong &
Wang, ICLR 2021):

* Kendall tau vs accuracy of kappa (ntk_cond), R (linear_regions) and their
  rank sum: rank of kappa ascending + rank of R descending (scipy average
  ranks), so a low sum is a good cell and the paper's tau is negative.
* The 4-seed search: mean +- sample sd of the chosen cells' accuracies and
  the search time (wall seconds of measurement, compilation excluded).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
from scipy import stats

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)

from jaxnas import benchmarks  # pylint: disable=g-import-not-at-top,wrong-import-position

BENCHMARK = os.path.join(ROOT, '..', 'shared', 'data',
                         'nb201_ground_truth.csv')
METRICS = ['cifar10_test', 'cifar10_valid', 'cifar100_test', 'imagenet16_test']
PAPER_TAU = {'ntk_cond': -0.42, 'linear_regions': 0.50, 'rank_sum': -0.64}
PAPER_SEARCH = {'cifar10_test': (93.9, 0.47), 'cifar100_test': (71.24, 0.56),
                'imagenet16_test': (42.38, 0.46)}
PAPER_SECONDS = 1558  # GPU-seconds per search (1080 Ti)


def read_jsonl(path: str) -> list[dict]:
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(l) for l in f if l.endswith('\n') and l.strip()]


def correlation_rows(table, where: str) -> tuple[list[str], int]:
  """Kendall tau per score and metric. The headline leaves out cells whose
  kappa is undefined (noted: singular NTK or no positive eigenvalue, set to
  the reference's 1e5), as every RESULTS file of this repository does for
  undefined scores; the alternative row keeps them at 1e5 (the reference's
  own treatment)."""
  recs = {r['arch']: r for r in read_jsonl(
      os.path.join(where, 'correlation', 'scores.jsonl'))}
  recs = [r for r in recs.values()
          if r.get('ntk_cond') is not None and
          r.get('linear_regions') is not None]
  if len(recs) < 3:
    return [f'(correlation: {len(recs)} cells scored so far)'], len(recs)
  undefined = np.array(['ntk_cond' in (r.get('notes') or {}) or
                        'ntk_cond:' in (r.get('note') or '') for r in recs])
  lines = ['| score | cells | paper tau (C10) | ' + ' | '.join(
      f'tau {m}' for m in METRICS) + ' |',
           '|---|---|---|' + '---|' * len(METRICS)]
  for keep_undefined in (False, True):
    sub = [r for r, u in zip(recs, undefined) if keep_undefined or not u]
    kappa = np.array([r['ntk_cond'] for r in sub])
    regions = np.array([r['linear_regions'] for r in sub])
    scores = {'ntk_cond': kappa, 'linear_regions': regions,
              'rank_sum': stats.rankdata(kappa) + stats.rankdata(-regions)}
    which = 'all, undefined kappa = 1e5' if keep_undefined else 'defined'
    for name, values in scores.items():
      cells = []
      for m in METRICS:
        acc = np.array([np.nan if (v := table.value(r['arch'], m)) is None
                        else v for r in sub])
        ok = np.isfinite(acc)
        cells.append(
            f'{stats.kendalltau(values[ok], acc[ok]).statistic:.3f}')
      lines.append(f'| {name} | {which} ({len(sub)}) | '
                   f'{PAPER_TAU[name]:+.2f} | ' + ' | '.join(cells) + ' |')
  seconds = np.array([r['seconds'] for r in recs])
  lines += ['', f'{len(recs)} cells; kappa undefined (singular NTK or no '
            f'weight gradient reaching the output, see BUILD_NOTES) for '
            f'{int(undefined.sum())}: the headline rows leave them out, the '
            f'rows below keep them at the reference\'s 1e5; '
            f'{np.mean(seconds):.1f} s per cell (both proxies, mean).']
  return lines, len(recs)


def _sd(values: np.ndarray) -> float:
  """Sample standard deviation (0 for one value)."""
  return float(values.std(ddof=1)) if values.size > 1 else 0.0


def search_rows(where: str) -> list[str]:
  runs = read_jsonl(os.path.join(where, 'search_cifar10', 'search.jsonl'))
  if not runs:
    return ['(search: no finished run yet)']
  lines = ['| metric | paper | jaxnas, mean +- sample sd (n runs) |',
           '|---|---|---|']
  for m in METRICS:
    accs = [r.get(m, r['accuracy'] if r['metric'] == m else None)
            for r in runs]
    accs = np.array([a for a in accs if a is not None])
    paper = PAPER_SEARCH.get(m)
    ptxt = f'{paper[0]:.2f} +- {paper[1]:.2f}' if paper else '-'
    ours = (f'{accs.mean():.2f} +- {_sd(accs):.2f} ({accs.size})'
            if accs.size else '-')
    lines.append(f'| {m} | {ptxt} | {ours} |')
  lines += ['', 'All rows are the cells searched on CIFAR-10 images; the '
            'paper searched on each dataset. CIFAR-100 / ImageNet16-120 '
            'data are not available offline here: `search_cifar100.flags` '
            'and `search_imagenet16.flags` run those searches where the '
            'tfds datasets are prepared.']
  secs = np.array([r['seconds'] for r in runs])
  lines += ['', f'Search time: {secs.mean():.0f} +- {_sd(secs):.0f} s per '
            f'search, runs in order ' + ', '.join(f'{s:.0f}' for s in secs)
            + f' s (CPU wall, compilation excluded; a run that shared the '
            f'machine with other jobs took longer; paper '
            f'{PAPER_SECONDS} GPU-s). Cells: ' + ', '.join(
                f'`{r["arch"]}`' for r in runs)]
  return lines


def inits_rows(where: str) -> list[str]:
  """The many-inits check (inits64.py's JSON), if it has been run."""
  path = os.path.join(where, 'inits64.json')
  if not os.path.exists(path):
    return []
  with open(path) as f:
    res = json.load(f)
  if 'engine_compilations' not in res:  # written before inits64.py's keys
    return ['## Many inits of one cell in one compiled call', '',
            '`inits64.json` was written by an older `inits64.py` (no git '
            'revision recorded); rerun `python experiments/tenas/'
            'inits64.py` for this table.']
  lines = ['## Many inits of one cell in one compiled call', '',
           f'`python experiments/tenas/inits64.py`: {res["inits"]} Kaiming '
           f'inits per call ({res.get("unroll_chunk", "all")} written out '
           f'per loop step), NTK batch {res["batch_size"]}, one '
           f'device; {res["engine_compilations"]} program, '
           f'{res["xla_compiles_total"]} XLA compilations in all '
           f'({res["compile_seconds"]:.0f} s compiling), at git revision '
           f'{res["git_revision"]}.', '',
           '| cell | call s | compiles in call | kappa mean +- sd | '
           'R mean +- sd |', '|---|---|---|---|---|']
  for c in res['cells']:
    k, r = c['kappa'], c['regions']
    arch = c['arch'].replace('|', '\\|')  # a pipe would end the cell
    lines.append(f'| `{arch}` | {c["call_seconds"]:.0f} | '
                 f'{c["xla_compiles_during_call"]} | {k["mean"]:.1f} +- '
                 f'{k["std"]:.1f} (n={k["count"]}) | {r["mean"]:.1f} +- '
                 f'{r["std"]:.1f} (n={r["count"]}) |')
  lines += ['', 'The first call includes the compilation.']
  return lines


def main() -> None:
  where = sys.argv[1] if len(sys.argv) > 1 else HERE
  table = benchmarks.Benchmark(BENCHMARK, 'arch_str')
  corr, n = correlation_rows(table, where)
  text = ['# TE-NAS on NAS-Bench-201: results beside the paper', '',
          'Made by `python experiments/tenas/make_tables.py` from '
          '`correlation/` (correlation.flags) and `search_cifar10/` '
          '(search_cifar10.flags).', '',
          f'## Kendall tau vs accuracy ({n} cells)', '', *corr, '',
          '## Search on CIFAR-10 (acceptance: mean CIFAR-10 test >= 93.0)',
          '', *search_rows(where), '', *inits_rows(where)]
  with open(os.path.join(where, 'RESULTS.md'), 'w') as f:
    f.write('\n'.join(text))
  print('\n'.join(text))


if __name__ == '__main__':
  main()
