"""experiments/naswot_studies: how the cells are picked, how inits are
subsampled."""

import importlib.util
import os

import numpy as np
import pytest

STUDIES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'experiments', 'naswot_studies')


def _module(name):
  spec = importlib.util.spec_from_file_location(
      name, os.path.join(STUDIES, f'{name}.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


cells = _module('cells')


def test_percentile_cells_nearest_accuracy():
  names = [f'c{i}' for i in range(100)]
  acc = np.arange(100.0)[::-1]  # c0 is the best
  # Percentile 5 of 0..99 is 4.95: nearest is 5.0, cell c94.
  assert cells.percentile_cells(names, acc, [5, 95], seed=0) == ['c94', 'c5']


def test_percentile_cells_seeded_tie_break_and_no_repeat():
  names = ['a', 'b', 'c', 'd']
  acc = [1.0, 1.0, 1.0, 2.0]
  order = np.random.default_rng(3).permutation(4)
  first_tied = [names[i] for i in order if i < 3]
  picked = cells.percentile_cells(names, acc, [0, 0, 0], seed=3)
  assert picked == first_tied
  assert {tuple(cells.percentile_cells(names, acc, [0], seed=s))
          for s in range(20)} == {('a',), ('b',), ('c',)}


def test_committed_cell_files_are_what_cells_py_writes():
  if not os.path.exists(cells.GROUND_TRUTH):
    pytest.skip('no NB201 ground truth here')
  gt = cells.read_ground_truth()
  names = list(gt)
  acc = [float(gt[a][cells.METRIC]) for a in names]

  def read(name):
    with open(os.path.join(STUDIES, name)) as f:
      return f.read().split()

  assert read('cells_percentiles.txt') == cells.percentile_cells(
      names, acc, cells.PERCENTILES, cells.SEED)
  assert read('cells_300.txt') == cells.uniform_cells(names, 300, cells.SEED)
  assert read('cells_60.txt') == read('cells_300.txt')[:60]
  assert read('cells_70.txt') == (read('cells_percentiles.txt') +
                                  read('cells_60.txt'))


figures = _module('make_figures')


def test_block_means_first_block_is_first_k_and_partial_block_dropped():
  each = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
  assert figures.block_means(each, 1) == each
  assert figures.block_means(each, 3) == [2.0, 5.0]
  assert figures.block_means(each, 7) == [4.0]
  assert figures.block_means(each, 8) == []


def test_block_means_skip_undefined_inits():
  assert figures.block_means([None, 2.0, None, None], 2) == [2.0, None]
