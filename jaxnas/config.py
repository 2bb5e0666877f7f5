"""The one typed description of a run.

Every option is a field of :class:`RunConfig`, with its default, help text
and allowed values beside it. :func:`define_flags` turns the fields into absl
flags (``run.py`` has no flag of its own), :func:`from_flags` reads them back
into one object, ``config.json`` records that object, and the library reads
nothing else: adding an option is adding one field here.

Defaults that depend on the search algorithm (TE-NAS's Kaiming init and NTK
batch of 32) or, in ``--mode=train``, on the space's training recipe (batch
256, epochs, initialiser) are fields left ``None``; :meth:`RunConfig.resolve`
fills them from :data:`jaxnas.search.ALGORITHM_DEFAULTS`, the recipe
(:func:`jaxnas.train.recipes.config_defaults`) or the general defaults, and
``config.json`` shows the resolved values and where they came from.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from typing import Any

MODES = ('quickstart', 'score', 'search', 'correlate', 'describe',
         'enumerate', 'train')
SPACES = ('nb201', 'nb101', 'darts')
ALGORITHMS = ('naswot', 'random', 're', 'area', 'reinforce', 'tenas')
WEIGHT_INITS = ('torch', 'he_normal', 'he_normal_fan_in', 'gaussian',
                'lecun_normal')
NORMS = ('cifar10', 'cifar100', 'imagenet16-120', 'none')
# Used when neither the flag nor the algorithm sets them.
GENERAL_DEFAULTS = types.MappingProxyType({'weight_init': 'torch',
                                          'batch_size': 128})


def option(default: Any, help_text: str, choices: tuple[str, ...] | None = None,
           flag: bool = True) -> Any:
  """A config field: its default, its help, its allowed values, and whether
  it is a command-line flag (derived fields are not)."""
  return dataclasses.field(default=default, metadata={
      'help': help_text, 'choices': choices, 'flag': flag})


def _flag_fields() -> list[dataclasses.Field]:
  return [f for f in dataclasses.fields(RunConfig) if f.metadata['flag']]


@dataclasses.dataclass(frozen=True)
class RunConfig:
  """Everything a run needs (see each field's help, or ``--helpfull``)."""
  # --- what to run ---------------------------------------------------------
  mode: str = option('quickstart', 'What to run.', MODES)
  space: str = option('nb201', 'Search space.', SPACES)
  output: str = option('out', 'Output directory.')
  store: str | None = option(None, 'SQLite results store (default '
                             'OUTPUT/store.sqlite).')
  seed: int = option(0, 'Seed of initialisations and sampling.')
  progress_seconds: float = option(10.0, 'Seconds between progress lines on '
                                   'long runs.')
  # --- the space -----------------------------------------------------------
  channels: int | None = option(None, 'Network width C (space default: NB201 '
                                '16, NB101 stem 128, DARTS 32).')
  cells_per_stage: int | None = option(None, 'Cells per stage N (space '
                                       'default: NB201 5, NB101 3, DARTS 2 '
                                       'normal cells: 3N + 2 = 8 cells).')
  max_vertices: int = option(7, 'NB101 enumeration: largest cell (2..7).')
  # --- architectures -------------------------------------------------------
  archs: str | None = option(None, 'File with one architecture a line.')
  sample: int | None = option(None, 'N random cells (0: all cells; with '
                              '--benchmark, cells it covers).')
  arch_order: str = option('given', 'Order of scoring (random: a seeded '
                           'permutation, so a partial run is a uniform '
                           'sample).', ('given', 'random'))
  # --- data ----------------------------------------------------------------
  data: str | None = option(None, 'cifar10 (the default), cifar100, '
                            'imagenet16-120 (tfds), npz:PATH, or synthetic. '
                            'Unset, the quickstart falls back to synthetic '
                            'noise when CIFAR-10 cannot be had.')
  data_dir: str | None = option(None, 'tfds data directory.')
  norm: str | None = option(None, "Normalisation constants (default: the "
                            "dataset's; CIFAR-10's for npz and synthetic).",
                            NORMS)
  batch_size: int | None = option(None, 'Images per scoring batch (default '
                                  '128; the algorithm may set its own, e.g. '
                                  'tenas 32), or per training step (default: '
                                  "the recipe's, 256). Proxies with a batch "
                                  'of their own take its first images.')
  shuffle: bool = option(False, 'Seeded random images instead of the first '
                         'batch_size.')
  data_seed: int | None = option(None, 'Seed of the --shuffle subset '
                                 '(default: --seed); another batch with the '
                                 'same initialisations.')
  num_classes: int | None = option(None, "Head size (default: the data's "
                                   'classes, 10 / 100 / 120).')
  # --- proxies -------------------------------------------------------------
  proxies: tuple[str, ...] = option(('naswot',), 'Proxies to compute, e.g. '
                                    'naswot,synflow,snip.')
  proxy_options: tuple[str, ...] = option((), 'Proxy options as PROXY.OPTION'
                                          '=VALUE, e.g. ntk_cond.batch_size'
                                          '=72.')
  inits: int = option(1, 'Initialisations per architecture (one compiled '
                      'call); scores report mean, std and each.')
  init_chunk: int = option(1, 'Inits vmapped together per step of the map '
                           'over inits.')
  unroll_chunk: int = option(8, 'Inits written out per step of the map over '
                             'inits when a proxy asks for unrolled inits '
                             '(ntk_cond, linear_regions): bounds memory.')
  weight_init: str | None = option(None, 'Weight initialisation (default '
                                   'torch = PyTorch default, the NASWOT '
                                   'reference; tenas: he_normal; training: '
                                   "the recipe's, NB101 lecun_normal).",
                                   WEIGHT_INITS)
  combine: str | None = option(None, '--mode=correlate: add a row for a '
                               'training-free combined ranking (AZ-NAS '
                               'log-rank sum): a name of jaxnas.ranking.'
                               'COMBINATIONS, A+B+... (proxies), or bare '
                               '--combine for the recommended one; its '
                               'proxies join --proxies.')
  score_table: str | None = option(None, 'csv:PATH of precomputed scores '
                                   '(columns arch and one per proxy) used '
                                   'instead of computing.')
  # --- devices -------------------------------------------------------------
  cpu_devices: int = option(2, 'Split the host CPU into this many XLA '
                            'devices (before JAX starts); 2 was fastest on '
                            'a 2-core machine; 1 turns it off.')
  devices: int | None = option(None, 'Local devices to use (default: all).')
  init_devices: int | None = option(None, "Devices sharing one "
                                    "architecture's inits (default: all "
                                    'of them when --inits is a multiple of '
                                    'their number, else 1: one architecture '
                                    'per device).')
  compilation_cache: str = option(
      os.environ.get('JAXNAS_COMPILATION_CACHE',
                     os.path.join('~', '.cache', 'jaxnas', 'xla')),
      'Persistent XLA compilation cache directory (empty: off).')
  # --- several processes (jax.distributed) --------------------------------
  coordinator: str | None = option(None, 'HOST:PORT of process 0: join a '
                                   'cluster of --num_processes processes '
                                   'that score shares of the architectures '
                                   'into one --output (shared); auto: jax '
                                   'detects it (e.g. a TPU pod). Unset: '
                                   'joined automatically in a SLURM (srun) '
                                   'or Open MPI job of several tasks.')
  num_processes: int | None = option(None, 'Processes in the cluster (with '
                                     '--coordinator).')
  process_id: int | None = option(None, 'This process, in [0, '
                                  '--num_processes) (with --coordinator).')
  # --- ground truth --------------------------------------------------------
  benchmark: str | None = option(None, 'csv:PATH ground-truth table.')
  metric: str = option('cifar10_test', 'Benchmark column(s) to report '
                       '(comma-separated).')
  search_metric: str = option('cifar10_valid', 'Benchmark column that '
                              'benchmark-driven searches optimise.')
  # --- searches ------------------------------------------------------------
  algorithm: str = option('naswot', 'Search: naswot (best proxy score of N '
                          'samples), tenas (prune the NB201 supernet), or a '
                          'benchmark-driven search with a budget of N '
                          'lookups (random, re, area, reinforce).',
                          ALGORITHMS)
  n_samples: int = option(100, 'Cells sampled per run (naswot), or the '
                          'lookup budget (benchmark-driven searches).')
  runs: int = option(10, 'Independent search runs.')
  dedup: bool = option(True, 'Benchmark searches: a cell isomorphic to one '
                       'already looked up costs no budget.')
  population: int = option(10, 'Regularised evolution population.')
  tournament: int = option(3, 'Regularised evolution tournament size (AREA '
                           'too).')
  area_m: int = option(20, 'AREA: random cells scored by the proxy.')
  area_keep: int = option(10, 'AREA: best-scored cells that seed RE.')
  lr: float = option(0.5, 'REINFORCE learning rate.')
  tenas_repeats: int = option(3, 'TE-NAS: repeats (inits and batches) '
                              'averaged per pruning candidate.')
  tenas_precision: int = option(3, 'TE-NAS: decimals the relative changes '
                                'dK, dR are rounded to.')
  tenas_prune_number: int = option(3, 'TE-NAS on DARTS: ops pruned per '
                                   'edge per round (the reference: 3 on '
                                   'CIFAR-10, 2 on ImageNet; NB201 prunes 1).')

  # --- training ------------------------------------------------------------
  epochs: int | None = option(None, "Training epochs; the cosine schedule "
                              "spans them (default: the recipe's, NB201 200, "
                              'NB101 108; NB101 also trained 4, 12, 36).')
  steps: int | None = option(None, 'Stop training after this many steps in '
                             'all (the schedule still spans --epochs); a '
                             'rerun with more continues.')
  seeds: int = option(1, 'Networks trained per architecture, each with its '
                      'own init and data order, in one compiled step.')
  seed_chunk: int = option(1, 'Seeds of a cell trained together (vmapped) '
                           'per step of the map over a device\'s seeds: 1 was '
                           'the fastest and leanest on XLA:CPU; try more on '
                           'GPUs.')
  checkpoint_every: int = option(500, 'Steps between training checkpoints '
                                 '(OUTPUT/checkpoints; a rerun resumes from '
                                 'the newest).')
  log_every: int = option(1, 'Steps between train.jsonl lines (epoch ends '
                          'are always logged).')
  eval_every: int = option(1, 'Epochs between test-split evaluations (the '
                           'last epoch and the last step always).')
  eval_batch_size: int = option(500, 'Test images per evaluation call.')
  score_steps: tuple[str, ...] = option((), 'Training: score every network '
                                        'with --proxies at these steps '
                                        '(e.g. 0,10,100) to scores.jsonl.')
  score_batch_size: int = option(128, 'Training: first training images '
                                 '(not augmented) the --score_steps scores '
                                 'use.')

  # --- derived (not flags) -------------------------------------------------
  defaults_from: tuple[str, ...] = option(
      (), 'Fields resolve() filled, as "field=value (source)".', flag=False)

  def resolve(self) -> 'RunConfig':
    """The config with algorithm- or recipe-dependent defaults filled in
    (and said in ``defaults_from``)."""
    special, source = {}, ''
    if self.mode == 'search':
      from jaxnas.search import ALGORITHM_DEFAULTS  # pylint: disable=g-import-not-at-top
      special = ALGORITHM_DEFAULTS.get(self.algorithm, {})
      source = f'algorithm {self.algorithm}'
    elif self.mode == 'train':
      from jaxnas.train import recipes  # pylint: disable=g-import-not-at-top
      special, source = recipes.config_defaults(self.space), (
          f'recipe {self.space}')
    filled, said = {}, list(self.defaults_from)
    for name in dict.fromkeys([*GENERAL_DEFAULTS, *special]):
      if getattr(self, name) is None:
        filled[name] = special.get(name, GENERAL_DEFAULTS.get(name))
        said.append(f'{name}={filled[name]} '
                    f'({source if name in special else "general default"})')
    if self.combine is not None:
      from jaxnas import ranking  # pylint: disable=g-import-not-at-top
      from jaxnas.errors import JaxnasError  # pylint: disable=g-import-not-at-top
      if self.mode != 'correlate':
        raise JaxnasError(f'--combine goes with --mode=correlate, not '
                          f'--mode={self.mode}')
      name, needed = ranking.parse(self.combine)
      added = tuple(p for p in needed if p not in self.proxies)
      if added:
        filled['proxies'] = self.proxies + added
        said.append(f'proxies+={",".join(added)} (--combine={name})')
    return dataclasses.replace(self, defaults_from=tuple(said), **filled)

  def proxy_option_dict(self) -> dict[str, dict[str, Any]]:
    from jaxnas.proxies import parse_options  # pylint: disable=g-import-not-at-top
    return parse_options(self.proxy_options)

  def to_json(self) -> dict[str, Any]:
    return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple)
                     else v) for f in dataclasses.fields(self)}


