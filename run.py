"""jaxnas command line: flags in, one library call per mode.

  python run.py                      # quickstart: NASWOT, 100 NB201 cells
  python run.py --mode=score --space=nb201 --archs=FILE --proxies=naswot \
      --data=npz:PATH --batch_size=128 --seed=0 --output=DIR
  python run.py --mode=search --algorithm=naswot --n_samples=100 --runs=10 \
      --data=... --benchmark=csv:PATH --output=DIR
  python run.py --mode=correlate --proxies=naswot --sample=1000 --data=... \
      --benchmark=csv:PATH --metric=cifar10_test --output=DIR
  python run.py --mode=describe --archs=FILE --output=DIR
  python run.py --mode=search --algorithm=tenas --runs=4 --batch_size=32 \
      --data=... --benchmark=csv:PATH --output=DIR

The logic lives in jaxnas.workflows; see README.md for every flag.
"""

import os
import sys

from absl import app
from absl import logging
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_enum('mode', 'quickstart',
                  ['quickstart', 'score', 'search', 'correlate', 'describe',
                   'enumerate'], 'What to run.')
flags.DEFINE_string('space', 'nb201', 'Search space: nb201 or nb101.')
flags.DEFINE_list('proxies', ['naswot'], 'Proxies to compute.')
flags.DEFINE_string('archs', None, 'File with one architecture a line.')
flags.DEFINE_integer('sample', None, 'Score N random cells (0: all cells; '
                     'with --benchmark, cells it covers).')
flags.DEFINE_string('data', 'cifar10', 'cifar10, cifar100, imagenet16-120 '
                    '(tfds), npz:PATH, or synthetic.')
flags.DEFINE_string('data_dir', None, 'tfds data directory.')
flags.DEFINE_enum('norm', None, ['cifar10', 'cifar100', 'imagenet16-120',
                                 'none'],
                  'Normalisation constants (default: the dataset\'s; '
                  'CIFAR-10\'s for npz and synthetic).')
flags.DEFINE_integer('batch_size', 128, 'Images per scoring batch (32 '
                     'when unset with --algorithm=tenas or the ntk_cond '
                     'proxy, the TE-NAS paper\'s NTK batch).')
flags.DEFINE_bool('shuffle', False, 'Seeded random images instead of the '
                  'first batch_size.')
flags.DEFINE_integer('seed', 0, 'Seed of initialisations and sampling.')
flags.DEFINE_integer('inits', 1, 'Initialisations per architecture (one '
                     'compiled call); scores report mean, std and each.')
flags.DEFINE_integer('map_batch', 1, 'Inits vmapped together within the map.')
flags.DEFINE_enum('weight_init', 'torch', ['torch', 'he_normal',
                                           'he_normal_fan_in'],
                  'Weight initialisation (torch = PyTorch default, the '
                  'NASWOT reference; he_normal = Kaiming normal, fan-out, '
                  'the default of --algorithm=tenas, whose regions network '
                  'then uses fan-in as the TE-NAS code intends).')
flags.DEFINE_integer('devices', None, 'Devices to spread architectures over '
                     '(default: all).')
flags.DEFINE_integer('cpu_devices', 2, 'Split the host CPU into this many '
                     'XLA devices (sets XLA_FLAGS before JAX starts); cells '
                     'are spread over them when JAX runs on the CPU. 2 was '
                     'fastest on a 2-core machine; 1 turns it off.')
flags.DEFINE_integer('channels', None, 'Network width C (space default).')
flags.DEFINE_integer('cells_per_stage', None, 'Cells per stage N (space '
                     'default).')
flags.DEFINE_string('output', 'out', 'Output directory.')
flags.DEFINE_string('store', None, 'SQLite results store (default '
                    'OUTPUT/store.sqlite).')
flags.DEFINE_string('score_table', None, 'csv:PATH of precomputed scores '
                    '(columns arch and one per proxy) used instead of '
                    'computing.')
flags.DEFINE_string('benchmark', None, 'csv:PATH ground-truth table.')
flags.DEFINE_string('metric', 'cifar10_test', 'Benchmark column(s) to report '
                    '(comma-separated).')
flags.DEFINE_string('search_metric', 'cifar10_valid', 'Benchmark column '
                    'that benchmark-driven searches optimise.')
flags.DEFINE_enum('algorithm', 'naswot',
                  ['naswot', 'random', 're', 'area', 'reinforce', 'tenas'],
                  'Search algorithm: naswot (Algorithm 1: best score of N '
                  'samples), tenas (prune the NB201 supernet by the ranks '
                  'of NTK condition number and linear regions; run r uses '
                  'seed + r) or a benchmark-driven search with a budget of '
                  'N trained-cell lookups (random, re = regularised '
                  'evolution, area = NASWOT-seeded RE, reinforce).')
flags.DEFINE_integer('n_samples', 100, 'Cells sampled per run (naswot), or '
                     'the lookup budget (benchmark-driven searches).')
flags.DEFINE_bool('dedup', True, 'Benchmark searches: a cell isomorphic to '
                  'one already looked up costs no budget.')
flags.DEFINE_integer('population', 10, 'Regularised evolution population.')
flags.DEFINE_integer('tournament', 3, 'Regularised evolution tournament '
                     'size (AREA too).')
