"""REINFORCE over independent categorical decisions (NumPy only): the
policy, its sampling, the update as the module documents it, the NB201
decisions, and bad arguments."""

import numpy as np
import pytest

from jaxnas.search import reinforce as rf
from jaxnas.search.evolution import SearchStalled

EDGES, OPS, GOOD = 6, 5, 3  # op 3 plays nor_conv_3x3


def toy_decisions(sizes=(OPS,) * EDGES, decode=None):
  """Decisions whose arch is the choice tuple itself."""
  return rf.Decisions(sizes=tuple(sizes),
                      decode=decode or (lambda c: tuple(int(x) for x in c)),
                      iso_key=tuple, format=str)


def count_good(arch) -> int:
  return sum(int(op == GOOD) for op in arch)


def test_softmax_is_numpys_and_stable():
  logits = np.array([0.5, -1.0, 2.0, 0.0])
  want = np.exp(logits) / np.exp(logits).sum()
  np.testing.assert_allclose(rf._softmax(logits), want, rtol=1e-12)
  big = rf._softmax(np.array([1000.0, 1000.0 + np.log(3.0)]))
  np.testing.assert_allclose(big, [0.25, 0.75], rtol=1e-12)


def test_nb201_decisions_are_six_edges_of_five_ops():
  from jaxnas.spaces import get_space  # pylint: disable=g-import-not-at-top
  space = get_space('nb201')
  decisions = rf.nb201_decisions(space)
  assert decisions.sizes == (5, 5, 5, 5, 5, 5)
  arch = decisions.decode(np.array([3, 3, 3, 3, 3, 3]))
  assert arch.dtype == np.int32
  assert decisions.format(arch) == (
      '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|'
      'nor_conv_3x3~1|nor_conv_3x3~2|')


def test_the_update_is_the_documented_rule():
  """Every step of a short run recomputed by hand from its archs and
  values (dedup off: each step is one query, in order)."""
  values = {}

  def lookup(arch):
    return values.setdefault(arch, 40.0 + 10.0 * count_good(arch) +
                             (sum(arch) % 7))

  lr, momentum, scale = 0.3, 0.8, 0.01
  sizes = (3, 5, 2)
  res = rf.reinforce(toy_decisions(sizes), lookup, 12,
                     np.random.default_rng(4), lr=lr, momentum=momentum,
                     reward_scale=scale, dedup=False)
  logits = [np.zeros(k) for k in sizes]
  baseline = None
  for arch, value in zip(res.archs, res.values):
    assert value == lookup(arch)
    reward = value * scale
    baseline = reward if baseline is None else baseline
    for d, choice in enumerate(arch):
      p = np.exp(logits[d]) / np.exp(logits[d]).sum()
      onehot = np.eye(sizes[d])[choice]
      logits[d] = logits[d] + lr * (reward - baseline) * (onehot - p)
    baseline = momentum * baseline + (1 - momentum) * reward
  assert len(res.archs) == 12
  for got, l in zip(res.probs, logits):
    np.testing.assert_allclose(got, np.exp(l) / np.exp(l).sum(), rtol=1e-10)


def test_first_step_has_no_advantage():
  res = rf.reinforce(toy_decisions(), lambda a: 90.0, 1,
                     np.random.default_rng(0))
  for p in res.probs:
    np.testing.assert_allclose(p, np.full(OPS, 0.2))


def test_draws_follow_the_policy():
  probs = np.array([0.5, 0.25, 0.15, 0.1])
  res = rf.reinforce(toy_decisions((4, 4)), lambda a: 50.0, 4000,
                     np.random.default_rng(1), lr=0.0, dedup=False,
                     initial_logits=[np.log(probs), np.log(probs[::-1])])
  np.testing.assert_allclose(res.probs[0], probs)  # lr 0: unchanged
  choices = np.array(res.archs)
  for d, want in enumerate((probs, probs[::-1])):
    freq = np.bincount(choices[:, d], minlength=4) / len(choices)
    sd = np.sqrt(want * (1 - want) / len(choices))
    assert np.all(np.abs(freq - want) < 4 * sd), (freq, want)


def test_the_best_arch_gains_probability():
  def lookup(arch):
    return 40.0 + 10.0 * count_good(arch)

  res = rf.reinforce(toy_decisions(), lookup, 300, np.random.default_rng(0),
                     dedup=False)
  p_good = np.array([p[GOOD] for p in res.probs])
  assert np.all(p_good > 0.35), p_good  # from 0.2 at the start
  late = np.mean([count_good(a) for a in res.archs[-50:]])
  early = np.mean([count_good(a) for a in res.archs[:50]])
  assert late > early + 0.5
  assert res.value == lookup(res.arch) == max(res.values)
  for p in res.probs:
    assert p.sum() == pytest.approx(1.0) and (p > 0).all()


def test_invalid_draws_are_free_and_punished():
  queried = []

  def lookup(arch):
    queried.append(arch)
    return 40.0 + 10.0 * count_good(arch)

  decode = lambda c: None if c[0] == 0 else tuple(int(x) for x in c)
  res = rf.reinforce(toy_decisions(decode=decode), lookup, 50,
                     np.random.default_rng(1), invalid_reward=0.0)
  assert res.queries == 50 == len(queried)
  assert all(a[0] != 0 for a in res.archs)
  assert res.probs[0][0] < 0.2  # reward 0 against a baseline near 0.4


def test_uncovered_cells_are_redrawn_without_a_step():
  # Without invalid_reward, a draw outside the table changes nothing: the
  # policy after any number of such draws is the policy of the covered ones.
  covered = lambda a: None if a[0] == 0 else 60.0
  res = rf.reinforce(toy_decisions((2, 3)), covered, 5,
                     np.random.default_rng(2), dedup=False)
  assert res.uncovered > 0 and all(a[0] == 1 for a in res.archs)
  for p, k in zip(res.probs, (2, 3)):  # equal rewards: no advantage ever
    np.testing.assert_allclose(p, np.full(k, 1 / k))


def test_bad_arguments_and_stalls():
  for momentum in (1.0, -0.1):
    with pytest.raises(ValueError, match='momentum must be in'):
      rf.reinforce(toy_decisions(), lambda a: 1.0, 5,
                   np.random.default_rng(0), momentum=momentum)
  with pytest.raises(ValueError, match=r'initial_logits do not match sizes '
                     r'\(5, 5, 5, 5, 5, 5\)'):
    rf.reinforce(toy_decisions(), lambda a: 1.0, 5, np.random.default_rng(0),
                 initial_logits=[np.zeros(5)] * 5)
  with pytest.raises(ValueError, match='budget must be a non-negative'):
    rf.reinforce(toy_decisions(), lambda a: 1.0, -1, np.random.default_rng(0))
  never = toy_decisions(decode=lambda c: None)
  for invalid_reward in (None, 0.0):
    with pytest.raises(SearchStalled, match='reinforce: 20 invalid draws in '
                       'a row after 0/5 queries'):
      rf.reinforce(never, lambda a: 1.0, 5, np.random.default_rng(0),
                   invalid_reward=invalid_reward, max_attempts=20)
