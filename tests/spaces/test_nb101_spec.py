"""Tests of jaxnas.spaces.nb101.spec (pure numpy, no JAX)."""

import csv
import itertools
import os

import numpy as np
import pytest

from jaxnas.errors import DataError, SpecError
from jaxnas.spaces.nb101 import spec

C3, C1, MP = spec.OPS
IN, OUT = spec.INPUT, spec.OUTPUT

# A 7-vertex cell from the NB101 data (hash 0000718c96730a92ea6d5242f8ce77e2).
DATA_MATRIX = '0100000001000000010000000111000001000000010000000'
DATA_OPS = 'in-c1-c1-c3-c1-c3-out'
DATA_HASH = '0000718c96730a92ea6d5242f8ce77e2'


def _chain(ops):
  """A path input -> ops... -> output."""
  n = len(ops) + 2
  return np.eye(n, k=1, dtype=int), [IN] + list(ops) + [OUT]


def _random_cells(rng, n):
  """Random valid cells: half from sample(), half with all 7 vertices live."""
  cells = [spec.sample(rng) for _ in range(n // 2)]
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


def _data_path(name):
  root = os.environ.get('JAXNAS_REFERENCE_DATA')
  if not root:
    pytest.skip('JAXNAS_REFERENCE_DATA is not set (directory of the NB101 '
                'reference CSVs)')
  path = os.path.join(root, name)
  if not os.path.isfile(path):
    pytest.fail(f'JAXNAS_REFERENCE_DATA is set but {path} does not exist')
  return path


def test_hash_of_known_cell():
  cell = spec.parse_parts(DATA_MATRIX, DATA_OPS)
  assert cell.module_hash == DATA_HASH
  assert spec.module_hash(cell) == DATA_HASH
  assert spec.module_hash(cell.matrix, list(cell.ops)) == DATA_HASH
  assert spec.module_hash(str(cell)) == DATA_HASH
  assert spec.module_hashes([cell]) == [DATA_HASH]


def test_hash_matches_reference_data_sample():
  with open(_data_path('nb101_valacc_30k.csv'), newline='') as f:
    rows = [r for r in csv.DictReader(f) if r['matrix']]
  assert len(rows) == 10265
  rng = np.random.default_rng(0)
  small = [r for r in rows if int(r['num_vertices']) < 6]  # 93 rows.
  picked = [rows[i] for i in rng.choice(len(rows), 300, replace=False)]
  sample = small + picked
  cells = [spec.parse_parts(r['matrix'], r['ops']) for r in sample]
  for cell, row in zip(cells, sample):
    assert cell.module_hash == row['nb101_hash'], row
    assert cell.num_vertices == int(row['num_vertices'])
    assert cell.matrix_digits == row['matrix']  # Already pruned.
    assert cell.short_ops == row['ops']
  assert spec.module_hashes(cells) == [r['nb101_hash'] for r in sample]


def test_hash_of_unpruned_naslib_tuples():
  with open(_data_path('nb101_zc_naslib_500.csv'), newline='') as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 500
  cells = [spec.from_naslib(r['naslib_tuple']) for r in rows]
  pruned = sum(c.num_vertices < 7 for c in cells)
  assert pruned > 100  # The tuples really exercise pruning.
  for cell, row in zip(cells, rows):
    assert cell.module_hash == row['nb101_hash'], row
    assert (cell.matrix_digits, cell.short_ops) == (row['matrix'], row['ops'])
  assert spec.module_hashes(cells) == [r['nb101_hash'] for r in rows]


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
  assert spec.module_hashes(cells + moved) == [c.module_hash
                                              for c in cells + moved]


def test_non_isomorphic_cells_differ():
  m, ops = _chain([C3, C1])
  assert spec.module_hash(m, ops) != spec.module_hash(m, [IN, C1, C3, OUT])
  # in -> a -> out plus in -> out, versus in -> a -> b -> out.
  skip = np.array([[0, 1, 1], [0, 0, 1], [0, 0, 0]])
  assert spec.module_hash(skip, [IN, C3, OUT]) != spec.module_hash(
      *_chain([C3]))
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


# ----------------------------------------------------------------------------
# Validation errors: one line, naming the input and the problem.


def _raises(match, fn, *args):
  with pytest.raises(SpecError, match=match) as info:
    fn(*args)
  message = str(info.value)
  assert '\n' not in message
  return message


def test_malformed_matrices():
  ops3 = [IN, C3, OUT]
  msg = _raises('not square: shape \\(3, 4\\)', spec.make_cell,
                np.zeros((3, 4)), ops3)
  assert 'input,conv3x3-bn-relu,output' in msg
  lower = np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]])
  msg = _raises('not upper-triangular: entry \\(2, 0\\)', spec.make_cell,
                lower, ops3)
  assert '010/001/100' in msg  # Names the matrix.
  diag = np.array([[0, 1, 0], [0, 1, 1], [0, 0, 0]])
  _raises('not upper-triangular: entry \\(1, 1\\)', spec.make_cell, diag, ops3)
  two = np.array([[0, 2, 0], [0, 0, 1], [0, 0, 0]])
  _raises('entry \\(0, 1\\) is .*2.* must be 0 or 1', spec.validate, two, ops3)
  _raises('non-numeric dtype', spec.validate, [['0', '1'], ['0', '0']],
          [IN, OUT])
  _raises('1 vertices, need at least 2', spec.validate, [[0]], [IN])
  _raises('2 ops for a 3x3 matrix', spec.validate, np.eye(3, k=1), [IN, OUT])