flags.DEFINE_integer('area_m', 20, 'AREA: random cells scored by the proxy.')
flags.DEFINE_integer('area_keep', 10, 'AREA: best-scored cells that seed RE '
                     '(its population).')
flags.DEFINE_float('lr', 0.5, 'REINFORCE learning rate.')
flags.DEFINE_integer('tenas_repeats', 3, 'TE-NAS: repeats (inits and data '
                     'batches of --batch_size images) averaged per pruning '
                     'candidate.')
flags.DEFINE_integer('tenas_precision', 3, 'TE-NAS: decimals the relative '
                     'changes dK, dR of each repeat are rounded to.')
flags.DEFINE_integer('num_classes', 10, 'TE-NAS NTK supernet (ntk_cond, '
                     'tenas): classifier outputs, the dataset\'s classes as '
                     'in the reference.')
flags.DEFINE_integer('region_inputs', 3000, 'linear_regions / tenas: 3x3 '
                     'one-channel patches per count.')
flags.DEFINE_integer('region_batch', 1000, 'linear_regions / tenas: patches '
                     'per forward pass (BatchNorm statistics per batch).')
flags.DEFINE_integer('runs', 10, 'Independent search runs.')
flags.DEFINE_string(
    'compilation_cache',
    os.environ.get('JAXNAS_COMPILATION_CACHE',
                   os.path.expanduser('~/.cache/jaxnas/xla')),
    'Persistent XLA compilation cache directory (empty: off). A second run '
    'of the same program skips most of its compile time.')
flags.DEFINE_enum('arch_order', 'given', ['given', 'random'],
                  'Order of scoring (random: a seeded permutation, so a '
                  'partial run is a uniform sample).')
flags.DEFINE_integer('max_vertices', 7, 'NB101 enumeration: largest cell '
                     '(2..7).')
flags.DEFINE_float('progress_seconds', 10.0, 'Seconds between progress '
                   'lines on long runs.')


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  if FLAGS.compilation_cache:
    import jax  # pylint: disable=g-import-not-at-top
    jax.config.update('jax_compilation_cache_dir', FLAGS.compilation_cache)
    jax.config.update('jax_persistent_cache_min_compile_time_secs', 1.0)
  from jaxnas import workflows  # pylint: disable=g-import-not-at-top
  from jaxnas.errors import JaxnasError  # pylint: disable=g-import-not-at-top
  quickstart = FLAGS.mode == 'quickstart'
  weight_init, batch_size = FLAGS.weight_init, FLAGS.batch_size
  tenas = FLAGS.mode == 'search' and FLAGS.algorithm == 'tenas'
  if tenas and not FLAGS['weight_init'].present:
    weight_init = 'he_normal'  # TE-NAS paper: Kaiming normal
  if ((tenas or 'ntk_cond' in FLAGS.proxies) and
      not FLAGS['batch_size'].present):
    batch_size = 32  # TE-NAS paper's NTK batch (cost grows as batch^2)
  cfg = workflows.RunConfig(
      mode=FLAGS.mode, space=FLAGS.space, proxies=tuple(FLAGS.proxies),
      archs=FLAGS.archs, sample=FLAGS.sample, data=FLAGS.data,
      data_fallback=quickstart and not FLAGS['data'].present,
      batch_size=batch_size, shuffle=FLAGS.shuffle, norm=FLAGS.norm,
      data_dir=FLAGS.data_dir, seed=FLAGS.seed, inits=FLAGS.inits,
      map_batch=FLAGS.map_batch, weight_init=weight_init,
      devices=FLAGS.devices, channels=FLAGS.channels,
      cells_per_stage=FLAGS.cells_per_stage, output=FLAGS.output,
      store=FLAGS.store, score_table=FLAGS.score_table,
      benchmark=FLAGS.benchmark, metric=FLAGS.metric,
      search_metric=FLAGS.search_metric, algorithm=FLAGS.algorithm,
      n_samples=FLAGS.n_samples, runs=FLAGS.runs,
      progress_seconds=FLAGS.progress_seconds, arch_order=FLAGS.arch_order,
      max_vertices=FLAGS.max_vertices, dedup=FLAGS.dedup,
      population=FLAGS.population, tournament=FLAGS.tournament,
      area_m=FLAGS.area_m, area_keep=FLAGS.area_keep, lr=FLAGS.lr,
      tenas_repeats=FLAGS.tenas_repeats,
      tenas_precision=FLAGS.tenas_precision, num_classes=FLAGS.num_classes,
      region_inputs=FLAGS.region_inputs, region_batch=FLAGS.region_batch)
  try:
    workflows.run(cfg)
  except (JaxnasError, NotImplementedError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  return 0


def _early_env(argv):
  """Environment that must be set before JAX/TensorFlow are imported."""
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  n = FLAGS['cpu_devices'].default
  args = list(argv)
  for arg in argv:  # flags given in flagfiles count too (one level deep)
    if arg.startswith('--flagfile=') and os.path.exists(arg[11:]):
      with open(arg[11:]) as f:
        args += [l.strip() for l in f]
  for arg in args:
    if arg.startswith('--cpu_devices='):
      n = int(arg.split('=', 1)[1])
  if n > 1 and 'xla_force_host_platform_device_count' not in os.environ.get(
      'XLA_FLAGS', ''):
    os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                               f' --xla_force_host_platform_device_count={n}')


if __name__ == '__main__':
  _early_env(sys.argv)
  app.run(main)
