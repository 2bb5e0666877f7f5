"""kappa and R of NB201 cells over many inits, each cell in one compiled call.

  python experiments/tenas/inits64.py [--inits=64] [--unroll_chunk=4]
      [--batch_size=32] [--cells=ARCH,ARCH]

One engine program computes both proxies (ntk_cond on the C=3
supernet, linear_regions on the C=1 one) for all --inits Kaiming-normal
initialisations of one cell per call (both proxies ask for unrolled
inits: --unroll_chunk of them written out per step of a loop over the
inits). XLA backend compilations are counted with a jax.monitoring
listener; the program is compiled once and reused for every cell. Writes
inits64.json beside this script: per cell, the mean / std / min / max of
kappa and R over the inits, the call's wall time and the compile count.
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

DEFAULT_CELLS = (
    '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+'
    '|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|',
    '|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+'
    '|nor_conv_1x1~0|skip_connect~1|avg_pool_3x3~2|',
)


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--data', default=os.environ.get(
      'JAXNAS_REFERENCE_DATA', os.path.join(ROOT, '..', 'shared', 'data')))
  parser.add_argument('--inits', type=int, default=64)
  parser.add_argument('--unroll_chunk', type=int, default=4)
  parser.add_argument('--batch_size', type=int, default=32)
  parser.add_argument('--cells', default=','.join(DEFAULT_CELLS))
  parser.add_argument('--output', default=os.path.join(HERE, 'inits64.json'))
  args = parser.parse_args()
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  sys.path.insert(0, ROOT)
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from jaxnas import data  # pylint: disable=g-import-not-at-top
  from jaxnas import engine  # pylint: disable=g-import-not-at-top
  from jaxnas.cli import common  # pylint: disable=g-import-not-at-top
  from jaxnas.proxies import get_proxies  # pylint: disable=g-import-not-at-top
  from jaxnas.spaces import get_space  # pylint: disable=g-import-not-at-top
  from jaxnas.spaces.nb201 import spec  # pylint: disable=g-import-not-at-top

  compiles = []
  jax.monitoring.register_event_duration_secs_listener(
      lambda event, secs, **kw: compiles.append(secs)
      if event == '/jax/core/compile/backend_compile_duration' else None)

  with np.load(os.path.join(args.data, 'cifar10_sample.npz')) as f:
    images = data.normalize(f['images'][:args.batch_size])
  # The ntk_cond and linear_regions proxies in one program, every init
  # unrolled (both ask for it): the TE-NAS search's configuration.
  eng = engine.Engine(get_space('nb201'), get_proxies(
      ('ntk_cond', 'linear_regions'),
      {'ntk_cond': {'batch_size': args.batch_size}}), inits=args.inits,
                      weight_init='he_normal', devices=1,
                      unroll_chunk=args.unroll_chunk)
  rngs = [np.random.default_rng([0, i]) for i in range(args.inits)]
  per_init = jax.tree.map(lambda *xs: np.stack(xs), *[
      eng.prepare_data(np.asarray(images), None, r) for r in rngs])
  cells = [c for c in args.cells.split(',') if c]
  out = {'inits': args.inits, 'unroll_chunk': args.unroll_chunk,
         'batch_size': args.batch_size,
         'git_revision': common.git_revision(), 'cells': []}
  for n, cell in enumerate(cells):
    ops = spec.parse(cell)
    keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(0), n),
                            args.inits)
    before = len(compiles)
    t0 = time.perf_counter()
    [res] = list(eng.run([keys], [ops], {}, per_init))
    seconds = time.perf_counter() - t0
    rec = {'arch': cell, 'call_seconds': seconds,
           'xla_compiles_during_call': len(compiles) - before}
    for name, proxy in (('kappa', 'ntk_cond'), ('regions', 'linear_regions')):
      v = np.asarray(res[proxy].values, np.float64)
      rec[name] = {'count': int(v.size), 'mean': float(v.mean()),
                   'std': float(v.std(ddof=1)), 'min': float(v.min()),
                   'max': float(v.max()),
                   'noted': sum(1 for x in res[proxy].notes if x)}
    out['cells'].append(rec)
    print(json.dumps(rec), flush=True)
  out['xla_compiles_total'] = len(compiles)
  out['engine_compilations'] = eng.compilations
  out['compile_seconds'] = eng.compile_seconds
  print(json.dumps({k: v for k, v in out.items() if k != 'cells'}))
  with open(args.output, 'w') as f:
    json.dump(out, f, indent=2)
  return 0


if __name__ == '__main__':
  sys.exit(main())
