"""NAS-Bench-101 search space: cell spec and parameter count (NumPy only),
and the Flax network (:mod:`jaxnas.spaces.nb101.network`, imported on use).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

import numpy as np

from jaxnas.errors import SpecError
from jaxnas.spaces.nb101 import params
from jaxnas.spaces.nb101 import spec

CELLS_ENV = 'JAXNAS_NB101_CELLS'
DEFAULT_CELLS_PATH = os.path.join('~', '.cache', 'jaxnas', 'nb101_cells.npz')


@functools.lru_cache(maxsize=2)
def _enumeration(path: str) -> spec.Enumeration:
  directory = os.path.dirname(path)
  if directory:
    os.makedirs(directory, exist_ok=True)
  return spec.load_or_enumerate(path)


@dataclasses.dataclass(frozen=True)
class NB101Space:
  """The NB101 space as the engine and searches see it.

  An architecture is a pruned :class:`spec.Cell`; strings are parsed at the
  edges of the program (files, flags) and formatted for output.

  Attributes:
    stem_channels: stem output channels (128 in NB101; NASWOT's port used 16).
    num_stacks: stacks of cells; each after the first halves the resolution
      and doubles the channels.
    cells_per_stack: cells per stack.
    num_classes: classes of the network's head.
    cells_path: the enumeration of all 423,624 unique cells (an .npz written
      by ``spec.save_enumeration``; computed and saved there if missing).
      When set, :meth:`sample` draws uniformly over unique cells. When None,
      :meth:`enumerate` uses ``$JAXNAS_NB101_CELLS`` or
      ``~/.cache/jaxnas/nb101_cells.npz``, and :meth:`sample` uses the
      reference sampler (``spec.sample``, which favours small cells).
  """
  stem_channels: int = 128
  num_stacks: int = 3
  cells_per_stack: int = 3
  num_classes: int = 1
  cells_path: str | None = None
  name: str = 'nb101'
  benchmark_key: str = 'nb101_hash'
  num_cells = spec.NUM_UNIQUE_CELLS  # class constant (not a field)

  # --- spec -------------------------------------------------------------
  def parse(self, text: str) -> spec.Cell:
    return spec.parse(text)

  def format(self, cell: spec.Cell) -> str:
    return spec.format_cell(cell)

  def arch_id(self, cell: spec.Cell) -> int:
    """Id in [0, 2**32) from the module hash (isomorphic cells share it);
    used to derive the arch's PRNG key."""
    return int(spec.module_hash(cell)[:8], 16)

  def from_benchmark_row(self, row: dict[str, str]) -> spec.Cell | None:
    """The cell of a benchmark row with ``matrix`` and ``ops`` columns
    (None when the row carries no graph, e.g. hash-only rows)."""
    if not row.get('matrix') or not row.get('ops'):
      return None
    return spec.parse_parts(row['matrix'], row['ops'])

  def bench_key(self, cell: spec.Cell) -> str:
    """The key of benchmark tables (``nb101_hash``): the module hash."""
    return cell.module_hash

  def iso_key(self, cell: spec.Cell) -> str:
    return spec.module_hash(cell)

  def enumeration_path(self) -> str:
    """Where :meth:`enumerate` reads (or writes) the enumeration."""
    path = self.cells_path or os.environ.get(CELLS_ENV) or DEFAULT_CELLS_PATH
    return os.path.abspath(os.path.expanduser(path))

  def enumeration(self) -> spec.Enumeration:
    """All unique cells (loaded once per path; computed and cached on first
    use, which takes minutes)."""
    return _enumeration(self.enumeration_path())

  def sample(self, rng: np.random.Generator, n: int) -> list[spec.Cell]:
    """`n` random cells (with replacement): uniform over unique cells if
    `cells_path` is set, else the reference sampler ``spec.sample``."""
    if n < 0:
      raise SpecError(f'NB101 sample: n={n} must be >= 0')
    if self.cells_path:
      table = self.enumeration()
      return [table.sample(rng) for _ in range(n)]
    return [spec.sample(rng) for _ in range(n)]

  def mutate(self, cell: spec.Cell, rng: np.random.Generator) -> spec.Cell:
    return spec.mutate(cell, rng)

  def enumerate(self) -> list[spec.Cell]:
    """All 423,624 unique cells, sorted by module hash."""
    return list(self.enumeration().cells())

  def param_count(self, cell: spec.Cell, num_classes: int = 10) -> int:
    """Trainable parameters of this space's network with a `num_classes`
    head (with the defaults, the benchmark's ``trainable_parameters``)."""
    return params.param_count(cell, self.stem_channels, self.num_stacks,
                              self.cells_per_stack, num_classes)

  def describe(self, cell: spec.Cell) -> dict[str, Any]:
    return {'key': spec.module_hash(cell), 'num_vertices': cell.num_vertices,
            'num_edges': cell.num_edges}

  # --- network ----------------------------------------------------------
  def arch_arrays(self, cell: spec.Cell) -> dict[str, np.ndarray]:
    """The data the compiled network takes for this cell: int32 arrays
    ``adjacency`` [7, 7], ``ops`` [7] and ``channels`` [num_stacks, 7] (see
    :mod:`jaxnas.spaces.nb101.network`)."""
    if not isinstance(cell, spec.Cell):
      raise SpecError(f'NB101 arch_arrays: expected a Cell, got '
                      f'{type(cell).__name__}')
    from jaxnas.spaces.nb101 import network  # pylint: disable=g-import-not-at-top
    return network.cell_arrays(cell, self.stem_channels, self.num_stacks)

  def network(self, tap=None, weight_init: str = 'torch'):
    """The Flax NB101 network, one program for every cell (imports JAX; the
    spec above does not)."""
    from jaxnas import nn as jnn  # pylint: disable=g-import-not-at-top
    from jaxnas.spaces.nb101 import network  # pylint: disable=g-import-not-at-top
    return network.Network(self.stem_channels, self.num_stacks,
                           self.cells_per_stack, self.num_classes,
                           weight_init, jnn.NO_TAP if tap is None else tap)
