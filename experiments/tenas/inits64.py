"""kappa and R of NB201 cells over many inits, each cell in one compiled call.

  python experiments/tenas/inits64.py [--inits=64] [--unroll=4]
      [--batch_size=32] [--cells=ARCH,ARCH]

One SupernetScorer program computes both measures (ntk_cond on the C=3
supernet, linear_regions on the C=1 one) for all --inits Kaiming-normal
initialisations of one cell per call (--unroll inits per step of a
lax.map). XLA backend compilations are counted with a jax.monitoring
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
  parser.add_argument('--unroll', type=int, default=4)
  parser.add_argument('--batch_size', type=int, default=32)
  parser.add_argument('--cells', default=','.join(DEFAULT_CELLS))
  parser.add_argument('--output', default=os.path.join(HERE, 'inits64.json'))
  args = parser.parse_args()
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  sys.path.insert(0, ROOT)
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from jaxnas import data  # pylint: disable=g-import-not-at-top
  from jaxnas.proxies import supernet_scorer as ss  # pylint: disable=g-import-not-at-top
  from jaxnas.spaces.nb201 import spec, supernet  # pylint: disable=g-import-not-at-top

  compiles = []
  jax.monitoring.register_event_duration_secs_listener(
      lambda event, secs, **kw: compiles.append(secs)
      if event == '/jax/core/compile/backend_compile_duration' else None)

  with np.load(os.path.join(args.data, 'cifar10_sample.npz')) as f:
    images = data.normalize(f['images'][:args.batch_size])
  measures = [ss.make_measure(name, 'he_normal')
              for name in ('ntk_cond', 'linear_regions')]
  scorer = ss.SupernetScorer(measures, args.inits, args.unroll, devices=1)
  rngs = [np.random.default_rng([0, i]) for i in range(args.inits)]
  prepared = scorer.prepare([np.asarray(images)] * args.inits, rngs)
  cells = [c for c in args.cells.split(',') if c]
  out = {'inits': args.inits, 'unroll': args.unroll,
         'batch_size': args.batch_size, 'cells': []}
  for n, cell in enumerate(cells):
    ops = spec.parse(cell)
    keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(0), n),
                            args.inits)
    before = len(compiles)
    t0 = time.perf_counter()
    [(values, notes, _)] = list(scorer.run([keys], [supernet.one_hot(ops)],
                                           prepared))
    seconds = time.perf_counter() - t0
    rec = {'arch': cell, 'call_seconds': seconds,
           'xla_compiles_during_call': len(compiles) - before}
    for name, vals, nts in zip(('kappa', 'regions'), values, notes):
      v = np.asarray(vals, np.float64)
      rec[name] = {'count': int(v.size), 'mean': float(v.mean()),
                   'std': float(v.std()), 'min': float(v.min()),
                   'max': float(v.max()),
                   'noted': sum(1 for x in nts if x)}
    out['cells'].append(rec)
    print(json.dumps(rec), flush=True)
  out['xla_compiles_total'] = len(compiles)
  out['scorer_traces'] = scorer.traces
  out['compile_seconds'] = scorer.compile_seconds
  print(json.dumps({k: v for k, v in out.items() if k != 'cells'}))
  with open(args.output, 'w') as f:
    json.dump(out, f, indent=2)
  return 0


if __name__ == '__main__':
  sys.exit(main())
