"""The NAS-Bench-101 cell as plain data (NumPy only, no JAX).

A cell (Ying et al., ICML 2019) is a DAG over at most 7 vertices given by an
upper-triangular 0/1 adjacency matrix (at most 9 edges) and one op per vertex:
vertex 0 is ``'input'``, the last vertex is ``'output'`` and every interior
vertex is one of :data:`OPS`.

Validity and pruning follow the reference ``ModelSpec`` / ``NASBench.is_valid``
of google-research/nasbench:

* the matrix is square, 0/1 and strictly upper-triangular, with one op per
  vertex, ``'input'`` first and ``'output'`` last;
* vertices that are not on an input->output path are removed (pruned); if no
  such path exists the spec is invalid;
* the vertex (<= 7) and edge (<= 9) limits are checked on the PRUNED spec, as
  the reference does. So an 8x8 spec, or one with 10 edges, is valid when its
  pruned form fits.

One deliberate difference: every op name is checked, including ops of vertices
that pruning removes (the reference only checks the pruned ops), since an
unknown name there is almost surely a typo.

A :class:`Cell` is always validated and pruned. Its *module hash*
(:attr:`Cell.module_hash`, the key of every NB101 data file) is the
reference's iterated-md5 graph fingerprint of the pruned spec.

Beside this module: :mod:`~jaxnas.spaces.nb101.strings` (the string form and
NASLib tuples), :mod:`~jaxnas.spaces.nb101.hashing` (module hashes of any
cell form, batched), :mod:`~jaxnas.spaces.nb101.sampling` (random cells) and
:mod:`~jaxnas.spaces.nb101.enumeration` (all 423,624 unique cells).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from typing import Sequence

import numpy as np

from jaxnas.errors import SpecError, one_line

INPUT = 'input'
OUTPUT = 'output'
CONV3X3 = 'conv3x3-bn-relu'
CONV1X1 = 'conv1x1-bn-relu'
MAXPOOL3X3 = 'maxpool3x3'
OPS = (CONV3X3, CONV1X1, MAXPOOL3X3)  # Interior ops; the index is the label.
INPUT_LABEL = -1
OUTPUT_LABEL = -2
PAD_LABEL = -3  # Unused vertex slots in the enumeration's `labels` array.
MAX_VERTICES = 7
MAX_EDGES = 9
NUM_UNIQUE_CELLS = 423_624  # Unique module hashes with <= 7 vertices, 9 edges.

SHORT_NAMES = {'in': INPUT, 'c3': CONV3X3, 'c1': CONV1X1, 'mp': MAXPOOL3X3,
               'out': OUTPUT}
_TO_SHORT = {full: short for short, full in SHORT_NAMES.items()}
ALL_OPS = (INPUT,) + OPS + (OUTPUT,)  # Every full op name a vertex can have.
_OP_LABEL = {INPUT: INPUT_LABEL, OUTPUT: OUTPUT_LABEL,
             **{op: i for i, op in enumerate(OPS)}}
_LABEL_OP = {label: op for op, label in _OP_LABEL.items()}

# Bit layout of a packed matrix (Cell.bits, the enumeration's codes): bit k is
# the edge PAIRS[k] of the 7x7 grid, (0,1), (0,2), ..., (0,6), (1,2), ...,
# (5,6); PAIR_BIT[i, j] is its bit (-1 off the upper triangle). A V-vertex
# cell uses the pairs with j < V (its output is vertex V-1, not 6).
PAIRS = tuple((i, j) for i in range(MAX_VERTICES)
              for j in range(i + 1, MAX_VERTICES))
PAIR_BIT = np.full((MAX_VERTICES, MAX_VERTICES), -1, dtype=np.int64)
for _k, (_i, _j) in enumerate(PAIRS):
  PAIR_BIT[_i, _j] = _k
del _k, _i, _j


# --------------------------------------------------------------------------
# Validation and pruning.


def matrix_text(matrix) -> str:
  """A matrix for an error message: row digits joined by '/' if it is a
  small 0/1 integer matrix, else its repr cut to one line."""
  try:
    arr = np.asarray(matrix)
  except Exception:  # pylint: disable=broad-except
    return one_line(repr(matrix), 100)
  if (arr.ndim == 2 and arr.dtype.kind in 'biu' and arr.size <= 400 and
      ((arr == 0) | (arr == 1)).all()):
    return '/'.join(''.join(str(int(x)) for x in row) for row in arr)
  return one_line(repr(matrix), 100)


def _ops_str(ops) -> str:
  if isinstance(ops, (list, tuple)):
    return one_line(','.join(str(op) for op in ops), 120)
  return one_line(repr(ops), 120)


def _fail(matrix, ops, problem: str):
  raise SpecError(f'NB101 spec (matrix {matrix_text(matrix)}, ops '
                  f'{_ops_str(ops)}): {problem}')


def _check_structure(matrix, ops) -> tuple[np.ndarray, list[str]]:
  """Checks everything but connectivity and limits; returns (int8, full ops)."""
  try:
    arr = np.asarray(matrix)
  except Exception:  # pylint: disable=broad-except
    _fail(matrix, ops, 'matrix is not array-like')
  if arr.dtype.kind not in 'biuf':
    _fail(matrix, ops, f'matrix has non-numeric dtype {arr.dtype}')
  if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
    _fail(matrix, ops, f'matrix is not square: shape {arr.shape}')
  num_v = arr.shape[0]
  if num_v < 2:
    _fail(matrix, ops, f'matrix has {num_v} vertices, need at least 2 '
          '(input and output)')
  bad = ~((arr == 0) | (arr == 1))
  if bad.any():
    i, j = np.argwhere(bad)[0]
    _fail(matrix, ops, f'matrix entry ({i}, {j}) is {arr[i, j].item()!r}, '
          'entries must be 0 or 1')
  arr = arr.astype(np.int8)
  below = np.tril(arr)
  if below.any():
    i, j = np.argwhere(below)[0]
    _fail(matrix, ops, f'matrix is not upper-triangular: entry ({i}, {j}) on '
          'or below the diagonal is 1')
  if isinstance(ops, (str, bytes)) or not hasattr(ops, '__len__'):
    _fail(matrix, ops, 'ops must be a list of op names')
  if len(ops) != num_v:
    _fail(matrix, ops, f'{len(ops)} ops for a {num_v}x{num_v} matrix, need '
          'one op per vertex')
  names = []
  for v, op in enumerate(ops):
    full = SHORT_NAMES.get(op, op) if isinstance(op, str) else None
    if full not in _OP_LABEL:
      _fail(matrix, ops, f'unknown op {op!r} at vertex {v} (known: '
            f'{", ".join(ALL_OPS)} or {", ".join(SHORT_NAMES)})')
    names.append(str(full))
  if names[0] != INPUT:
    _fail(matrix, ops, f"first op is {ops[0]!r}, must be '{INPUT}'")
  if names[-1] != OUTPUT:
    _fail(matrix, ops, f"last op is {ops[-1]!r}, must be '{OUTPUT}'")
  for v in range(1, num_v - 1):
    if names[v] in (INPUT, OUTPUT):
      _fail(matrix, ops, f'op {ops[v]!r} at interior vertex {v}: input/output '
            'are only allowed as the first/last vertex')
  return arr, names


def _live_mask(matrix: np.ndarray) -> np.ndarray:
  """Vertices on some input->output path of an upper-triangular matrix."""
  num_v = matrix.shape[0]
  adj = matrix.astype(bool)
  fwd = np.zeros(num_v, dtype=bool)
  fwd[0] = True
  for v in range(1, num_v):
    fwd[v] = (adj[:v, v] & fwd[:v]).any()
  bwd = np.zeros(num_v, dtype=bool)
  bwd[-1] = True
  for v in range(num_v - 2, -1, -1):
    bwd[v] = (adj[v, v + 1:] & bwd[v + 1:]).any()
  return fwd & bwd


def _prune_checked(matrix, ops, arr, names):
  live = _live_mask(arr)
  if not live[-1]:
    _fail(matrix, ops, 'no path from input to output')
  keep = np.flatnonzero(live)
  return arr[np.ix_(keep, keep)], [names[v] for v in keep]


def _check_limits(matrix, ops, pruned: np.ndarray) -> None:
  num_v = pruned.shape[0]
  if num_v > MAX_VERTICES:
    _fail(matrix, ops, f'{num_v} vertices after pruning, at most '
          f'{MAX_VERTICES} allowed')
  num_e = int(pruned.sum())
  if num_e > MAX_EDGES:
    _fail(matrix, ops, f'{num_e} edges after pruning, at most {MAX_EDGES} '
          'allowed')


def prune(matrix, ops) -> tuple[np.ndarray, list[str]]:
  """Removes the vertices that are not on an input->output path.

  Checks the structure (shape, 0/1, upper-triangular, op names) but not the
  vertex/edge limits.

  Returns:
    (pruned int8 matrix, pruned op list with full op names).

  Raises:
    SpecError: structural problems, or no input->output path.
  """
  arr, names = _check_structure(matrix, ops)
  return _prune_checked(matrix, ops, arr, names)


def validate(matrix, ops) -> None:
  """Raises a one-line SpecError unless (matrix, ops) is a valid NB101 spec.

  Limits (<= 7 vertices, <= 9 edges) apply to the pruned spec, as in the
  reference ``NASBench.is_valid``.
  """
  make_cell(matrix, ops)


def make_cell(matrix, ops) -> 'Cell':
  """Validates and prunes a spec into a :class:`Cell` (SpecError if invalid)."""
  arr, names = _check_structure(matrix, ops)
  pruned, pruned_ops = _prune_checked(matrix, ops, arr, names)
  _check_limits(matrix, ops, pruned)
  return Cell._trusted(pruned, tuple(pruned_ops))  # pylint: disable=protected-access


def is_valid(matrix, ops) -> bool:
  """True iff :func:`make_cell` would succeed."""
  try:
    make_cell(matrix, ops)
  except SpecError:
    return False
  return True


# --------------------------------------------------------------------------
# The Cell.


@dataclasses.dataclass(frozen=True, eq=False)
class Cell:
  """A validated, pruned NB101 cell.

  Attributes:
    matrix: read-only int8 ``(V, V)`` strictly upper-triangular 0/1 matrix.
    ops: ``V`` full op names, ``'input'`` first and ``'output'`` last.

  Constructing ``Cell(matrix, ops)`` directly checks that the spec is valid
  and already pruned; use :func:`make_cell` to prune. Equality and ``hash()``
  compare the exact spec; isomorphic cells share :attr:`module_hash`.
  """
  matrix: np.ndarray
  ops: tuple[str, ...]

  def __post_init__(self):
    arr, names = _check_structure(self.matrix, self.ops)
    pruned, _ = _prune_checked(self.matrix, self.ops, arr, names)
    if pruned.shape != arr.shape:
      dead = np.flatnonzero(~_live_mask(arr)).tolist()
      _fail(self.matrix, self.ops, f'vertices {dead} are not on an '
            'input->output path; use make_cell() to prune')
    _check_limits(self.matrix, self.ops, arr)
    arr = arr.copy()
    arr.setflags(write=False)
    object.__setattr__(self, 'matrix', arr)
    object.__setattr__(self, 'ops', tuple(names))

  @classmethod
  def _trusted(cls, matrix: np.ndarray, ops: tuple[str, ...]) -> 'Cell':
    """Builds a Cell from an already validated, pruned int8 matrix."""
    cell = object.__new__(cls)
    matrix = np.array(matrix, dtype=np.int8)
    matrix.setflags(write=False)
    object.__setattr__(cell, 'matrix', matrix)
    object.__setattr__(cell, 'ops', tuple(ops))
    return cell

  @property
  def num_vertices(self) -> int:
    return self.matrix.shape[0]

  @property
  def num_edges(self) -> int:
    return int(self.matrix.sum())

  @property
  def labels(self) -> np.ndarray:
    """int64 vertex labels: -1 input, op index into OPS, -2 output."""
    return np.array([_OP_LABEL[op] for op in self.ops], dtype=np.int64)

  @property
  def matrix_digits(self) -> str:
    """Row-major matrix digits, as in the data files' `matrix` column."""
    return ''.join('1' if x else '0' for x in self.matrix.ravel())

  @property
  def short_ops(self) -> str:
    """Ops as in the data files' `ops` column, e.g. ``'in-c3-mp-out'``."""
    return '-'.join(_TO_SHORT[op] for op in self.ops)

  @property
  def bits(self) -> int:
    """The matrix packed into 21 bits (see ``PAIRS``)."""
    rows, cols = np.nonzero(self.matrix)
    return int(np.sum(np.left_shift(1, PAIR_BIT[rows, cols]), dtype=np.int64))

  @functools.cached_property
  def module_hash(self) -> str:
    """The official NB101 fingerprint (md5 hex string); for many cells at
    once see :func:`jaxnas.spaces.nb101.hashing.module_hashes`."""
    return _reference_hash(self.matrix, self.labels.tolist())

  def pretty(self) -> str:
    """Multi-line description: one vertex per line with its successors."""
    lines = [f'NB101 cell, {self.num_vertices} vertices, {self.num_edges} '
             f'edges, hash {self.module_hash}']
    for v, op in enumerate(self.ops):
      succ = np.flatnonzero(self.matrix[v]).tolist()
      arrow = ' -> ' + ', '.join(map(str, succ)) if succ else ''
      lines.append(f'  {v}: {op}{arrow}')
    return '\n'.join(lines)

  def __str__(self) -> str:
    """The canonical string form: matrix digits, one space, comma-separated
    op names (read back by :func:`jaxnas.spaces.nb101.strings.parse`)."""
    return f'{self.matrix_digits} {",".join(self.ops)}'

  def __repr__(self) -> str:
    return f'Cell({str(self)!r})'

  def __eq__(self, other) -> bool:
    if not isinstance(other, Cell):
      return NotImplemented
    return (self.ops == other.ops and
            self.matrix.shape == other.matrix.shape and
            bool((self.matrix == other.matrix).all()))

  def __hash__(self) -> int:
    return hash((self.ops, self.matrix.tobytes()))


