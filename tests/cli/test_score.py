"""--mode=score through run.py."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from jaxnas.spaces.nb201 import spec
from tests.cli.conftest import (ROOT, TINY_FLAGS, archs_file, read_jsonl,
                                run)

# run.py in a subprocess, end to end.
pytestmark = pytest.mark.e2e


def test_score_then_rerun_skips(tmp_path, npz):
  archs = spec.sample(np.random.default_rng(0), 3)
  af = archs_file(tmp_path / 'a.txt', archs)
  out = str(tmp_path / 'out')
  args = ['--mode=score', f'--archs={af}', f'--data=npz:{npz}',
          f'--output={out}', '--inits=2', *TINY_FLAGS]
  run(*args)
  recs = read_jsonl(os.path.join(out, 'scores.jsonl'))
  # Two devices, cells grouped by cost: lines come in completion order.
  assert sorted(r['arch'] for r in recs) == sorted(spec.format(a)
                                                   for a in archs)
  for r in recs:
    assert len(r['naswot_each']) == 2
    assert r['naswot'] == pytest.approx(np.mean(r['naswot_each']))
  cfg = json.load(open(os.path.join(out, 'config.json')))
  assert cfg['versions']['jax'] == '0.5.3'
  again = run(*args)
  assert 'to score' not in again.stderr
  assert read_jsonl(os.path.join(out, 'scores.jsonl')) == recs


@pytest.mark.slow
def test_scores_do_not_depend_on_devices_or_grouping(tmp_path, npz):
  """Balanced 2-device scoring (cells reordered by cost) gives every cell
  the score it gets alone on one device."""
  archs = spec.sample(np.random.default_rng(5), 7)
  af = archs_file(tmp_path / 'a.txt', archs)
  scores = []
  for devices in (1, 2):
    out = str(tmp_path / f'out{devices}')
    run('--mode=score', f'--archs={af}', f'--data=npz:{npz}',
        f'--output={out}', f'--cpu_devices={devices}', *TINY_FLAGS)
    recs = read_jsonl(os.path.join(out, 'scores.jsonl'))
    scores.append({r['arch']: r['naswot'] for r in recs})
  assert scores[0].keys() == {spec.format(a) for a in archs}
  assert scores[0].keys() == scores[1].keys()
  for arch, value in scores[0].items():
    if value is None:
      assert scores[1][arch] is None
    else:
      assert scores[1][arch] == pytest.approx(value, rel=1e-5), arch


def test_sigkill_then_rerun_scores_each_arch_once(tmp_path, npz):
  archs = spec.sample(np.random.default_rng(1), 40)
  af = archs_file(tmp_path / 'a.txt', archs)
  out = str(tmp_path / 'out')
  log = os.path.join(out, 'scores.jsonl')
  args = [sys.executable, os.path.join(ROOT, 'run.py'), '--mode=score',
          f'--archs={af}', f'--data=npz:{npz}', f'--output={out}',
          *TINY_FLAGS]
  proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  deadline = time.time() + 900  # compile included; generous for slow CI
  while time.time() < deadline and proc.poll() is None:
    if os.path.exists(log) and len(open(log).readlines()) >= 3:
      break
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert os.path.exists(log), 'no result was written before the deadline'
  done_before = len(read_jsonl(log))
  assert 3 <= done_before < 40, 'the kill must land mid-run'
  run(*args[2:])
  recs = read_jsonl(log)
  names = [r['arch'] for r in recs]
  assert sorted(names) == sorted(spec.format(a) for a in archs)
  assert len(names) == len(set(names)) == 40


@pytest.mark.slow
def test_several_proxies_one_record_with_their_options(tmp_path, npz):
  archs = spec.sample(np.random.default_rng(7), 2)
  af = archs_file(tmp_path / 'a.txt', archs)
  out = str(tmp_path / 'out')
  run('--mode=score', f'--archs={af}', f'--data=npz:{npz}',
      f'--output={out}', '--proxies=naswot,params,ntk_cond',
      '--proxy_options=ntk_cond.batch_size=4', '--cpu_devices=1',
      *TINY_FLAGS)
  recs = read_jsonl(os.path.join(out, 'scores.jsonl'))
  assert len(recs) == 2
  for r in recs:
    assert r['proxies'] == ['naswot', 'params', 'ntk_cond']
    assert all(isinstance(r[p], float) for p in r['proxies'])
    assert r['proxy_keys']['ntk_cond'].startswith('ntk_cond(batch_size=4,')
    assert r['params'] == spec.param_count(spec.parse(r['arch']), 2, 1,
                                           10) / 1e6
  config = json.load(open(os.path.join(out, 'config.json')))
  assert config['proxies']['ntk_cond']['higher_is_better'] is False
  assert config['num_classes'] == 10


README_PROXY = '''
import jax.numpy as jnp
from jaxnas.proxies import base


def make(batch_size: int = 4) -> base.Proxy:
  """Mean variance of the untrained network's logits over the batch."""

  def device(ctx):
    return jnp.mean(jnp.var(ctx.logits(), axis=0))

  return base.Proxy('logit_var', host=base.finite('logit_var'),
                    device=device, needs=base.Needs(batch_size=batch_size),
                    options=(('batch_size', batch_size),))
'''


@pytest.mark.slow
def test_a_proxy_written_outside_jaxnas(tmp_path, npz):
  """The README's example proxy (its own file, named module:function) runs
  through run.py, and its value is the logit variance of the network the
  engine initialises (computed here independently)."""
  import jax  # pylint: disable=g-import-not-at-top
  from jaxnas import data, nn as jnn  # pylint: disable=g-import-not-at-top
  from jaxnas.proxies import base  # pylint: disable=g-import-not-at-top
  from jaxnas.spaces import get_space  # pylint: disable=g-import-not-at-top
  (tmp_path / 'my_proxy.py').write_text(README_PROXY)
  arch = spec.sample(np.random.default_rng(8), 1)[0]
  af = archs_file(tmp_path / 'a.txt', [arch])
  out = str(tmp_path / 'out')
  run('--mode=score', f'--archs={af}', f'--data=npz:{npz}',
      f'--output={out}', '--proxies=naswot,my_proxy:make',
      '--proxy_options=my_proxy:make.batch_size=5', '--cpu_devices=1',
      *TINY_FLAGS, env={'PYTHONPATH': str(tmp_path)})
  rec, = read_jsonl(os.path.join(out, 'scores.jsonl'))
  assert rec['proxies'] == ['naswot', 'logit_var']
  space = get_space('nb201', channels=2, cells_per_stage=1)
  batch = data.load_batch(f'npz:{npz}', 6)
  key = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(0),
                                            space.arch_id(arch)), 1)[0]
  net = space.network(jnn.NetOptions(), 10)
  x = batch.images[:5]
  variables = base.init_variables(net, key, x, arch)
  logits = np.asarray(net.apply(variables, x, arch)[0], np.float64)
  assert rec['logit_var'] == pytest.approx(np.mean(np.var(logits, axis=0)),
                                           rel=1e-4)