def test_limits_and_connectivity():
  m, ops = _chain([C3] * 6)  # 8 vertices, all on the path.
  _raises('8 vertices after pruning, at most 7', spec.make_cell, m, ops)
  dense = np.eye(7, k=1, dtype=int) + np.eye(7, k=2, dtype=int)
  dense[4, 6] = dense[0, 2] = 0
  assert dense.sum() == 9
  spec.validate(dense, [IN] + [C3] * 5 + [OUT])
  dense[0, 2] = 1
  _raises('10 edges after pruning, at most 9', spec.validate, dense,
          [IN] + [C3] * 5 + [OUT])
  cut = np.zeros((4, 4), dtype=int)
  cut[0, 1] = cut[2, 3] = 1
  _raises('no path from input to output', spec.prune, cut, [IN, C3, C1, OUT])
  _raises('no path from input to output', spec.make_cell, np.zeros((2, 2)),
          [IN, OUT])


def test_limits_apply_after_pruning():
  # 8 raw vertices and 10 raw edges, but vertex 6 is a dead end: pruned to 7
  # vertices / 8 edges, so valid (as in the reference NASBench.is_valid).
  m = np.zeros((8, 8), dtype=int)
  for i in range(6):
    m[i, i + 1] = 1
  m[5, 7] = 1
  m[0, 6] = m[1, 6] = m[2, 6] = m[0, 7] = 1
  m[5, 6] = 1
  assert m.sum() == 11
  cell = spec.make_cell(m, [IN] + [C3] * 6 + [OUT])
  assert (cell.num_vertices, cell.num_edges) == (7, 7)
  pruned, ops = spec.prune(m, [IN] + [C3] * 6 + [OUT])
  assert pruned.shape == (7, 7) and ops[-1] == OUT


def test_malformed_ops():
  m, ops = _chain([C3])
  msg = _raises("unknown op 'conv5x5' at vertex 1", spec.validate, m,
                [IN, 'conv5x5', OUT])
  assert 'conv5x5' in msg
  _raises("first op is 'conv3x3-bn-relu', must be 'input'", spec.validate, m,
          [C3, C3, OUT])
  _raises("last op is 'maxpool3x3', must be 'output'", spec.validate, m,
          [IN, C3, MP])
  _raises("op 'input' at interior vertex 1", spec.validate, m, [IN, IN, OUT])
  _raises('ops must be a list', spec.validate, m, 'input,c3,output')
  # Unknown names are rejected even on vertices that pruning removes.
  dead = np.zeros((3, 3), dtype=int)
  dead[0, 2] = 1
  _raises("unknown op 'bogus'", spec.make_cell, dead, [IN, 'bogus', OUT])


def test_cell_constructor_requires_pruned_valid_spec():
  dead = np.zeros((3, 3), dtype=int)
  dead[0, 2] = dead[0, 1] = 1
  _raises('vertices \\[1\\] are not on an input->output path',
          spec.Cell, dead, (IN, C3, OUT))
  cell = spec.Cell(*_chain([C3]))
  assert cell.ops == (IN, C3, OUT)
  assert not cell.matrix.flags.writeable


def test_malformed_strings():
  good = str(spec.make_cell(*_chain([C3])))
  assert good == '010001000 input,conv3x3-bn-relu,output'
  _raises("expected 2 space-separated fields .* got 1", spec.parse,
          '010001000')
  _raises('got 3', spec.parse, good + ' extra')
  _raises("bad matrix digit '2' at position 3", spec.parse,
          '010201000 input,conv3x3-bn-relu,output')
  msg = _raises("has 8 digits, expected 9 for 3 ops", spec.parse,
                '01000100 input,conv3x3-bn-relu,output')
  assert "'01000100'" in msg
  _raises("unknown op 'conv9' \\(token 1", spec.parse,
          '010001000 input,conv9,output')
  _raises("unknown op ''", spec.parse, '010001000 input,,output')
  _raises("unknown op 'c5'", spec.parse, '010001000 in-c5-out')
  _raises('must be a str', spec.parse, b'010001000 in,c3,out')
  _raises("no path from input to output", spec.parse,
          '000000000 in,c3,out')
  _raises('length 5 is not n\\*n \\+ n', spec.from_naslib, '01234')
  _raises('unknown op code 7', spec.from_naslib, '0100' + '07')


# ----------------------------------------------------------------------------
# Strings, sampling, mutation.


