"""One description of a run: flags generated from RunConfig."""

import dataclasses

import pytest
from absl import flags

from jaxnas import config
from jaxnas import ranking
from jaxnas.errors import JaxnasError


@pytest.fixture
def fv():
  values = flags.FlagValues()
  config.define_flags(values)
  return values


def test_every_field_is_a_flag_with_help(fv):
  for f in dataclasses.fields(config.RunConfig):
    if not f.metadata['flag']:
      assert f.name not in fv
      continue
    assert f.name in fv and fv[f.name].help.endswith(f.metadata['help'])
    default = fv[f.name].default
    want = list(f.default) if isinstance(f.default, tuple) else f.default
    assert default == want, f.name


def test_flags_round_trip_into_one_config(fv):
  fv(['run.py', '--mode=correlate', '--proxies=naswot,snip', '--inits=3',
      '--proxy_options=ntk_cond.batch_size=72', '--shuffle', '--lr=0.1'])
  cfg = config.from_flags(fv)
  assert cfg.mode == 'correlate' and cfg.proxies == ('naswot', 'snip')
  assert cfg.inits == 3 and cfg.shuffle and cfg.lr == 0.1
  assert cfg.proxy_options == ('ntk_cond.batch_size=72',)
  with pytest.raises(flags.IllegalFlagValueError):
    fv(['run.py', '--mode=bogus'])


def test_algorithm_defaults_are_resolved_and_said(fv):
  fv(['run.py', '--mode=search', '--algorithm=tenas'])
  cfg = config.from_flags(fv).resolve()
  assert cfg.weight_init == 'he_normal' and cfg.batch_size == 32
  assert cfg.defaults_from == ('weight_init=he_normal (algorithm tenas)',
                               'batch_size=32 (algorithm tenas)')
  given = config.RunConfig(mode='search', algorithm='tenas',
                           batch_size=72).resolve()
  assert given.batch_size == 72 and given.weight_init == 'he_normal'
  score = config.RunConfig(mode='score', algorithm='tenas').resolve()
  assert score.weight_init == 'torch' and score.batch_size == 128
  assert config.RunConfig().to_json()['proxies'] == ['naswot']


def test_flagfile_still_works(fv, tmp_path):
  flagfile = tmp_path / 'run.flags'
  flagfile.write_text('# a comment\n--mode=score\n--inits=4\n')
  fv(['run.py', f'--flagfile={flagfile}', '--seed=9'])
  cfg = config.from_flags(fv)
  assert (cfg.mode, cfg.inits, cfg.seed) == ('score', 4, 9)


def test_bare_combine_gets_the_recommended_value(fv):
  argv = config.expand_bare_flags(['run.py', '--mode=correlate', '--combine',
                                   '--seed=3'])
  assert argv[2] == '--combine=recommended'
  fv(argv)
  cfg = config.from_flags(fv)
  assert cfg.combine == 'recommended' and cfg.seed == 3
  assert cfg.proxies == ()  # no --proxies: the combination's only
  assert cfg.resolve().proxies == ranking.COMBINATIONS[ranking.RECOMMENDED]
  assert config.expand_bare_flags(['--combine=a+b']) == ['--combine=a+b']


def test_combine_adds_its_proxies_and_needs_correlate():
  cfg = config.RunConfig(mode='correlate', proxies=('naswot', 'synflow'),
                         combine='synflow+zico').resolve()
  assert cfg.proxies == ('naswot', 'synflow', 'zico')
  assert 'proxies+=zico (--combine=synflow+zico)' in cfg.defaults_from
  with pytest.raises(JaxnasError, match='--combine goes with --mode=correlate'):
    config.RunConfig(mode='score', combine='recommended').resolve()
