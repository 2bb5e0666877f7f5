"""Per-architecture results (jaxnas.scores)."""

import numpy as np
import pytest

from jaxnas.scores import ArchScores, ProxyResult


def test_mean_and_sample_std_over_defined_inits():
  r = ProxyResult([1.0, None, 4.0, 7.0], [None, 'singular', None, None])
  assert r.finite == [1.0, 4.0, 7.0]
  assert r.mean == pytest.approx(4.0)
  assert r.std == pytest.approx(np.std([1.0, 4.0, 7.0], ddof=1))  # 3.0
  assert r.note == '1/4 inits undefined: singular'


def test_one_init_has_std_zero_and_all_undefined_has_none():
  assert ProxyResult([2.5], [None]).std == 0.0
  assert ProxyResult([2.5], [None]).note is None
  none = ProxyResult([None, None], ['no path', 'no path'])
  assert none.mean is None and none.std is None
  assert none.note == '2/2 inits undefined: no path'


def test_a_note_on_defined_values_is_not_called_undefined():
  r = ProxyResult([1.0, 2.0], ['capped', None])
  assert r.note == '1/2 inits: capped'


def test_arch_scores_index_by_proxy():
  r = ProxyResult([1.0], [None])
  s = ArchScores('cell', {'naswot': r}, 0.5)
  assert s['naswot'] is r
  with pytest.raises(KeyError):
    s['snip']
