"""Many NASWOT initialisations of one NB201 cell: one call vs the others.

  python benchmarks/bench_inits.py --inits=1,10,100,1000 \
      --baseline_repo=/tmp/jaxnas-5457b3d \
      --output=benchmarks/results/inits_cpu.json

For each K, each way is a fresh process (``/usr/bin/time`` gives its wall
time and peak RSS; start-up and compilation included, persistent
compilation cache off) scoring K inits of one NB201 cell (C=16, N=5) on a
synthetic batch of 64 with NASWOT:

- ``one_call``: ``run.py --mode=score --inits=K``: one compiled call, the
  init axis spread over the devices (``--init_devices`` default);
- ``one_device_map``: the same with ``--init_devices=1`` (all K inits in
  one device's map, as the engine did before the mesh had an init axis);
- ``separate_calls``: the engine with one init per call, called K times
  (one compilation, K dispatches), keys equal to ``one_call``'s;
- ``baseline``: ``run.py --inits=K`` of another checkout
  (``--baseline_repo``, e.g. ``git worktree add /tmp/jaxnas-5457b3d
  5457b3d``: the main of 2026-11-30, pmap and a one-device map), if given.

The record has seconds, seconds per init, peak RSS and, for the jaxnas
ways, the mean score (equal across ways: same keys).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CELL = ('|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+'
        '|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|')
COMMON = ['--mode=score', '--space=nb201', '--proxies=naswot',
          '--data=synthetic', '--batch_size=64', '--seed=0',
          '--progress_seconds=600']


def timed(cmd: list[str], cwd: str, env: dict[str, str]) -> dict:
  """Runs ``cmd`` under /usr/bin/time; wall seconds and peak RSS (GB)."""
  with tempfile.NamedTemporaryFile('r', suffix='.time') as t:
    proc = subprocess.run(['/usr/bin/time', '-f', '%e %M', '-o', t.name]
                          + cmd, cwd=cwd, env=env, capture_output=True,
                          text=True)
    if proc.returncode:
      raise RuntimeError(f'{" ".join(cmd)} failed: {proc.stderr[-2000:]}')
    wall, rss_kb = t.read().split()[-2:]
  return {'seconds': float(wall), 'peak_rss_gb': int(rss_kb) / 2**20,
          'stdout': proc.stdout}


def run_py(repo: str, k: int, extra: list[str], out: str) -> dict:
  archs = os.path.join(out, 'arch.txt')
  with open(archs, 'w') as f:
    f.write(CELL + '\n')
  env = dict(os.environ, PYTHONPATH=repo, TF_CPP_MIN_LOG_LEVEL='3',
             JAXNAS_COMPILATION_CACHE='')
  res = timed([sys.executable, 'run.py', *COMMON, f'--inits={k}',
               f'--archs={archs}', f'--output={out}',
               '--compilation_cache=', *extra], repo, env)
  with open(os.path.join(out, 'scores.jsonl')) as f:
    rec = json.loads(f.readline())
  res.pop('stdout')
  res['naswot_mean'] = rec['naswot']
  return res


def separate_calls(k: int) -> dict:
  """This script again, as a child doing K calls of one init each."""
  env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL='3')
  res = timed([sys.executable, os.path.abspath(__file__),
               f'--child_separate={k}'], ROOT, env)
  res.update(json.loads(res.pop('stdout').strip().splitlines()[-1]))
  return res


def child_separate(k: int) -> None:
  from jaxnas import runtime  # pylint: disable=g-import-not-at-top
  runtime.setup(cpu_devices=2)
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from jaxnas import data as data_lib  # pylint: disable=g-import-not-at-top
  from jaxnas import engine as engine_lib  # pylint: disable=g-import-not-at-top
  from jaxnas.proxies import get_proxies  # pylint: disable=g-import-not-at-top
  from jaxnas.spaces.nb201 import NB201Space  # pylint: disable=g-import-not-at-top
  space = NB201Space()
  batch = data_lib.load_batch('synthetic', 64, False, 0)
  eng = engine_lib.Engine(space, get_proxies(['naswot']), inits=1,
                          devices=1)
  arch = space.parse(CELL)
  data = eng.prepare_data(batch.images, None, np.random.default_rng(0))
  # The keys run.py's one call uses: split(fold_in(seed, arch id), K).
  keys = jax.random.split(jax.random.fold_in(jax.random.key(0),
                                             space.arch_id(arch)), k)
  values = []
  for i in range(k):
    (res,) = eng.run([keys[i:i + 1]], [arch], data)
    values.append(res['naswot'].values[0])
  print(json.dumps({'naswot_mean': float(np.mean(values)),
                    'compilations': eng.compilations}))


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  ap.add_argument('--inits', default='1,10,100,1000')
  ap.add_argument('--baseline_repo', default=None)
  ap.add_argument('--output', default=None)
  ap.add_argument('--child_separate', type=int, default=None,
                  help=argparse.SUPPRESS)
  args = ap.parse_args()
  if args.child_separate is not None:
    child_separate(args.child_separate)
    return
  rows = []
  for k in [int(x) for x in args.inits.split(',')]:
    ways = {'one_call': lambda d, k=k: run_py(ROOT, k, [], d),
            'one_device_map': lambda d, k=k: run_py(
                ROOT, k, ['--init_devices=1'], d),
            'separate_calls': lambda d, k=k: separate_calls(k)}
    if args.baseline_repo:
      ways['baseline'] = lambda d, k=k: run_py(args.baseline_repo, k, [], d)
    for way, fn in ways.items():
      with tempfile.TemporaryDirectory() as d:
        r = {'inits': k, 'way': way, **fn(d)}
      r['seconds_per_init'] = r['seconds'] / k
      rows.append(r)
      print(json.dumps(r), flush=True)
  if args.output:
    from jaxnas.cli.common import git_revision, versions  # pylint: disable=g-import-not-at-top
    with open(args.output, 'w') as f:
      json.dump({'git_revision': git_revision(), 'versions': versions(),
                 'cell': CELL, 'batch': 'synthetic 64', 'rows': rows}, f,
                indent=2)
      f.write('\n')


if __name__ == '__main__':
  main()
