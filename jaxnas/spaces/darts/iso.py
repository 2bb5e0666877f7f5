"""Canonical forms, isomorphism key and id of DARTS genotypes (NumPy only).

Two identities of a DARTS cell:

* The two pairs of a node are unordered: the node sums them.
  :func:`canonical` sorts them; DARTS and NASLib build the same network
  from either order (up to the order of its ops).
* Intermediate nodes may be renumbered in any order that keeps every input
  earlier than its node: the cell's output (the concatenation of nodes
  2..5) is then a channel permutation of the original, which the next
  cells' 1x1 convolutions absorb. :func:`iso_canonical` and :func:`iso_key`
  normalise this too. Inputs 0 and 1 are never swapped (they are different
  cells' outputs), and the normal and reduction cells are renumbered
  independently.
"""

from __future__ import annotations

import hashlib
import itertools
from typing import Sequence

import numpy as np

from jaxnas.spaces.darts import spec

# Orders of the 4 intermediate nodes (new label of old node j = perm[j] + 2).
_PERMS = tuple(itertools.permutations(range(spec.NUM_NODES)))


def _sorted_cell(cell: Sequence[tuple[int, int]]) -> tuple[tuple[int, int],
                                                           ...]:
  """(op, input) index pairs with each node's two pairs sorted by (input,
  op)."""
  out = []
  for j in range(spec.NUM_NODES):
    a, b = cell[2 * j], cell[2 * j + 1]
    out.extend(sorted((a, b), key=lambda t: (t[1], t[0])))
  return tuple(out)


def canonical(arch: spec.Arch) -> spec.Genotype:
  """The same genotype with each node's two pairs sorted by (input, op).

  This is an exact identity (a node sums its two inputs), so DARTS and
  NASLib build the same network, up to the order of its ops.
  """
  a = spec.to_array(arch)
  return spec.from_array(np.asarray(
      [_sorted_cell([tuple(p) for p in a[c].tolist()]) for c in range(2)]))


def _relabelled(cell: Sequence[tuple[int, int]], perm: Sequence[int]
                ) -> tuple[tuple[int, int], ...] | None:
  """The cell with old node j renamed ``perm[j] + 2`` (pairs sorted), or None
  if some input would no longer come before its node."""
  new = [None] * spec.NUM_NODES
  for j in range(spec.NUM_NODES):
    node = perm[j] + 2
    pair = []
    for op, src in cell[2 * j:2 * j + 2]:
      src = src if src < 2 else perm[src - 2] + 2
      if src >= node:
        return None
      pair.append((op, src))
    new[perm[j]] = pair
  return _sorted_cell([p for pair in new for p in pair])


def _iso_cell(cell: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
  """Smallest (op, input) tuple over all valid renumberings of the nodes."""
  cands = (_relabelled(cell, perm) for perm in _PERMS)
  # Sort key puts inputs first so that structure dominates the choice.
  return min((c for c in cands if c is not None),
             key=lambda c: tuple((s, o) for o, s in c))


def iso_canonical(arch: spec.Arch) -> spec.Genotype:
  """A representative of the genotype's isomorphism class.

  Each cell independently takes, over every renumbering of its intermediate
  nodes that keeps inputs before their node (the identity always qualifies),
  with the two pairs of each node sorted, the lexicographically smallest
  list of (input, op) pairs. Two genotypes have the same representative iff
  one is a renumbering (plus pair swaps) of the other: the minimum is taken
  over the whole class, and each candidate is a member of it.
  """
  a = spec.to_array(arch)
  return spec.from_array(np.asarray(
      [_iso_cell([tuple(p) for p in a[c].tolist()]) for c in range(2)]))


def iso_key(arch: spec.Arch) -> str:
  """Isomorphism / dedup key: the command-line form of
  :func:`iso_canonical`. Equal exactly for genotypes that differ by the
  order of a node's two pairs and by renumbering intermediate nodes (each
  cell separately); inputs 0 and 1 are never swapped (they are different
  cells' outputs)."""
  return spec.format(iso_canonical(arch))


def arch_id(arch: spec.Arch) -> int:
  """Stable id in ``[0, 2**32)`` for PRNG keys: the first 32 bits of the md5
  of the :func:`canonical` command-line form (so independent of the order
  of a node's pairs, but not of node renumbering)."""
  text = spec.format(canonical(arch))
  return int(hashlib.md5(text.encode('ascii')).hexdigest()[:8], 16)
