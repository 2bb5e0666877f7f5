"""DARTS / NAS-Bench-301 search space: genotype spec and cost model (NumPy
only). The Flax network is not part of this package yet."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from jaxnas.errors import SpecError
from jaxnas.spaces.darts import cost
from jaxnas.spaces.darts import iso
from jaxnas.spaces.darts import spec


@dataclasses.dataclass(frozen=True)
class DartsSpace:
  """The DARTS space as the engine and searches see it (spec part).

  An architecture is a :class:`spec.Genotype` (its engine array, int32
  ``[2, 8, 2]``, comes from :meth:`arch_arrays`); strings in any of the three
  forms of :func:`spec.parse` are read at the edges of the program, and
  :meth:`format` writes the ``'NORMAL REDUCE'`` form.

  Attributes:
    channels: C of the first cells (NASLib's NB301 network: 32).
    layers: cells (NB301: 8; reductions at ``layers // 3`` and
      ``2 * layers // 3``).
    num_classes: classes of the network's head.
  """
  channels: int = 32
  layers: int = 8
  num_classes: int = 10
  name: str = 'darts'
  # The NB301 data's ``compact`` column is its only single-column key.
  benchmark_key: str = 'compact'

  # --- spec -------------------------------------------------------------
  def parse(self, text: str) -> spec.Genotype:
    return spec.parse(text)

  def format(self, arch) -> str:
    return spec.format(arch)

  def from_benchmark_row(self, row: dict[str, str]) -> spec.Genotype:
    """The genotype of an NB301 data row: its ``compact`` column, or else its
    ``normal`` and ``reduce`` columns."""
    if row.get('compact'):
      return spec.parse_compact(row['compact'])
    if row.get('normal') and row.get('reduce'):
      return spec.parse_pairs(row['normal'], row['reduce'])
    raise SpecError(f'DARTS benchmark row has neither a compact column nor '
                    f'normal/reduce columns: {sorted(row)}')

  def bench_key(self, arch) -> str:
    """The key of benchmark tables (``compact``), pairs in stored order: a
    genotype read from a row maps back to that row's key."""
    return spec.format_compact(arch)

  def arch_id(self, arch) -> int:
    """Id in [0, 2**32) independent of the order of a node's two pairs; used
    to derive the arch's PRNG key."""
    return iso.arch_id(arch)

  def iso_key(self, arch) -> str:
    return iso.iso_key(arch)

  def sample(self, rng: np.random.Generator, n: int) -> list[spec.Genotype]:
    if n < 0:
      raise SpecError(f'DARTS sample: n={n} must be >= 0')
    return [spec.sample(rng) for _ in range(n)]

  def mutate(self, arch, rng: np.random.Generator) -> spec.Genotype:
    return spec.mutate(arch, rng)

  def param_count(self, arch, num_classes: int = 10) -> int:
    """Parameters of this space's network (NASLib's NB301 network with the
    defaults: the NB301 data's ``params`` column times 1e6)."""
    return cost.param_count(arch, self.channels, self.layers, num_classes)

  def describe(self, arch) -> dict[str, Any]:
    return {'key': iso.iso_key(arch),
            'params': cost.param_count(arch, self.channels, self.layers,
                                       self.num_classes),
            'flops': cost.flops(arch, self.channels, self.layers,
                                self.num_classes)}

  # --- network ----------------------------------------------------------
  def arch_arrays(self, arch) -> np.ndarray:
    """The data a compiled network takes for this genotype: int32 ``[2, 8,
    2]`` indexed (cell, pair, (op, input))."""
    return spec.to_array(arch)
