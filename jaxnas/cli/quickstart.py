"""``python run.py``: NASWOT search over 100 NB201 cells, CIFAR-10 (or
synthetic noise offline), the best cell printed."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from jaxnas.cli import common
from jaxnas.cli import search
from jaxnas.config import RunConfig


def run(cfg: RunConfig) -> dict[str, Any]:
  cfg = dataclasses.replace(cfg, algorithm='naswot', runs=1)
  space = common.make_space(cfg)
  runs, seconds = search.proxy_search(cfg, space)
  summary = search.write_results(cfg, space, common.load_benchmark(cfg,
                                                                   space),
                                 runs, seconds)
  with open(os.path.join(cfg.output, 'search.jsonl')) as f:
    best = json.loads(f.readline())
  score = 'undefined' if best['score'] is None else f'{best["score"]:.2f}'
  common.log(f'best of {cfg.n_samples} {cfg.space.upper()} cells by '
             f'{cfg.proxies[0]}: {best["arch"]} (score {score}); results in '
             f'{cfg.output}/')
  return summary
