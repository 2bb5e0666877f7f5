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

A :class:`Cell` is always validated and pruned. Its *module hash* (the key of
every NB101 data file) is the reference's iterated-md5 graph fingerprint of the
pruned spec, see :func:`module_hash`.

String form (:func:`parse` / :func:`format_cell`)::

  0100000001000000010000000111000001000000010000000 input,conv1x1-bn-relu,...

the V*V row-major matrix digits, one space, then the comma-separated ops.
:func:`parse` also takes the short op names of the data files (``in``, ``c3``,
``c1``, ``mp``, ``out``), comma- or hyphen-separated (``in-c3-mp-out``).

:func:`enumerate_cells` lists all 423,624 unique cells (by module hash).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import os
import time
from typing import Callable, Iterator, NamedTuple, Sequence

import numpy as np

from jaxnas.errors import DataError, SpecError

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
_KNOWN = (INPUT,) + OPS + (OUTPUT,)
_OP_LABEL = {INPUT: INPUT_LABEL, OUTPUT: OUTPUT_LABEL,
             **{op: i for i, op in enumerate(OPS)}}
_LABEL_OP = {label: op for op, label in _OP_LABEL.items()}
# NASLib's NB101 op codes (0 input, 1 output, 2 maxpool, 3 conv1x1, 4 conv3x3).
_NASLIB_OPS = (INPUT, OUTPUT, MAXPOOL3X3, CONV1X1, CONV3X3)

# Bit layout of a packed matrix: bit k is the edge _PAIRS[k] of the 7x7 grid,
# (0,1), (0,2), ..., (0,6), (1,2), ..., (5,6). A V-vertex cell uses the pairs
# with j < V (its output is vertex V-1, not 6).
_PAIRS = tuple((i, j) for i in range(MAX_VERTICES)
               for j in range(i + 1, MAX_VERTICES))
_PAIR_BIT = np.full((MAX_VERTICES, MAX_VERTICES), -1, dtype=np.int64)
for _k, (_i, _j) in enumerate(_PAIRS):
  _PAIR_BIT[_i, _j] = _k
del _k, _i, _j


# --------------------------------------------------------------------------
# Validation and pruning.


def _one_line(text: str, limit: int = 160) -> str:
  text = ' '.join(str(text).split())
  return text if len(text) <= limit else text[:limit - 3] + '...'


def _matrix_str(matrix) -> str:
  try:
    arr = np.asarray(matrix)
  except Exception:  # pylint: disable=broad-except
    return _one_line(repr(matrix), 100)
  if (arr.ndim == 2 and arr.dtype.kind in 'biu' and arr.size <= 400 and
      ((arr == 0) | (arr == 1)).all()):
    return '/'.join(''.join(str(int(x)) for x in row) for row in arr)
  return _one_line(repr(matrix), 100)


def _ops_str(ops) -> str:
  if isinstance(ops, (list, tuple)):
    return _one_line(','.join(str(op) for op in ops), 120)
  return _one_line(repr(ops), 120)


def _fail(matrix, ops, problem: str):
  raise SpecError(f'NB101 spec (matrix {_matrix_str(matrix)}, ops '
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
            f'{", ".join(_KNOWN)} or {", ".join(SHORT_NAMES)})')
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
    """The matrix packed into 21 bits (see ``_PAIRS``)."""
    rows, cols = np.nonzero(self.matrix)
    return int(np.sum(np.left_shift(1, _PAIR_BIT[rows, cols]), dtype=np.int64))

  @functools.cached_property
  def module_hash(self) -> str:
    """The official NB101 fingerprint (md5 hex string)."""
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
    return format_cell(self)

  def __repr__(self) -> str:
    return f'Cell({format_cell(self)!r})'

  def __eq__(self, other) -> bool:
    if not isinstance(other, Cell):
      return NotImplemented
    return (self.ops == other.ops and
            self.matrix.shape == other.matrix.shape and
            bool((self.matrix == other.matrix).all()))

  def __hash__(self) -> int:
    return hash((self.ops, self.matrix.tobytes()))


# --------------------------------------------------------------------------
# Hashing.


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


def module_hash(cell_or_matrix, ops=None) -> str:
  """The official NB101 module hash of a cell.

  Args:
    cell_or_matrix: a :class:`Cell`, a cell string (see :func:`parse`), or a
      matrix (then `ops` is required; the spec is validated and pruned first).
    ops: op names for a matrix.

  Returns:
    32-character md5 hex string, the key of the NB101 data files.
  """
  if isinstance(cell_or_matrix, Cell):
    if ops is not None:
      raise SpecError('module_hash: pass either a Cell or (matrix, ops), not '
                      'a Cell and ops')
    return cell_or_matrix.module_hash
  if isinstance(cell_or_matrix, str) and ops is None:
    return parse(cell_or_matrix).module_hash
  if ops is None:
    raise SpecError(f'module_hash: matrix {_matrix_str(cell_or_matrix)} '
                    'given without ops')
  return make_cell(cell_or_matrix, ops).module_hash


