"""NASWOT Algorithm 1 and the algorithms' defaults."""

from jaxnas import search


def test_best_defined_value_in_the_proxy_direction():
  values = [3.0, None, float('nan'), 7.0, 1.0, 7.0]
  assert search.argmax_defined(values) == 3  # first of the ties
  assert search.argmax_defined(values, higher_is_better=False) == 4
  assert search.argmax_defined([None, float('nan')]) is None


def test_naswot_search_keeps_each_runs_best():
  candidates = [['a', 'b', 'c'], ['d', 'e']]
  scores = {'a': 2.0, 'b': 5.0, 'c': None, 'd': None, 'e': None}
  high = search.naswot_search(candidates, scores.get)
  assert high[0].arch == 'b' and high[0].score == 5.0
  assert high[1].arch is None and 'no candidate' in high[1].note
  low = search.naswot_search(candidates, scores.get, higher_is_better=False)
  assert low[0].arch == 'a' and low[0].evaluated == 3


def test_algorithm_defaults_are_read_only():
  assert search.ALGORITHM_DEFAULTS['tenas']['batch_size'] == 32
  try:
    search.ALGORITHM_DEFAULTS['tenas']['batch_size'] = 1  # type: ignore
  except TypeError:
    pass
  assert search.ALGORITHM_DEFAULTS['tenas']['batch_size'] == 32
