"""Tests of jaxnas.spaces.nb101.hashing: the official module hash, one cell
at a time and batched, against the reference data (pure numpy, no JAX)."""

import csv

import numpy as np

from jaxnas.spaces.nb101 import hashing
from jaxnas.spaces.nb101 import sampling
from jaxnas.spaces.nb101 import spec
from jaxnas.spaces.nb101 import strings
from tests.conftest import reference_file
from tests.spaces.nb101.helpers import C1, C3, IN, MP, OUT
from tests.spaces.nb101.helpers import DATA_HASH, DATA_MATRIX, DATA_OPS
from tests.spaces.nb101.helpers import chain, raises


def _random_cells(rng, n):
  """Random valid cells: half from sample(), half with all 7 vertices live."""
  cells = [sampling.sample(rng) for _ in range(n // 2)]
  while len(cells) < n:
    m = np.triu(rng.random((7, 7)) < 0.15, 1).astype(int)
    for v in range(1, 7):  # Every vertex gets an in- and an out-edge.
      if not m[:v, v].any():
        m[rng.integers(v), v] = 1
    for v in range(5, -1, -1):
      if not m[v, v + 1:].any():
        m[v, rng.integers(v + 1, 7)] = 1
    if m.sum() <= spec.MAX_EDGES:
      inner = [spec.OPS[i] for i in rng.integers(0, 3, 5)]
      cells.append(spec.Cell(m, [IN] + inner + [OUT]))
  return cells


def _random_topological_relabel(cell, rng):
  """The same cell with its vertices in another random topological order."""
  m = cell.matrix
  n = cell.num_vertices
  indeg = m.sum(axis=0).astype(int)
  ready = [0]
  order = []
  while ready:
    # Keep the output last: it is the only sink, so it becomes ready last.
    v = ready.pop(rng.integers(len(ready)))
    order.append(v)
    for w in np.flatnonzero(m[v]):
      indeg[w] -= 1
      if indeg[w] == 0:
        ready.append(int(w))
  assert order[0] == 0 and order[-1] == n - 1 and len(order) == n
  new = m[np.ix_(order, order)]
  return spec.Cell(new, tuple(cell.ops[v] for v in order)), order


# ----------------------------------------------------------------------------
# Hashes against the reference data.


def test_hash_of_known_cell():
  cell = strings.parse_parts(DATA_MATRIX, DATA_OPS)
  assert cell.module_hash == DATA_HASH
  assert hashing.module_hash(cell) == DATA_HASH
  assert hashing.module_hash(cell.matrix, list(cell.ops)) == DATA_HASH
  assert hashing.module_hash(str(cell)) == DATA_HASH
  assert hashing.module_hashes([cell]) == [DATA_HASH]


def test_hash_matches_reference_data_sample():
  with open(reference_file('nb101_valacc_30k.csv'), newline='') as f:
    rows = [r for r in csv.DictReader(f) if r['matrix']]
  assert len(rows) == 10265
  rng = np.random.default_rng(0)
  small = [r for r in rows if int(r['num_vertices']) < 6]  # 93 rows.
  picked = [rows[i] for i in rng.choice(len(rows), 300, replace=False)]
  sample = small + picked
  cells = [strings.parse_parts(r['matrix'], r['ops']) for r in sample]
  for cell, row in zip(cells, sample):
    assert cell.module_hash == row['nb101_hash'], row
    assert cell.num_vertices == int(row['num_vertices'])
    assert cell.matrix_digits == row['matrix']  # Already pruned.
    assert cell.short_ops == row['ops']
  assert hashing.module_hashes(cells) == [r['nb101_hash'] for r in sample]


def test_hash_of_unpruned_naslib_tuples():
  with open(reference_file('nb101_zc_naslib_500.csv'), newline='') as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 500
  cells = [strings.from_naslib(r['naslib_tuple']) for r in rows]
  pruned = sum(c.num_vertices < 7 for c in cells)
  assert pruned > 100  # The tuples really exercise pruning.
  for cell, row in zip(cells, rows):
    assert cell.module_hash == row['nb101_hash'], row
    assert (cell.matrix_digits, cell.short_ops) == (row['matrix'], row['ops'])
  assert hashing.module_hashes(cells) == [r['nb101_hash'] for r in rows]


# ----------------------------------------------------------------------------
# Isomorphism invariance.


def test_topological_relabelling_keeps_hash():
  rng = np.random.default_rng(1)
  cells, moved = _random_cells(rng, 1000), []
  changed = 0
  for cell in cells:
    other, order = _random_topological_relabel(cell, rng)
    changed += order != sorted(order)
    assert other.module_hash == cell.module_hash, (cell, other)
    moved.append(other)
  assert changed > 400  # Most draws did reorder vertices.
  # The batched implementation agrees with the reference one.
  assert hashing.module_hashes(cells + moved) == [c.module_hash
                                                 for c in cells + moved]


def test_non_isomorphic_cells_differ():
  m, ops = chain([C3, C1])
  assert hashing.module_hash(m, ops) != hashing.module_hash(
      m, [IN, C1, C3, OUT])
  # in -> a -> out plus in -> out, versus in -> a -> b -> out.
  skip = np.array([[0, 1, 1], [0, 0, 1], [0, 0, 0]])
  assert hashing.module_hash(skip, [IN, C3, OUT]) != hashing.module_hash(
      *chain([C3]))
  # A diamond versus a cell where one branch skips the last conv.
  a = np.zeros((5, 5), dtype=int)
  a[0, 1] = a[0, 2] = a[1, 3] = a[2, 3] = a[3, 4] = 1
  b = a.copy()
  b[1, 3], b[1, 4] = 0, 1
  cell_a = spec.make_cell(a, [IN, C3, MP, C1, OUT])
  cell_b = spec.make_cell(b, [IN, C3, MP, C1, OUT])
  assert cell_a.module_hash != cell_b.module_hash
  # Same shape, ops swapped between non-symmetric vertices.
  assert cell_b.module_hash != spec.make_cell(b, [IN, MP, C3, C1, OUT]
                                              ).module_hash
  # Swapping two ops on symmetric branches gives the same hash.
  assert cell_a.module_hash == spec.make_cell(a, [IN, MP, C3, C1, OUT]
                                              ).module_hash


def test_module_hash_errors():
  cell = spec.make_cell(*chain([C3]))
  raises('pass either a Cell or \\(matrix, ops\\)', hashing.module_hash,
         cell, [IN, C3, OUT])
  raises('matrix 010/001/000 given without ops', hashing.module_hash,
         cell.matrix)
  raises('item 1 is a str, not a Cell', hashing.module_hashes,
         [cell, str(cell)])
  assert hashing.module_hashes([]) == []
