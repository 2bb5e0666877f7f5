"""Combined rankings (jaxnas.ranking) against a brute-force ranking."""

import re

import numpy as np
import pytest

from jaxnas import ranking
from jaxnas.errors import JaxnasError


def brute_force_log_rank_sum(columns, higher):
  """Rank by counting: rank = 1 + (number worse) + (number tied - 1) / 2,
  an undefined score worse than any defined one."""
  n = len(columns[0])
  total = np.zeros(n)
  for column, up in zip(columns, higher):
    key = [(0, 0.0) if v is None else (1, v if up else -v) for v in column]
    for i in range(n):
      worse = sum(key[j] < key[i] for j in range(n))
      tied = sum(key[j] == key[i] for j in range(n))
      total[i] += np.log((1 + worse + (tied - 1) / 2) / n)
  return total


def test_log_rank_sum_matches_brute_force():
  rng = np.random.default_rng(0)
  columns = [list(rng.integers(0, 5, 9).astype(float)), list(rng.normal(
      size=9)), [None, 3.0, None, 1.0, 2.0, 2.0, 7.0, -1.0, 0.5]]
  higher = [True, False, True]
  np.testing.assert_allclose(ranking.log_rank_sum(columns, higher),
                             brute_force_log_rank_sum(columns, higher))


def test_log_rank_sum_orders_by_every_proxy():
  # Architecture 2 is best on both proxies: combined rank log(1) + log(1).
  got = ranking.log_rank_sum([[1.0, 2.0, 3.0], [0.3, 0.2, 0.1]],
                             [True, False])
  assert got[2] == 0.0 and got[0] == pytest.approx(2 * np.log(1 / 3))
  with pytest.raises(ValueError, match='one score per architecture'):
    ranking.log_rank_sum([[1.0], [1.0, 2.0]], [True, True])


def test_parse_names_recommended_and_lists():
  assert ranking.parse('recommended') == (
      ranking.RECOMMENDED, ranking.COMBINATIONS[ranking.RECOMMENDED])
  assert ranking.parse('az_nas')[1] == ('az_expressivity', 'az_progressivity',
                                        'az_trainability', 'az_complexity')
  assert ranking.parse('naswot+synflow') == ('naswot+synflow',
                                             ('naswot', 'synflow'))
  for bad in ('naswot', 'naswot+naswot', 'nope', '+synflow'):
    with pytest.raises(JaxnasError, match=re.escape(f'--combine={bad}: give')):
      ranking.parse(bad)
