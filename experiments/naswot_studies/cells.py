"""The cells of the NASWOT robustness studies, picked from the NB201 ground
truth (no score is looked at).

  python experiments/naswot_studies/cells.py

writes
  cells_percentiles.txt  10 cells, the ones whose cifar10_test accuracy is
                         nearest the 5th, 15th, ..., 95th percentile of all
                         15,625 cells (ties: the first in a permutation
                         seeded with SEED); studies (a), (b), (c).
  cells_300.txt          300 cells drawn uniformly without replacement
                         (numpy default_rng(SEED).choice), in drawn order;
                         study (d).
  cells_60.txt           the first 60 of cells_300.txt (a uniform sample
                         too); the reduced study (d).
  cells_70.txt           cells_percentiles.txt then cells_60.txt; study (c).
"""

from __future__ import annotations

import csv
import os
from typing import Sequence

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
GROUND_TRUTH = os.path.join(HERE, '..', '..', '..', 'shared', 'data',
                            'nb201_ground_truth.csv')
METRIC = 'cifar10_test'
PERCENTILES = tuple(range(5, 100, 10))
SEED = 0


def read_ground_truth(path: str = GROUND_TRUTH) -> dict[str, dict[str, str]]:
  """arch_str -> its row."""
  with open(path, newline='') as f:
    return {r['arch_str']: r for r in csv.DictReader(f)}


def percentile_cells(names: Sequence[str], accuracy: Sequence[float],
                     percentiles: Sequence[float], seed: int) -> list[str]:
  """Per percentile, the cell whose accuracy is nearest that percentile of
  ``accuracy`` (numpy's linear percentile); ties go to the cell first in a
  permutation seeded with ``seed``; a cell is picked at most once."""
  acc = np.asarray(accuracy, np.float64)
  order = np.random.default_rng(seed).permutation(len(acc))
  picked: list[int] = []
  for p in percentiles:
    dist = np.abs(acc[order] - np.percentile(acc, p))
    dist[np.isin(order, picked)] = np.inf
    picked.append(int(order[np.argmin(dist)]))  # argmin: first of the ties
  return [names[i] for i in picked]


def uniform_cells(names: Sequence[str], n: int, seed: int) -> list[str]:
  """``n`` distinct cells, uniformly, in drawn order."""
  idx = np.random.default_rng(seed).choice(len(names), n, replace=False)
  return [names[i] for i in idx]


def main() -> None:
  gt = read_ground_truth()
  names = list(gt)
  acc = [float(gt[a][METRIC]) for a in names]
  files = {
      'cells_percentiles.txt': percentile_cells(names, acc, PERCENTILES, SEED),
      'cells_300.txt': uniform_cells(names, 300, SEED),
  }
  files['cells_60.txt'] = files['cells_300.txt'][:60]
  files['cells_70.txt'] = (files['cells_percentiles.txt'] +
                           files['cells_60.txt'])
  for name, cells in files.items():
    with open(os.path.join(HERE, name), 'w') as f:
      f.write('\n'.join(cells) + '\n')
    print(f'{name}: {len(cells)} cells')


if __name__ == '__main__':
  main()
