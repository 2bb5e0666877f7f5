"""Tests of jaxnas.spaces.nb101.sampling: the reference sampler and mutation."""

import numpy as np

from jaxnas.spaces.nb101 import sampling
from jaxnas.spaces.nb101 import spec
from tests.spaces.nb101.helpers import C1, C3, IN, OUT, chain, raises


def test_sample_valid():
  rng = np.random.default_rng(3)
  cells = [sampling.sample(rng) for _ in range(300)]
  for cell in cells:
    again = spec.Cell(cell.matrix, cell.ops)  # Re-validates.
    assert again == cell
    assert cell.num_vertices <= 7 and cell.num_edges <= 9
  # Like the nasbench examples' sampler, this favours small pruned cells.
  assert {c.num_vertices for c in cells} >= {2, 3, 4, 5, 6}
  assert len({c.module_hash for c in cells}) > 150


def test_mutate_valid_and_different():
  rng = np.random.default_rng(4)
  for _ in range(200):
    cell = sampling.sample(rng)
    child = sampling.mutate(cell, rng)
    assert spec.Cell(child.matrix, child.ops) == child
    assert child.module_hash != cell.module_hash
  # Op-only mutations keep the wiring.
  cell = spec.make_cell(*chain([C3, C1]))
  child = sampling.mutate(cell, rng, edge_prob=0.0, op_prob=1.0)
  np.testing.assert_array_equal(child.matrix, cell.matrix)
  assert child.ops != cell.ops
  # The smallest cell has no op to change; edge flips can grow it.
  tiny = spec.make_cell([[0, 1], [0, 0]], [IN, OUT])
  sizes = {sampling.mutate(tiny, rng, edge_prob=0.0).num_vertices
           for _ in range(20)}
  assert min(sizes) == 3 and sizes <= {3, 4, 5, 6, 7}


def test_mutate_errors():
  cell = spec.make_cell(*chain([C3]))
  rng = np.random.default_rng(0)
  raises('mutate: expected a Cell, got str', sampling.mutate, str(cell), rng)
  raises('edge_prob=0, op_prob=0 must be >= 0 with a positive sum',
         sampling.mutate, cell, rng, 0, 0)
