"""``--mode=enumerate``: every unique cell of a space, written once."""

from __future__ import annotations

import os
import time
from typing import Any

from jaxnas.cli import common
from jaxnas.config import RunConfig


def run(cfg: RunConfig) -> dict[str, Any]:
  if cfg.space != 'nb101':
    space = common.make_space(cfg)
    n = len(space.enumerate())
    common.log(f'{cfg.space}: {n} cells (enumerated on the fly, nothing to '
               'write)')
    return {'space': cfg.space, 'cells': n}
  from jaxnas.spaces.nb101 import enumeration as nb101  # pylint: disable=g-import-not-at-top
  t0 = time.perf_counter()
  cells = nb101.enumerate_cells(cfg.max_vertices, progress=common.log)
  seconds = time.perf_counter() - t0
  path = os.path.join(cfg.output, 'nb101_cells.npz')
  nb101.save_enumeration(path, cells)
  out = {'space': 'nb101', 'cells': int(cells.num_cells),
         'max_vertices': cfg.max_vertices, 'seconds': seconds, 'file': path}
  common.write_json(os.path.join(cfg.output, 'enumerate.json'), out)
  print(f'nb101: {cells.num_cells} unique cells (<= {cfg.max_vertices} '
        f'vertices) in {seconds:.1f} s, written to {path}')
  return out
