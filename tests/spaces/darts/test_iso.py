"""Canonical forms and isomorphism keys (jaxnas.spaces.darts.iso)."""

import itertools

import numpy as np

from jaxnas.spaces.darts import iso
from jaxnas.spaces.darts import sampling
from jaxnas.spaces.darts import spec
from tests.spaces.darts.test_spec import DARTS_V2_LINE, ROW0_COMPACT


def test_canonical_sorts_the_pairs_of_each_node():
  g = spec.parse(ROW0_COMPACT)
  c = iso.canonical(g)
  assert c.normal[:2] == (('dil_conv_3x3', 0), ('max_pool_3x3', 1))
  assert c.normal[6:] == (('sep_conv_3x3', 1), ('sep_conv_5x5', 2))
  assert iso.canonical(c) == c
  assert iso.arch_id(g) == iso.arch_id(c)
  assert 0 <= iso.arch_id(g) < 2**32
  assert iso.arch_id(spec.parse(DARTS_V2_LINE)) == 465250061  # stable
  assert iso.arch_id(g) != iso.arch_id(sampling.mutate(
      g, np.random.default_rng(0)))


def _swap_pairs(arr, rng):
  """Swaps the two pairs of randomly chosen nodes."""
  arr = arr.copy()
  for c, j in itertools.product(range(2), range(4)):
    if rng.random() < 0.5:
      arr[c, [2 * j, 2 * j + 1]] = arr[c, [2 * j + 1, 2 * j]]
  return arr


def _relabel(cell, perm):
  """Renames node j to perm[j] + 2 (None if an input would come later)."""
  new = np.zeros_like(cell)
  for j in range(4):
    for k in range(2):
      op, src = cell[2 * j + k]
      src = src if src < 2 else perm[src - 2] + 2
      if src >= perm[j] + 2:
        return None
      new[2 * perm[j] + k] = (op, src)
  return new


def _edges(cell, perm=(0, 1, 2, 3)):
  """Multiset of (op, source, target) edges of a cell under a renaming."""
  name = lambda v: v if v < 2 else perm[v - 2] + 2
  return tuple(sorted((int(op), name(int(src)), name(j // 2 + 2))
                      for j, (op, src) in enumerate(cell)))


def _orbit(cell):
  """Edge multisets of every renaming of the nodes (valid or not): two cells
  are isomorphic iff one's edges are in the other's orbit."""
  return frozenset(_edges(cell, p) for p in itertools.permutations(range(4)))


def test_iso_key_is_invariant_under_renumbering_and_pair_swaps():
  rng = np.random.default_rng(4)
  relabelled = 0
  for _ in range(150):
    g = sampling.sample(rng)
    arr = spec.to_array(g)
    key = iso.iso_key(g)
    assert iso.iso_key(iso.iso_canonical(g)) == key
    assert iso.iso_key(_swap_pairs(arr, rng)) == key
    for perm in itertools.permutations(range(4)):
      cells = [_relabel(arr[c], perm) for c in range(2)]
      for c in range(2):
        if cells[c] is not None:
          other = arr.copy()
          other[c] = cells[c]
          assert iso.iso_key(_swap_pairs(other, rng)) == key
          relabelled += perm != (0, 1, 2, 3)
  assert relabelled > 300


def test_iso_key_separates_non_isomorphic_cells():
  # All 180 cell structures with one op (pairs unordered): the classes of
  # equal keys are exactly the brute-force isomorphism classes.
  cells = []
  for inputs in itertools.product(*(itertools.combinations(range(j + 2), 2)
                                    for j in range(4))):
    cells.append(np.array([(spec.SEP3, s) for pair in inputs for s in pair]))
  assert len(cells) == 180
  keys = [iso.iso_key(np.stack([c, c])) for c in cells]
  orbits = [_orbit(c) for c in cells]
  for i, j in itertools.combinations(range(len(cells)), 2):
    assert (keys[i] == keys[j]) == (_edges(cells[j]) in orbits[i])
  assert len(set(keys)) == 79  # classes of the 180 (equal by brute force)
  # Random genotypes over two ops, plus renumbered copies of some of them.
  rng = np.random.default_rng(5)
  arrs = []
  for _ in range(120):
    arr = spec.to_array(sampling.sample(rng))
    arr[..., 0] %= 2
    arrs.append(arr)
  for arr in arrs[:60]:
    for perm in itertools.permutations(range(4)):
      cells = [_relabel(arr[c], perm) for c in range(2)]
      if all(c is not None for c in cells) and perm != (0, 1, 2, 3):
        arrs.append(_swap_pairs(np.stack(cells), rng))
        break
  keys = [iso.iso_key(a) for a in arrs]
  orbits = [(_orbit(a[0]), _orbit(a[1])) for a in arrs]
  same = 0
  for i, j in itertools.combinations(range(len(arrs)), 2):
    isomorphic = (_edges(arrs[j][0]) in orbits[i][0] and
                  _edges(arrs[j][1]) in orbits[i][1])
    assert (keys[i] == keys[j]) == isomorphic
    same += isomorphic
  assert same >= 20


def test_iso_key_keeps_inputs_0_and_1_apart():
  g = spec.parse(DARTS_V2_LINE)
  arr = spec.to_array(g)
  swapped = arr.copy()
  low = swapped[..., 1] < 2
  swapped[..., 1][low] = 1 - swapped[..., 1][low]
  assert iso.iso_key(swapped) != iso.iso_key(arr)
