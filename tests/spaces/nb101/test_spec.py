"""Tests of jaxnas.spaces.nb101.spec: validation, pruning and the Cell (pure
numpy, no JAX)."""

import numpy as np

from jaxnas.spaces.nb101 import spec
from tests.spaces.nb101.helpers import C1, C3, IN, MP, OUT, chain, raises

# ----------------------------------------------------------------------------
# Validation errors: one line, naming the input and the problem.


def test_malformed_matrices():
  ops3 = [IN, C3, OUT]
  msg = raises('not square: shape \\(3, 4\\)', spec.make_cell,
               np.zeros((3, 4)), ops3)
  assert 'input,conv3x3-bn-relu,output' in msg
  lower = np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]])
  msg = raises('not upper-triangular: entry \\(2, 0\\)', spec.make_cell,
               lower, ops3)
  assert '010/001/100' in msg  # Names the matrix.
  diag = np.array([[0, 1, 0], [0, 1, 1], [0, 0, 0]])
  raises('not upper-triangular: entry \\(1, 1\\)', spec.make_cell, diag, ops3)
  two = np.array([[0, 2, 0], [0, 0, 1], [0, 0, 0]])
  raises('entry \\(0, 1\\) is .*2.* must be 0 or 1', spec.validate, two, ops3)
  raises('non-numeric dtype', spec.validate, [['0', '1'], ['0', '0']],
         [IN, OUT])
  raises('1 vertices, need at least 2', spec.validate, [[0]], [IN])
  raises('2 ops for a 3x3 matrix', spec.validate, np.eye(3, k=1), [IN, OUT])


def test_limits_and_connectivity():
  m, ops = chain([C3] * 6)  # 8 vertices, all on the path.
  raises('8 vertices after pruning, at most 7', spec.make_cell, m, ops)
  dense = np.eye(7, k=1, dtype=int) + np.eye(7, k=2, dtype=int)
  dense[4, 6] = dense[0, 2] = 0
  assert dense.sum() == 9
  spec.validate(dense, [IN] + [C3] * 5 + [OUT])
  dense[0, 2] = 1
  raises('10 edges after pruning, at most 9', spec.validate, dense,
         [IN] + [C3] * 5 + [OUT])
  cut = np.zeros((4, 4), dtype=int)
  cut[0, 1] = cut[2, 3] = 1
  raises('no path from input to output', spec.prune, cut, [IN, C3, C1, OUT])
  raises('no path from input to output', spec.make_cell, np.zeros((2, 2)),
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
  m, ops = chain([C3])
  msg = raises("unknown op 'conv5x5' at vertex 1", spec.validate, m,
               [IN, 'conv5x5', OUT])
  assert 'conv5x5' in msg
  raises("first op is 'conv3x3-bn-relu', must be 'input'", spec.validate, m,
         [C3, C3, OUT])
  raises("last op is 'maxpool3x3', must be 'output'", spec.validate, m,
         [IN, C3, MP])
  raises("op 'input' at interior vertex 1", spec.validate, m, [IN, IN, OUT])
  raises('ops must be a list', spec.validate, m, 'input,c3,output')
  # Unknown names are rejected even on vertices that pruning removes.
  dead = np.zeros((3, 3), dtype=int)
  dead[0, 2] = 1
  raises("unknown op 'bogus'", spec.make_cell, dead, [IN, 'bogus', OUT])


def test_cell_constructor_requires_pruned_valid_spec():
  dead = np.zeros((3, 3), dtype=int)
  dead[0, 2] = dead[0, 1] = 1
  raises('vertices \\[1\\] are not on an input->output path',
         spec.Cell, dead, (IN, C3, OUT))
  cell = spec.Cell(*chain([C3]))
  assert cell.ops == (IN, C3, OUT)
  assert not cell.matrix.flags.writeable


# ----------------------------------------------------------------------------
# Cells of generated specs (used by sampling, mutation and the enumeration).


def test_pruned_or_none_agrees_with_make_cell():
  rng = np.random.default_rng(6)
  valid = 0
  for _ in range(400):
    m = np.triu(rng.integers(0, 2, (7, 7)), 1).astype(np.int8)
    ops = [IN] + [spec.OPS[i] for i in rng.integers(0, 3, 5)] + [OUT]
    cell = spec.pruned_or_none(m, ops)
    if spec.is_valid(m, ops):
      valid += 1
      assert cell == spec.make_cell(m, ops)
    else:
      assert cell is None
  assert 0 < valid < 400


def test_cell_from_code_inverts_bits_and_labels():
  for m, ops in [chain([C3, MP, C1]), chain([]),
                 (np.array([[0, 1, 1], [0, 0, 1], [0, 0, 0]]), [IN, C1, OUT])]:
    cell = spec.make_cell(m, ops)
    assert spec.cell_from_code(cell.bits, cell.labels) == cell
    np.testing.assert_array_equal(
        spec.bits_to_matrix(cell.bits, cell.num_vertices), cell.matrix)
  assert spec.bits_to_matrix(1 << 20, 7)[5, 6] == 1  # The last pair is (5, 6).
