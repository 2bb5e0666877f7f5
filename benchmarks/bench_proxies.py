"""jaxnas vs PyTorch eager on NB201 proxies, side by side in one run.

Needs the bench extra (``pip install -e '.[bench]'``: torch 2.13 CPU) and the
reference data directory (``JAXNAS_REFERENCE_DATA`` or ``--data_dir``).

  # NASWOT alone (batch 128), steady state and whole process:
  python benchmarks/bench_proxies.py --proxies=naswot --batch_size=128 \
      --cells=96 --whole_process --output=benchmarks/results/naswot_cpu.json
  # NASLib's suite in one call (batch 64) against NASLib's way, one proxy
  # after the other, each on its own network copy:
  python benchmarks/bench_proxies.py --proxies=naslib --batch_size=64 \
      --cells=48 --output=benchmarks/results/zero_cost_cpu.json

Steady state: the same cells (the CIFAR-10 rows of nb201_zc_naslib_subset.csv)
and the same first ``--batch_size`` images of cifar10_sample.npz with their
labels; the implementations alternate cell group by cell group so machine
noise hits all of them. A group is one balancing window of the engine (16
cells on 2 devices, sorted by cost as run.py does). Per group: jaxnas's
engine with all ``--proxies`` in one program, jaxnas's NASWOT alone (the
cost reference), and ``benchmarks/torch_zero_cost.py`` computing each proxy
separately (2 threads). Reported: seconds per cell of each, the median over
groups of the throughput ratio (PyTorch seconds / jaxnas seconds for the
same cells), the ratio of totals, per-proxy PyTorch seconds, jaxnas's
compile seconds and the number of XLA compilations after the first group and
after all (it must not grow with the cells), and how the scores agree
(Spearman per proxy over the cells).

Whole process (``--whole_process``, NASWOT only): each side as a fresh
process over the 725 cells, start-up and compilation included; jaxnas
through ``run.py --mode=score`` with the persistent compilation cache off.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The reference data (``--data_dir``'s default for the benchmarks).
DEFAULT_DATA_DIR = os.environ.get(
    'JAXNAS_REFERENCE_DATA', os.path.join(ROOT, '..', 'shared', 'data'))
# jaxnas name -> the torch suite's name.
TORCH_NAMES = {'naswot': 'nwot'}


def naslib_cells(data_dir: str) -> list[str]:
  with open(os.path.join(data_dir, 'nb201_zc_naslib_subset.csv')) as f:
    return [r['arch_str'] for r in csv.DictReader(f)
            if r['dataset'] == 'cifar10']


def _engine(space, names, devices):
  from jaxnas import engine  # pylint: disable=g-import-not-at-top
  from jaxnas.proxies import get_proxies  # pylint: disable=g-import-not-at-top
  return engine.Engine(space, get_proxies(names), devices=devices,
                       balance=True)


def _timed(eng, key, archs, x, y):
  t0 = time.perf_counter()
  rows = list(eng.score(key, archs, x, y))
  return time.perf_counter() - t0, rows


def steady_state(cells, images_u8, labels, names, devices: int,
                 threads: int) -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  from scipy import stats  # pylint: disable=g-import-not-at-top
  from benchmarks import torch_zero_cost as tzc  # pylint: disable=g-import-not-at-top
  from jaxnas import data  # pylint: disable=g-import-not-at-top
  from jaxnas.spaces import get_space  # pylint: disable=g-import-not-at-top

  compiles = []
  jax.monitoring.register_event_duration_secs_listener(
      lambda event, secs, **kw: compiles.append(event)
      if event == '/jax/core/compile/backend_compile_duration' else None)
  torch.set_num_threads(threads)
  space = get_space('nb201')
  suite = _engine(space, names, devices)
  naswot = suite if names == ['naswot'] else _engine(space, ['naswot'],
                                                     devices)
  x, y = data.normalize(images_u8), np.asarray(labels, np.int32)
  archs = [space.parse(c) for c in cells]
  key = jax.random.PRNGKey(0)
  torch_names = [TORCH_NAMES.get(n, n) for n in names]

  t0 = time.perf_counter()
  _timed(suite, key, archs[:devices], x, y)
  if naswot is not suite:
    _timed(naswot, key, archs[:devices], x, y)
  first_call = time.perf_counter() - t0
  compiles_after_first = len(compiles)

  window = devices * suite.BALANCE_WINDOW_CALLS
  totals = {'jaxnas': 0.0, 'naswot': 0.0, 'torch': 0.0}
  ratios, torch_per_proxy, scores = [], {n: [] for n in names}, []
  for start in range(0, len(archs), window):
    group = archs[start:start + window]
    seconds, rows = _timed(suite, key, group, x, y)
    totals['jaxnas'] += seconds
    if naswot is not suite:
      totals['naswot'] += _timed(naswot, key, group, x, y)[0]
    by_arch = {space.format(r.arch): r for r in rows}
    torch_group = 0.0
    for i, cell in enumerate(cells[start:start + window]):
      t0 = time.perf_counter()
      res = tzc.score_cell(cell, images_u8, labels, torch_names,
                           seed=start + i)
      torch_group += time.perf_counter() - t0
      for n, tn in zip(names, torch_names):
        torch_per_proxy[n].append(res[tn][1])
      mine = by_arch[space.format(space.parse(cell))]
      scores.append({n: (mine[n].mean, res[tn][0])
                     for n, tn in zip(names, torch_names)})
    totals['torch'] += torch_group
    ratios.append(torch_group / seconds)
  if naswot is suite:
    totals['naswot'] = totals['jaxnas']
  agreement = {}
  for n in names:
    pairs = [s[n] for s in scores if s[n][0] is not None and
             np.isfinite(s[n][1])]
    if len(pairs) > 2:
      agreement[n] = float(stats.spearmanr(*zip(*pairs)).statistic)
  n_cells = len(archs)
  return {
      'cells': n_cells, 'batch_size': int(x.shape[0]), 'proxies': names,
      'jaxnas_devices': devices, 'torch_threads': threads,
      'cells_per_group': window,
      'jaxnas_s_per_cell': totals['jaxnas'] / n_cells,
      'jaxnas_naswot_alone_s_per_cell': totals['naswot'] / n_cells,
      'suite_cost_vs_naswot_alone': totals['jaxnas'] / totals['naswot'],
      'torch_s_per_cell': totals['torch'] / n_cells,
      'torch_median_s_per_cell_by_proxy': {
          n: statistics.median(v) for n, v in torch_per_proxy.items()},
      # Throughput ratio: per group (same cells, back to back), then median.
      'ratio': statistics.median(ratios),
      'group_ratios': ratios,
      'ratio_of_totals': totals['torch'] / totals['jaxnas'],
      'jaxnas_compile_s': suite.compile_seconds + (
          0.0 if naswot is suite else naswot.compile_seconds),
      'jaxnas_first_call_s': first_call,
      'jaxnas_compilations': suite.compilations,
      'xla_compiles_after_first_group': compiles_after_first,
      'xla_compiles_after_all': len(compiles),
      'spearman_jaxnas_vs_torch': agreement,
  }


def whole_process(cells, npz: str, devices: int, threads: int) -> dict:
  """NASWOT over all cells, each side a fresh process."""
  with tempfile.TemporaryDirectory() as tmp:
    archs = os.path.join(tmp, 'archs.txt')
    with open(archs, 'w') as f:
      f.write('\n'.join(cells) + '\n')
    jax_cmd = [sys.executable, os.path.join(ROOT, 'run.py'), '--mode=score',
               f'--archs={archs}', f'--data=npz:{npz}', '--batch_size=128',
               f'--cpu_devices={devices}', '--compilation_cache=',
               f'--output={tmp}/jax']
    torch_cmd = [sys.executable, os.path.join(ROOT, 'benchmarks',
                                              'torch_zero_cost.py'),
                 f'--archs={archs}', f'--npz={npz}', '--batch_size=128',
                 f'--threads={threads}', '--proxies=nwot',
                 f'--output={tmp}/torch.jsonl']
    out = {'cells': len(cells)}
    for name, cmd in (('jaxnas', jax_cmd), ('torch', torch_cmd)):
      t0 = time.perf_counter()
      proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
      seconds = time.perf_counter() - t0
      if proc.returncode != 0:
        raise RuntimeError(f'{name} failed:\n{proc.stderr[-2000:]}')
      out[f'{name}_seconds'] = seconds
      out[f'{name}_archs_per_s'] = len(cells) / seconds
    out['ratio'] = out['torch_seconds'] / out['jaxnas_seconds']
  return out


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--data_dir', default=DEFAULT_DATA_DIR)
  parser.add_argument('--proxies', default='naswot',
                      help='jaxnas proxy names, comma-separated, or naslib '
                      '(the whole NASLib suite)')
  parser.add_argument('--batch_size', type=int, default=128)
  parser.add_argument('--cells', type=int, default=24)
  parser.add_argument('--devices', type=int, default=2)
  parser.add_argument('--threads', type=int, default=2)
  parser.add_argument('--whole_process', action='store_true')
  parser.add_argument('--compilation_cache', default='',
                      help='persistent XLA cache directory for the steady '
                      "state's programs (default: off; e.g. run.py's "
                      '~/.cache/jaxnas/xla to reuse a program compiled by '
                      'an experiment; compile seconds are then a load)')
  parser.add_argument('--output', default=None)
  args = parser.parse_args()
  sys.path.insert(0, ROOT)
  from jaxnas import runtime  # pylint: disable=g-import-not-at-top
  runtime.setup(cpu_devices=args.devices,
                compilation_cache=os.path.expanduser(args.compilation_cache))
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from jaxnas.cli import common  # pylint: disable=g-import-not-at-top
  from jaxnas.proxies import NASLIB_SUITE  # pylint: disable=g-import-not-at-top
  names = (list(NASLIB_SUITE) if args.proxies == 'naslib' else
           args.proxies.split(','))
  npz = os.path.join(args.data_dir, 'cifar10_sample.npz')
  with np.load(npz) as f:
    images = f['images'][:args.batch_size]
    labels = f['labels'][:args.batch_size]
  cells = naslib_cells(args.data_dir)
  import torch  # pylint: disable=g-import-not-at-top
  result = {'command': ' '.join(sys.argv),
            'git_revision': common.git_revision(),
            'compilation_cache': args.compilation_cache or None,
            'machine': {'python': platform.python_version(),
                        'cpus': os.cpu_count(),
                        'processor': platform.processor()},
            'versions': {'jax': jax.__version__, 'torch': torch.__version__},
            'steady_state': steady_state(cells[:args.cells], images, labels,
                                         names, args.devices, args.threads)}
  print(json.dumps(result['steady_state'], indent=2), flush=True)
  if args.whole_process:
    if names != ['naswot']:
      raise SystemExit('--whole_process measures --proxies=naswot only')
    result['whole_process'] = whole_process(cells, npz, args.devices,
                                            args.threads)
    print(json.dumps(result['whole_process'], indent=2), flush=True)
  if args.output:
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, 'w') as f:
      json.dump(result, f, indent=2)
  return 0


if __name__ == '__main__':
  sys.exit(main())
