"""All unique NAS-Bench-101 cells, and their compact file (NumPy only).

:func:`enumerate_cells` lists the 423,624 unique cells (unique module hashes)
with at most 7 vertices and 9 edges, in about 30-60 s; :func:`save_enumeration`
writes them to a ~12 MB .npz and :func:`load_enumeration` reads it back as an
:class:`Enumeration` (hash-sorted arrays; cells are built on access).
:func:`load_or_enumerate` does both, computing the file once. Nothing here
caches: the caller keeps the Enumeration it loaded (see
:meth:`jaxnas.spaces.nb101.NB101Space.enumeration`).
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Callable, Iterator, NamedTuple

import numpy as np

from jaxnas.errors import DataError, SpecError, one_line
from jaxnas.spaces.nb101 import hashing
from jaxnas.spaces.nb101 import spec

_FORMAT = 'jaxnas-nb101-enumeration-v1'


class Enumeration(NamedTuple):
  """All unique cells, sorted by module hash.

  Attributes:
    hashes: (N,) '<U32' module hashes, ascending.
    num_vertices: (N,) uint8.
    matrix_bits: (N,) uint32 packed matrices (see
      :func:`jaxnas.spaces.nb101.spec.bits_to_matrix`).
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

  def cell(self, index: int) -> spec.Cell:
    num_v = int(self.num_vertices[index])
    return spec.cell_from_code(self.matrix_bits[index],
                               self.labels[index, :num_v])

  def cells(self) -> Iterator[spec.Cell]:
    for index in range(self.num_cells):
      yield self.cell(index)

  def sample(self, rng: np.random.Generator) -> spec.Cell:
    """A cell drawn uniformly over unique cells (unlike
    :func:`jaxnas.spaces.nb101.sampling.sample`)."""
    return self.cell(int(rng.integers(self.num_cells)))

  def find(self, module_hash_: str) -> int:
    """Index of a hash, or -1 if absent."""
    i = int(np.searchsorted(self.hashes, module_hash_))
    if i < self.num_cells and self.hashes[i] == module_hash_:
      return i
    return -1


# --------------------------------------------------------------------------
# Enumeration: one spec per isomorphism class, hashed in batch.


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
    codes |= bit << np.uint32(spec.PAIR_BIT[i, j])
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
      bit = (codes >> np.uint32(spec.PAIR_BIT[i, j])) & np.uint32(1)
      si, sj = sigmas[:, i], sigmas[:, j]
      lo, hi = np.minimum(si, sj), np.maximum(si, sj)
      tgt = np.where(si < sj, spec.PAIR_BIT[lo, hi], 31).astype(np.uint32)
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
  labs = np.array(list(itertools.product(range(len(spec.OPS)), repeat=n_int)),
                  dtype=np.int64).reshape(len(spec.OPS)**n_int, n_int)
  powers = len(spec.OPS)**np.arange(n_int - 1, -1, -1, dtype=np.int64)
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


def _classes_of_size(num_v: int, max_edges: int):
  """Every isomorphism class of V-vertex cells, hashed.

  Returns:
    ((G, 16) uint8 digests, (G,) uint8 vertex counts, (G,) uint32 packed
    matrices, (G, 7) int8 padded labels), and the number of unlabelled
    classes (graph shapes).
  """
  codes, interior, n_shapes = _labelled_classes(num_v, max_edges)
  num_g = len(codes)
  adj = np.zeros((num_g, num_v, num_v), dtype=bool)
  for i in range(num_v):
    for j in range(i + 1, num_v):
      adj[:, i, j] = (codes >> np.uint32(spec.PAIR_BIT[i, j])) & np.uint32(1)
  labels = np.empty((num_g, num_v), dtype=np.int64)
  labels[:, 0], labels[:, -1] = spec.INPUT_LABEL, spec.OUTPUT_LABEL
  labels[:, 1:-1] = interior
  digests = hashing.batch_fingerprints(adj, labels)
  padded = np.full((num_g, spec.MAX_VERTICES), spec.PAD_LABEL, dtype=np.int8)
  padded[:, :num_v] = labels
  arrays = (digests, np.full(num_g, num_v, dtype=np.uint8),
            codes.astype(np.uint32), padded)
  return arrays, n_shapes


def enumerate_cells(max_vertices: int = spec.MAX_VERTICES,
                    max_edges: int = spec.MAX_EDGES,
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
  if not 2 <= max_vertices <= spec.MAX_VERTICES:
    raise SpecError(f'enumerate_cells: max_vertices={max_vertices} must be in '
                    f'2..{spec.MAX_VERTICES}')
  say = progress or (lambda msg: None)
  start = time.perf_counter()
  parts = []  # Per vertex count: (digests, num_vertices, bits, labels).
  for num_v in range(2, max_vertices + 1):
    arrays, n_shapes = _classes_of_size(num_v, max_edges)
    parts.append(arrays)
    say(f'V={num_v}: {n_shapes} graph shapes, {len(arrays[0])} isomorphism '
        f'classes ({time.perf_counter() - start:.1f}s)')
  digests, num_vertices, bits, labels = (np.concatenate(arrays)
                                         for arrays in zip(*parts))
  ranks, _ = hashing.rank_digests(digests)
  _, first = np.unique(ranks, return_index=True)  # Sorted by hash.
  result = Enumeration(hashes=hashing.digests_to_hex(digests[first]),
                       num_vertices=num_vertices[first],
                       matrix_bits=bits[first], labels=labels[first])
  say(f'{result.num_cells} unique hashes from {len(digests)} isomorphism '
      f'classes ({time.perf_counter() - start:.1f}s)')
  return result


# --------------------------------------------------------------------------
# The file.


def save_enumeration(path: str | os.PathLike, enumeration: Enumeration) -> None:
  """Writes an enumeration to a compact .npz (about 12 MB for all cells).

  Hashes are stored as 16 raw digest bytes each; the write is atomic.
  """
  digests = hashing.hex_to_digests(enumeration.hashes)
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
                    f'enumeration: {one_line(e)}') from e
  n = len(digests)
  if (fmt != _FORMAT or digests.shape != (n, 16) or
      arrays['num_vertices'].shape != (n,) or
      arrays['matrix_bits'].shape != (n,) or
      arrays['labels'].shape != (n, spec.MAX_VERTICES)):
    raise DataError(f'NB101 enumeration file {path!r} has format {fmt!r} or '
                    f'array shapes that do not match {_FORMAT!r}')
  return Enumeration(hashes=hashing.digests_to_hex(digests), **arrays)


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