# --------------------------------------------------------------------------
# The reference fingerprint of one cell (Cell.module_hash). The module doc of
# jaxnas.spaces.nb101.hashing states the algorithm; its batched version is
# hashing.batch_fingerprints.


def _md5_hex(text: str) -> str:
  return hashlib.md5(text.encode('utf-8')).hexdigest()


def _reference_hash(matrix: np.ndarray, labels: Sequence[int]) -> str:
  """Iterated-md5 fingerprint of nasbench's graph_util.hash_module.

  `labels` must be Python ints: str() of a numpy scalar is not the same text.
  """
  num_v = len(labels)
  rows = np.asarray(matrix).astype(int).tolist()
  ins = [[u for u in range(num_v) if rows[u][v]] for v in range(num_v)]
  outs = [[w for w in range(num_v) if rows[v][w]] for v in range(num_v)]
  hashes = [_md5_hex(str((len(outs[v]), len(ins[v]), int(labels[v]))))
            for v in range(num_v)]
  for _ in range(num_v):
    hashes = [
        _md5_hex(''.join(sorted(hashes[u] for u in ins[v])) + '|' +
                 ''.join(sorted(hashes[w] for w in outs[v])) + '|' +
                 hashes[v]) for v in range(num_v)
    ]
  return _md5_hex(str(sorted(hashes)))


