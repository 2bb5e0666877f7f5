"""--algorithm=tenas end to end on small networks: rounds logged and stored,
a rerun reading every round back, other spaces refused."""

import json

import pytest

from jaxnas import cli
from jaxnas.cli import common
from jaxnas.config import RunConfig
from jaxnas.errors import JaxnasError
from jaxnas.spaces.nb201 import spec
from tests.conftest import write_npz
from tests.tenas_helpers import SmallTenasSpace


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
  with pytest.raises(JaxnasError, match='NB201 or DARTS supernet'):
    cli.run(cfg)
