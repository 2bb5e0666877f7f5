"""run.py end to end on the tiny network (C=2, N=1, 8x8 images): shared
helpers of the cli tests."""

import csv
import json
import os
import subprocess
import sys

import pytest

from jaxnas.spaces.nb201 import spec
from tests.conftest import TINY, write_npz

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
TINY_FLAGS = [f'--channels={TINY["channels"]}',
              f'--cells_per_stage={TINY["cells_per_stage"]}', '--batch_size=6']


def run(*args, check=True, cwd=ROOT, env=None):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', **(env or {}))
  proc = subprocess.run([sys.executable, os.path.join(ROOT, 'run.py'),
                         *args], capture_output=True, text=True, env=env,
                        cwd=cwd, timeout=900)
  if check and proc.returncode != 0:
    raise AssertionError(f'run.py failed ({proc.returncode}):\n{proc.stderr}')
  return proc


def read_jsonl(path):
  with open(path) as f:
    return [json.loads(l) for l in f if l.strip()]


@pytest.fixture(scope='module')
def npz(tmp_path_factory):
  return write_npz(tmp_path_factory.mktemp('data') / 'd.npz', n=16)


def archs_file(path, archs):
  with open(path, 'w') as f:
    f.write('\n'.join(spec.format(a) for a in archs) + '\n')
  return str(path)


def score_table(path, archs, scores, proxy='naswot'):
  with open(path, 'w', newline='') as f:
    w = csv.writer(f)
    w.writerow(['arch', proxy])
    for a, s in zip(archs, scores):
      w.writerow([spec.format(a), s])
  return str(path)


def benchmark(path, archs, accs):
  with open(path, 'w', newline='') as f:
    w = csv.writer(f)
    w.writerow(['arch_str', 'cifar10_test', 'cifar10_valid'])
    for a, acc in zip(archs, accs):
      w.writerow([spec.format(a), acc, acc - 3])
  return str(path)