# --------------------------------------------------------------------------
# Cells of generated specs (sampling, mutation, enumeration): no checks.


def pruned_or_none(matrix: np.ndarray, ops: Sequence[str]) -> Cell | None:
  """The pruned Cell of a generated raw spec, or None if it is invalid.

  For specs built by this package only: `matrix` must be an int8 strictly
  upper-triangular 0/1 array and `ops` full op names with ``'input'`` first
  and ``'output'`` last; only connectivity and the limits are checked.
  """
  live = _live_mask(matrix)
  if not live[-1]:
    return None
  keep = np.flatnonzero(live)
  pruned = matrix[np.ix_(keep, keep)]
  if len(keep) > MAX_VERTICES or pruned.sum() > MAX_EDGES:
    return None
  return Cell._trusted(pruned, tuple(ops[v] for v in keep))  # pylint: disable=protected-access


def bits_to_matrix(bits: int, num_vertices: int) -> np.ndarray:
  """Unpacks a 21-bit matrix code (see :data:`PAIRS`) into an int8 matrix."""
  matrix = np.zeros((num_vertices, num_vertices), dtype=np.int8)
  for k, (i, j) in enumerate(PAIRS):
    if j < num_vertices and (int(bits) >> k) & 1:
      matrix[i, j] = 1
  return matrix


def cell_from_code(bits: int, labels: Sequence[int]) -> Cell:
  """The cell of a packed matrix (:attr:`Cell.bits`) and its vertex labels
  (:attr:`Cell.labels`), for codes of known valid pruned cells: no checks."""
  ops = tuple(_LABEL_OP[int(x)] for x in labels)
  return Cell._trusted(bits_to_matrix(bits, len(ops)), ops)  # pylint: disable=protected-access

