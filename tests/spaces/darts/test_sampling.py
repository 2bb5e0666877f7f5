"""Random genotypes and mutations (jaxnas.spaces.darts.sampling)."""

import numpy as np

from jaxnas.spaces.darts import sampling
from jaxnas.spaces.darts import spec
from tests.spaces.darts.test_spec import DARTS_V2_LINE


def test_sample_and_mutate_stay_valid():
  rng = np.random.default_rng(0)
  seen_inputs = set()
  for _ in range(200):
    g = sampling.sample(rng)
    arr = spec.to_array(g)
    for j in range(4):
      a, b = arr[:, 2 * j, 1], arr[:, 2 * j + 1, 1]
      assert np.all(a != b) and np.all(a < j + 2) and np.all(b < j + 2)
      seen_inputs.update((j, int(x)) for x in np.concatenate([a, b]))
    child = sampling.mutate(g, rng)
    diff = spec.to_array(child) != arr
    assert diff.sum() == 1  # exactly one op or one input changed
  # Every allowed input of every node is drawn.
  assert seen_inputs == {(j, i) for j in range(4) for i in range(j + 2)}
  # Same seed, same draws.
  assert sampling.sample(np.random.default_rng(3)) == sampling.sample(
      np.random.default_rng(3))


def test_mutate_changes_ops_and_inputs():
  rng = np.random.default_rng(1)
  g = spec.parse(DARTS_V2_LINE)
  fields = {int(np.argwhere(spec.to_array(sampling.mutate(g, rng)) !=
                            spec.to_array(g))[0][2]) for _ in range(100)}
  assert fields == {0, 1}


def test_neighbours_are_all_one_mutation_away():
  g = spec.parse(DARTS_V2_LINE)
  nbrs = sampling.neighbours(g)
  assert len(nbrs) == 120 == len(set(nbrs))
  arr = spec.to_array(g)
  for n in nbrs:
    assert (spec.to_array(n) != arr).sum() == 1
  rng = np.random.default_rng(2)
  assert all(sampling.mutate(g, rng) in set(nbrs) for _ in range(50))
