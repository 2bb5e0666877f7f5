"""``--mode=score``: proxy scores of architectures to ``scores.jsonl``."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from jaxnas.cli import common
from jaxnas.cli.results import score_source
from jaxnas.config import RunConfig


def run(cfg: RunConfig) -> list[dict[str, Any]]:
  space = common.make_space(cfg)
  rng = np.random.default_rng(cfg.seed)
  # With --benchmark, --sample draws from (0: takes all) the cells it covers.
  archs = common.select_archs(cfg, space, common.load_benchmark(cfg, space),
                              rng)
  if cfg.arch_order == 'random':
    # A seeded permutation: a partial run is then a uniform sample.
    perm = np.random.default_rng(cfg.seed).permutation(len(archs))
    archs = [archs[i] for i in perm]
  src = score_source(cfg, space)
  common.write_config(cfg, src.data_info())
  return src.records(archs, os.path.join(cfg.output, 'scores.jsonl'))
