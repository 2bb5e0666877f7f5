"""Rank correlation between proxy scores and trained accuracies."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import stats


def correlation(scores: Sequence[float | None],
                accuracies: Sequence[float | None]) -> dict[str, float]:
  """Kendall tau (tau-b) and Spearman rho over pairs where both are defined.

  Returns:
    dict with ``n`` (pairs used), ``n_dropped`` (pairs with a missing or
    non-finite value), ``kendall_tau`` and ``spearman``.
  """
  s = np.array([np.nan if v is None else v for v in scores], np.float64)
  a = np.array([np.nan if v is None else v for v in accuracies], np.float64)
  if s.shape != a.shape:
    raise ValueError(f'{s.size} scores but {a.size} accuracies')
  ok = np.isfinite(s) & np.isfinite(a)
  n = int(ok.sum())
  if n < 3:
    raise ValueError(f'need at least 3 (score, accuracy) pairs, have {n}')
  return {
      'n': n,
      'n_dropped': int(s.size - n),
      'kendall_tau': float(stats.kendalltau(s[ok], a[ok]).statistic),
      'spearman': float(stats.spearmanr(s[ok], a[ok]).statistic),
  }
