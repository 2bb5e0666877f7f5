"""Tables of the NASWOT paper on NB201, from the committed scores.

  python experiments/nb201_naswot/make_tables.py

1. Exports all_cells/scores.jsonl (written by score_all.flags) to scores.csv
   (arch, naswot, note).
2. Runs run.py with correlation.flags, search_n{10,100,1000}.flags and
   random_baseline.flags.
3. Writes RESULTS.md: each number beside the paper's (Mellor et al. 2021).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TOTAL = 15625

PAPER_TAU = {'cifar10_test': 0.574, 'cifar100_test': 0.611,
             'imagenet16_test': 0.549}
# Table 2 (NB201, 500 runs, searched on CIFAR-10): mean, std.
PAPER_SEARCH = {
    10: {'cifar10_valid': (89.14, 1.14), 'cifar10_test': (92.44, 1.13),
         'cifar100_val_naslib': (68.50, 2.03), 'cifar100_test': (68.62, 2.04),
         'imagenet16_val_naslib': (41.09, 3.97),
         'imagenet16_test': (41.31, 4.11)},
    100: {'cifar10_valid': (89.55, 0.89), 'cifar10_test': (92.81, 0.99),
          'cifar100_val_naslib': (69.35, 1.70), 'cifar100_test': (69.48, 1.70),
          'imagenet16_val_naslib': (42.81, 3.05),
          'imagenet16_test': (43.10, 3.16)},
    1000: {'cifar10_valid': (89.69, 0.73), 'cifar10_test': (92.96, 0.81),
           'cifar100_val_naslib': (69.86, 1.21),
           'cifar100_test': (69.98, 1.22),
           'imagenet16_val_naslib': (43.95, 2.05),
           'imagenet16_test': (44.44, 2.10)},
}
PAPER_SEARCH_SECONDS = {10: 3.05, 100: 30.01, 1000: 306.19}
METRICS = ['cifar10_valid', 'cifar10_test', 'cifar100_val_naslib',
           'cifar100_test', 'imagenet16_val_naslib', 'imagenet16_test']


def export_scores() -> int:
  src = os.path.join(HERE, 'all_cells', 'scores.jsonl')
  rows = {}
  with open(src) as f:
    for line in f:
      if line.endswith('\n'):
        r = json.loads(line)
        rows[r['arch']] = r
  with open(os.path.join(HERE, 'scores.csv'), 'w', newline='') as f:
    w = csv.writer(f)
    w.writerow(['arch', 'naswot', 'seconds', 'note'])
    for arch, r in rows.items():
      w.writerow([arch, '' if r['naswot'] is None else repr(r['naswot']),
                  f'{r["seconds"]:.3f}', r.get('note', '')])
  return len(rows)


def tau_with_undefined_lowest() -> list[str]:
  sys.path.insert(0, ROOT)
  from jaxnas import metrics  # pylint: disable=g-import-not-at-top
  gt_path = os.path.join(ROOT, '..', 'shared', 'data',
                         'nb201_ground_truth.csv')
  with open(gt_path, newline='') as f:
    gt = {r['arch_str']: r for r in csv.DictReader(f)}
  with open(os.path.join(HERE, 'scores.csv'), newline='') as f:
    rows = list(csv.DictReader(f))
  scores = [float(r['naswot']) if r['naswot'] else -1e30 for r in rows]
  out = []
  for m in ('cifar10_test', 'cifar10_valid', 'cifar100_test',
            'imagenet16_test'):
    c = metrics.correlation(scores, [float(gt[r['arch']][m]) for r in rows])
    out.append(f'| {m} | {c["n"]} | {c["kendall_tau"]:.3f} | '
               f'{c["spearman"]:.3f} |')
  return out


def run_flags(name: str) -> None:
  cmd = [sys.executable, os.path.join(ROOT, 'run.py'),
         f'--flagfile={os.path.join(HERE, name)}']
  subprocess.run(cmd, cwd=ROOT, check=True)


def main() -> int:
  n = export_scores()
  for name in ('correlation.flags', 'search_n10.flags', 'search_n100.flags',
               'search_n1000.flags', 'random_baseline.flags'):
    run_flags(name)
  corr = json.load(open(os.path.join(HERE, 'correlation', 'correlation.json')))
  coverage = 'all' if n == TOTAL else (
      'a uniform random subset: the run scores cells in a seeded random '
      'order and is resumable')
  lines = ['# NASWOT on NAS-Bench-201: jaxnas beside the paper', '',
           f'Scores: {n} of {TOTAL} cells ({coverage}), first 128 images of the reference CIFAR-10 sample, one '
           'PyTorch-default init per cell (seed 0), batch statistics. '
           'Made by `score_all.flags`, then this script.', '',
           '## Kendall tau (and Spearman) of the score vs trained accuracy',
           '', '| metric | n | Kendall tau | Spearman | paper tau |',
           '|---|---|---|---|---|']
  for c in corr:
    paper = PAPER_TAU.get(c['metric'])
    lines.append(f'| {c["metric"]} | {c["n"]} | {c["kendall_tau"]:.3f} | '
                 f'{c["spearman"]:.3f} | '
                 f'{"" if paper is None else paper} |')
  dropped = corr[0]['n_dropped']
  lines += ['', f'{dropped} cell(s) without a defined score (singular K: '
            'every input gives the same ReLU codes; all are cells with no '
            'input->output path) are left out above. Ranked lowest instead '
            '(the reference\'s slogdet gives them -inf):', '',
            '| metric | n | Kendall tau | Spearman |', '|---|---|---|---|']
  lines += tau_with_undefined_lowest()
  lines += ['',
            '## Search (Algorithm 1), 500 runs, mean +- sample sd of the chosen '
            'cells', '',
            '| N | ' + ' | '.join(METRICS) + ' | mean search s (scoring) |',
            '|---|' + '---|' * (len(METRICS) + 1)]
  for k in (10, 100, 1000):
    s = json.load(open(os.path.join(HERE, f'search_n{k}',
                                    'search_summary.json')))
    ours = ' | '.join(
        f'{s["metrics"][m]["mean"]:.2f}+-{s["metrics"][m]["std"]:.2f}'
        for m in METRICS)
    paper = ' | '.join(f'{PAPER_SEARCH[k][m][0]:.2f}+-{PAPER_SEARCH[k][m][1]:.2f}'
                       for m in METRICS)
    lines.append(f'| {k} (jaxnas) | {ours} | {s["search_seconds_mean"]:.1f} |')
    lines.append(f'| {k} (paper) | {paper} | {PAPER_SEARCH_SECONDS[k]} (GPU) |')
  s = json.load(open(os.path.join(HERE, 'random_baseline',
                                  'search_summary.json')))
  ours = ' | '.join(
      f'{s["metrics"][m]["mean"]:.2f}+-{s["metrics"][m]["std"]:.2f}'
      for m in METRICS)
  lines.append(f'| random cell | {ours} | 0 |')
  lines += ['', 'Validation columns: `cifar10_valid` is NB201\'s cifar10-valid '
            'x-valid accuracy; the CIFAR-100 / ImageNet16-120 validation '
            'columns are NASLib\'s extraction (`*_val_naslib`, see the data '
            'README). Search time is the sum of the chosen run\'s per-cell '
            'scoring seconds on this 2-core CPU (2 XLA CPU devices).', '']
  with open(os.path.join(HERE, 'RESULTS.md'), 'w') as f:
    f.write('\n'.join(lines))
  print('\n'.join(lines))
  return 0


if __name__ == '__main__':
  sys.exit(main())
