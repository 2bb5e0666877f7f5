"""NASWOT on NB301 cells: Spearman / Kendall of our naswot vs NASLib's nwot
and of both vs val_accuracy, on the cells scored so far
(experiments/darts/naswot_nb301/scores.jsonl). Prints JSON and writes
experiments/darts/naswot_nb301_table.json.

  python experiments/darts/make_tables.py
"""

import csv
import json
import os

from scipy import stats

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, '..', '..', '..', 'shared', 'data',
                    'nb301_zc_naslib_725.csv')


def main():
  with open(DATA, newline='') as f:
    rows = {f"{r['normal']} {r['reduce']}": r for r in csv.DictReader(f)}
  ours, nwot, acc = [], [], []
  with open(os.path.join(HERE, 'naswot_nb301', 'scores.jsonl')) as f:
    for line in f:
      rec = json.loads(line)
      if rec.get('naswot') is None:
        continue
      row = rows[rec['arch']]
      ours.append(rec['naswot'])
      nwot.append(float(row['nwot']))
      acc.append(float(row['val_accuracy']))
  out = {'n': len(ours),
         'naswot_vs_naslib_nwot': {
             'spearman': stats.spearmanr(ours, nwot)[0],
             'kendall': stats.kendalltau(ours, nwot)[0],
             'mean_abs_diff': sum(abs(a - b) for a, b in zip(ours, nwot)) /
                              len(ours)},
         'naswot_vs_val_accuracy': {
             'spearman': stats.spearmanr(ours, acc)[0],
             'kendall': stats.kendalltau(ours, acc)[0]},
         'naslib_nwot_vs_val_accuracy_same_cells': {
             'spearman': stats.spearmanr(nwot, acc)[0],
             'kendall': stats.kendalltau(nwot, acc)[0]}}
  with open(os.path.join(HERE, 'naswot_nb301_table.json'), 'w') as f:
    json.dump(out, f, indent=2)
    f.write('\n')
  print(json.dumps(out, indent=2))


if __name__ == '__main__':
  main()
