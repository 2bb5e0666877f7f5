"""NASWOT on NB201 on whatever backend JAX finds: throughput, compile
counts, peak device memory, and agreement with the CPU on the same cells.

``benchmarks/device_check.sh`` runs the three steps; by hand:

  python benchmarks/device_check.py measure --out=DIR      # default backend
  JAX_PLATFORMS=cpu python benchmarks/device_check.py reference --out=DIR
  python benchmarks/device_check.py compare --out=DIR

``measure`` scores ``--cells`` seeded random NB201 cells with one init each
(archs/s, all local devices along the mesh's arch axis), then
``--many_inits`` inits of the first cell in one compiled call (inits/s, the
inits spread over all local devices along the init axis, ``--init_chunk``
vmapped per step), and records the first ``--check_cells`` scores.
``reference`` scores those cells on the CPU backend in its own process;
``compare`` reports the largest relative difference and fails (exit 1) above
``--rtol``. Throughput excludes compilation (reported separately); peak
device memory is the backend's ``peak_bytes_in_use`` since the process
started (n/a where the backend does not report it, e.g. CPU), and the host's
peak RSS is printed beside it. On CPU the NASWOT kernel is the native C++
one (jaxnas/native); on GPU/TPU the engine uses the XLA formulation (a
float32 Gram product of +-1 codes; see jaxnas/proxies/naswot.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)


def _args(argv=None) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  p.add_argument('step', choices=('measure', 'reference', 'compare'))
  p.add_argument('--out', required=True, help='Directory of the results.')
  p.add_argument('--cells', type=int, default=200)
  p.add_argument('--many_inits', type=int, default=1000)
  p.add_argument('--init_chunk', type=int, default=None,
                 help='Inits vmapped per step (default: 1 on CPU, 10 '
                 'elsewhere).')
  p.add_argument('--check_cells', type=int, default=20)
  p.add_argument('--batch_size', type=int, default=64)
  p.add_argument('--data', default='synthetic',
                 help="jaxnas --data value (default: seeded noise, the same "
                 "on every machine).")
  p.add_argument('--channels', type=int, default=16)
  p.add_argument('--cells_per_stage', type=int, default=5)
  p.add_argument('--seed', type=int, default=0)
  p.add_argument('--cpu_devices', type=int, default=2,
                 help='XLA devices the CPU backend is split into.')
  p.add_argument('--rtol', type=float, default=1e-3)
  args = p.parse_args(argv)
  for name in ('cells', 'many_inits', 'check_cells', 'batch_size'):
    if getattr(args, name) < 1:
      p.error(f'--{name}={getattr(args, name)}: must be >= 1')
  if args.check_cells > args.cells:
    p.error(f'--check_cells={args.check_cells}: more than --cells='
            f'{args.cells}')
  return args


def _peak_device_bytes(devices) -> str:
  peaks = []
  for d in devices:
    stats = d.memory_stats() if hasattr(d, 'memory_stats') else None
    if not stats or 'peak_bytes_in_use' not in stats:
      return f'n/a ({d.platform} does not report device memory)'
    peaks.append(stats['peak_bytes_in_use'])
  return (f'{max(peaks) / 2**20:.1f} MiB (largest of {len(peaks)} '
          f'device(s))')


def _peak_rss_mib() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _setup(args):
  from jaxnas import runtime  # pylint: disable=g-import-not-at-top
  runtime.setup(args.cpu_devices if args.cpu_devices > 1 else None, '')
  import jax  # pylint: disable=g-import-not-at-top
  from jaxnas import data as data_lib  # pylint: disable=g-import-not-at-top
  from jaxnas.proxies import get_proxies  # pylint: disable=g-import-not-at-top
  from jaxnas.spaces import get_space  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  space = get_space('nb201', channels=args.channels,
                    cells_per_stage=args.cells_per_stage)
  batch = data_lib.load_batch(args.data, args.batch_size, False, args.seed)
  cells = space.sample(np.random.default_rng(args.seed), args.cells)
  return jax, space, batch, cells, get_proxies(('naswot',), {})


def _score(jax, engine, space, batch, cells, seed):
  """{arch: [values]} and the wall seconds excluding compilation."""
  t0 = time.perf_counter()
  out = {space.format(r.arch): r['naswot'].values
         for r in engine.score(jax.random.PRNGKey(seed), cells,
                               batch.images, batch.labels)}
  return out, time.perf_counter() - t0 - engine.compile_seconds


def measure(args) -> dict:
  jax, space, batch, cells, proxies = _setup(args)
  from jaxnas import engine as engine_lib  # pylint: disable=g-import-not-at-top
  devices = jax.local_devices()
  backend = jax.default_backend()
  from jaxnas import native  # pylint: disable=g-import-not-at-top
  chunk = args.init_chunk or (1 if backend == 'cpu' else 10)
  # As jaxnas.proxies.naswot.code_kernel decides it.
  kernel = ('native C++' if backend == 'cpu' and
            native.naswot_gram_available() else 'XLA formulation')
  print(f'backend {backend}: {len(devices)} device(s) {devices[0].device_kind}'
        f'; NASWOT kernel: {kernel}', flush=True)
  one = engine_lib.Engine(space, proxies, inits=1, balance=True)
  scores, seconds = _score(jax, one, space, batch, cells, args.seed)
  result = {
      'backend': backend, 'devices': [str(d) for d in devices],
      'device_kind': devices[0].device_kind, 'naswot_kernel': kernel,
      'jax': jax.__version__,
      'python': platform.python_version(), 'settings': vars(args),
      'one_init': {'cells': len(cells), 'seconds': seconds,
                   'archs_per_s': len(cells) / seconds,
                   'compilations': one.compilations,
                   'compile_seconds': one.compile_seconds,
                   'peak_device_memory': _peak_device_bytes(devices),
                   'peak_rss_mib': _peak_rss_mib()}}
  r = result['one_init']
  print(f'1 init:    {r["archs_per_s"]:.2f} archs/s over {len(cells)} cells; '
        f'{r["compilations"]} compilation(s), {r["compile_seconds"]:.1f} s; '
        f'peak device memory {r["peak_device_memory"]}; peak RSS '
        f'{r["peak_rss_mib"]:.0f} MiB', flush=True)
  many = engine_lib.Engine(space, proxies, inits=args.many_inits,
                           init_chunk=chunk, init_devices=len(devices))
  each, seconds = _score(jax, many, space, batch, cells[:1], args.seed)
  values = next(iter(each.values()))
  result['many_inits'] = {
      'inits': args.many_inits, 'init_chunk': chunk, 'seconds': seconds,
      'inits_per_s': args.many_inits / seconds,
      'compilations': many.compilations,
      'compile_seconds': many.compile_seconds,
      'defined': sum(v is not None for v in values),
      'peak_device_memory': _peak_device_bytes(devices),
      'peak_rss_mib': _peak_rss_mib()}
  r = result['many_inits']
  print(f'{args.many_inits} inits: {r["inits_per_s"]:.1f} inits/s on one '
        f'cell (one call, chunk {chunk}); {r["compilations"]} compilation(s),'
        f' {r["compile_seconds"]:.1f} s; peak device memory (process) '
        f'{r["peak_device_memory"]}; peak RSS {r["peak_rss_mib"]:.0f} MiB',
        flush=True)
  check = [space.format(c) for c in cells[:args.check_cells]]
  result['check'] = {n: scores[n][0] for n in check}
  return result


def reference(args) -> dict:
  jax, space, batch, cells, proxies = _setup(args)
  if jax.default_backend() != 'cpu':
    raise SystemExit('reference: run with JAX_PLATFORMS=cpu')
  from jaxnas import engine as engine_lib  # pylint: disable=g-import-not-at-top
  cells = cells[:args.check_cells]
  engine = engine_lib.Engine(space, proxies, inits=1)
  scores, _ = _score(jax, engine, space, batch, cells, args.seed)
  print(f'CPU reference: {len(cells)} cells scored', flush=True)
  return {'backend': 'cpu', 'settings': vars(args),
          'check': {n: v[0] for n, v in scores.items()}}


def compare(args) -> int:
  with open(os.path.join(args.out, 'device.json')) as f:
    device = json.load(f)
  with open(os.path.join(args.out, 'cpu_reference.json')) as f:
    cpu = json.load(f)
  worst, name = 0.0, None
  for arch, want in cpu['check'].items():
    got = device['check'].get(arch, 'missing')
    if (got is None) != (want is None) or got == 'missing':
      print(f'FAIL: {arch}: {device["backend"]} {got}, cpu {want}')
      return 1
    if want is not None:
      rel = abs(got - want) / max(abs(want), 1e-12)
      if rel >= worst:
        worst, name = rel, arch
  ok = worst <= args.rtol
  print(f'{"PASS" if ok else "FAIL"}: {len(cpu["check"])} cells, '
        f'{device["backend"]} ({device["naswot_kernel"]}) vs cpu (native '
        f'kernel when available), largest relative difference '
        f'{worst:.2e} ({name}; tolerance {args.rtol:g})')
  return 0 if ok else 1


def main(argv=None) -> int:
  args = _args(argv)
  if args.step == 'compare':
    return compare(args)
  os.makedirs(args.out, exist_ok=True)
  result = measure(args) if args.step == 'measure' else reference(args)
  name = 'device.json' if args.step == 'measure' else 'cpu_reference.json'
  with open(os.path.join(args.out, name), 'w') as f:
    json.dump(result, f, indent=2)
    f.write('\n')
  return 0


if __name__ == '__main__':
  sys.exit(main())
