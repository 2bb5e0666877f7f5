"""jaxnas command line: flags in, one library call per mode.

  python run.py                      # quickstart: NASWOT, 100 NB201 cells
  python run.py --mode=score --space=nb201 --archs=FILE --proxies=naswot \
      --data=npz:PATH --batch_size=128 --seed=0 --output=DIR
  python run.py --mode=search --algorithm=naswot --n_samples=100 --runs=10 \
      --data=... --benchmark=csv:PATH --output=DIR
  python run.py --mode=correlate --proxies=naswot --sample=1000 --data=... \
      --benchmark=csv:PATH --metric=cifar10_test --output=DIR
  python run.py --mode=correlate --combine --archs=FILE --data=... \
      --benchmark=csv:PATH --metric=cifar10_test --output=DIR
  python run.py --mode=describe --archs=FILE --output=DIR
  python run.py --mode=score ... --output=SHARED_DIR \
      --coordinator=HOST:PORT --num_processes=N --process_id=I   # each I

Every flag is a field of jaxnas.config.RunConfig (``--helpfull`` lists
them); the logic lives in jaxnas.cli. See README.md.
"""

import dataclasses
import sys

from absl import app

from jaxnas import config

config.define_flags()


def main(argv):
  if len(argv) > 1:
    print(f'error: unexpected arguments {argv[1:]}', file=sys.stderr)
    return 2
  cfg = config.from_flags()
  from jaxnas import runtime  # pylint: disable=g-import-not-at-top
  from jaxnas.errors import JaxnasError  # pylint: disable=g-import-not-at-top
  try:
    plan = runtime.plan_cluster(cfg.coordinator, cfg.num_processes,
                                cfg.process_id)
    runtime.setup(cfg.cpu_devices if cfg.cpu_devices > 1 else None,
                  cfg.compilation_cache)
    cluster = runtime.join(plan)
  except JaxnasError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  if cluster.several:
    cfg = dataclasses.replace(cfg, coordinator=cluster.coordinator,
                              num_processes=cluster.num_processes,
                              process_id=cluster.process_id)
  from jaxnas import cli  # pylint: disable=g-import-not-at-top
  return cli.main(cfg)


if __name__ == '__main__':
  app.run(main, flags_parser=lambda argv: app.parse_flags_with_usage(
      config.expand_bare_flags(argv)))
