"""TE-NAS pruning by rank: tenas.search on synthetic scores, against scipy
ranks."""

import numpy as np
import pytest
from scipy import stats

from jaxnas.search import tenas
from jaxnas.spaces.nb201 import spec, supernet


def test_dense_ranks_against_scipy():
  rng = np.random.default_rng(0)
  for _ in range(20):
    # 3-decimal values in (0.1, 1): the 3-significant-figure sort key is
    # exact, so the reference ranking is scipy's dense ranking.
    values = list(rng.integers(100, 1000, 12) / 1000)
    for descending in (True, False):
      ranks, _ = tenas.dense_ranks(values, descending, 3)
      signed = -np.asarray(values) if descending else np.asarray(values)
      want = stats.rankdata(signed, method='dense') - 1
      np.testing.assert_array_equal(ranks, want)


def test_dense_ranks_reference_quirk():
  """Equal sort keys (3 significant figures) but unequal values keep their
  input order and get consecutive ranks, as the reference's loop does."""
  assert tenas.dense_ranks([0.1231, 0.1234, 0.5], True, 3)[0] == [1, 2, 0]
  assert tenas.dense_ranks([0.1234, 0.1231, 0.5], True, 3)[0] == [1, 2, 0]


def test_relative_change_rounds_each_repeat_then_averages():
  base, pruned = [10.0, 20.0, 30.0], [9.99, 19.0, 31.0]
  want = np.mean([round(0.01 / 10.0, 3), round(1 / 20.0, 3),
                  round(-1 / 30.0, 3)])
  assert tenas.relative_change(base, pruned, 3) == pytest.approx(want)


def _fake_measure(seed):
  """kappa, R as fixed random functions of the mask (3 repeats).

  Removing one op changes either by under 7%, so every |dK|, |dR| < 0.1 and
  means of 3-decimal values (multiples of 1/3000) differ at 3 significant
  figures: the reference's ranking is then scipy's dense ranking.
  """
  w = np.random.default_rng(seed).random((2, 3, 6, 5)) + 0.5
  calls = []

  def measure(round_index, masks):
    calls.append((round_index, [m.copy() for m in masks]))
    return [([float(1 + (w[0, r] * m).sum()) for r in range(3)],
             [float(np.floor(50 * (w[1, r] * m).sum())) for r in range(3)],
             []) for m in masks]

  return measure, calls


@pytest.mark.parametrize('seed', range(4))
def test_search_prunes_one_op_per_edge_per_round(seed):
  measure, calls = _fake_measure(seed)
  out = tenas.search(measure)
  assert len(out.rounds) == 3 and len(calls) == 3
  assert out.ops.shape == (6,) and spec.NONE not in set(out.ops.tolist())
  mask = supernet.full_mask()
  for t, ((round_index, masks), log) in enumerate(zip(calls, out.rounds)):
    assert round_index == t
    np.testing.assert_array_equal(masks[0], mask)
    assert all(m[:, spec.NONE].sum() == 0 for m in masks)  # never measured
    # Independently: dK, dR, scipy dense ranks, argmin rank sum per edge
    # (ties: the dK order, i.e. the larger dK).
    res = measure(t, masks)
    dk = [tenas.relative_change(res[0][0], k, 3) for k, _, _ in res[1:]]
    dr = [tenas.relative_change(res[0][1], r, 3) for _, r, _ in res[1:]]
    rk = stats.rankdata(-np.asarray(dk), method='dense')
    rr = stats.rankdata(dr, method='dense')
    cands = [(int(np.flatnonzero(mask != m)[0] // 5),
              int(np.flatnonzero(mask != m)[0] % 5)) for m in masks[1:]]
    for e in range(6):
      idx = [i for i, c in enumerate(cands) if c[0] == e]
      best = min(idx, key=lambda i: (rk[i] + rr[i], -dk[i], i))
      assert log.pruned[e] == [cands[best][1]]
      mask[e, cands[best][1]] = 0
    assert mask.sum() == 6 * (3 - t)
  np.testing.assert_array_equal(out.ops, mask.argmax(1))
