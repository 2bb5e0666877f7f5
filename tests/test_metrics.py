"""Tests of jaxnas.metrics."""

import numpy as np
import pytest
from scipy import stats

from jaxnas import metrics


def test_correlation_matches_scipy_and_drops_missing():
  rng = np.random.default_rng(0)
  s = rng.normal(size=50)
  a = s + rng.normal(size=50)
  got = metrics.correlation(list(s) + [None, 1.0], list(a) + [3.0, None])
  assert got['n'] == 50 and got['n_dropped'] == 2
  assert got['kendall_tau'] == pytest.approx(stats.kendalltau(s, a)[0])
  assert got['spearman'] == pytest.approx(stats.spearmanr(s, a)[0])
  assert metrics.correlation([1, 2, 3, 4], [10, 20, 30, 40])[
      'kendall_tau'] == pytest.approx(1.0)
  assert metrics.correlation([1, 2, 3, 4], [4, 3, 2, 1])[
      'spearman'] == pytest.approx(-1.0)
