"""NASWOT on NB101 from the committed scores, beside the paper.

  python experiments/nb101_naswot/make_tables.py

1. Exports graph_cells/scores.jsonl (written by score_graph_cells.flags;
   resumable) to scores.csv (arch, naswot, note).
2. Runs run.py with correlation.flags, search_n100.flags and
   random_baseline.flags.
3. Writes RESULTS.md with each number beside the paper's (Mellor et al.
   2021: Kendall tau 0.285; search N=100 91.77 +- 0.05, random 90.38 +-
   5.51, both CIFAR-10 test accuracy).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TOTAL = 10_265  # graph-carrying rows of nb101_valacc_30k.csv


def export_scores() -> int:
  rows = {}
  with open(os.path.join(HERE, 'graph_cells', 'scores.jsonl')) as f:
    for line in f:
      if line.endswith('\n'):  # a torn last line is not a result
        r = json.loads(line)
        rows[r['arch']] = r
  with open(os.path.join(HERE, 'scores.csv'), 'w', newline='') as f:
    w = csv.writer(f)
    w.writerow(['arch', 'naswot', 'seconds', 'note'])
    for arch, r in rows.items():
      w.writerow([arch, '' if r['naswot'] is None else repr(r['naswot']),
                  f'{r["seconds"]:.3f}', r.get('note', '')])
  return len(rows)


def run_flags(name: str) -> None:
  subprocess.run([sys.executable, os.path.join(ROOT, 'run.py'),
                  f'--flagfile={os.path.join(HERE, name)}'], cwd=ROOT,
                 check=True)


def summary(name: str) -> dict:
  with open(os.path.join(HERE, name, 'search_summary.json')) as f:
    return json.load(f)['metrics']['val_acc_108']


def main() -> int:
  n = export_scores()
  for name in ('correlation.flags', 'search_n100.flags',
               'random_baseline.flags'):
    run_flags(name)
  with open(os.path.join(HERE, 'correlation', 'correlation.json')) as f:
    corr = json.load(f)[0]
  coverage = 'all of them' if n == TOTAL else (
      'a uniform random subset so far: the run scores them in a seeded '
      'random order and resumes where it stopped')
  search, rand = summary('search_n100'), summary('random_baseline')
  lines = [
      '# NASWOT on NAS-Bench-101: jaxnas beside the paper', '',
      f'Scores: {n} of the {TOTAL} graph-carrying cells of '
      f'nb101_valacc_30k.csv ({coverage}); NASWOT\'s NB101 port settings '
      '(stem 16 channels, He-normal fan-out init), first 128 images of the '
      'reference CIFAR-10 sample, one init per cell (seed 0), batch '
      'statistics. Made by `score_graph_cells.flags`, then this script.', '',
      '| quantity | jaxnas | paper |', '|---|---|---|',
      f'| Kendall tau vs val_acc_108 (n={corr["n"]}) | '
      f'{corr["kendall_tau"]:.3f} | 0.285 |',
      f'| Spearman vs val_acc_108 | {corr["spearman"]:.3f} | |',
      f'| NASWOT search N=100, 500 runs (val_acc_108) | '
      f'{search["mean"]:.2f} +- {search["std"]:.2f} | 91.77 +- 0.05 (test) |',
      f'| random cell, 500 runs (val_acc_108) | {rand["mean"]:.2f} +- '
      f'{rand["std"]:.2f} | 90.38 +- 5.51 (test) |', '',
      f'{corr.get("n_dropped", 0)} scored cell(s) without a defined score '
      '(singular K) are left out of the correlation. The reference table '
      'has the validation accuracy at 108 epochs of one training run '
      '(`val_acc_108`: one of NB101\'s three repeats, not their mean), not '
      'the test accuracy the paper reports for searches; the two differ by '
      'about a point in NB101, so compare gaps to the random baseline. '
      '+- is the sample standard deviation over runs.', '']
  count_path = os.path.join(HERE, 'compile_count.json')
  if os.path.exists(count_path):
    with open(count_path) as f:
      cc = json.load(f)
    lines += [
        f'Compilations (`compile_count.py`): scoring {cc["cells"]} cells '
        f'with {cc["distinct_topologies"]} distinct topologies took '
        f'{cc["engine_compilations"]} program and '
        f'{cc["xla_compiles_after_first_cell"]}'
        f' XLA compilations after the first cell, '
        f'{cc["xla_compiles_after_all"]} after all of them '
        f'({cc["scorer_compile_seconds"]:.0f} s of compilation, '
        f'{cc["seconds_total"]:.0f} s in all, {cc["devices"]} device; git '
        f'revision {cc["git_revision"]}).', '']
  with open(os.path.join(HERE, 'RESULTS.md'), 'w') as f:
    f.write('\n'.join(lines))
  print('\n'.join(lines))
  return 0


if __name__ == '__main__':
  sys.exit(main())
