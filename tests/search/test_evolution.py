"""Budgeted benchmark searches: RE, AREA, random search, REINFORCE.

NumPy only: the toy space below re-implements an NB201-shaped space (6 edges
x 5 ops, one-edge mutation) so that these tests stay independent of
jaxnas.spaces (and of JAX).
"""

import csv
import re

import numpy as np
import pytest

from jaxnas.search import evolution as ev
from jaxnas.search import reinforce as rf
from tests.conftest import reference_file

EDGES, OPS, GOOD = 6, 5, 3  # op 3 plays nor_conv_3x3
_POW = OPS**np.arange(EDGES)
_NOISE = np.random.default_rng(1234).normal(0.0, 0.5, OPS**EDGES)


def cell_id(arch) -> int:
  return int(np.asarray(arch) @ _POW)


class ToySpace:
  """6 edges x 5 ops; `iso` maps an arch to its dedup key."""

  def __init__(self, iso=None):
    self._iso = iso or (lambda a: tuple(int(x) for x in a))

  def sample(self, rng, n):
    return list(rng.integers(0, OPS, size=(n, EDGES)))

  def mutate(self, arch, rng):
    child = np.array(arch, copy=True)
    e = rng.integers(EDGES)
    child[e] = (child[e] + rng.integers(1, OPS)) % OPS
    return child

  def iso_key(self, arch):
    return self._iso(arch)

  def format(self, arch):
    return ''.join(str(int(x)) for x in arch)


def toy_value(arch) -> float:
  """Known optimum: all six edges GOOD (86 + noise)."""
  return 80.0 + float(np.sum(np.asarray(arch) == GOOD)) + _NOISE[cell_id(arch)]


class Counting:
  """Wraps a lookup; records every call's dedup key."""

  def __init__(self, fn, key):
    self.fn, self.key = fn, key
    self.keys = []

  def __call__(self, arch):
    self.keys.append(self.key(arch))
    return self.fn(arch)


def sorted_key(arch):  # coarse classes (210), so repeats are frequent
  return tuple(sorted(int(x) for x in arch))


def mean_best(results):
  return float(np.mean([r.value for r in results]))


# --------------------------------------------------------------------------


def test_re_and_area_beat_random_on_toy():
  space = ToySpace()
  budget, runs = 100, 20
  rnd = ev.repeat(ev.random_search, runs, 0, space, toy_value, budget)
  rea = ev.repeat(ev.regularized_evolution, runs, 0, space, toy_value, budget,
                  population=10, tournament=3)
  proxy = lambda a: float(np.sum(np.asarray(a) == GOOD)) + 0.5 * np.sin(
      cell_id(a))
  are = ev.repeat(ev.area, runs, 0, space, toy_value, budget,
                  score_fn=lambda cells: [proxy(a) for a in cells])
  m_rnd, m_rea, m_are = mean_best(rnd), mean_best(rea), mean_best(are)
  # Seeded; the gaps are ~0.8 at a standard error of ~0.2.
  assert m_rea > m_rnd + 0.3, (m_rnd, m_rea)
  assert m_are > m_rnd + 0.3, (m_rnd, m_are)


