"""TE-NAS: prune the NB201 supernet by the ranks of dK and dR.

Chen, Gong & Wang, "Neural Architecture Search on ImageNet in Four GPU
Hours: A Theoretically Inspired Perspective", ICLR 2021, Algorithm 1;
VITA-Group/TENAS ``prune_tenas.py`` (``prune_func_rank``). The loop:

1. Start from the supernet with every op on every edge except 'none' (the
   reference sets its alpha to -INF before the first round: it is never
   measured and never kept, i.e. forced worst).
2. Each round, for every edge with more than one op left and every op on it
   (edge-major, ops in NB201 order), remove that op and measure, on the same
   weights and data as the unpruned supernet, per repeat r:
   dK_r = round((kappa - kappa_pruned) / kappa, precision) and
   dR_r = round((R - R_pruned) / R, precision); dK and dR are the means over
   the repeats (3).
3. Rank all candidates of the round: dK descending, dR ascending, with the
   reference's dense ranks (:func:`dense_ranks`); on each edge prune the
   ``prune_number`` (1 on NB201) candidates with the smallest rank sum (ties:
   the order of the dK ranking).
4. Repeat until every edge has one op (3 rounds on NB201).

Determinism: round t, repeat r initialises both networks from
``fold_in(fold_in(search key, t), r)``; the unpruned supernet and all its
candidates of that round share those weights (as the reference's
parameter copy does) and repeat r's data batch.

:func:`search` is independent of JAX: it takes a ``measure`` callable, so the
loop is tested on synthetic scores. :mod:`jaxnas.search.tenas_runs` wires it
to the engine, the data, the results store and ``DIR/tenas_rounds.jsonl``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Callable, Sequence

import numpy as np

from jaxnas.spaces.nb201 import spec

# measure(round, masks) -> per mask: (kappa per repeat, R per repeat, notes).
Measure = Callable[[int, list[np.ndarray]],
                   list[tuple[list[float], list[float], list[str]]]]


def round_to(number: float, precision: int, eps: float = 1e-8) -> float:
  """The reference's sort key: ``number`` to ``precision`` significant
  figures (TENAS ``prune_tenas.round_to``)."""
  if number == 0:
    return number
  sign = number / abs(number)
  number = abs(number) + eps
  power = math.floor(math.log(number, 10)) + 1
  return sign * round(number * 10**(-power), precision) * 10**power


def dense_ranks(values: Sequence[float], descending: bool,
                precision: int) -> tuple[list[int], list[int]]:
  """The reference's ranking of candidate values.

  Stable sort by :func:`round_to` (significant figures) of each value, then
  walk the sorted list: rank 0 first, the same rank as the previous item when
  the *exact* value equals the previous one, else one more. (So two values
  with equal sort keys but unequal values keep their input order and get
  consecutive ranks, as in the reference.)

  Returns:
    (ranks, order): ``ranks[i]`` of ``values[i]``; ``order`` the sorted
    indices.
  """
  order = sorted(range(len(values)),
                 key=lambda i: round_to(values[i], precision),
                 reverse=descending)
  ranks = [0] * len(values)
  for pos, i in enumerate(order):
    if pos:
      prev = order[pos - 1]
      ranks[i] = ranks[prev] + (0 if values[i] == values[prev] else 1)
  return ranks, order


@dataclasses.dataclass
class Candidate:
  """One (edge, op) removal measured in a round."""
  edge: int
  op: int
  kappa: list[float]
  regions: list[float]
  dk: float = 0.0
  dr: float = 0.0
  rank_k: int = 0
  rank_r: int = 0
  notes: list[str] = dataclasses.field(default_factory=list)

  @property
  def rank_sum(self) -> int:
    return self.rank_k + self.rank_r

  def to_json(self) -> dict[str, Any]:
    i, j = spec.EDGES[self.edge]
    out = {'edge': f'{i}->{j}', 'op': spec.OPS[self.op], 'kappa': self.kappa,
           'regions': self.regions, 'dk': self.dk, 'dr': self.dr,
           'rank_k': self.rank_k, 'rank_r': self.rank_r,
           'rank_sum': self.rank_sum}
    if self.notes:
      out['notes'] = self.notes
    return out


def relative_change(base: Sequence[float], pruned: Sequence[float],
                    precision: int) -> float:
  """mean_r round((base_r - pruned_r) / base_r, precision)."""
  return float(np.mean([round((b - p) / b, precision)
                        for b, p in zip(base, pruned)]))


def rank_and_choose(cands: list[Candidate], precision: int,
                    prune_number: int = 1) -> dict[int, list[int]]:
  """Sets the candidates' ranks; returns {edge: ops to prune}.

  dK is ranked descending, dR ascending (:func:`dense_ranks`); candidates
  are then taken by ascending rank sum (stable: ties keep the dK order) and
  each edge prunes its first ``prune_number``.
  """
  rank_k, order_k = dense_ranks([c.dk for c in cands], True, precision)
  rank_r, _ = dense_ranks([c.dr for c in cands], False, precision)
  for c, rk, rr in zip(cands, rank_k, rank_r):
    c.rank_k, c.rank_r = rk, rr
  by_sum = sorted(order_k, key=lambda i: cands[i].rank_sum)
  chosen: dict[int, list[int]] = {}
  for i in by_sum:
    ops = chosen.setdefault(cands[i].edge, [])
    if len(ops) < prune_number:
      ops.append(cands[i].op)
  return chosen


@dataclasses.dataclass
class RoundLog:
  round: int
  mask: np.ndarray  # before pruning
  base_kappa: list[float]
  base_regions: list[float]
  candidates: list[Candidate]
  pruned: dict[int, list[int]]
  seconds: float
  base_notes: list[str] = dataclasses.field(default_factory=list)

  def to_json(self) -> dict[str, Any]:
    from jaxnas.spaces.nb201 import supernet  # pylint: disable=g-import-not-at-top
    pruned = {'{}->{}'.format(*spec.EDGES[e]): [spec.OPS[o] for o in ops]
              for e, ops in sorted(self.pruned.items())}
    out = {'round': self.round, 'mask': supernet.format_mask(self.mask),
           'base': {'kappa': self.base_kappa, 'regions': self.base_regions},
           'candidates': [c.to_json() for c in self.candidates],
           'pruned': pruned, 'seconds': self.seconds}
    if self.base_notes:
      out['base']['notes'] = self.base_notes
    return out


@dataclasses.dataclass
class SearchOutcome:
  ops: np.ndarray  # the chosen cell, int32 [6]
  rounds: list[RoundLog]
  seconds: float  # measurement wall time summed over rounds
  masks_measured: int


def prune_round(mask: np.ndarray, round_index: int, measure: Measure,
                precision: int = 3, prune_number: int = 1) -> RoundLog:
  """One round of TE-NAS pruning from ``mask`` (0/1 ``[6, 5]``)."""
  cands, masks = [], [mask]
  for e in range(spec.NUM_EDGES):
    on = np.flatnonzero(mask[e])
    if len(on) <= 1:
      continue
    for op in on:
      m = mask.copy()
      m[e, op] = 0
      cands.append(Candidate(e, int(op), [], []))
      masks.append(m)
  t0 = time.perf_counter()
  results = measure(round_index, masks)
  seconds = time.perf_counter() - t0
  base_k, base_r, base_notes = results[0]
  for c, (k, r, notes) in zip(cands, results[1:]):
    c.kappa, c.regions, c.notes = list(k), list(r), list(notes)
    c.dk = relative_change(base_k, k, precision)
    c.dr = relative_change(base_r, r, precision)
  pruned = rank_and_choose(cands, precision, prune_number)
  return RoundLog(round_index, mask.copy(), list(base_k), list(base_r),
                  cands, pruned, seconds, list(base_notes))


def search(measure: Measure, start: np.ndarray | None = None,
           precision: int = 3, prune_number: int = 1,
           on_round: Callable[[RoundLog], None] | None = None
           ) -> SearchOutcome:
  """Prunes until one op per edge; returns the cell and the round logs.

  Args:
    measure: ``measure(round, masks)`` -> per mask ``(kappas, regions,
      notes)`` over the repeats; ``masks[0]`` is the unpruned mask.
    start: the initial mask (default: all ops but 'none').
    precision: decimals the per-repeat relative changes are rounded to.
    prune_number: ops pruned per edge per round (never below one op left).
    on_round: called with each finished round (logging).
  """
  from jaxnas.spaces.nb201 import supernet  # pylint: disable=g-import-not-at-top
  mask = supernet.full_mask() if start is None else supernet.check_mask(
      start).copy()
  if np.any(mask.sum(1) == 0):
    raise ValueError(f'TE-NAS start mask has an edge with no op: '
                     f'{supernet.format_mask(mask)}')
  rounds, t, measured = [], 0, 0
  while np.any(mask.sum(1) > 1):
    left = int(mask.sum(1)[mask.sum(1) > 1].min())
    log = prune_round(mask, t, measure, precision,
                      max(1, min(prune_number, left - 1)))
    measured += 1 + len(log.candidates)
    for e, ops in log.pruned.items():
      mask[e, ops] = 0
    rounds.append(log)
    if on_round is not None:
      on_round(log)
    t += 1
  return SearchOutcome(supernet.mask_ops(mask), rounds,
                       sum(r.seconds for r in rounds), measured)


def format_round(log: RoundLog) -> str:
  """Human-readable lines for one round."""
  lines = [f'round {log.round}: kappa {np.mean(log.base_kappa):.4g}, R '
           f'{np.mean(log.base_regions):.1f} (means over repeats)']
  for c in log.candidates:
    i, j = spec.EDGES[c.edge]
    lines.append(f'  {i}->{j} -{spec.OPS[c.op]:<13} dK {c.dk:+.4f} dR '
                 f'{c.dr:+.4f} ranks {c.rank_k:>2} + {c.rank_r:>2} = '
                 f'{c.rank_sum:>2}')
  pruned = ', '.join('{}->{}: {}'.format(*spec.EDGES[e], ','.join(
      spec.OPS[o] for o in ops)) for e, ops in sorted(log.pruned.items()))
  lines.append(f'  pruned {pruned} ({log.seconds:.1f} s)')
  return '\n'.join(lines)
