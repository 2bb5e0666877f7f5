"""TE-NAS pruning by rank (tenas.search on synthetic scores, against scipy
ranks) and --algorithm=tenas end to end on small networks."""

import json

import numpy as np
import pytest
from scipy import stats

from jaxnas import cli
from jaxnas.cli import common
from jaxnas.config import RunConfig
from jaxnas.errors import JaxnasError
from jaxnas.search import tenas
from jaxnas.spaces.nb201 import spec, supernet
from tests.conftest import write_npz
from tests.tenas_helpers import SmallTenasSpace


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


def test_tenas_workflow_writes_rounds_and_resumes(tmp_path, monkeypatch):
  """--algorithm=tenas end to end on a tiny table (small networks): one
  compilation, rounds logged, the benchmark accuracy reported, and a rerun
  reads every round from the store."""
  monkeypatch.setattr(common, 'make_space', lambda cfg: SmallTenasSpace())
  npz = write_npz(tmp_path / 'd.npz', n=18, size=8)
  bench = tmp_path / 'bench.csv'
  rows = [spec.format(spec.from_id(i)) for i in range(spec.NUM_CELLS)]
  bench.write_text('arch_str,cifar10_test\n' + ''.join(
      f'{a},{i % 97}\n' for i, a in enumerate(rows)))
  cfg = RunConfig(
      mode='search', algorithm='tenas', runs=1, batch_size=6,
      data=f'npz:{npz}', benchmark=f'csv:{bench}', output=str(tmp_path / 'o'),
      proxy_options=('linear_regions.inputs=60', 'linear_regions.batch=20'),
      compilation_cache='')
  summary = cli.run(cfg)
  out = tmp_path / 'o'
  run = json.loads((out / 'search.jsonl').read_text())
  rounds = [json.loads(l) for l in open(out / 'tenas_rounds.jsonl')]
  assert len(rounds) == 3 and [r['round'] for r in rounds] == [0, 1, 2]
  ops = spec.parse(run['arch'])
  assert run['accuracy'] == spec.to_id(ops) % 97
  assert summary['metrics']['cifar10_test']['n'] == 1
  assert run['evaluated'] == 25 + 19 + 13
  config = json.loads((out / 'config.json').read_text())
  assert config['compilations'] == 1
  # The algorithm's defaults, said in config.json.
  assert config['config']['weight_init'] == 'he_normal'
  assert 'weight_init=he_normal (algorithm tenas)' in config['config'][
      'defaults_from']
  for r, nxt in zip(rounds, rounds[1:]):  # each prune shapes the next mask
    for edge, before, after in zip(r['mask'].split('|'), r['mask'].split('|'),
                                   nxt['mask'].split('|')):
      name = edge.split(':')[0]
      kept = set(before.split(':')[1].split(',')) - set(r['pruned'][name])
      assert set(after.split(':')[1].split(',')) == kept
  cli.run(cfg)
  config = json.loads((out / 'config.json').read_text())
  assert config['compilations'] == 0  # every round read back from the store
  assert json.loads((out / 'search.jsonl').read_text())['arch'] == run['arch']
  assert len(open(out / 'tenas_rounds.jsonl').readlines()) == 3


def test_tenas_rejects_other_spaces(tmp_path):
  cfg = RunConfig(mode='search', algorithm='tenas', space='nb101',
                  data='synthetic', output=str(tmp_path))
  with pytest.raises(JaxnasError, match='NB201 supernet'):
    cli.run(cfg)