def module_hashes(cells: Sequence[Cell]) -> list[str]:
  """Module hashes of many cells, computed in batch (same values as
  :func:`module_hash`, much faster for thousands of cells)."""
  out = [''] * len(cells)
  by_size: dict[int, list[int]] = {}
  for idx, cell in enumerate(cells):
    if not isinstance(cell, Cell):
      raise SpecError(f'module_hashes: item {idx} is a '
                      f'{type(cell).__name__}, not a Cell')
    by_size.setdefault(cell.num_vertices, []).append(idx)
  for num_v, idxs in by_size.items():
    adj = np.stack([cells[i].matrix for i in idxs]).astype(bool)
    labels = np.stack([cells[i].labels for i in idxs])
    hexes = _digests_to_hex(_batch_fingerprints(adj, labels))
    for i, h in zip(idxs, hexes.view('S32').ravel()):
      out[i] = h.decode('ascii')
  return out


# Vectorised hashing. Within one round of the reference algorithm, a vertex's
# md5 hex string is represented by its rank among all distinct strings of that
# round (over the whole batch). Ranks are ordered like the strings, so sorting
# neighbour ranks sorts the neighbour strings, and equal ranks mean equal
# strings. The texts to hash are assembled with array copies, and in the first
# rounds (where many vertices share a string) md5 runs once per distinct text.
# Only md5 itself runs per string in Python (hashlib): ~15M calls for the full
# enumeration, most of its run time.

_HEX_DIGITS = np.frombuffer(b'0123456789abcdef', dtype=np.uint8)
_CHUNK = 1 << 17


# Byte value -> its two hex characters, as one little-endian uint16.
_HEX_PAIRS = (_HEX_DIGITS[np.arange(256) >> 4].astype(np.uint16) |
              (_HEX_DIGITS[np.arange(256) & 15].astype(np.uint16) << 8))
_HEX_PAIRS = _HEX_PAIRS.astype('<u2')


def _digests_to_hex(digests: np.ndarray) -> np.ndarray:
  """(N, 16) uint8 raw md5 digests -> (N, 32) uint8 lowercase hex ASCII."""
  return _HEX_PAIRS[digests].view(np.uint8).reshape(len(digests), 32)


def _md5_rows(buf: np.ndarray) -> np.ndarray:
  """md5 digests (N, 16) uint8 of the rows of an (N, W) uint8 array.

  Rows must not end in NUL bytes (numpy's 'S' dtype drops them); all rows
  here are ASCII text.
  """
  md5 = hashlib.md5
  rows = np.ascontiguousarray(buf).view(f'S{buf.shape[1]}').ravel().tolist()
  digs = b''.join([md5(row).digest() for row in rows])
  return np.frombuffer(digs, dtype=np.uint8).reshape(-1, 16)


