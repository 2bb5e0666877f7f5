"""Benchmark-driven searches: random search, regularized evolution, AREA.

Every search here optimises a trained accuracy read from a table,
``lookup(arch) -> float | None`` (None: the cell is not covered by the table),
under a *budget* of queries, and works on any space object with::

  sample(rng, n) -> list[arch]      mutate(arch, rng) -> arch
  iso_key(arch) -> hashable         format(arch) -> str

NumPy only (no JAX): the searches run on precomputed tables in milliseconds.

Budget accounting (see :class:`Oracle`)
---------------------------------------
* A *query* is one lookup that costs budget: the search stops after exactly
  ``budget`` of them (or earlier if it ends with an error).
* ``dedup=True`` (default): values are cached by ``iso_key``; a cell whose
  class was already looked up is free and gets the cached value (the value of
  the first member of its class that was looked up). So no class is looked
  up twice.
* ``dedup=False``: every proposal calls ``lookup`` and costs one query,
  repeats included (the protocol of most published benchmark runs).
* A lookup that returns None costs nothing and the search proposes another
  cell (resample / new mutation). ``max_attempts`` consecutive proposals that
  cost nothing (uncovered or, with dedup, already known) raise
  :class:`SearchStalled`, naming the reason, instead of looping forever.

Each search returns a :class:`SearchResult`: the best queried arch (by its
looked-up value), the queries used, every queried arch and value in order, and
``trajectory`` (best-so-far after each query) for accuracy-vs-budget tables.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any, Callable, Sequence

import numpy as np

from jaxnas.errors import JaxnasError

Lookup = Callable[[Any], 'float | None']
ScoreFn = Callable[[list[Any]], 'list[float | None]']


class SearchStalled(JaxnasError, RuntimeError):
  """A search proposed `max_attempts` cells in a row without using budget."""


@dataclasses.dataclass
class SearchResult:
  """One search run.

  Attributes:
    arch: the best queried arch (None if nothing was queried).
    value: its looked-up value.
    queries: budget used (== len(values)).
    archs: the queried archs, in query order.
    values: float64 [queries], their looked-up values.
    proposals: cells proposed in all (queries + reused + uncovered).
    reused: proposals answered from the dedup cache (lookups saved).
    uncovered: proposals whose lookup was None.
    note: why the run ended early, if it did.
    reused_at: int [reused], the number of queries made when each cache hit
      happened (so hits within a smaller budget can be counted).
  """
  arch: Any
  value: float | None
  queries: int
  archs: list[Any]
  values: np.ndarray
  proposals: int
  reused: int
  uncovered: int
  note: str | None = None
  reused_at: np.ndarray | None = None

  @property
  def trajectory(self) -> np.ndarray:
    """Best value so far after each query, float64 [queries]."""
    if not len(self.values):
      return np.zeros(0)
    return np.maximum.accumulate(self.values)

  def best_at(self, budget: int) -> float | None:
    """Best value within the first `budget` queries (None if none)."""
    if budget < 1 or not len(self.values):
      return None
    return float(self.trajectory[min(budget, len(self.values)) - 1])

  def reused_within(self, budget: int) -> int:
    """Cache hits (lookups saved) before the `budget`-th query was made."""
    if self.reused_at is None:
      raise ValueError('this result has no reused_at record')
    return int(np.sum(self.reused_at < budget))

  def best_arch_at(self, budget: int) -> Any:
    """The arch chosen had the search stopped after `budget` queries."""
    if budget < 1 or not len(self.values):
      return None
    head = self.values[:budget]
    return self.archs[int(np.argmax(head))]


class Oracle:
  """Budgeted, optionally deduplicated access to a lookup table.

  ``ask(arch)`` returns the arch's value (None if uncovered) and records the
  query; ``spent`` tells whether budget remains. The first queried arch with
  the largest value is the result (ties keep the earliest).
  """

  def __init__(self, space, lookup: Lookup, budget: int, dedup: bool = True,
               max_attempts: int = 10_000, name: str = 'search'):
    if int(budget) != budget or budget < 0:
      raise ValueError(f'{name}: budget must be a non-negative integer, got '
                       f'{budget!r}')
    if max_attempts < 1:
      raise ValueError(f'{name}: max_attempts must be >= 1, got '
                       f'{max_attempts!r}')
    self.space = space
    self.lookup = lookup
    self.budget = int(budget)
    self.dedup = dedup
    self.max_attempts = int(max_attempts)
    self.name = name
    self.cache: dict[Any, float | None] = {}
    self.archs: list[Any] = []
    self.values: list[float] = []
    self.proposals = 0
    self.reused = 0
    self.reused_at: list[int] = []
    self.uncovered = 0
    self._idle = 0  # consecutive proposals that cost nothing
    self._idle_uncovered = 0
    self._best = -np.inf
    self._best_i = None

  @property
  def queries(self) -> int:
    return len(self.values)

  @property
  def spent(self) -> bool:
    return self.queries >= self.budget

  def ask(self, arch) -> float | None:
    """The value of `arch` (None: not covered). Raises SearchStalled."""
    if self.spent:
      raise RuntimeError(f'{self.name}: ask() after the budget was spent')
    self.proposals += 1
    key = self.space.iso_key(arch) if self.dedup else None
    if self.dedup and key in self.cache:
      value = self.cache[key]
      if value is None:
        self.uncovered += 1
      else:
        self.reused += 1
        self.reused_at.append(self.queries)
      self._idle_step(value is None, arch)
      return value
    value = self.lookup(arch)
    if value is not None:
      value = float(value)
      if not np.isfinite(value):
        value = None
    if self.dedup:
      self.cache[key] = value
    if value is None:
      self.uncovered += 1
      self._idle_step(True, arch)
      return None
    self._idle = self._idle_uncovered = 0
    self.archs.append(arch)
    self.values.append(value)
    if value > self._best:
      self._best, self._best_i = value, len(self.values) - 1
    return value

  def _idle_step(self, uncovered: bool, arch) -> None:
    self._idle += 1
    self._idle_uncovered += uncovered
    if self._idle >= self.max_attempts:
      known = self._idle - self._idle_uncovered
      raise SearchStalled(
          f'{self.name}: {self._idle} proposals in a row used no budget '
          f'({self._idle_uncovered} not covered by the lookup, {known} '
          f'already queried) after {self.queries}/{self.budget} queries; '
          f'last proposal {self.space.format(arch)}. The table covers too '
          'little of the space, or the budget exceeds what the search can '
          'reach (raise max_attempts, or lower the budget)')

  def result(self, note: str | None = None) -> SearchResult:
    i = self._best_i
    return SearchResult(
        arch=None if i is None else self.archs[i],
        value=None if i is None else self.values[i],
        queries=self.queries, archs=list(self.archs),
        values=np.asarray(self.values, dtype=np.float64),
        proposals=self.proposals, reused=self.reused,
        uncovered=self.uncovered, note=note,
        reused_at=np.asarray(self.reused_at, dtype=np.int64))


class CoveredSpace:
  """A space seen through a ground-truth table that covers only part of it.

  ``sample`` draws uniformly (with replacement) from ``cells``, the covered
  cells the table gives a graph for; ``mutate`` repeats the space's mutation
  until the child is covered (``covered(arch)`` is True), so a search never
  spends proposals on cells it cannot look up. Everything else is the
  wrapped space's. Used for NB101, where the reference table covers 30k of
  the 423,624 cells (10,265 of them with a graph).
  """

  def __init__(self, space, cells: Sequence[Any],
               covered: Callable[[Any], bool], max_tries: int = 10_000):
    if not cells:
      raise JaxnasError(f'{space.name}: the benchmark covers no cell with a '
                        'graph to sample from')
    self.space = space
    self.cells = list(cells)
    self.covered = covered
    self.max_tries = max_tries

  def __getattr__(self, name):
    return getattr(self.space, name)

  def sample(self, rng: np.random.Generator, n: int) -> list[Any]:
    return [self.cells[i] for i in rng.integers(0, len(self.cells), n)]

  def mutate(self, arch, rng: np.random.Generator):
    for _ in range(self.max_tries):
      child = self.space.mutate(arch, rng)
      if self.covered(child):
        return child
    raise SearchStalled(f'{self.space.name}: {self.max_tries} mutations of '
                        f'{self.space.format(arch)} in a row were not covered '
                        'by the benchmark')


def random_search(space, lookup: Lookup, budget: int, rng: np.random.Generator,
                  dedup: bool = True, max_attempts: int = 10_000
                  ) -> SearchResult:
  """Random search: uniform samples until `budget` queries are used."""
  oracle = Oracle(space, lookup, budget, dedup, max_attempts, 'random_search')
  while not oracle.spent:
    for arch in space.sample(rng, 1):
      oracle.ask(arch)
  return oracle.result()


def regularized_evolution(space, lookup: Lookup, budget: int,
                          rng: np.random.Generator, population: int = 100,
                          tournament: int = 10, dedup: bool = True,
                          initial: Sequence[Any] | None = None,
                          max_attempts: int = 10_000) -> SearchResult:
  """Regularized (aging) evolution, Real et al. (AAAI 2019), Algorithm 1.

  The population starts with the cells of `initial` (queried in order) and is
  topped up with random cells to `population` members. Then each cycle draws
  `tournament` members uniformly WITH replacement (as the reference code
  draws them), mutates the best of them (first on ties) into a child, queries
  the child, appends it and removes the oldest member, until `budget` queries
  are used. The initial members count against the budget.

  With dedup, a child (or initial cell) whose class was already queried is
  free and still joins the population with the known value. A child that is
  not covered by the lookup is dropped and the cycle is redone (new
  tournament, new mutation).

  Args:
    space: the space (sample, mutate, iso_key, format).
    lookup: arch -> trained value or None.
    budget: number of queries.
    rng: the run's generator.
    population: population size P.
    tournament: tournament (sample) size S.
    dedup: see the module doc.
    initial: optional starting cells (at most `population`).
    max_attempts: consecutive budget-free proposals before SearchStalled.
  """
  if population < 1 or tournament < 1:
    raise ValueError(f'regularized_evolution: population={population} and '
                     f'tournament={tournament} must be >= 1')
  initial = list(initial) if initial is not None else []
  if len(initial) > population:
    raise ValueError(f'regularized_evolution: {len(initial)} initial cells '
                     f'for a population of {population}')
  oracle = Oracle(space, lookup, budget, dedup, max_attempts,
                  'regularized_evolution')
  members: collections.deque = collections.deque()  # (arch, value), oldest left
  for arch in initial:
    if oracle.spent:
      return oracle.result('budget spent during initialisation')
    value = oracle.ask(arch)
    if value is not None:
      members.append((arch, value))
  while len(members) < population:
    if oracle.spent:
      return oracle.result('budget spent during initialisation')
    arch = space.sample(rng, 1)[0]
    value = oracle.ask(arch)
    if value is not None:
      members.append((arch, value))
  while not oracle.spent:
    picks = rng.integers(0, len(members), size=tournament)
    parent = members[max(picks, key=lambda i: members[i][1])][0]
    child = space.mutate(parent, rng)
    value = oracle.ask(child)
    if value is None:
      continue
    members.append((child, value))
    members.popleft()
  return oracle.result()


def area(space, lookup: Lookup, budget: int, rng: np.random.Generator,
         score_fn: ScoreFn, m: int = 20, keep: int = 10, tournament: int = 3,
         dedup: bool = True, max_attempts: int = 10_000) -> SearchResult:
  """AREA (Assisted REA), Mellor et al. (ICML 2021), Algorithm 2.

  Scores `m` random cells with the training-free `score_fn` (free: no budget;
  it takes the list of cells and returns their scores, so an engine can score
  them in one batch),
  keeps the `keep` best-scored (cells whose score is None are never kept) as
  the initial population of regularized evolution with population size
  `keep`, and runs it until `budget` queries are used (the kept cells are
  queried and count). If fewer than `keep` cells have a score, random cells
  fill the population.

  `tournament` = 3 is our choice (the NATS-Bench REA setting, population 10,
  sample size 3); the paper's value is not checked.
  """
  if m < 1 or keep < 1 or keep > m:
    raise ValueError(f'area: need 1 <= keep <= m, got m={m}, keep={keep}')
  candidates = space.sample(rng, m)
  scores = list(score_fn(candidates))
  if len(scores) != len(candidates):
    raise ValueError(f'area: score_fn returned {len(scores)} scores for '
                     f'{len(candidates)} cells')
  scored = [(float(s), i) for i, s in enumerate(scores)
            if s is not None and np.isfinite(s)]
  # Highest score first; ties keep the sampling order.
  scored.sort(key=lambda t: (-t[0], t[1]))
  initial = [candidates[i] for _, i in scored[:keep]]
  return regularized_evolution(space, lookup, budget, rng, population=keep,
                               tournament=tournament, dedup=dedup,
                               initial=initial, max_attempts=max_attempts)


# --------------------------------------------------------------------------
# Repeated runs and summaries.


def repeat(search: Callable[..., SearchResult], runs: int, seed: int,
           *args, **kwargs) -> list[SearchResult]:
  """`runs` independent runs of `search(*args, rng=..., **kwargs)`.

  Run r uses ``np.random.default_rng([seed, r])``, so a run's result does not
  depend on how many runs are made.
  """
  return [search(*args, rng=np.random.default_rng([seed, r]), **kwargs)
          for r in range(runs)]


def summarize(results: Sequence[SearchResult], budgets: Sequence[int],
              metric: Callable[[Any], float | None] | None = None
              ) -> dict[int, tuple[float, float, int]]:
  """Mean and std over runs of the chosen cell's value at each budget.

  Args:
    results: the runs.
    budgets: query counts to stop at (a run's choice after that many queries).
    metric: another lookup applied to the chosen arch (e.g. test accuracy);
      default: the searched value itself.

  Returns:
    {budget: (mean, sample std (ddof=1; 0 for one run), number of runs
    with a value)}.
  """
  out = {}
  for b in budgets:
    vals = []
    for r in results:
      if metric is None:
        v = r.best_at(b)
      else:
        arch = r.best_arch_at(b)
        v = None if arch is None else metric(arch)
      if v is not None:
        vals.append(float(v))
    arr = np.asarray(vals, dtype=np.float64)
    sd = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
    out[b] = ((float(arr.mean()), sd, len(arr)) if len(arr)
              else (float('nan'), float('nan'), 0))
  return out