def test_parse_format_round_trip():
  rng = np.random.default_rng(2)
  for _ in range(200):
    cell = spec.sample(rng)
    text = spec.format_cell(cell)
    assert str(cell) == text and '\n' not in text
    again = spec.parse(text)
    assert again == cell and hash(again) == hash(cell)
    assert spec.parse(f'{cell.matrix_digits} {cell.short_ops}') == cell
    short_csv = cell.short_ops.replace('-', ',')
    assert spec.parse(f'  {cell.matrix_digits}   {short_csv} ') == cell
    assert repr(cell) == f'Cell({text!r})'
  cell = spec.parse_parts(DATA_MATRIX, DATA_OPS)
  assert spec.format_cell(cell).endswith(
      'input,conv1x1-bn-relu,conv1x1-bn-relu,conv3x3-bn-relu,conv1x1-bn-relu,'
      'conv3x3-bn-relu,output')
  assert cell.pretty().splitlines()[1] == '  0: input -> 1'
  np.testing.assert_array_equal(cell.labels, [-1, 1, 1, 0, 1, 0, -2])


def test_parse_prunes():
  # Vertex 2 is a dead end, pruned away.
  cell = spec.parse('0110 0001 0000 0000'.replace(' ', '') + ' in,c3,mp,out')
  assert cell.ops == (IN, C3, OUT) and cell.num_edges == 2


def test_sample_valid():
  rng = np.random.default_rng(3)
  cells = [spec.sample(rng) for _ in range(300)]
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
    cell = spec.sample(rng)
    child = spec.mutate(cell, rng)
    assert spec.Cell(child.matrix, child.ops) == child
    assert child.module_hash != cell.module_hash
  # Op-only mutations keep the wiring.
  cell = spec.make_cell(*_chain([C3, C1]))
  child = spec.mutate(cell, rng, edge_prob=0.0, op_prob=1.0)
  np.testing.assert_array_equal(child.matrix, cell.matrix)
  assert child.ops != cell.ops
  # The smallest cell has no op to change; edge flips can grow it.
  tiny = spec.make_cell([[0, 1], [0, 0]], [IN, OUT])
  sizes = {spec.mutate(tiny, rng, edge_prob=0.0).num_vertices
           for _ in range(20)}
  assert min(sizes) == 3 and sizes <= {3, 4, 5, 6, 7}


# ----------------------------------------------------------------------------
# Enumeration.


def _brute_force_hashes(max_vertices):
  """Hashes of every raw spec with <= max_vertices vertices, pruned."""
  hashes = set()
  memo = {}
  for n in range(2, max_vertices + 1):
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    for bits in itertools.product((0, 1), repeat=len(pairs)):
      m = np.zeros((n, n), dtype=np.int8)
      for (i, j), b in zip(pairs, bits):
        m[i, j] = b
      for inner in itertools.product(spec.OPS, repeat=n - 2):
        try:
          cell = spec.make_cell(m, (IN,) + inner + (OUT,))
        except SpecError:
          continue
        key = (cell.matrix.tobytes(), cell.ops)
        if key not in memo:
          memo[key] = cell.module_hash
        hashes.add(memo[key])
  return hashes


def test_enumeration_matches_brute_force():
  enum = spec.enumerate_cells(max_vertices=5)
  brute = _brute_force_hashes(5)
  assert len(brute) == 2532
  assert enum.num_cells == len(brute)
  assert set(enum.hashes.tolist()) == brute
  assert list(enum.hashes) == sorted(enum.hashes)
  np.testing.assert_array_equal(np.bincount(enum.num_vertices),
                                [0, 0, 1, 6, 84, 2441])
  for i in range(enum.num_cells):
    cell = enum.cell(i)
    assert cell.module_hash == enum.hashes[i]
    assert enum.find(enum.hashes[i]) == i
  assert enum.find('f' * 32) == -1
  hashes, num_vertices, bits, labels = enum  # It is a tuple of arrays.
  assert labels.shape == (2532, 7) and labels.dtype == np.int8
  assert bits.dtype == np.uint32 and num_vertices.dtype == np.uint8
  assert hashes.dtype.kind == 'U'


def test_enumeration_save_load(tmp_path):
  enum = spec.enumerate_cells(max_vertices=4)
  path = tmp_path / 'nb101.npz'
  spec.save_enumeration(path, enum)
  loaded = spec.load_enumeration(path)
  for a, b in zip(enum, loaded):
    np.testing.assert_array_equal(a, b)
  assert spec.load_or_enumerate(path).num_cells == 91
  with pytest.raises(DataError, match='does not exist'):
    spec.load_enumeration(tmp_path / 'missing.npz')
  bad = tmp_path / 'bad.npz'
  np.savez(bad, digests=np.zeros((2, 16), np.uint8))
  with pytest.raises(DataError, match='not a valid enumeration'):
    spec.load_enumeration(bad)
  with pytest.raises(SpecError, match='max_vertices=8'):
    spec.enumerate_cells(max_vertices=8)
