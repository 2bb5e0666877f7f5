"""The official NAS-Bench-101 module hash of cells, one or many at a time.

The hash of a cell is the iterated-md5 graph fingerprint of the reference
``graph_util.hash_module`` of google-research/nasbench, computed on the pruned
spec: every vertex starts from md5 of ``str((out_degree, in_degree, label))``;
then, once per vertex, every vertex's hash becomes md5 of its sorted
in-neighbour hashes, ``'|'``, its sorted out-neighbour hashes, ``'|'``, its own
hash; the fingerprint is md5 of ``str(sorted(vertex hashes))``. Isomorphic
cells share it.

Two implementations with the same values:

* one cell: ``Cell.module_hash`` (cached on the cell), a direct transcription
  of the reference in :mod:`jaxnas.spaces.nb101.spec`, where the Cell needs
  it; :func:`module_hash` takes a cell in any form;
* many cells: :func:`module_hashes`, on :func:`batch_fingerprints`, which
  hashes graphs of one size at once (vectorised: ~15M md5 calls for all
  423,624 cells, and little else in Python).
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

from jaxnas.errors import SpecError
from jaxnas.spaces.nb101 import spec
from jaxnas.spaces.nb101 import strings

# --------------------------------------------------------------------------
# Cells.


def module_hash(cell_or_matrix, ops=None) -> str:
  """The official NB101 module hash of a cell.

  Args:
    cell_or_matrix: a :class:`~jaxnas.spaces.nb101.spec.Cell`, a cell string
      (see :func:`jaxnas.spaces.nb101.strings.parse`), or a matrix (then `ops`
      is required; the spec is validated and pruned first).
    ops: op names for a matrix.

  Returns:
    32-character md5 hex string, the key of the NB101 data files.
  """
  if isinstance(cell_or_matrix, spec.Cell):
    if ops is not None:
      raise SpecError('module_hash: pass either a Cell or (matrix, ops), not '
                      'a Cell and ops')
    return cell_or_matrix.module_hash
  if isinstance(cell_or_matrix, str) and ops is None:
    return strings.parse(cell_or_matrix).module_hash
  if ops is None:
    raise SpecError(f'module_hash: matrix {spec.matrix_text(cell_or_matrix)} '
                    'given without ops')
  return spec.make_cell(cell_or_matrix, ops).module_hash


def module_hashes(cells: Sequence[spec.Cell]) -> list[str]:
  """Module hashes of many cells, computed in batch (same values as
  :func:`module_hash`, much faster for thousands of cells)."""
  out = [''] * len(cells)
  by_size: dict[int, list[int]] = {}
  for idx, cell in enumerate(cells):
    if not isinstance(cell, spec.Cell):
      raise SpecError(f'module_hashes: item {idx} is a '
                      f'{type(cell).__name__}, not a Cell')
    by_size.setdefault(cell.num_vertices, []).append(idx)
  for idxs in by_size.values():
    adj = np.stack([cells[i].matrix for i in idxs]).astype(bool)
    labels = np.stack([cells[i].labels for i in idxs])
    hexes = digests_to_hex(batch_fingerprints(adj, labels))
    for i, h in zip(idxs, hexes.tolist()):
      out[i] = h
  return out


# --------------------------------------------------------------------------
# Digests: raw md5 bytes and their hex strings.

_HEX_DIGITS = np.frombuffer(b'0123456789abcdef', dtype=np.uint8)
# Byte value -> its two hex characters, as one little-endian uint16.
_HEX_PAIRS = (_HEX_DIGITS[np.arange(256) >> 4].astype(np.uint16) |
              (_HEX_DIGITS[np.arange(256) & 15].astype(np.uint16) << 8))
_HEX_PAIRS = _HEX_PAIRS.astype('<u2')


def _hex_bytes(digests: np.ndarray) -> np.ndarray:
  """(N, 16) uint8 raw md5 digests -> (N, 32) uint8 lowercase hex ASCII."""
  return _HEX_PAIRS[digests].view(np.uint8).reshape(len(digests), 32)


def digests_to_hex(digests: np.ndarray) -> np.ndarray:
  """(N, 16) uint8 raw md5 digests -> (N,) '<U32' lowercase hex strings."""
  return _hex_bytes(digests).view('S32').ravel().astype('U32')


def hex_to_digests(hexes: np.ndarray) -> np.ndarray:
  """(N,) lowercase 32-digit hex strings -> (N, 16) uint8 raw digests (the
  inverse of :func:`digests_to_hex`)."""
  hexes = np.asarray(hexes).astype('S32')
  raw = np.frombuffer(hexes.tobytes(), dtype=np.uint8).reshape(-1, 32)
  nib = np.searchsorted(_HEX_DIGITS, raw).astype(np.uint8)
  return (nib[:, 0::2] << 4) | nib[:, 1::2]


def rank_digests(digests: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


# --------------------------------------------------------------------------
# Vectorised: many graphs.
#
# Within one round of the reference algorithm, a vertex's md5 hex string is
# represented by its rank among all distinct strings of that round (over the
# whole batch). Ranks are ordered like the strings, so sorting neighbour ranks
# sorts the neighbour strings, and equal ranks mean equal strings. The texts to
# hash are assembled with array copies, and in the first rounds (where many
# vertices share a string) md5 runs once per distinct text. Only md5 itself
# runs per string in Python (hashlib): ~15M calls for the full enumeration,
# most of its run time.

_CHUNK = 1 << 17
_MIX1 = np.uint64(0x9E3779B97F4A7C15)
_MIX2 = np.uint64(0xBF58476D1CE4E5B9)


def _md5_rows(buf: np.ndarray) -> np.ndarray:
  """md5 digests (N, 16) uint8 of the rows of an (N, W) uint8 array.

  Rows must not end in NUL bytes (numpy's 'S' dtype drops them); all rows
  here are ASCII text.
  """
  md5 = hashlib.md5
  rows = np.ascontiguousarray(buf).view(f'S{buf.shape[1]}').ravel().tolist()
  digs = b''.join([md5(row).digest() for row in rows])
  return np.frombuffer(digs, dtype=np.uint8).reshape(-1, 16)


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


def _initial_ids(out_deg: np.ndarray, in_deg: np.ndarray,
                 labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Round 0: md5 of str((out_degree, in_degree, label)) of every vertex.

  Returns:
    (G*V,) rank of each vertex's hash, and the (R, 32) uint8 hex of each rank.
  """
  triples = np.stack([out_deg, in_deg, labels.ravel()], axis=-1)
  first, inverse = _unique_rows(triples)
  digests = np.frombuffer(b''.join(
      hashlib.md5(str(tuple(triples[i].tolist())).encode('ascii')).digest()
      for i in first), dtype=np.uint8).reshape(-1, 16)
  ranks, uniq = rank_digests(digests)
  return ranks[inverse], _hex_bytes(uniq)


def _degree_groups(adj: np.ndarray, out_deg: np.ndarray, in_deg: np.ndarray):
  """Vertices grouped by equal (in-degree, out-degree), so every text of a
  group has the same length and is assembled by array copies.

  Returns:
    A list of (rows (K,), in-neighbour rows (K, d_in), out-neighbour rows
    (K, d_out)), flat vertex rows g*V+v.
  """
  num_v = adj.shape[1]
  in_table = _neighbour_table(adj, incoming=True)
  out_table = _neighbour_table(adj, incoming=False)
  group = in_deg * (num_v + 1) + out_deg
  order = np.argsort(group, kind='stable')
  bounds = np.flatnonzero(np.diff(group[order])) + 1
  groups = []
  for rows in np.split(order, bounds):
    d_in, d_out = int(in_deg[rows[0]]), int(out_deg[rows[0]])
    groups.append((rows, in_table[rows, :d_in], out_table[rows, :d_out]))
  return groups


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


def _next_round(groups, ids: np.ndarray, hexes: np.ndarray, dedup: bool
               ) -> tuple[np.ndarray, np.ndarray, bool]:
  """One round of the reference loop over all vertices.

  Args:
    groups: from :func:`_degree_groups`.
    ids: (G*V,) rank of each vertex's current hash.
    hexes: (R, 32) uint8 hex of each rank.
    dedup: hash each distinct text once (pays while texts repeat a lot).

  Returns:
    The new (ids, hexes) and whether to deduplicate in the next round.
  """
  row_to_unique = np.empty(len(ids), dtype=np.int64)
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
  # Strings repeat a lot in the first rounds only. The partition of vertices
  # by string only gets finer (a string contains the vertex's previous one),
  # so once nearly all are distinct, deduplicating no longer pays.
  dedup = offset < 0.9 * len(row_to_unique)
  ranks, uniq = rank_digests(np.concatenate(parts))
  return ranks[row_to_unique], _hex_bytes(uniq), dedup


def _final_digests(ids: np.ndarray, hexes: np.ndarray) -> np.ndarray:
  """md5 of str(sorted(hashes)), e.g. "['0a..', '3f..']", per graph.

  Args:
    ids: (G, V) rank of each vertex's last-round hash.
    hexes: (R, 32) uint8 hex of each rank.
  """
  num_v = ids.shape[1]
  ids = np.sort(ids, axis=1)
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


def batch_fingerprints(adj: np.ndarray, labels: np.ndarray) -> np.ndarray:
  """Official fingerprints of G graphs with V vertices each.

  Same values as ``Cell.module_hash`` of each graph.

  Args:
    adj: (G, V, V) bool adjacency (pruned cells).
    labels: (G, V) int vertex labels.

  Returns:
    (G, 16) uint8 raw md5 digests (:func:`digests_to_hex` gives the strings).
  """
  num_g, num_v = labels.shape
  adj = adj.astype(bool)
  out_deg = adj.sum(axis=2).ravel()
  in_deg = adj.sum(axis=1).ravel()
  ids, hexes = _initial_ids(out_deg, in_deg, labels)
  groups = _degree_groups(adj, out_deg, in_deg)
  dedup = True
  for _ in range(num_v):
    ids, hexes, dedup = _next_round(groups, ids, hexes, dedup)
  return _final_digests(ids.reshape(num_g, num_v), hexes)
