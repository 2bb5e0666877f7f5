"""``--mode=describe``: canonical form, isomorphism key and parameter count
of each architecture (invalid lines are recorded with their error)."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from jaxnas.cli import common
from jaxnas.config import RunConfig
from jaxnas.errors import SpecError


def run(cfg: RunConfig) -> list[dict[str, Any]]:
  space = common.make_space(cfg)
  if cfg.archs:
    lines = [text for _, text in common.read_lines(cfg.archs)]
  else:
    rng = np.random.default_rng(cfg.seed)
    lines = [space.format(a) for a in common.select_archs(cfg, space, None,
                                                          rng)]
  out = []
  for line in lines:
    try:
      arch = space.parse(line)
    except SpecError as e:
      out.append({'arch': line, 'valid': False, 'error': str(e)})
      continue
    rec = {'arch': space.format(arch), 'valid': True,
           'params': space.param_count(arch)}
    rec.update(space.describe(arch))  # a space may give its own 'params'
    out.append(rec)
  with open(os.path.join(cfg.output, 'describe.jsonl'), 'w') as f:
    for rec in out:
      f.write(json.dumps(rec) + '\n')
  return out
