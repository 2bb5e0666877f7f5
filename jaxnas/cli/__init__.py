"""The run modes behind ``run.py``, one small module each, over one
results source (:mod:`jaxnas.cli.results`).

Outputs go to ``--output``: ``config.json`` (the resolved config, versions,
git revision, data provenance), ``scores.jsonl``, ``search.jsonl``,
``correlation.json`` / ``correlation.png``, ``describe.jsonl``,
``train.jsonl`` / ``loss_curve.png`` / ``checkpoints/``; the SQLite
store (default ``OUTPUT/store.sqlite``) caches every score so reruns skip
finished work.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

from jaxnas.cli import correlate
from jaxnas.cli import describe
from jaxnas.cli import enumerate as enumerate_mode
from jaxnas.cli import quickstart
from jaxnas.cli import score
from jaxnas.cli import search
from jaxnas.cli import train
from jaxnas.config import RunConfig
from jaxnas.errors import JaxnasError

MODES: dict[str, Callable[[RunConfig], Any]] = {
    'quickstart': quickstart.run,
    'score': score.run,
    'search': search.run,
    'correlate': correlate.run,
    'describe': describe.run,
    'enumerate': enumerate_mode.run,
    'train': train.run,
}

# Modes whose scoring several processes (--num_processes) can share.
MULTI_PROCESS_MODES = ('score', 'correlate')


def run(cfg: RunConfig) -> Any:
  """Runs the mode of ``cfg`` (resolving algorithm-dependent defaults)."""
  if cfg.mode not in MODES:
    raise JaxnasError(f'unknown --mode={cfg.mode!r}; available: '
                      f'{", ".join(MODES)}')
  if (cfg.num_processes or 1) > 1 and (cfg.mode not in MULTI_PROCESS_MODES
                                      or cfg.score_table):
    raise JaxnasError(f'--mode={cfg.mode}'
                      f'{" --score_table" if cfg.score_table else ""}: '
                      f'runs as one process (--num_processes='
                      f'{cfg.num_processes}); several processes share the '
                      f'computing of --mode={"|".join(MULTI_PROCESS_MODES)}')
  cfg = cfg.resolve()
  for said in cfg.defaults_from:
    if '(algorithm' in said or '(recipe' in said:
      print(f'{said}', file=sys.stderr)
  try:
    os.makedirs(cfg.output, exist_ok=True)
  except OSError as e:
    raise JaxnasError(f'--output={cfg.output}: cannot create it '
                      f'({e.strerror})') from None
  if not os.access(cfg.output, os.W_OK | os.X_OK):
    raise JaxnasError(f'--output={cfg.output}: not writable')
  return MODES[cfg.mode](cfg)


def main(cfg: RunConfig) -> int:
  """``run`` with jaxnas's errors as one line on stderr and exit code 2."""
  try:
    run(cfg)
  except JaxnasError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  return 0
