"""How many programs scoring 200 different NB101 cells compiles.

  python experiments/nb101_naswot/compile_count.py [--cells=200]
      [--channels=16] [--batch_size=128] [--devices=1]

Takes the first --cells cells (in a seeded random order) of the reference
table's graph-carrying rows, preferring distinct topologies (adjacency
matrices), scores them with NASWOT through engine.Engine (the same path
run.py uses) and counts XLA backend compilations with a jax.monitoring
listener, after the first cell and after all of them, plus the scorer's own
trace count. Writes compile_count.json beside this script. The persistent
compilation cache is off, so every compilation is counted.
"""

import argparse
import csv
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--data', default=os.environ.get(
      'JAXNAS_REFERENCE_DATA', os.path.join(ROOT, '..', 'shared', 'data')))
  parser.add_argument('--cells', type=int, default=200)
  parser.add_argument('--channels', type=int, default=16)
  parser.add_argument('--batch_size', type=int, default=128)
  parser.add_argument('--devices', type=int, default=1)
  parser.add_argument('--output', default=os.path.join(HERE,
                                                       'compile_count.json'))
  args = parser.parse_args()
  sys.path.insert(0, ROOT)
  from jaxnas import runtime  # pylint: disable=g-import-not-at-top
  runtime.setup(cpu_devices=args.devices, compilation_cache='')
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from jaxnas import data, engine  # pylint: disable=g-import-not-at-top
  from jaxnas.cli import common  # pylint: disable=g-import-not-at-top
  from jaxnas.proxies import get_proxy  # pylint: disable=g-import-not-at-top
  from jaxnas.spaces import get_space  # pylint: disable=g-import-not-at-top

  compiles = []
  jax.monitoring.register_event_duration_secs_listener(
      lambda event, secs, **kw: compiles.append(secs)
      if event == '/jax/core/compile/backend_compile_duration' else None)

  space = get_space('nb101', channels=args.channels)
  with open(os.path.join(args.data, 'nb101_valacc_30k.csv'),
            newline='') as f:
    rows = [r for r in csv.DictReader(f) if r['matrix']]
  order = np.random.default_rng(0).permutation(len(rows))
  chosen, extra, topologies = [], [], set()
  for i in order:
    cell = space.from_benchmark_row(rows[i])
    (extra if cell.matrix_digits in topologies else chosen).append(cell)
    topologies.add(cell.matrix_digits)
    if len(chosen) == args.cells:
      break
  chosen = (chosen + extra)[:args.cells]
  distinct = len({c.matrix_digits for c in chosen})
  with np.load(os.path.join(args.data, 'cifar10_sample.npz')) as f:
    images = data.normalize(f['images'][:args.batch_size])
  scorer = engine.Engine(space, [get_proxy('naswot')],
                         weight_init='he_normal', devices=args.devices)
  key = jax.random.PRNGKey(0)
  t0 = time.perf_counter()
  first = list(scorer.score(key, chosen[:args.devices], images))
  after_first = len(compiles)
  results = first + list(scorer.score(key, chosen[args.devices:], images))
  seconds = time.perf_counter() - t0
  out = {
      'cells': len(chosen), 'distinct_topologies': distinct,
      'distinct_hashes': len({c.module_hash for c in chosen}),
      'channels': args.channels, 'batch_size': args.batch_size,
      'devices': args.devices,
      'xla_compiles_after_first_cell': after_first,
      'xla_compiles_after_all': len(compiles),
      'engine_compilations': scorer.compilations,
      'git_revision': common.git_revision(),
      'scorer_compile_seconds': round(scorer.compile_seconds, 1),
      'seconds_total': round(seconds, 1),
      'scores_defined': sum(r['naswot'].mean is not None for r in results),
      'jax': jax.__version__,
  }
  print(json.dumps(out, indent=2))
  with open(args.output, 'w') as f:
    json.dump(out, f, indent=2)
  return 0


if __name__ == '__main__':
  sys.exit(main())
