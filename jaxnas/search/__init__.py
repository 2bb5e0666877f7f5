"""Searches over a space, driven by proxy scores or benchmark lookups.

Each search takes plain callables, so the same code runs on live scores
(the engine, through the store) and on precomputed tables: NASWOT's
Algorithm 1 here; budgeted benchmark searches (random, regularised evolution,
AREA) in :mod:`jaxnas.search.evolution` and REINFORCE in
:mod:`jaxnas.search.reinforce`.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Callable, Sequence

import numpy as np

# Settings an algorithm brings when the run does not set them (the run's
# config.json records the resolved values).
ALGORITHM_DEFAULTS = types.MappingProxyType({
    # TE-NAS: Kaiming-normal init (the paper) and the paper's NTK batch.
    'tenas': types.MappingProxyType({'weight_init': 'he_normal',
                                     'batch_size': 32}),
})


@dataclasses.dataclass
class RunResult:
  run: int
  arch: Any
  score: float | None
  evaluated: int
  note: str | None = None
  reused: int | None = None  # lookups saved by deduplication


def argmax_defined(values: Sequence[float | None],
                   higher_is_better: bool = True) -> int | None:
  """Index of the best defined value (NaN-aware): the largest, or the
  smallest when lower is better; the first on ties; None if none is."""
  best, best_i = None, None
  for i, v in enumerate(values):
    if v is None or not np.isfinite(v):
      continue
    if best_i is None or (v > best if higher_is_better else v < best):
      best, best_i = v, i
  return best_i


def naswot_sample_runs(space, rng: np.random.Generator, runs: int,
                       n_samples: int) -> list[list[Any]]:
  """The candidate lists of NASWOT Algorithm 1: N uniform draws per run
  (with replacement, as the reference draws benchmark indices)."""
  return [space.sample(rng, n_samples) for _ in range(runs)]


def naswot_search(candidates: list[list[Any]],
                  scores: Callable[[Any], float | None],
                  higher_is_better: bool = True) -> list[RunResult]:
  """NASWOT Algorithm 1 (Mellor et al. 2021): keep each run's best score
  (the highest, or the lowest for a proxy where lower is better).

  Args:
    candidates: per run, the N sampled architectures.
    scores: the proxy score of an architecture (None if undefined).
    higher_is_better: the proxy's direction.
  """
  results = []
  for run, archs in enumerate(candidates):
    values = [scores(a) for a in archs]
    i = argmax_defined(values, higher_is_better)
    if i is None:
      results.append(RunResult(run, None, None, len(archs),
                               'no candidate had a defined score'))
    else:
      results.append(RunResult(run, archs[i], values[i], len(archs)))
  return results
