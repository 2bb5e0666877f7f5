"""Several processes (jax.distributed on localhost, 2 CPU devices each)
score shares of the architectures into one output directory."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from jaxnas.cli import shards
from jaxnas.errors import JaxnasError
from jaxnas.spaces.nb201 import spec
from tests.cli.conftest import ROOT, TINY_FLAGS, archs_file, read_jsonl, run

# run.py in subprocesses, end to end (the 'slow' marker of tests/cli).
pytestmark = pytest.mark.e2e

N_ARCHS = 10
TIMEOUT = 600  # seconds per cluster run; generous for a loaded CI machine


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def command(args, process_id, port, kill_after=None):
  prefix = [sys.executable]
  if kill_after is not None:
    prefix += [os.path.join(ROOT, 'tests', 'cli', 'kill_after.py'),
               str(kill_after)]
  return [*prefix, os.path.join(ROOT, 'run.py'), *args,
          f'--coordinator=localhost:{port}', '--num_processes=2',
          f'--process_id={process_id}']


@contextlib.contextmanager
def processes(cmds, tmp_path):
  """Starts ``cmds`` (stderr to files); kills what is left on the way out."""
  procs = []
  try:
    for i, cmd in enumerate(cmds):
      err = open(tmp_path / f'p{i}-{time.monotonic_ns()}.err', 'w+')
      procs.append((subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=err, env=dict(
                                         os.environ, TF_CPP_MIN_LOG_LEVEL='3')),
                    err))
    yield procs
  finally:
    for proc, err in procs:
      if proc.poll() is None:
        proc.kill()
      proc.wait()
      err.close()


def stderr_of(err) -> str:
  err.flush()
  err.seek(0)
  return err.read()


def wait_all(procs):
  deadline = time.monotonic() + TIMEOUT
  for proc, err in procs:
    proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    assert proc.returncode == 0, stderr_of(err)
  return [stderr_of(err) for _, err in procs]


@pytest.fixture(scope='module')
def setup(tmp_path_factory, npz):
  """The archs file, the flags and a single-process run's records."""
  tmp = tmp_path_factory.mktemp('dist')
  archs = spec.sample(np.random.default_rng(11), N_ARCHS)
  af = archs_file(tmp / 'a.txt', archs)
  flags = ['--mode=score', f'--archs={af}', f'--data=npz:{npz}',
           '--cpu_devices=2', *TINY_FLAGS]
  out = str(tmp / 'single')
  run(*flags, f'--output={out}')
  single = {r['arch']: r for r in read_jsonl(os.path.join(out,
                                                          'scores.jsonl'))}
  assert len(single) == N_ARCHS
  return flags, single


def same_scores(records, single):
  names = [r['arch'] for r in records]
  assert sorted(names) == sorted(single) and len(set(names)) == len(names)
  for r in records:
    want = {k: v for k, v in single[r['arch']].items() if k != 'seconds'}
    assert {k: v for k, v in r.items() if k != 'seconds'} == want, r['arch']


def test_two_processes_score_as_one(tmp_path, setup):
  flags, single = setup
  out = str(tmp_path / 'out')
  args = [*flags, f'--output={out}']
  port = free_port()
  with processes([command(args, i, port) for i in (0, 1)], tmp_path) as ps:
    err0, err1 = wait_all(ps)
  assert 'process 1 of 2: 5 of 10 architectures' in err1
  assert 'merged 2 shards (10 architectures)' in err0
  same_scores(read_jsonl(os.path.join(out, 'scores.jsonl')), single)
  # The one store holds every score: a single-process rerun computes nothing.
  again = run(*args)
  assert 'to score' not in again.stderr
  assert len(read_jsonl(os.path.join(out, 'scores.jsonl'))) == N_ARCHS


@pytest.mark.slow
def test_killed_process_rerun_finishes_its_share(tmp_path, setup):
  flags, single = setup
  out = str(tmp_path / 'out')
  args = [*flags, f'--output={out}']
  shard1 = os.path.join(out, 'shards', '1-of-2', 'scores.jsonl')
  port = free_port()
  with processes([command(args, 0, port),
                  command(args, 1, port, kill_after=2)], tmp_path) as ps:
    p1, err1 = ps[1]
    p1.wait(timeout=TIMEOUT)
    assert p1.returncode == -signal.SIGKILL, stderr_of(err1)
    # Its peer would wait for the dead process's share until jax's health
    # check ended it: end it now, as a scheduler tearing the job down.
  assert not os.path.exists(os.path.join(out, 'scores.jsonl'))
  assert len(read_jsonl(shard1)) == 2
  port = free_port()
  with processes([command(args, i, port) for i in (0, 1)], tmp_path) as ps:
    err0, err1 = wait_all(ps)
  # Process 1 scores only the 3 archs of its share it had not; process 0
  # only what it had not finished before it was stopped.
  assert 'naswot: 2 stored, 3 to score' in err1
  for shard in ('0-of-2', '1-of-2'):
    names = [r['arch'] for r in read_jsonl(os.path.join(out, 'shards', shard,
                                                        'scores.jsonl'))]
    assert len(names) == len(set(names)) == 5
  same_scores(read_jsonl(os.path.join(out, 'scores.jsonl')), single)


@pytest.mark.parametrize('flags, message', [
    (['--coordinator=localhost', '--num_processes=2', '--process_id=0'],
     '--coordinator=localhost: expected HOST:PORT'),
    (['--coordinator=localhost:1234', '--num_processes=2', '--process_id=2'],
     '--process_id=2: outside [0, 2)'),
    (['--num_processes=2', '--process_id=1'],
     'several processes need --coordinator'),
])
def test_bad_cluster_flags_one_line_error(flags, message):
  proc = run('--mode=score', '--sample=2', *flags, check=False)
  assert proc.returncode == 2
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: ') and (
      message in lines[0]), proc.stderr


def test_shares_split_in_run_order_by_index_modulo_processes():
  names = [f'a{i}' for i in range(7)]
  got = shards.shares(names, 3)
  assert got == [['a0', 'a3', 'a6'], ['a1', 'a4'], ['a2', 'a5']]
  assert sorted(sum(got, [])) == sorted(names)  # each exactly once
  assert shards.shares(names, 1) == [names]


def test_read_complete_jsonl_leaves_out_a_torn_last_line(tmp_path):
  path = tmp_path / 'scores.jsonl'
  assert shards.read_complete_jsonl(str(path)) == []
  path.write_text('{"a": 1}\n\n{"a": 2}\n{"a": 3')
  assert shards.read_complete_jsonl(str(path)) == [{'a': 1}, {'a': 2}]
  path.write_text('{"a": 1}\nnot json\n')
  with pytest.raises(JaxnasError, match=r'scores.jsonl:2: not a JSON line'):
    shards.read_complete_jsonl(str(path))