@pytest.mark.parametrize('algo', ['random', 're', 'area', 'reinforce'])
def test_dedup_budget_is_exact_and_no_class_twice(algo):
  space = ToySpace(sorted_key)
  lookup = Counting(toy_value, sorted_key)
  rng = np.random.default_rng(7)
  budget = 60
  if algo == 'random':
    res = ev.random_search(space, lookup, budget, rng)
  elif algo == 're':
    res = ev.regularized_evolution(space, lookup, budget, rng, population=10,
                                   tournament=3)
  elif algo == 'area':
    res = ev.area(space, lookup, budget, rng,
                  score_fn=lambda cells: [float(a[0]) for a in cells])
  else:
    res = rf.reinforce(rf.nb201_decisions(space), lookup, budget, rng)
  assert len(lookup.keys) == budget == res.queries == len(res.values)
  assert len(set(lookup.keys)) == budget  # no class looked up twice
  assert res.reused > 0  # 210 classes: repeats do happen, for free
  assert res.proposals == res.queries + res.reused + res.uncovered
  assert res.reused_within(budget) == res.reused
  assert 0 < res.reused_within(budget // 2) < res.reused
  traj = res.trajectory
  assert len(traj) == budget and np.all(np.diff(traj) >= 0)
  assert traj[-1] == res.value == toy_value(res.arch)
  assert res.value == max(toy_value(a) for a in res.archs)


@pytest.mark.parametrize('algo', ['random', 're', 'reinforce'])
def test_no_dedup_every_proposal_costs(algo):
  space = ToySpace(sorted_key)
  lookup = Counting(toy_value, sorted_key)
  rng = np.random.default_rng(3)
  budget = 300
  if algo == 'random':
    res = ev.random_search(space, lookup, budget, rng, dedup=False)
  elif algo == 're':
    res = ev.regularized_evolution(space, lookup, budget, rng, population=10,
                                   tournament=3, dedup=False)
  else:
    res = rf.reinforce(rf.nb201_decisions(space), lookup, budget, rng,
                       dedup=False)
  assert len(lookup.keys) == budget == res.queries == res.proposals
  assert len(set(lookup.keys)) < budget  # repeats were paid for
  assert res.reused == 0


def test_re_ages_out_the_oldest_and_picks_tournament_best():
  space = ToySpace()
  p = 5
  star = np.full(EDGES, 0)
  value = lambda a: 1000.0 if cell_id(a) == 0 else toy_value(a)
  parents = []
  orig_mutate = space.mutate

  def spy(arch, rng):
    parents.append(arch)
    return orig_mutate(arch, rng)

  space.mutate = spy
  rng = np.random.default_rng(5)
  initial = space.sample(np.random.default_rng(6), p - 1) + [star]
  res = ev.regularized_evolution(space, value, 60, rng, population=p,
                                 tournament=200, dedup=False,
                                 initial=initial)
  admitted = res.archs  # no dedup, no None: every proposal is admitted
  assert len(parents) == 60 - p
  for k, parent in enumerate(parents):
    window = admitted[k:k + p]  # the population before child k: size p
    assert any(parent is a for a in window)
    # 200 draws with replacement see every member: the parent is the best.
    assert value(parent) == max(value(a) for a in window)
  # The star (value 1000, youngest initial member) is the parent exactly
  # while it is alive: the p cycles before it ages out.
  assert all(parents[k] is star for k in range(p))
  assert not any(parent is star for parent in parents[p:])
  assert res.arch is star


def test_uncovered_cells_cost_nothing():
  space = ToySpace()
  value = lambda a: None if a[0] == 0 else toy_value(a)
  lookup = Counting(value, tuple)
  res = ev.regularized_evolution(space, lookup, 80, np.random.default_rng(2),
                                 population=10, tournament=3)
  assert res.queries == 80 and res.uncovered > 0
  assert all(a[0] != 0 for a in res.archs)
  assert res.proposals == res.queries + res.reused + res.uncovered


def test_stalls_raise_clear_errors():
  space = ToySpace()
  with pytest.raises(ev.SearchStalled, match='not covered'):
    ev.random_search(space, lambda a: None, 5, np.random.default_rng(0),
                     max_attempts=50)
  # 7 classes (number of GOOD ops) cannot fill a budget of 10 with dedup.
  few = ToySpace(lambda a: int(np.sum(np.asarray(a) == GOOD)))
  with pytest.raises(ev.SearchStalled, match='already queried'):
    ev.regularized_evolution(few, toy_value, 10, np.random.default_rng(0),
                             population=3, tournament=2, max_attempts=500)


def test_area_seeds_population_with_top_scores():
  space = ToySpace()
  lookup = Counting(toy_value, tuple)
  score = lambda a: float(cell_id(a))
  rng = np.random.default_rng(11)
  res = ev.area(space, lookup, 10, rng,
                score_fn=lambda cells: [score(a) for a in cells], m=20,
                keep=10)
  # Re-draw the same 20 candidates: the 10 queried cells are the 10 best.
  cands = ToySpace().sample(np.random.default_rng(11), 20)
  top = sorted(cands, key=score, reverse=True)[:10]
  queried = [tuple(int(x) for x in a) for a in res.archs]
  assert queried == [tuple(int(x) for x in a) for a in top]


def test_summarize_and_best_at():
  space = ToySpace()
  runs = ev.repeat(ev.random_search, 5, 0, space, toy_value, 30)
  again = ev.repeat(ev.random_search, 5, 0, space, toy_value, 30)
  assert [r.value for r in runs] == [r.value for r in again]  # seeded
  table = ev.summarize(runs, [10, 30])
  assert table[30][0] == pytest.approx(mean_best(runs))
  assert table[10][0] <= table[30][0] and table[30][2] == 5
  r = runs[0]
  assert r.best_at(10) == toy_value(r.best_arch_at(10))
  shifted = ev.summarize(runs, [30], metric=lambda a: toy_value(a) + 1)
  assert shifted[30][0] == pytest.approx(mean_best(runs) + 1)


# --------------------------------------------------------------------------
# Real NB201 table (JAXNAS_REFERENCE_DATA).

NB201_OPS = ('none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3',
             'avg_pool_3x3')


def test_re_beats_random_on_nb201_cifar10_valid():
  path = reference_file('nb201_ground_truth.csv')
  valid, iso = {}, {}
  with open(path, newline='') as f:
    for row in csv.DictReader(f):
      ops = tuple(NB201_OPS.index(op)
                  for op in re.findall(r'([a-z0-9_]+)~\d', row['arch_str']))
      assert len(ops) == EDGES
      valid[ops] = float(row['cifar10_valid'])
      iso[ops] = int(row['iso_class'])
  assert len(valid) == OPS**EDGES
  key = lambda a: tuple(int(x) for x in a)
  space = ToySpace(lambda a: iso[key(a)])
  lookup = lambda a: valid[key(a)]
  runs, budget = 40, 100
  rnd = ev.repeat(ev.random_search, runs, 0, space, lookup, budget)
  rea = ev.repeat(ev.regularized_evolution, runs, 0, space, lookup, budget,
                  population=10, tournament=3)
  assert mean_best(rea) > mean_best(rnd) + 0.1, (mean_best(rnd),
                                                 mean_best(rea))


def test_covered_space_samples_and_mutates_inside_the_table():
  space = ToySpace()
  space.name = 'toy'
  # The table covers the cells whose ops are all 0 or 1 (64 of 15,625).
  covered = lambda a: bool(np.all(np.asarray(a) <= 1))
  cells = [np.array([(i >> e) & 1 for e in range(EDGES)]) for i in range(64)]
  restricted = ev.CoveredSpace(space, cells[:10], covered)
  rng = np.random.default_rng(3)
  drawn = {cell_id(a) for a in restricted.sample(rng, 200)}
  assert drawn == {cell_id(c) for c in cells[:10]}
  lookup = Counting(toy_value, tuple)
  res = ev.regularized_evolution(restricted, lookup, 30, rng, population=5,
                                 tournament=2, dedup=False)
  assert res.queries == 30 and res.uncovered == 0
  assert all(covered(a) for a in res.archs)
  # Unrestricted, the same search proposes uncovered cells (lookup None).
  res = ev.regularized_evolution(
      space, lambda a: toy_value(a) if covered(a) else None, 30,
      np.random.default_rng(3), population=5, tournament=2, dedup=False,
      initial=cells[:5])
  assert res.uncovered > 0
  nothing = ev.CoveredSpace(space, cells, lambda a: False, max_tries=50)
  with pytest.raises(ev.SearchStalled, match='50 mutations'):
    nothing.mutate(cells[0], rng)
  with pytest.raises(ev.JaxnasError, match='covers no cell'):
    ev.CoveredSpace(space, [], covered)
