"""--mode=train through run.py: the contract command and its records, a
population's compilations, kill and resume, bad input."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import orbax.checkpoint as ocp
import pytest

from jaxnas.spaces.nb201 import spec
from tests.cli.conftest import ROOT, archs_file, read_jsonl, run

A = '|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'
B = '|skip_connect~0|+|none~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|'
TINY = ['--channels=2', '--cells_per_stage=1']


@pytest.fixture(scope='module')
def split_npz(tmp_path_factory):
  """40 8x8 images: 32 train, 8 test (the ``split`` array)."""
  rng = np.random.default_rng(0)
  path = str(tmp_path_factory.mktemp('data') / 'split.npz')
  np.savez(path, images=rng.integers(0, 256, (40, 8, 8, 3), np.uint8),
           labels=rng.integers(0, 10, 40),
           split=np.repeat([0, 1], [32, 8]))
  return path


def _args(archs, npz, out, *extra):
  return ['--mode=train', '--space=nb201', f'--archs={archs}',
          f'--data=npz:{npz}', '--seed=0', f'--output={out}', *TINY, *extra]


def test_contract_command_records_and_one_compilation(tmp_path, split_npz):
  """2 cells x 2 seeds on the default 2 CPU devices: one init, one step and
  one eval program; per-step lines and per-epoch test accuracy."""
  af = archs_file(tmp_path / 'a.txt', [spec.parse(A), spec.parse(B)])
  out = str(tmp_path / 'out')
  run(*_args(af, split_npz, out, '--epochs=3', '--steps=10',
             '--batch_size=8', '--seeds=2'))
  recs = read_jsonl(os.path.join(out, 'train.jsonl'))
  assert len(recs) == 2 * 2 * 10
  for r in recs:
    assert {'arch', 'step', 'loss', 'lr'} <= r.keys()
  assert {r['arch'] for r in recs} == {A, B}
  ends = [r for r in recs if 'test_accuracy' in r]
  # 32 images / batch 8: epochs end at steps 4 and 8; step 10 is the stop.
  assert sorted({r['step'] for r in ends}) == [4, 8, 10]
  assert {r['epoch_end'] for r in ends if 'epoch_end' in r} == {1, 2}
  lrs = [r['lr'] for r in recs if r['arch'] == A and r['replica'] == 0]
  assert lrs[0] == pytest.approx(0.1) and lrs == sorted(lrs, reverse=True)
  summary = json.load(open(os.path.join(out, 'train_summary.json')))
  assert summary['compilations'] == 3
  with open(os.path.join(out, 'loss_curve.png'), 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  assert os.path.isdir(os.path.join(out, 'checkpoints', '10'))
  # No --score_steps: no (empty) scores.jsonl beside the training records.
  assert not os.path.exists(os.path.join(out, 'scores.jsonl'))


def _final_params(out, step):
  tree = ocp.StandardCheckpointer().restore(
      os.path.join(out, 'checkpoints', str(step), 'default'))
  return tree['state']


@pytest.mark.slow
def test_sigkill_then_rerun_reaches_the_uninterrupted_parameters(
    tmp_path, split_npz):
  af = archs_file(tmp_path / 'a.txt', [spec.parse(A)])
  stop = 240
  extra = ['--epochs=100', f'--steps={stop}', '--batch_size=8',
           '--checkpoint_every=10', '--cpu_devices=1']
  killed, whole = str(tmp_path / 'killed'), str(tmp_path / 'whole')
  args = [sys.executable, os.path.join(ROOT, 'run.py'),
          *_args(af, split_npz, killed, *extra)]
  proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  first = os.path.join(killed, 'checkpoints', '20')
  deadline = time.time() + 900
  while time.time() < deadline and proc.poll() is None:
    if os.path.isdir(first):
      break
    time.sleep(0.02)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  held = sorted(int(d) for d in os.listdir(os.path.join(killed,
                                                        'checkpoints'))
                if d.isdigit())
  assert held and 20 <= held[-1] < stop, f'the kill must land mid-run {held}'
  again = run(*args[2:])
  assert f'resuming from the checkpoint of step {held[-1]}' in again.stderr
  run(*_args(af, split_npz, whole, *extra))
  a, b = _final_params(killed, stop), _final_params(whole, stop)
  flat_a = dict(_flatten(a))
  assert flat_a.keys() == dict(_flatten(b)).keys()
  for k, v in _flatten(b):
    np.testing.assert_array_equal(flat_a[k], v, err_msg=k)

  def lines(out):
    return [{k: v for k, v in r.items() if k != 'seconds'}
            for r in read_jsonl(os.path.join(out, 'train.jsonl'))]

  assert lines(killed) == lines(whole)
  assert len(lines(whole)) == stop


def _flatten(tree, prefix=''):
  if isinstance(tree, dict):
    for k in sorted(tree):
      yield from _flatten(tree[k], f'{prefix}/{k}')
  elif isinstance(tree, (list, tuple)):
    for i, v in enumerate(tree):
      yield from _flatten(v, f'{prefix}/{i}')
  else:
    yield prefix, np.asarray(tree)


@pytest.mark.parametrize('data, message', [
    ('nolabels', 'training needs an array named "labels"'),
    ('badsplit', '"split" must be'),
])
def test_bad_data_is_a_one_line_error(tmp_path, data, message):
  rng = np.random.default_rng(0)
  path = str(tmp_path / f'{data}.npz')
  arrays = {'images': rng.integers(0, 256, (6, 8, 8, 3), np.uint8)}
  if data == 'badsplit':
    arrays.update(labels=np.zeros(6, int), split=np.arange(6))
  np.savez(path, **arrays)
  af = archs_file(tmp_path / 'a.txt', [spec.parse(A)])
  proc = run(*_args(af, path, str(tmp_path / 'o'), '--steps=1'),
             check=False)
  assert proc.returncode != 0
  last = proc.stderr.strip().splitlines()[-1]
  assert message in last and path in last
  assert 'Traceback' not in proc.stderr


def test_seed_chunk_below_one_is_a_one_line_error(tmp_path, split_npz):
  af = archs_file(tmp_path / 'a.txt', [spec.parse(A)])
  proc = run(*_args(af, split_npz, str(tmp_path / 'o'), '--steps=1',
                    '--seed_chunk=0'), check=False)
  assert proc.returncode != 0
  assert proc.stderr.strip().splitlines()[-1].endswith(
      '--seed_chunk must be >= 1, got 0')
