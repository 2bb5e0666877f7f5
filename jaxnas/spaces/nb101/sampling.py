"""Random NB101 cells: the reference sampler and one-step mutation.

:func:`sample` draws as the nasbench examples do (favouring small cells); a
draw uniform over the 423,624 unique cells is
:meth:`jaxnas.spaces.nb101.enumeration.Enumeration.sample`. :func:`mutate`
is the mutation of regularized evolution: one edge flip or one op change
that changes the module hash.
"""

from __future__ import annotations

import numpy as np

from jaxnas.errors import SpecError
from jaxnas.spaces.nb101 import spec


def sample(rng: np.random.Generator) -> spec.Cell:
  """A random valid cell, as the nasbench examples draw one.

  Draws a 7-vertex raw spec uniformly (each upper-triangular edge 0/1, each
  interior op uniform) and redraws until it is valid; returns its pruned form.
  This favours small cells: only ~0.3% of the draws prune to 7 vertices,
  although 85% of the unique cells have 7. For a draw uniform over unique
  cells use ``Enumeration.sample``.
  """
  size = spec.MAX_VERTICES
  while True:
    matrix = np.triu(rng.integers(0, 2, size=(size, size)), 1)
    interior = rng.integers(0, len(spec.OPS), size - 2)
    ops = [spec.INPUT] + [spec.OPS[i] for i in interior] + [spec.OUTPUT]
    cell = spec.pruned_or_none(matrix.astype(np.int8), ops)
    if cell is not None:
      return cell


def _padded(cell: spec.Cell, rng: np.random.Generator):
  """A 7-vertex raw spec that prunes to `cell`.

  Missing vertices are inserted at random interior positions with random ops,
  each with ONE edge (from an earlier or to a later vertex). A single extra
  edge can then bring a padding vertex onto a path, so one mutation can grow
  the cell; without it the padding never lies on a path (k padding vertices
  own k edges, a path through them needs k + 1).

  Returns:
    (int8 matrix [7, 7], list of 7 op names, the positions of `cell`'s
    interior vertices in it).
  """
  num_v, size = cell.num_vertices, spec.MAX_VERTICES
  if num_v == size:
    return (cell.matrix.astype(np.int8), list(cell.ops),
            list(range(1, num_v - 1)))
  slots = np.sort(rng.choice(size - 2, size=num_v - 2, replace=False))
  old_pos = [0] + [1 + int(s) for s in slots] + [size - 1]
  matrix = np.zeros((size, size), dtype=np.int8)
  matrix[np.ix_(old_pos, old_pos)] = cell.matrix
  ops = [spec.OPS[i] for i in rng.integers(0, len(spec.OPS), size)]
  ops[0], ops[-1] = spec.INPUT, spec.OUTPUT
  for v, p in zip(range(num_v), old_pos):
    ops[p] = cell.ops[v]
  for p in sorted(set(range(1, size - 1)) - set(old_pos)):
    if rng.random() < 0.5:
      matrix[rng.integers(0, p), p] = 1
    else:
      matrix[p, rng.integers(p + 1, size)] = 1
  return matrix, ops, old_pos[1:-1]


def mutate(cell: spec.Cell, rng: np.random.Generator, edge_prob: float = 0.5,
           op_prob: float = 0.5, max_attempts: int = 100_000) -> spec.Cell:
  """A one-step mutation of `cell` with a different module hash.

  Each attempt either flips one of the 21 upper-triangular edge slots of a
  7-vertex raw spec that prunes to `cell` (see `_padded`; so small cells can
  grow), or changes the op of one interior vertex of `cell` to another op.
  The two kinds are chosen with relative weights `edge_prob` : `op_prob`
  (a cell without interior vertices always gets an edge flip). Attempts
  that are invalid or keep the hash are redrawn.
  """
  if not isinstance(cell, spec.Cell):
    raise SpecError(f'mutate: expected a Cell, got {type(cell).__name__}')
  if edge_prob < 0 or op_prob < 0 or edge_prob + op_prob <= 0:
    raise SpecError(f'mutate: edge_prob={edge_prob}, op_prob={op_prob} must '
                    'be >= 0 with a positive sum')
  p_edge = edge_prob / (edge_prob + op_prob)
  old = cell.module_hash
  for _ in range(max_attempts):
    matrix, ops, interior = _padded(cell, rng)
    if not interior or rng.random() < p_edge:
      i, j = spec.PAIRS[rng.integers(len(spec.PAIRS))]
      matrix[i, j] ^= 1
    else:
      v = interior[rng.integers(len(interior))]
      others = [op for op in spec.OPS if op != ops[v]]
      ops[v] = others[rng.integers(len(others))]
    new = spec.pruned_or_none(matrix, ops)
    if new is not None and new.module_hash != old:
      return new
  raise SpecError(f'mutate: no valid mutation of {cell} found in '
                  f'{max_attempts} attempts')
