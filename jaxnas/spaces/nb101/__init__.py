"""NAS-Bench-101 search space: the cell (:mod:`~jaxnas.spaces.nb101.spec`,
:mod:`~jaxnas.spaces.nb101.strings`, :mod:`~jaxnas.spaces.nb101.hashing`,
:mod:`~jaxnas.spaces.nb101.sampling`, :mod:`~jaxnas.spaces.nb101.enumeration`)
and its parameter count, NumPy only; the Flax network
(:mod:`jaxnas.spaces.nb101.network`) is imported on use.

The enumeration of all 423,624 unique cells
(:class:`~jaxnas.spaces.nb101.enumeration.Enumeration`) is found and kept as
follows, with no state outside the objects the caller holds:

* found: :meth:`NB101Space.enumeration_path` is the space's ``cells_path``,
  or :data:`DEFAULT_CELLS_PATH` (``~/.cache/jaxnas/nb101_cells.npz``) when it
  is None; no environment variable is read;
* loaded: only by an explicit call, :meth:`NB101Space.enumeration` (which
  :meth:`NB101Space.enumerate` uses), that reads the file (after computing
  it there, 30-60 s, if it is missing) on every call and returns it;
* cached: by the caller, either by keeping the returned table or by handing
  it to a space, ``space.with_enumeration()`` (loads it now) or
  ``NB101Space(..., cells=table)``; such a space samples uniformly over
  unique cells and enumerates from memory. :meth:`NB101Space.sample` never
  loads: with ``cells_path`` set and no table held it raises.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

import numpy as np

from jaxnas.errors import SpecError
from jaxnas.spaces.nb101 import enumeration as enum_lib
from jaxnas.spaces.nb101 import hashing
from jaxnas.spaces.nb101 import params
from jaxnas.spaces.nb101 import sampling
from jaxnas.spaces.nb101 import spec
from jaxnas.spaces.nb101 import strings

DEFAULT_CELLS_PATH = os.path.join('~', '.cache', 'jaxnas', 'nb101_cells.npz')


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
    cells_path: the file of the enumeration of all unique cells (an .npz
      written by ``enumeration.save_enumeration``; computed and saved there
      if missing), read by :meth:`enumeration`; None means
      :data:`DEFAULT_CELLS_PATH`.
    cells: the enumeration handed to the space (see :meth:`with_enumeration`),
      or None. When set, :meth:`sample` draws uniformly over unique cells and
      :meth:`enumerate` reads no file; when None, :meth:`sample` uses the
      reference sampler (``sampling.sample``, which favours small cells), and
      refuses to run if `cells_path` is set (load it first). Not part of the
      repr or of equality.
  """
  stem_channels: int = 128
  num_stacks: int = 3
  cells_per_stack: int = 3
  cells_path: str | None = None
  name: str = 'nb101'
  benchmark_key: str = 'nb101_hash'
  cells: enum_lib.Enumeration | None = dataclasses.field(
      default=None, repr=False, compare=False)
  num_cells = spec.NUM_UNIQUE_CELLS  # class constant (not a field)

  # --- spec -------------------------------------------------------------
  def parse(self, text: str) -> spec.Cell:
    return strings.parse(text)

  def format(self, cell: spec.Cell) -> str:
    return strings.format_cell(cell)

  def arch_id(self, cell: spec.Cell) -> int:
    """Id in [0, 2**32) from the module hash (isomorphic cells share it);
    used to derive the arch's PRNG key."""
    return int(hashing.module_hash(cell)[:8], 16)

  def from_benchmark_row(self, row: dict[str, str]) -> spec.Cell | None:
    """The cell of a benchmark row with ``matrix`` and ``ops`` columns
    (None when the row carries no graph, e.g. hash-only rows)."""
    if not row.get('matrix') or not row.get('ops'):
      return None
    return strings.parse_parts(row['matrix'], row['ops'])

  def bench_key(self, cell: spec.Cell) -> str:
    """The key of benchmark tables (``nb101_hash``): the module hash."""
    return cell.module_hash

  def iso_key(self, cell: spec.Cell) -> str:
    return hashing.module_hash(cell)

  # --- the enumeration (see the module doc) -----------------------------
  def enumeration_path(self) -> str:
    """Where :meth:`enumeration` reads (or writes) the enumeration:
    `cells_path`, else :data:`DEFAULT_CELLS_PATH`, made absolute."""
    path = self.cells_path or DEFAULT_CELLS_PATH
    return os.path.abspath(os.path.expanduser(path))

  def enumeration(self, progress: Callable[[str], None] | None = None
                 ) -> enum_lib.Enumeration:
    """All unique cells: the held `cells`, else read from
    :meth:`enumeration_path` (computed and saved there first if missing,
    which takes 30-60 s; `progress` gets its one-line messages).

    Nothing is cached: each call without `cells` reads the file again, so
    keep the result, or hold it with :meth:`with_enumeration`.
    """
    if self.cells is not None:
      return self.cells
    path = self.enumeration_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return enum_lib.load_or_enumerate(path, progress)

  def with_enumeration(self, cells: enum_lib.Enumeration | None = None
                      ) -> NB101Space:
    """This space holding `cells` (default: :meth:`enumeration`, loaded now,
    once), so that :meth:`sample` draws uniformly over unique cells."""
    if cells is None:
      cells = self.enumeration()
    return dataclasses.replace(self, cells=cells)

  # --- search -----------------------------------------------------------
  def sample(self, rng: np.random.Generator, n: int) -> list[spec.Cell]:
    """`n` random cells (with replacement): uniform over unique cells if the
    space holds `cells`, else the reference sampler ``sampling.sample``.

    Raises:
      SpecError: n < 0, or `cells_path` is set but the space holds no
        enumeration (it is not loaded implicitly: searches call this once per
        cell; use :meth:`with_enumeration`).
    """
    if n < 0:
      raise SpecError(f'NB101 sample: n={n} must be >= 0')
    if self.cells is not None:
      return [self.cells.sample(rng) for _ in range(n)]
    if self.cells_path:
      raise SpecError(f'NB101 sample: cells_path={self.cells_path!r} is set '
                      'but the space holds no enumeration; sample from '
                      'space.with_enumeration() to draw uniformly')
    return [sampling.sample(rng) for _ in range(n)]

  def mutate(self, cell: spec.Cell, rng: np.random.Generator) -> spec.Cell:
    return sampling.mutate(cell, rng)

  def enumerate(self) -> list[spec.Cell]:
    """All 423,624 unique cells, sorted by module hash (from the held
    `cells`, else from :meth:`enumeration`, which reads the file)."""
    return list(self.enumeration().cells())

  def param_count(self, cell: spec.Cell, num_classes: int = 10) -> int:
    """Trainable parameters of this space's network with a `num_classes`
    head (with the defaults, the benchmark's ``trainable_parameters``)."""
    return params.param_count(cell, self.stem_channels, self.num_stacks,
                              self.cells_per_stack, num_classes)

  def flops(self, cell: spec.Cell, num_classes: int = 10,
            image_size: int = 32) -> int:
    """Forward FLOPs of one image, counted as NASLib counts them."""
    return params.flops(cell, self.stem_channels, self.num_stacks,
                        self.cells_per_stack, num_classes, image_size)

  def describe(self, cell: spec.Cell) -> dict[str, Any]:
    return {'key': hashing.module_hash(cell),
            'num_vertices': cell.num_vertices,
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

  def network(self, opts=None, num_classes: int = 10, form: str = 'cell'):
    """The Flax NB101 network, one program for every cell (imports JAX; the
    spec above does not)."""
    from jaxnas import nn as jnn  # pylint: disable=g-import-not-at-top
    from jaxnas.spaces.nb101 import network  # pylint: disable=g-import-not-at-top
    if form != 'cell':
      raise ValueError(f'NB101 has no network form {form!r}; available: '
                       'cell')
    return network.Network(self.stem_channels, self.num_stacks,
                           self.cells_per_stack, num_classes,
                           opts or jnn.NetOptions())
