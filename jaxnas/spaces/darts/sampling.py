"""Random DARTS genotypes and their mutations, as NASLib draws them."""

from __future__ import annotations

import numpy as np

from jaxnas.spaces.darts.spec import (ARRAY_SHAPE, NUM_NODES, NUM_OPS,
                                      NUM_PAIRS, Arch, Genotype, from_array,
                                      to_array)


def sample(rng: np.random.Generator) -> Genotype:
  """A random genotype, as NASLib samples one: for each cell and node ``j``,
  two distinct inputs drawn without replacement from ``0..j+1`` (in drawn
  order) and two ops drawn uniformly (with replacement)."""
  arr = np.zeros(ARRAY_SHAPE, np.int32)
  for c in range(2):
    for j in range(NUM_NODES):
      arr[c, 2 * j:2 * j + 2, 1] = rng.choice(j + 2, 2, replace=False)
      arr[c, 2 * j:2 * j + 2, 0] = rng.integers(0, NUM_OPS, 2)
  return from_array(arr)


def mutate(arch: Arch, rng: np.random.Generator) -> Genotype:
  """Changes one op or one input, drawn as NASLib draws a mutation.

  A cell, a pair, a field and a new value are drawn uniformly (op: ``0..6``;
  input of node ``j``: ``0..j+1``), again until the draw changes the
  genotype and keeps the node's two inputs distinct. (NASLib's
  ``NasBench301SearchSpace.mutate`` compares its first draw with an alias
  of itself, so it keeps that draw and then applies a second changing one,
  which may undo the first; this applies exactly one change, as its
  docstring says.)
  """
  arr = to_array(arch)
  while True:
    c, p, field = rng.integers(2), rng.integers(NUM_PAIRS), rng.integers(2)
    high = NUM_OPS if field == 0 else p // 2 + 2
    value = rng.integers(high)
    if value == arr[c, p, field]:
      continue
    if field == 1 and value == arr[c, p ^ 1, 1]:
      continue
    child = arr.copy()
    child[c, p, field] = value
    return from_array(child)


def neighbours(arch: Arch) -> list[Genotype]:
  """Every genotype one mutation away (as NASLib's ``get_nbhd``: each pair's
  op changed to any other op, or its input to any other allowed input that
  its sibling does not use), in a fixed order: 16·6 = 96 op changes and
  2·2·(0 + 1 + 2 + 3) = 24 input changes, 120 in all."""
  arr = to_array(arch)
  out = []
  for c in range(2):
    for p in range(NUM_PAIRS):
      for op in range(NUM_OPS):
        if op != arr[c, p, 0]:
          child = arr.copy()
          child[c, p, 0] = op
          out.append(from_array(child))
      for src in range(p // 2 + 2):
        if src not in (arr[c, p, 1], arr[c, p ^ 1, 1]):
          child = arr.copy()
          child[c, p, 1] = src
          out.append(from_array(child))
  return out
