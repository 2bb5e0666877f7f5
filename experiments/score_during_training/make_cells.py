"""The 10 NB201 cells of the score-during-training study: one at each of
the 5th, 15th, ..., 95th percentiles of CIFAR-10 test accuracy among the
connected cells of ../shared/data/nb201_ground_truth.csv (rank
round(p * (n - 1)) of the cells sorted by accuracy, then index).

  python experiments/score_during_training/make_cells.py \
      [--data_dir=../shared/data]
writes experiments/score_during_training/cells.txt and cells.csv.
"""

import argparse
import csv
import os

HERE = os.path.dirname(os.path.abspath(__file__))
PERCENTILES = [5, 15, 25, 35, 45, 55, 65, 75, 85, 95]


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--data_dir', default=os.path.join(
      HERE, '..', '..', '..', 'shared', 'data'))
  args = parser.parse_args()
  with open(os.path.join(args.data_dir, 'nb201_ground_truth.csv')) as f:
    rows = [r for r in csv.DictReader(f) if float(r['cifar10_test']) > 10.0]
  rows.sort(key=lambda r: (float(r['cifar10_test']), int(r['index'])))
  picked = [(p, rows[round(p / 100 * (len(rows) - 1))]) for p in PERCENTILES]
  with open(os.path.join(HERE, 'cells.txt'), 'w') as f:
    f.write(''.join(r['arch_str'] + '\n' for _, r in picked))
  with open(os.path.join(HERE, 'cells.csv'), 'w', newline='') as f:
    w = csv.writer(f)
    w.writerow(['percentile', 'index', 'arch_str', 'cifar10_test'])
    for p, r in picked:
      w.writerow([p, r['index'], r['arch_str'], r['cifar10_test']])
  for p, r in picked:
    print(p, r['index'], r['cifar10_test'], r['arch_str'])


if __name__ == '__main__':
  main()