# ---------------------------------------------------------------------------
# Flags.


def _kind(field: dataclasses.Field) -> tuple[str, bool]:
  """('str' | 'int' | 'float' | 'bool' | 'list', optional) of a field."""
  hint = typing.get_type_hints(RunConfig)[field.name]
  base, optional = hint, False
  if isinstance(hint, types.UnionType) or typing.get_origin(hint) is (
      typing.Union):
    args = typing.get_args(hint)
    optional = type(None) in args
    base = next(a for a in args if a is not type(None))
  if typing.get_origin(base) is tuple:
    return 'list', optional
  return {str: 'str', int: 'int', float: 'float', bool: 'bool'}[base], optional


def define_flags(flag_values=None) -> Any:
  """Defines one absl flag per :class:`RunConfig` field; returns the flag
  values object."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  fv = flags.FLAGS if flag_values is None else flag_values
  for f in _flag_fields():
    kind, _ = _kind(f)
    help_text, choices = f.metadata['help'], f.metadata['choices']
    if choices is not None:
      flags.DEFINE_enum(f.name, f.default, list(choices), help_text,
                        flag_values=fv)
    elif kind == 'list':
      flags.DEFINE_list(f.name, list(f.default), help_text, flag_values=fv)
    else:
      define = {'str': flags.DEFINE_string, 'int': flags.DEFINE_integer,
                'float': flags.DEFINE_float, 'bool': flags.DEFINE_bool}[kind]
      define(f.name, f.default, help_text, flag_values=fv)
  return fv


# Flags that may also be given bare, and the value that stands for.
BARE_VALUES = types.MappingProxyType({'combine': 'recommended'})


def expand_bare_flags(argv: list[str]) -> list[str]:
  """``argv`` with each bare ``--FLAG`` of :data:`BARE_VALUES` given its
  value (absl would take the next argument as the value)."""
  return [f'--{a[2:]}={BARE_VALUES[a[2:]]}'
          if a.startswith('--') and a[2:] in BARE_VALUES else a
          for a in argv]


def from_flags(flag_values=None) -> RunConfig:
  """The :class:`RunConfig` of parsed flags (unresolved)."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  fv = flags.FLAGS if flag_values is None else flag_values
  values = {}
  for f in _flag_fields():
    value = fv[f.name].value
    values[f.name] = tuple(value) if _kind(f)[0] == 'list' else value
  if values['combine'] is not None and not fv['proxies'].present:
    values['proxies'] = ()  # --combine alone: its proxies only (resolve)
  return RunConfig(**values)