def _rank_digests(digests: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Dense ranks of digests in hex-string order, and the sorted unique ones.

  Byte order of a raw digest equals the order of its hex string. Sorts by the
  first 8 bytes; only if two different digests tie there is the full 16-byte
  sort needed. Equal digests get equal ranks.
  """
  hi = np.ascontiguousarray(digests[:, :8]).view('>u8').ravel()
  lo = np.ascontiguousarray(digests[:, 8:]).view('>u8').ravel()
  hi, lo = hi.astype(np.uint64), lo.astype(np.uint64)
  order = np.argsort(hi)
  hs, ls = hi[order], lo[order]
  same_hi = hs[1:] == hs[:-1]
  if (same_hi & (ls[1:] != ls[:-1])).any():
    order = np.lexsort((lo, hi))
    hs, ls = hi[order], lo[order]
    same_hi = hs[1:] == hs[:-1]
  new = np.ones(len(order), dtype=bool)
  new[1:] = ~(same_hi & (ls[1:] == ls[:-1]))
  ranks = np.empty(len(order), dtype=np.int32)
  ranks[order] = np.cumsum(new) - 1
  return ranks, digests[order[new]]


_MIX1 = np.uint64(0x9E3779B97F4A7C15)
_MIX2 = np.uint64(0xBF58476D1CE4E5B9)


def _unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Exact (representative index, inverse) of the distinct rows of an int array.

  Groups rows by a 64-bit mix, then checks that every row equals its group's
  representative; on any collision falls back to np.unique(axis=0).
  """
  acc = np.zeros(rows.shape[0], dtype=np.uint64)
  with np.errstate(over='ignore'):
    for col in rows.T:
      acc += col.astype(np.uint64) + np.uint64(1)
      acc *= _MIX1
      acc ^= acc >> np.uint64(29)
    acc *= _MIX2
    acc ^= acc >> np.uint64(32)
  order = np.argsort(acc)
  sorted_acc = acc[order]
  new = np.ones(len(order), dtype=bool)
  new[1:] = sorted_acc[1:] != sorted_acc[:-1]
  inverse = np.empty(len(order), dtype=np.int64)
  inverse[order] = np.cumsum(new) - 1
  first = order[new]
  if not np.array_equal(rows[first][inverse], rows):
    _, first, inverse = np.unique(rows, axis=0, return_index=True,
                                  return_inverse=True)
  return first, inverse.ravel()


def _neighbour_table(adj: np.ndarray, incoming: bool) -> np.ndarray:
  """(G*V, V) flat row indices of each vertex's in- (or out-) neighbours.

  Row g*V+v lists the rows g*V+u of its neighbours first, then -1.
  """
  num_g, num_v, _ = adj.shape
  g, u, v = np.nonzero(adj)
  if incoming:
    owner, other = g * num_v + v, g * num_v + u
  else:
    owner, other = g * num_v + u, g * num_v + v
  order = np.argsort(owner, kind='stable')
  owner, other = owner[order], other[order]
  counts = np.bincount(owner, minlength=num_g * num_v)
  starts = np.cumsum(counts) - counts
  table = np.full((num_g * num_v, num_v), -1, dtype=np.int32)
  table[owner, np.arange(len(owner)) - starts[owner]] = other
  return table


def _batch_fingerprints(adj: np.ndarray, labels: np.ndarray) -> np.ndarray:
  """Official fingerprints of G graphs with V vertices each.

  Args:
    adj: (G, V, V) bool adjacency (pruned cells).
    labels: (G, V) int vertex labels.

  Returns:
    (G, 16) uint8 raw md5 digests (hex them for the official string).

  Vertices are processed in groups of equal (in-degree, out-degree), so every
  string of a group has the same length and is assembled by array copies.
  """
  num_g, num_v = labels.shape
  adj = adj.astype(bool)
  out_deg = adj.sum(axis=2).ravel()
  in_deg = adj.sum(axis=1).ravel()
  # Round 0: md5 of str((out_degree, in_degree, label)).
  triples = np.stack([out_deg, in_deg, labels.ravel()], axis=-1)
  first, inverse = _unique_rows(triples)
  digests = np.frombuffer(b''.join(
      hashlib.md5(str(tuple(triples[i].tolist())).encode('ascii')).digest()
      for i in first), dtype=np.uint8).reshape(-1, 16)
  ranks, uniq = _rank_digests(digests)
  ids = ranks[inverse]
  hexes = _digests_to_hex(uniq)
  in_table = _neighbour_table(adj, incoming=True)
  out_table = _neighbour_table(adj, incoming=False)
  group = in_deg * (num_v + 1) + out_deg
  order = np.argsort(group, kind='stable')
  bounds = np.flatnonzero(np.diff(group[order])) + 1
  groups = []
  for rows in np.split(order, bounds):
    d_in, d_out = int(in_deg[rows[0]]), int(out_deg[rows[0]])
    groups.append((rows, in_table[rows, :d_in], out_table[rows, :d_out]))
  del in_table, out_table
  row_to_unique = np.empty(num_g * num_v, dtype=np.int64)
  dedup = True
  for _ in range(num_v):
    # Strings repeat a lot in the first rounds only. The partition of vertices
    # by string only gets finer (a string contains the vertex's previous one),
    # so once nearly all are distinct, deduplicating no longer pays.
    parts, offset = [], 0
    for rows, ins, outs in groups:
      key = np.concatenate([np.sort(ids[ins], axis=1),
                            np.sort(ids[outs], axis=1), ids[rows][:, None]],
                           axis=1)
      if dedup:
        first, inverse = _unique_rows(key)
        key = key[first]
      else:
        inverse = np.arange(len(rows))
      parts.append(_round_digests(key, hexes, ins.shape[1]))
      row_to_unique[rows] = offset + inverse
      offset += len(key)
    dedup = offset < 0.9 * len(row_to_unique)
    ranks, uniq = _rank_digests(np.concatenate(parts))
    ids = ranks[row_to_unique]
    hexes = _digests_to_hex(uniq)
  # Fingerprint: md5 of str(sorted(hashes)), e.g. "['0a..', '3f..']".
  ids = np.sort(ids.reshape(num_g, num_v), axis=1)
  first, inverse = _unique_rows(ids)
  template = ("['" + "', '".join(['-' * 32] * num_v) + "']").encode('ascii')
  template = np.frombuffer(template, dtype=np.uint8)
  digests = []
  for start in range(0, len(first), _CHUNK):
    sel = ids[first[start:start + _CHUNK]]
    buf = np.tile(template, (len(sel), 1))
    for k in range(num_v):
      buf[:, 2 + 36 * k:34 + 36 * k] = hexes[sel[:, k]]
    digests.append(_md5_rows(buf))
  return np.concatenate(digests)[inverse]


def _round_digests(keys: np.ndarray, hexes: np.ndarray,
                   d_in: int) -> np.ndarray:
  """md5 of "in hashes|out hashes|own hash" for key rows (ins, outs, own)."""
  width = keys.shape[1]
  out = []
  for start in range(0, keys.shape[0], _CHUNK):
    chunk = keys[start:start + _CHUNK]
    buf = np.empty((len(chunk), 32 * width + 2), dtype=np.uint8)
    pos = 0
    for k in range(width):
      for bar_before in (d_in, width - 1):  # Both when there are no outs.
        if k == bar_before:
          buf[:, pos] = ord('|')
          pos += 1
      buf[:, pos:pos + 32] = hexes[chunk[:, k]]
      pos += 32
    out.append(_md5_rows(buf))
  return np.concatenate(out) if out else np.zeros((0, 16), dtype=np.uint8)


# --------------------------------------------------------------------------
# Strings.


def _split_ops(text: str, ops_text: str) -> list[str]:
  if ',' in ops_text:
    tokens = ops_text.split(',')
  else:
    tokens = ops_text.split('-')
    if not all(t in SHORT_NAMES for t in tokens):
      tokens = [ops_text] if ops_text in _OP_LABEL else tokens
  for i, tok in enumerate(tokens):
    if tok not in _OP_LABEL and tok not in SHORT_NAMES:
      raise SpecError(f'NB101 cell string {_one_line(repr(text))}: unknown op '
                      f'{tok!r} (token {i} of the ops field; known: '
                      f'{", ".join(_KNOWN)} or {", ".join(SHORT_NAMES)}; '
                      'separate ops with commas)')
  return [SHORT_NAMES.get(t, t) for t in tokens]


def parse_parts(matrix_digits: str, ops_text: str, *, _text=None) -> Cell:
  """Builds a Cell from the two fields of the string form (see :func:`parse`).

  Also fits the data files' `matrix` and `ops` columns.
  """
  text = _text if _text is not None else f'{matrix_digits} {ops_text}'
  ops = _split_ops(text, ops_text)
  for i, ch in enumerate(matrix_digits):
    if ch not in '01':
      raise SpecError(f'NB101 cell string {_one_line(repr(text))}: bad matrix '
                      f'digit {ch!r} at position {i} of {matrix_digits!r}, '
                      "digits must be '0' or '1'")
  num_v = len(ops)
  if len(matrix_digits) != num_v * num_v:
    raise SpecError(f'NB101 cell string {_one_line(repr(text))}: matrix '
                    f'{matrix_digits!r} has {len(matrix_digits)} digits, '
                    f'expected {num_v * num_v} for {num_v} ops')
  matrix = (np.frombuffer(matrix_digits.encode('ascii'), dtype=np.uint8) -
            ord('0')).reshape(num_v, num_v).astype(np.int8)
  return make_cell(matrix, ops)


def parse(text: str) -> Cell:
  """Parses ``'MATRIX_DIGITS OPS'`` into a (pruned) Cell.

  MATRIX_DIGITS is the V*V row-major 0/1 matrix without separators; OPS is
  the comma-separated op names, full or short (in, c3, c1, mp, out); short
  names may also be hyphen-separated as in the data files.

  Raises:
    SpecError: one line naming the string and the bad token.
  """
  if not isinstance(text, str):
    raise SpecError(f'NB101 cell string must be a str, got '
                    f'{type(text).__name__}: {_one_line(repr(text))}')
  fields = text.split()
  if len(fields) != 2:
    raise SpecError(f'NB101 cell string {_one_line(repr(text))}: expected 2 '
                    f"space-separated fields 'MATRIX_DIGITS OPS', got "
                    f'{len(fields)}')
  return parse_parts(fields[0], fields[1], _text=text)


def format_cell(cell: Cell) -> str:
  """Canonical string: matrix digits, one space, comma-separated op names."""
  if not isinstance(cell, Cell):
    raise SpecError(f'format_cell: expected a Cell, got {type(cell).__name__}')
  return f'{cell.matrix_digits} {",".join(cell.ops)}'


def from_naslib(code) -> Cell:
  """Cell from a NASLib NB101 tuple: n*n matrix digits then n op codes.

  Op codes: 0 input, 1 output, 2 maxpool3x3, 3 conv1x1, 4 conv3x3. The matrix
  may be unpruned; the result is pruned.
  """
  if isinstance(code, str):
    if not code.isdigit():
      raise SpecError(f'NASLib NB101 tuple {_one_line(repr(code))}: must be '
                      'digits only')
    values = [int(ch) for ch in code]
  else:
    values = [int(x) for x in code]
  n = int((np.sqrt(1 + 4 * len(values)) - 1) / 2 + 0.5)
  if n < 2 or n * n + n != len(values):
    raise SpecError(f'NASLib NB101 tuple {_one_line(repr(code))}: length '
                    f'{len(values)} is not n*n + n')
  bad = [v for v in values[n * n:] if not 0 <= v < len(_NASLIB_OPS)]
  if bad:
    raise SpecError(f'NASLib NB101 tuple {_one_line(repr(code))}: unknown op '
                    f'code {bad[0]}')
  matrix = np.array(values[:n * n]).reshape(n, n)
  return make_cell(matrix, [_NASLIB_OPS[v] for v in values[n * n:]])


# --------------------------------------------------------------------------
# Sampling and mutation.


def sample(rng: np.random.Generator) -> Cell:
  """A random valid cell, as the nasbench examples draw one.

  Draws a 7-vertex raw spec uniformly (each upper-triangular edge 0/1, each
  interior op uniform) and redraws until it is valid; returns its pruned form.
  This favours small cells: only ~0.3% of the draws prune to 7 vertices,
  although 85% of the unique cells have 7. For a draw uniform over unique
  cells use ``Enumeration.sample``.
  """
  while True:
    matrix = np.triu(rng.integers(0, 2, size=(MAX_VERTICES, MAX_VERTICES)), 1)
    ops = ([INPUT] + [OPS[i] for i in rng.integers(0, len(OPS),
                                                   MAX_VERTICES - 2)] +
           [OUTPUT])
    arr = matrix.astype(np.int8)
    live = _live_mask(arr)
    if not live[-1]:
      continue
    keep = np.flatnonzero(live)
    pruned = arr[np.ix_(keep, keep)]
    if pruned.sum() > MAX_EDGES:
      continue
    return Cell._trusted(pruned, tuple(ops[v] for v in keep))  # pylint: disable=protected-access


def _padded(cell: Cell, rng: np.random.Generator):
  """A 7-vertex raw spec that prunes to `cell`.

  Missing vertices are inserted at random interior positions with random ops,
  each with ONE edge (from an earlier or to a later vertex). A single extra
  edge can then bring a padding vertex onto a path, so one mutation can grow
  the cell; without it the padding never lies on a path (k padding vertices
  own k edges, a path through them needs k + 1).
  """
  num_v = cell.num_vertices
  if num_v == MAX_VERTICES:
    return cell.matrix.astype(np.int8), list(cell.ops), list(range(1, num_v - 1))
  slots = np.sort(rng.choice(MAX_VERTICES - 2, size=num_v - 2, replace=False))
  old_pos = [0] + [1 + int(s) for s in slots] + [MAX_VERTICES - 1]
  matrix = np.zeros((MAX_VERTICES, MAX_VERTICES), dtype=np.int8)
  matrix[np.ix_(old_pos, old_pos)] = cell.matrix
  ops = [OPS[i] for i in rng.integers(0, len(OPS), MAX_VERTICES)]
  ops[0], ops[-1] = INPUT, OUTPUT
  for v, p in zip(range(num_v), old_pos):
    ops[p] = cell.ops[v]
  for p in sorted(set(range(1, MAX_VERTICES - 1)) - set(old_pos)):
    if rng.random() < 0.5:
      matrix[rng.integers(0, p), p] = 1
    else:
      matrix[p, rng.integers(p + 1, MAX_VERTICES)] = 1
  return matrix, ops, old_pos[1:-1]


def mutate(cell: Cell, rng: np.random.Generator, edge_prob: float = 0.5,
           op_prob: float = 0.5, max_attempts: int = 100_000) -> Cell:
  """A one-step mutation of `cell` with a different module hash.

  Each attempt either flips one of the 21 upper-triangular edge slots of a
  7-vertex raw spec that prunes to `cell` (see `_padded`; so small cells can
  grow), or changes the op of one interior vertex of `cell` to another op.
  The two kinds are chosen with relative weights `edge_prob` : `op_prob`
  (a cell without interior vertices always gets an edge flip). Attempts that are invalid or keep the hash are redrawn.
  """
  if not isinstance(cell, Cell):
    raise SpecError(f'mutate: expected a Cell, got {type(cell).__name__}')
  if edge_prob < 0 or op_prob < 0 or edge_prob + op_prob <= 0:
    raise SpecError(f'mutate: edge_prob={edge_prob}, op_prob={op_prob} must '
                    'be >= 0 with a positive sum')
  p_edge = edge_prob / (edge_prob + op_prob)
  old = cell.module_hash
  for _ in range(max_attempts):
    matrix, ops, interior = _padded(cell, rng)
    if not interior or rng.random() < p_edge:
      i, j = _PAIRS[rng.integers(len(_PAIRS))]
      matrix[i, j] ^= 1
    else:
      v = interior[rng.integers(len(interior))]
      others = [op for op in OPS if op != ops[v]]
      ops[v] = others[rng.integers(len(others))]
    live = _live_mask(matrix)
    if not live[-1]:
      continue
    keep = np.flatnonzero(live)
    pruned = matrix[np.ix_(keep, keep)]
    if len(keep) > MAX_VERTICES or pruned.sum() > MAX_EDGES:
      continue
    new = Cell._trusted(pruned, tuple(ops[v] for v in keep))  # pylint: disable=protected-access
    if new.module_hash != old:
      return new
  raise SpecError(f'mutate: no valid mutation of {format_cell(cell)} found in '
                  f'{max_attempts} attempts')


# --------------------------------------------------------------------------
# Enumeration.


def bits_to_matrix(bits: int, num_vertices: int) -> np.ndarray:
  """Unpacks a 21-bit matrix code (see ``_PAIRS``) into an int8 matrix."""
  matrix = np.zeros((num_vertices, num_vertices), dtype=np.int8)
  for k, (i, j) in enumerate(_PAIRS):
    if j < num_vertices and (int(bits) >> k) & 1:
      matrix[i, j] = 1
  return matrix


class Enumeration(NamedTuple):
  """All unique cells, sorted by module hash.

  Attributes:
    hashes: (N,) '<U32' module hashes, ascending.
    num_vertices: (N,) uint8.
    matrix_bits: (N,) uint32 packed matrices (see :func:`bits_to_matrix`).
    labels: (N, 7) int8 vertex labels (-1 input, 0..2 op, -2 output), padded
      with -3 after the output.
  """
  hashes: np.ndarray
  num_vertices: np.ndarray
  matrix_bits: np.ndarray
  labels: np.ndarray

  @property
  def num_cells(self) -> int:
    return len(self.hashes)

  def cell(self, index: int) -> Cell:
    num_v = int(self.num_vertices[index])
    ops = tuple(_LABEL_OP[int(x)] for x in self.labels[index, :num_v])
    return Cell._trusted(bits_to_matrix(self.matrix_bits[index], num_v), ops)  # pylint: disable=protected-access

  def cells(self) -> Iterator[Cell]:
    for index in range(self.num_cells):
      yield self.cell(index)

  def sample(self, rng: np.random.Generator) -> Cell:
    """A cell drawn uniformly over unique cells (unlike :func:`sample`)."""
    return self.cell(int(rng.integers(self.num_cells)))

  def find(self, module_hash_: str) -> int:
    """Index of a hash, or -1 if absent."""
    i = int(np.searchsorted(self.hashes, module_hash_))
    if i < self.num_cells and self.hashes[i] == module_hash_:
      return i
    return -1


def _fully_live_codes(num_v: int, max_edges: int) -> np.ndarray:
  """Packed codes of all V-vertex matrices with every vertex on a path."""
  pairs = [(i, j) for i in range(num_v) for j in range(i + 1, num_v)]
  local = np.arange(1 << len(pairs), dtype=np.uint32)
  codes = np.zeros_like(local)
  edges = np.zeros(len(local), dtype=np.int8)
  in_deg = np.zeros((num_v, len(local)), dtype=np.int8)
  out_deg = np.zeros((num_v, len(local)), dtype=np.int8)
  for b, (i, j) in enumerate(pairs):
    bit = (local >> np.uint32(b)) & np.uint32(1)
    codes |= bit << np.uint32(_PAIR_BIT[i, j])
    bit = bit.astype(np.int8)
    edges += bit
    out_deg[i] += bit
    in_deg[j] += bit
  # In a DAG numbered topologically, a vertex is reachable from the input if
  # it and all its ancestors but the input have an in-edge (follow in-edges
  # back: indices fall until a vertex without in-edges, which must be 0);
  # symmetrically for reaching the output.
  ok = ((edges <= max_edges) & (in_deg[1:] > 0).all(axis=0) &
        (out_deg[:-1] > 0).all(axis=0))
  return codes[ok]


def _permute_codes(codes: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
  """(P, N) codes of the matrices relabelled by each vertex map sigma.

  Edge (i, j) moves to (sigma[i], sigma[j]); if that is not upper-triangular
  bit 31 is set, so such relabellings compare above every valid code.
  """
  num_v = sigmas.shape[1]
  out = np.zeros((len(sigmas), len(codes)), dtype=np.uint32)
  for i in range(num_v):
    for j in range(i + 1, num_v):
      bit = (codes >> np.uint32(_PAIR_BIT[i, j])) & np.uint32(1)
      si, sj = sigmas[:, i], sigmas[:, j]
      tgt = np.where(si < sj, _PAIR_BIT[np.minimum(si, sj), np.maximum(si, sj)],
                     31).astype(np.uint32)
      out |= bit[None, :] << tgt[:, None]
  return out


def _labelled_classes(num_v: int, max_edges: int):
  """One (code, interior labels) per isomorphism class of V-vertex cells.

  Returns:
    codes (G,) uint32, interior (G, V-2) int8, and the number of unlabelled
    classes.
  """
  codes = _fully_live_codes(num_v, max_edges)
  n_int = num_v - 2
  perms = list(itertools.permutations(range(1, num_v - 1)))
  sigmas = np.array([(0,) + p + (num_v - 1,) for p in perms], dtype=np.int64)
  # Canonical form of an unlabelled cell: smallest code over relabellings of
  # the interior vertices that keep the matrix upper-triangular (input and
  # output have unique labels, so isomorphisms fix them). Two upper-triangular
  # matrices are isomorphic iff they share it, so grouping by it is exact.
  reps = np.unique(_permute_codes(codes, sigmas).min(axis=0))
  autos = _permute_codes(reps, sigmas) == reps[None, :]  # (P, R)
  # Labellings as base-3 numbers, vertex 1 most significant; an automorphism
  # sigma maps labelling x to y with y[sigma(v)] = x[v]. Keep the labellings
  # that are smallest in their orbit.
  labs = np.array(list(itertools.product(range(len(OPS)), repeat=n_int)),
                  dtype=np.int64).reshape(len(OPS)**n_int, n_int)
  powers = len(OPS)**np.arange(n_int - 1, -1, -1, dtype=np.int64)
  moved = np.empty((len(sigmas),) + labs.shape, dtype=np.int64)
  for p, sigma in enumerate(sigmas):
    moved[p][:, sigma[1:num_v - 1] - 1] = labs
  moved_codes = moved @ powers  # (P, L)
  all_codes = np.arange(len(labs))
  patterns, group = np.unique(autos.T, axis=0, return_inverse=True)
  out_codes, out_labs = [], []
  for g, pattern in enumerate(patterns):
    canon = moved_codes[pattern].min(axis=0)
    keep = np.flatnonzero(canon == all_codes)
    members = reps[group.ravel() == g]
    out_codes.append(np.repeat(members, len(keep)))
    out_labs.append(np.tile(labs[keep], (len(members), 1)))
  codes_g = np.concatenate(out_codes)
  labs_g = np.concatenate(out_labs).astype(np.int8)
  order = np.lexsort((labs_g @ powers, codes_g))
  return codes_g[order], labs_g[order], len(reps)


def enumerate_cells(max_vertices: int = MAX_VERTICES,
                    max_edges: int = MAX_EDGES,
                    progress: Callable[[str], None] | None = None
                   ) -> Enumeration:
  """All unique valid cells with at most `max_vertices` vertices.

  Only specs whose every vertex is on an input->output path are generated
  (as the reference generator does): any other valid spec prunes to such a
  spec with fewer vertices and edges, generated for that vertex count.
  Isomorphic specs share the module hash, so one spec per isomorphism class
  is hashed (exact canonical forms, not hashes, decide the classes), with a
  vectorised implementation of the official algorithm; the result is
  deduplicated by the official hash.

  Args:
    max_vertices: 2..7 (7 gives the NB101 space, 423,624 cells).
    max_edges: edge limit.
    progress: optional callable receiving one-line progress messages.

  Returns:
    An :class:`Enumeration` sorted by hash; the cell kept for a hash is the
    first in (vertex count, canonical code, labelling) order.
  """
  if not 2 <= max_vertices <= MAX_VERTICES:
    raise SpecError(f'enumerate_cells: max_vertices={max_vertices} must be in '
                    f'2..{MAX_VERTICES}')
  say = progress or (lambda msg: None)
  start = time.perf_counter()
  all_digests, all_nv, all_bits, all_labels = [], [], [], []
  for num_v in range(2, max_vertices + 1):
    codes, interior, n_shapes = _labelled_classes(num_v, max_edges)
    num_g = len(codes)
    adj = np.zeros((num_g, num_v, num_v), dtype=bool)
    for i in range(num_v):
      for j in range(i + 1, num_v):
        adj[:, i, j] = (codes >> np.uint32(_PAIR_BIT[i, j])) & np.uint32(1)
    labels = np.empty((num_g, num_v), dtype=np.int64)
    labels[:, 0], labels[:, -1] = INPUT_LABEL, OUTPUT_LABEL
    labels[:, 1:-1] = interior
    digests = _batch_fingerprints(adj, labels)
    padded = np.full((num_g, MAX_VERTICES), PAD_LABEL, dtype=np.int8)
    padded[:, :num_v] = labels
    all_digests.append(digests)
    all_nv.append(np.full(num_g, num_v, dtype=np.uint8))
    all_bits.append(codes.astype(np.uint32))
    all_labels.append(padded)
    say(f'V={num_v}: {n_shapes} graph shapes, {num_g} isomorphism classes '
        f'({time.perf_counter() - start:.1f}s)')
  digests = np.concatenate(all_digests)
  ranks, _ = _rank_digests(digests)
  _, first = np.unique(ranks, return_index=True)  # Sorted by hash.
  hexes = _digests_to_hex(digests[first]).view('S32').ravel().astype('U32')
  result = Enumeration(hashes=hexes,
                       num_vertices=np.concatenate(all_nv)[first],
                       matrix_bits=np.concatenate(all_bits)[first],
                       labels=np.concatenate(all_labels)[first])
  say(f'{result.num_cells} unique hashes from {len(digests)} isomorphism '
      f'classes ({time.perf_counter() - start:.1f}s)')
  return result


_FORMAT = 'jaxnas-nb101-enumeration-v1'


def save_enumeration(path: str | os.PathLike, enumeration: Enumeration) -> None:
  """Writes an enumeration to a compact .npz (about 12 MB for all cells).

  Hashes are stored as 16 raw digest bytes each; the write is atomic.
  """
  hexes = np.asarray(enumeration.hashes).astype('S32')
  raw = np.frombuffer(hexes.tobytes(), dtype=np.uint8).reshape(-1, 32)
  nib = np.searchsorted(_HEX_DIGITS, raw).astype(np.uint8)
  digests = (nib[:, 0::2] << 4) | nib[:, 1::2]
  path = os.fspath(path)
  tmp = path + '.tmp.npz'
  np.savez(tmp, format=np.array(_FORMAT), digests=digests,
           num_vertices=enumeration.num_vertices.astype(np.uint8),
           matrix_bits=enumeration.matrix_bits.astype(np.uint32),
           labels=enumeration.labels.astype(np.int8))
  os.replace(tmp, path)


def load_enumeration(path: str | os.PathLike) -> Enumeration:
  """Reads a file written by :func:`save_enumeration`."""
  path = os.fspath(path)
  if not os.path.exists(path):
    raise DataError(f'NB101 enumeration file {path!r} does not exist')
  try:
    with np.load(path) as data:
      fmt = str(data['format'])
      digests = data['digests']
      arrays = {k: data[k] for k in ('num_vertices', 'matrix_bits', 'labels')}
  except (KeyError, ValueError, OSError) as e:
    raise DataError(f'NB101 enumeration file {path!r} is not a valid '
                    f'enumeration: {_one_line(e)}') from e
  n = len(digests)
  if (fmt != _FORMAT or digests.shape != (n, 16) or
      arrays['num_vertices'].shape != (n,) or
      arrays['matrix_bits'].shape != (n,) or
      arrays['labels'].shape != (n, MAX_VERTICES)):
    raise DataError(f'NB101 enumeration file {path!r} has format {fmt!r} or '
                    f'array shapes that do not match {_FORMAT!r}')
  hexes = _digests_to_hex(digests).view('S32').ravel().astype('U32')
  return Enumeration(hashes=hexes, **arrays)


def load_or_enumerate(path: str | os.PathLike,
                      progress: Callable[[str], None] | None = None
                     ) -> Enumeration:
  """Loads the full enumeration from `path`, computing and saving it first
  if the file does not exist."""
  if os.path.exists(path):
    return load_enumeration(path)
  enumeration = enumerate_cells(progress=progress)
  save_enumeration(path, enumeration)
  return enumeration
