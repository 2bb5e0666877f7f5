"""What a set of proxies costs per NB201 cell in one jaxnas call, and where
the time goes (jaxnas only; no PyTorch needed).

  # every proxy of the engine's cell network (the all-cells run's set),
  # batch 64, and each of its groups alone:
  python benchmarks/bench_cost.py --proxies=all --batch_size=64 --cells=32 \
      --groups --output=benchmarks/results/cost_cpu.json

The cells are the CIFAR-10 rows of NASLib's nb201_zc_naslib_subset.csv (the
first ``--cells``), the batch the first ``--batch_size`` images and labels of
cifar10_sample.npz. The whole set runs as one engine program; with
``--groups`` each group of proxies that share a network (see
``jaxnas.proxies.groups``) also runs as its own program, and the windows
alternate between the programs so machine noise hits them alike. Reported:
seconds per cell (the median over windows of a window's seconds per cell,
and total / cells), compile seconds, the number of XLA compilations after
the first window and after all (it must not grow with the cells), and per
group its share of the sum of the groups' costs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.bench_proxies import DEFAULT_DATA_DIR, naslib_cells  # pylint: disable=g-import-not-at-top,wrong-import-position


def proxy_names(spec: str) -> list[str]:
  """``naslib``, ``all`` (every registered proxy of the cell network) or a
  comma-separated list."""
  from jaxnas.proxies import NASLIB_SUITE, REGISTRY, get_proxy  # pylint: disable=g-import-not-at-top
  if spec == 'naslib':
    return list(NASLIB_SUITE)
  if spec == 'all':
    return [n for n in REGISTRY if get_proxy(n).needs.form == 'cell']
  return spec.split(',')


def measure(programs: dict, archs, images, labels, window: int) -> dict:
  """Seconds per cell of each engine in ``programs`` (name -> engine),
  window by window, alternating; and the XLA compile counts."""
  import jax  # pylint: disable=g-import-not-at-top
  compiles = []
  jax.monitoring.register_event_duration_secs_listener(
      lambda event, secs, **kw: compiles.append(event)
      if event == '/jax/core/compile/backend_compile_duration' else None)
  key = jax.random.PRNGKey(0)
  first = {}
  for name, eng in programs.items():
    t0 = time.perf_counter()
    list(eng.score(key, archs[:window], images, labels))
    first[name] = time.perf_counter() - t0
    print(f'{name}: compile {eng.compile_seconds:.1f} s, first window '
          f'{first[name]:.1f} s', flush=True)
  after_first = len(compiles)
  per_window = {name: [] for name in programs}
  totals = dict.fromkeys(programs, 0.0)
  for start in range(window, len(archs), window):
    chunk = archs[start:start + window]
    for name, eng in programs.items():
      t0 = time.perf_counter()
      list(eng.score(key, chunk, images, labels))
      seconds = time.perf_counter() - t0
      totals[name] += seconds
      per_window[name].append(seconds / len(chunk))
    print(f'{start + len(chunk)}/{len(archs)} cells: ' + ', '.join(
        f'{n} {per_window[n][-1]:.2f} s/cell' for n in programs), flush=True)
  steady = len(archs) - window
  programs_out = {name: {
      'proxies': [p.name for p in eng.proxies],
      'compile_s': eng.compile_seconds,
      'first_window_s': first[name],
      'median_window_s_per_cell': statistics.median(per_window[name]),
      's_per_cell': totals[name] / steady,
      'window_s_per_cell': per_window[name],
      'compilations': eng.compilations,
  } for name, eng in programs.items()}
  return programs_out, {'after_first_window': after_first,
                        'after_all': len(compiles)}


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--data_dir', default=DEFAULT_DATA_DIR)
  parser.add_argument('--proxies', default='all',
                      help='naslib, all, or jaxnas proxy names, '
                      'comma-separated')
  parser.add_argument('--batch_size', type=int, default=64)
  parser.add_argument('--cells', type=int, default=32)
  parser.add_argument('--devices', type=int, default=2)
  parser.add_argument('--groups', action='store_true',
                      help='also time each group of the set alone')
  parser.add_argument('--compilation_cache', default='')
  parser.add_argument('--output', default=None)
  args = parser.parse_args()
  from jaxnas import runtime  # pylint: disable=g-import-not-at-top
  runtime.setup(cpu_devices=args.devices,
                compilation_cache=os.path.expanduser(args.compilation_cache))
  import numpy as np  # pylint: disable=g-import-not-at-top
  from jaxnas import data, engine  # pylint: disable=g-import-not-at-top
  from jaxnas.cli import common  # pylint: disable=g-import-not-at-top
  from jaxnas.proxies import get_proxies  # pylint: disable=g-import-not-at-top
  from jaxnas.proxies.groups import make_groups  # pylint: disable=g-import-not-at-top
  from jaxnas.spaces import get_space  # pylint: disable=g-import-not-at-top

  names = proxy_names(args.proxies)
  with np.load(os.path.join(args.data_dir, 'cifar10_sample.npz')) as f:
    images = data.normalize(f['images'][:args.batch_size])
    labels = np.asarray(f['labels'][:args.batch_size], np.int32)
  space = get_space('nb201')
  archs = [space.parse(c) for c in naslib_cells(args.data_dir)[:args.cells]]
  make = lambda ns: engine.Engine(space, get_proxies(ns), num_classes=10,
                                  devices=args.devices, balance=True)
  programs = {'all': make(names)}
  if args.groups:
    for g in make_groups(get_proxies(names)):
      programs['+'.join(p.name for p in g.proxies)] = make(
          [p.name for p in g.proxies])
  window = args.devices * engine.Engine.BALANCE_WINDOW_CALLS
  if args.cells < 2 * window:
    raise SystemExit(f'--cells={args.cells}: need at least {2 * window} '
                     f'(one window to compile, one to time)')
  result = {'command': ' '.join(sys.argv),
            'git_revision': common.git_revision(),
            'machine': {'python': platform.python_version(),
                        'cpus': os.cpu_count()},
            'versions': common.versions(), 'batch_size': args.batch_size,
            'devices': args.devices, 'cells': args.cells,
            'cells_per_window': window}
  result['programs'], result['xla_compiles'] = measure(
      programs, archs, images, labels, window)
  if args.groups:
    groups = {n: v for n, v in result['programs'].items() if n != 'all'}
    total = sum(v['s_per_cell'] for v in groups.values())
    result['group_share'] = {n: v['s_per_cell'] / total
                             for n, v in groups.items()}
    result['all_vs_sum_of_groups'] = (result['programs']['all']['s_per_cell']
                                      / total)
  print(json.dumps({k: v for k, v in result.items() if k != 'programs'},
                   indent=2))
  if args.output:
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, 'w') as f:
      json.dump(result, f, indent=2)
  return 0


if __name__ == '__main__':
  sys.exit(main())
