"""Training-free combined rankings: several proxies' scores -> one score.

The aggregation is AZ-NAS's (Lee & Ham, CVPR 2024): over the N
architectures being compared, each proxy ranks them from 1 (worst) to N
(best; ties share their mean rank) and an architecture's combined score is
the sum over proxies of ``log(rank / N)``; higher is better. A proxy's
undefined score (None) ranks below all of its defined ones (AZ-NAS's
scores turn NaN into -inf), so one undefined proxy never drops an
architecture from the ranking. The combined score is relative to the set
ranked together: scores of different runs do not compare.

A combination is named (:data:`COMBINATIONS`) or written as
``PROXY+PROXY+...``; ``recommended`` is :data:`RECOMMENDED`. Each proxy
enters with its mean over the run's initialisations.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import stats

from jaxnas.errors import JaxnasError

COMBINATIONS: dict[str, tuple[str, ...]] = {
    # AZ-NAS's published combination (its four scores).
    'az_nas': ('az_expressivity', 'az_progressivity', 'az_trainability',
               'az_complexity'),
}
# Provisional: AZ-NAS's four, until a combination is chosen on a held-out
# split of NB201 (BUILD_NOTES.md, "Combined ranking").
RECOMMENDED = 'az_nas'
ROW_NAME = 'combined'  # the proxy name of its correlation.json row


def parse(spec: str) -> tuple[str, tuple[str, ...]]:
  """``(name, proxies)`` of ``--combine=SPEC``: a name of
  :data:`COMBINATIONS`, ``recommended``, or ``A+B+...``."""
  name = RECOMMENDED if spec == 'recommended' else spec
  if name in COMBINATIONS:
    return name, COMBINATIONS[name]
  proxies = tuple(p for p in name.split('+') if p)
  if '+' not in name or len(proxies) < 2 or len(set(proxies)) < len(proxies):
    raise JaxnasError(
        f'--combine={spec}: give recommended, one of '
        f'{", ".join(COMBINATIONS)}, or two or more distinct proxies '
        'joined by +')
  return name, proxies


def log_rank_sum(columns: Sequence[Sequence[float | None]],
                 higher_is_better: Sequence[bool]) -> np.ndarray:
  """The combined score of each architecture (see the module docstring).

  Args:
    columns: one sequence per proxy, one score (or None) per architecture.
    higher_is_better: each proxy's direction.
  """
  if not columns:
    raise ValueError('no proxies to combine')
  n = len(columns[0])
  if any(len(c) != n for c in columns):
    raise ValueError('every proxy needs one score per architecture')
  total = np.zeros(n)
  for column, higher in zip(columns, higher_is_better):
    values = np.array([-np.inf if v is None or not np.isfinite(v)
                       else (v if higher else -v) for v in column],
                      np.float64)
    total += np.log(stats.rankdata(values) / n)
  return total
