"""REINFORCE over independent categorical decisions (NumPy only).

The policy is one categorical distribution per decision, with logits starting
at 0 (uniform). Each step samples one choice per decision, decodes the
choices into an arch, looks its value up (budget and dedup as in
:mod:`jaxnas.search.evolution`) and takes one policy-gradient step
(Williams 1992), as NAS-Bench-101's REINFORCE baseline::

  reward    = value * reward_scale          (percent -> [0, 1] by default)
  advantage = reward - baseline
  logits_d += lr * advantage * (onehot(choice_d) - softmax(logits_d))
  baseline  = momentum * baseline + (1 - momentum) * reward

The baseline is an exponential moving average of rewards that starts at the
first reward (so the first step has advantage 0). With dedup, a repeated
cell costs no budget but still gives a (cached) reward and a policy step.

Decisions for NB201: :func:`nb201_decisions` (one op per edge, 6 x 5).

NB101 is not provided yet. It would need 21 binary decisions (the upper
triangle of the 7x7 matrix) plus 5 ternary decisions (the op of each interior
vertex), decoded with ``nb101.spec.make_cell``; a draw that is invalid (no
input->output path, > 9 edges after pruning) decodes to None. Pass
``invalid_reward=0.0`` to give such draws reward 0 and a policy step without
using budget, or leave it None to redraw them (they count towards
``max_attempts`` so a policy stuck on invalid draws raises). Cells outside a
restricted table (lookup None) are treated the same way.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import numpy as np

from jaxnas.search.evolution import Lookup, Oracle, SearchResult, SearchStalled


@dataclasses.dataclass(frozen=True)
class Decisions:
  """A space as independent categorical decisions.

  Attributes:
    sizes: number of choices of each decision.
    decode: int array [len(sizes)] of choices -> arch, or None if invalid.
    iso_key: arch -> hashable (dedup key).
    format: arch -> str (messages).
  """
  sizes: tuple[int, ...]
  decode: Callable[[np.ndarray], Any]
  iso_key: Callable[[Any], Any]
  format: Callable[[Any], str]


def nb201_decisions(space, num_edges: int = 6, num_ops: int = 5) -> Decisions:
  """NB201 as 6 edge decisions over 5 ops; the arch is the op array itself.

  Args:
    space: an NB201 space (or anything with iso_key and format of op arrays).
  """
  return Decisions(sizes=(num_ops,) * num_edges,
                   decode=lambda c: np.asarray(c, dtype=np.int32),
                   iso_key=space.iso_key, format=space.format)


@dataclasses.dataclass
class ReinforceResult(SearchResult):
  """A SearchResult plus the final policy (one probability vector each)."""
  probs: list[np.ndarray] | None = None


def _softmax(logits: np.ndarray) -> np.ndarray:
  z = np.exp(logits - logits.max())
  return z / z.sum()


def reinforce(decisions: Decisions, lookup: Lookup, budget: int,
              rng: np.random.Generator, lr: float = 0.5,
              momentum: float = 0.9, reward_scale: float = 0.01,
              dedup: bool = True, invalid_reward: float | None = None,
              max_attempts: int = 10_000,
              initial_logits: Sequence[np.ndarray] | None = None
              ) -> ReinforceResult:
  """REINFORCE with an EMA baseline until `budget` queries are used.

  Args:
    decisions: the space as categorical decisions.
    lookup: arch -> value (e.g. accuracy in percent) or None if uncovered.
    budget: number of queries.
    rng: the run's generator.
    lr: learning rate of the plain gradient-ascent step on the logits.
    momentum: of the reward moving average (the baseline).
    reward_scale: reward = value * reward_scale (0.01: percent to [0, 1]).
    dedup: see :mod:`jaxnas.search.evolution`.
    invalid_reward: reward of invalid or uncovered draws (no budget); None
      redraws them without a policy step.
    max_attempts: consecutive budget-free draws before SearchStalled.
    initial_logits: starting logits per decision (default zeros).
  """
  if not 0 <= momentum < 1:
    raise ValueError(f'reinforce: momentum must be in [0, 1), got {momentum}')
  oracle = Oracle(decisions, lookup, budget, dedup, max_attempts, 'reinforce')
  if initial_logits is None:
    logits = [np.zeros(k) for k in decisions.sizes]
  else:
    logits = [np.array(l, dtype=np.float64) for l in initial_logits]
    if [len(l) for l in logits] != list(decisions.sizes):
      raise ValueError('reinforce: initial_logits do not match sizes '
                       f'{decisions.sizes}')
  baseline = None
  invalid_run = 0
  while not oracle.spent:
    probs = [_softmax(l) for l in logits]
    u = rng.random(len(probs))
    choices = np.array([min(int(np.searchsorted(np.cumsum(p), x, 'right')),
                            len(p) - 1) for p, x in zip(probs, u)])
    arch = decisions.decode(choices)
    value = None if arch is None else oracle.ask(arch)
    if value is None:
      if arch is None:
        invalid_run += 1
        if invalid_run >= max_attempts:
          raise SearchStalled(
              f'reinforce: {invalid_run} invalid draws in a row after '
              f'{oracle.queries}/{budget} queries')
      if invalid_reward is None:
        continue
      reward = float(invalid_reward)
    else:
      invalid_run = 0
      reward = value * reward_scale
    if baseline is None:
      baseline = reward
    advantage = reward - baseline
    for l, p, c in zip(logits, probs, choices):
      grad = -p
      grad[c] += 1.0
      l += lr * advantage * grad
    baseline = momentum * baseline + (1 - momentum) * reward
  res = oracle.result()
  fields = {f.name: getattr(res, f.name) for f in dataclasses.fields(res)}
  return ReinforceResult(**fields, probs=[_softmax(l) for l in logits])
