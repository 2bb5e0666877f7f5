"""The results source: store, resume, damage."""

import os

import numpy as np
import pytest

from jaxnas.spaces.nb201 import spec
from tests.cli.conftest import TINY_FLAGS, archs_file, read_jsonl, run

# run.py in a subprocess, end to end.
pytestmark = pytest.mark.e2e


def test_scores_jsonl_alone_resumes(tmp_path, npz):
  """A committed scores.jsonl (no SQLite) is imported, not recomputed."""
  archs = spec.sample(np.random.default_rng(2), 2)
  af = archs_file(tmp_path / 'a.txt', archs)
  out = str(tmp_path / 'out')
  args = ['--mode=score', f'--archs={af}', f'--data=npz:{npz}',
          f'--output={out}', *TINY_FLAGS]
  run(*args)
  first = read_jsonl(os.path.join(out, 'scores.jsonl'))
  os.remove(os.path.join(out, 'store.sqlite'))
  again = run(*args)
  assert 'imported 2' in again.stderr and 'to score' not in again.stderr
  assert read_jsonl(os.path.join(out, 'scores.jsonl')) == first


def test_damaged_store_is_rebuilt_from_scores_jsonl(tmp_path, npz):
  archs = spec.sample(np.random.default_rng(3), 2)
  af = archs_file(tmp_path / 'a.txt', archs)
  out = tmp_path / 'out'
  args = ['--mode=score', f'--archs={af}', f'--data=npz:{npz}',
          f'--output={out}', *TINY_FLAGS]
  run(*args)
  first = read_jsonl(out / 'scores.jsonl')
  store = out / 'store.sqlite'
  raw = bytearray(store.read_bytes())
  raw[:16] = b'not a database!!'
  store.write_bytes(bytes(raw))
  again = run(*args)
  assert 'moved it to' in again.stderr and 'rebuilding' in again.stderr
  assert 'Traceback' not in again.stderr
  assert 'imported 2' in again.stderr and 'to score' not in again.stderr
  assert read_jsonl(out / 'scores.jsonl') == first
  assert list(out.glob('store.sqlite.damaged-*'))


def test_one_store_for_several_spaces_and_proxy_sets(tmp_path, npz):
  """A shared --store keeps every configuration apart: another proxy set
  or space neither reuses nor hides results."""
  store = str(tmp_path / 'shared.sqlite')
  archs = spec.sample(np.random.default_rng(4), 2)
  af = archs_file(tmp_path / 'a.txt', archs)
  base = ['--mode=score', f'--archs={af}', f'--data=npz:{npz}',
          f'--store={store}', *TINY_FLAGS]
  run(*base, f'--output={tmp_path}/a')
  both = run(*base, f'--output={tmp_path}/b', '--proxies=naswot,params',
             '--cpu_devices=1')
  assert 'params: 0 stored, 2 to score' in both.stderr
  a = {r['arch']: r['naswot'] for r in read_jsonl(tmp_path / 'a' /
                                                  'scores.jsonl')}
  b = {r['arch']: r['naswot'] for r in read_jsonl(tmp_path / 'b' /
                                                  'scores.jsonl')}
  assert a == b  # naswot read back, params computed
  nb101 = tmp_path / 'c.txt'
  nb101.write_text('0110000011000010000100000 in,c3,mp,c1,out\n')
  other = run('--mode=score', '--space=nb101', f'--archs={nb101}',
              f'--data=npz:{npz}', f'--store={store}', '--channels=4',
              '--cells_per_stage=1', '--batch_size=6', '--cpu_devices=1',
              f'--output={tmp_path}/c')
  assert '0 stored, 1 to score' in other.stderr


def test_unwritable_output_directory_is_one_line(tmp_path):
  blocker = tmp_path / 'file'
  blocker.write_text('x')
  proc = run('--mode=describe', f'--output={blocker}/out',
             '--sample=1', check=False)
  assert proc.returncode == 2 and 'Traceback' not in proc.stderr
  errors = [l for l in proc.stderr.splitlines() if l.startswith('error:')]
  assert len(errors) == 1 and f'--output={blocker}/out' in errors[0]
