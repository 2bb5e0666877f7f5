"""jaxnas vs a PyTorch-eager NASWOT on NB201, side by side in one run.

Needs the bench extra (``pip install -e '.[bench]'``: torch 2.13 CPU) and the
reference data directory (``JAXNAS_REFERENCE_DATA`` or ``--data_dir``).

  python benchmarks/bench_naswot.py --cells=24 --whole_process \
      --output=benchmarks/results/naswot_cpu.json

Steady state: the same cells and the same first 128 images of
cifar10_sample.npz, batch 128, train-mode BN, 2 threads for PyTorch; the two
implementations alternate cell group by cell group so machine noise hits
both. A group is one balancing window of the engine (16 cells on 2 devices,
sorted by cost as run.py does; ``--no_balance`` pairs cells in list order).
Reported: archs/s of each side over all cells, the median over groups of
the throughput ratio (PyTorch seconds / jaxnas seconds for the same cells),
the ratio of totals; jaxnas's compile seconds and the number of XLA
compilations after the first group and after all groups (it must not grow
with the cells).

Whole process (``--whole_process``): each side as a fresh process over the
725 cells of nb201_zc_naslib_subset.csv (CIFAR-10 rows), start-up and
compilation included; jaxnas through ``run.py --mode=score`` with the
persistent compilation cache off.
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


def _early_xla(devices: int) -> None:
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  if devices > 1:
    os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                               f' --xla_force_host_platform_device_count='
                               f'{devices}')


def naslib_cells(data_dir: str) -> list[str]:
  with open(os.path.join(data_dir, 'nb201_zc_naslib_subset.csv')) as f:
    return [r['arch_str'] for r in csv.DictReader(f)
            if r['dataset'] == 'cifar10']


def steady_state(cells, images_u8, devices: int, threads: int,
                 balance: bool) -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  from benchmarks import torch_reference as tr  # pylint: disable=g-import-not-at-top
  from jaxnas import data, engine  # pylint: disable=g-import-not-at-top
  from jaxnas.proxies import get_proxy  # pylint: disable=g-import-not-at-top
  from jaxnas.spaces import get_space  # pylint: disable=g-import-not-at-top

  compiles = []
  jax.monitoring.register_event_duration_secs_listener(
      lambda event, secs, **kw: compiles.append(event)
      if event == '/jax/core/compile/backend_compile_duration' else None)

  torch.set_num_threads(threads)
  space = get_space('nb201')
  scorer = engine.Scorer(space, get_proxy('naswot'), devices=devices,
                         balance=balance)
  x_jax = data.normalize(images_u8)
  x_torch = tr.normalize_cifar10(images_u8)
  archs = [space.parse(c) for c in cells]
  key = jax.random.PRNGKey(0)

  t0 = time.perf_counter()
  first = list(scorer.score(key, archs[:devices], x_jax))
  first_call = time.perf_counter() - t0
  compiles_after_first = len(compiles)

  # Groups of one balancing window (the engine sorts each window by cost
  # so the devices of one call get cells of similar cost, as run.py does).
  window = devices * engine.Scorer.BALANCE_WINDOW_CALLS if balance else devices
  jax_times, torch_times, group_ratios, pairs = [], [], [], []
  jax_total = torch_total = 0.0
  for start in range(0, len(archs), window):
    group = archs[start:start + window]
    t0 = time.perf_counter()
    res = {space.format(r.arch): r for r in scorer.score(key, group, x_jax)}
    jax_group = time.perf_counter() - t0
    jax_times.append(jax_group / len(group))
    jax_total += jax_group
    torch_group = 0.0
    for i, arch in enumerate(cells[start:start + window]):
      t0 = time.perf_counter()
      torch.manual_seed(start + i)
      net = tr.build_network(arch)
      ts = tr.naswot_score(net, x_torch)
      torch_times.append(time.perf_counter() - t0)
      torch_group += torch_times[-1]
      pairs.append((res[space.format(space.parse(arch))].mean, ts))
    torch_total += torch_group
    group_ratios.append(torch_group / jax_group)
  del first
  jax_med = statistics.median(jax_times)
  torch_med = statistics.median(torch_times)
  finite = [(a, b) for a, b in pairs
            if a is not None and np.isfinite(b)]
  rel = [abs(a - b) / abs(b) for a, b in finite]
  return {
      'cells': len(archs),
      'jaxnas_devices': devices,
      'torch_threads': threads,
      'jaxnas_archs_per_s': len(archs) / jax_total,
      'torch_archs_per_s': len(archs) / torch_total,
      'balance': scorer.balance,
      'cells_per_group': window,
      # Throughput ratio: per group (same cells, back to back), then median.
      'ratio': statistics.median(group_ratios),
      'group_ratios': group_ratios,
      'ratio_of_totals': torch_total / jax_total,
      'jaxnas_median_group_s_per_cell': jax_med,
      'torch_median_cell_s': torch_med,
      'jaxnas_compile_s': scorer.compile_seconds,
      'jaxnas_first_call_s': first_call,
      'jaxnas_traces': scorer.traces,
      'xla_compiles_after_first_group': compiles_after_first,
      'xla_compiles_after_all': len(compiles),
      'score_median_rel_diff_vs_torch': statistics.median(rel) if rel else None,
  }


def whole_process(cells, npz: str, devices: int, threads: int) -> dict:
  with tempfile.TemporaryDirectory() as tmp:
    archs = os.path.join(tmp, 'archs.txt')
    with open(archs, 'w') as f:
      f.write('\n'.join(cells) + '\n')
    jax_cmd = [sys.executable, os.path.join(ROOT, 'run.py'), '--mode=score',
               f'--archs={archs}', f'--data=npz:{npz}', '--batch_size=128',
               f'--cpu_devices={devices}', '--compilation_cache=',
               f'--output={tmp}/jax', '--progress_seconds=600']
    torch_cmd = [sys.executable,
                 os.path.join(ROOT, 'benchmarks', 'torch_reference.py'),
                 f'--archs={archs}', f'--npz={npz}', '--batch_size=128',
                 f'--threads={threads}', f'--output={tmp}/torch.jsonl']
    out = {'cells': len(cells)}
    for name, cmd in (('jaxnas', jax_cmd), ('torch', torch_cmd)):
      t0 = time.perf_counter()
      proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
      seconds = time.perf_counter() - t0
      if proc.returncode != 0:
        raise RuntimeError(f'{name} failed:\n{proc.stderr[-2000:]}')
      out[f'{name}_seconds'] = seconds
      out[f'{name}_archs_per_s'] = len(cells) / seconds
      if name == 'jaxnas':
        out['jaxnas_log_tail'] = proc.stderr.strip().splitlines()[-1]
    out['ratio'] = out['torch_seconds'] / out['jaxnas_seconds']
  return out


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--data_dir', default=os.environ.get(
      'JAXNAS_REFERENCE_DATA', os.path.join(ROOT, '..', 'shared', 'data')))
  parser.add_argument('--cells', type=int, default=24)
  parser.add_argument('--devices', type=int, default=2)
  parser.add_argument('--threads', type=int, default=2)
  parser.add_argument('--whole_process', action='store_true')
  parser.add_argument('--no_balance', dest='balance', action='store_false',
                      help='pair cells on devices in list order (no cost '
                      'sorting)')
  parser.add_argument('--output', default=None)
  args = parser.parse_args()
  _early_xla(args.devices)
  sys.path.insert(0, ROOT)
  import numpy as np  # pylint: disable=g-import-not-at-top
  npz = os.path.join(args.data_dir, 'cifar10_sample.npz')
  with np.load(npz) as f:
    images = f['images'][:128]
  cells = naslib_cells(args.data_dir)
  result = {'machine': {'python': platform.python_version(),
                        'cpus': os.cpu_count()},
            'steady_state': steady_state(cells[:args.cells], images,
                                         args.devices, args.threads,
                                         args.balance)}
  print(json.dumps(result['steady_state'], indent=2), flush=True)
  if args.whole_process:
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
