"""DARTS / NAS-Bench-301 search space: genotype spec and cost model (NumPy
only) and NASLib's NB301 network (Flax, imported on use)."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import numpy as np

from jaxnas.errors import JaxnasError, SpecError
from jaxnas.spaces.darts import cost
from jaxnas.spaces.darts import iso
from jaxnas.spaces.darts import sampling
from jaxnas.spaces.darts import spec


@dataclasses.dataclass(frozen=True)
class DartsSpace:
  """The DARTS space as the engine and searches see it.

  An architecture is a :class:`spec.Genotype` (its engine array, int32
  ``[2, 8, 2]``, comes from :meth:`arch_arrays`); strings in any of the three
  forms of :func:`spec.parse` are read at the edges of the program, and
  :meth:`format` writes the ``'NORMAL REDUCE'`` form (an ``--archs`` line).

  Attributes:
    channels: C of the first cells (NASLib's NB301 network: 32).
    layers: cells (NB301: 8; reductions at ``layers // 3`` and
      ``2 * layers // 3``).
    num_classes: classes of the head :meth:`describe` counts.
  """
  channels: int = 32
  layers: int = 8
  num_classes: int = 10
  name: str = 'darts'
  # Benchmark tables are joined on these columns, joined by a space (the
  # NB301 data's ``normal`` and ``reduce``): the ``--archs`` form.
  benchmark_key: tuple[str, ...] = ('normal', 'reduce')
  FORMS = ('cell', 'tenas_kappa', 'tenas_regions')  # class constant

  def __post_init__(self):
    cost.check_size(self.channels, self.layers)

  # --- spec -------------------------------------------------------------
  def parse(self, text: str) -> spec.Genotype:
    return spec.parse(text)

  def format(self, arch) -> str:
    return spec.format(arch)

  def from_benchmark_row(self, row: dict[str, str]) -> spec.Genotype:
    """The genotype of an NB301 data row: its ``normal`` and ``reduce``
    columns, or else its ``compact`` column."""
    if row.get('normal') and row.get('reduce'):
      return spec.parse_pairs(row['normal'], row['reduce'])
    if row.get('compact'):
      return spec.parse_compact(row['compact'])
    raise SpecError(f'DARTS benchmark row has neither normal/reduce columns '
                    f'nor a compact column: {sorted(row)}')

  def bench_key(self, arch) -> str:
    """The key of benchmark tables: ``'NORMAL REDUCE'``, pairs in stored
    order (the row's ``normal`` and ``reduce`` columns joined by a
    space)."""
    return spec.format(arch)

  def arch_id(self, arch) -> int:
    """Id in [0, 2**32) used to derive the arch's PRNG key: independent of
    the order of a node's two pairs; for a supernet mask ``[2, 14, 8]``, a
    hash of its bits."""
    if np.shape(arch) == (2, 14, 8):
      bits = np.packbits(np.asarray(arch).reshape(-1) > 0).tobytes()
      return int.from_bytes(hashlib.sha256(bits).digest()[:4], 'little')
    return iso.arch_id(arch)

  def iso_key(self, arch) -> str:
    return iso.iso_key(arch)

  def sample(self, rng: np.random.Generator, n: int) -> list[spec.Genotype]:
    if n < 0:
      raise SpecError(f'DARTS sample: n={n} must be >= 0')
    return [sampling.sample(rng) for _ in range(n)]

  def mutate(self, arch, rng: np.random.Generator) -> spec.Genotype:
    return sampling.mutate(arch, rng)

  def enumerate(self) -> list[spec.Genotype]:
    raise JaxnasError('the DARTS space (about 10^18 genotypes) cannot be '
                      'enumerated; use --sample=N, --archs=FILE or a '
                      '--benchmark table')

  def param_count(self, arch, num_classes: int = 10) -> int:
    """Parameters of this space's network (NASLib's NB301 network with the
    defaults: the NB301 data's ``params`` column times 1e6)."""
    return cost.param_count(arch, self.channels, self.layers, num_classes)

  def flops(self, arch, num_classes: int = 10, image_size: int = 32) -> int:
    """FLOPs of one image (NB301 defaults: the ``flops`` column x 1e6)."""
    return cost.flops(arch, self.channels, self.layers, num_classes,
                      image_size)

  def cost_hint(self, arch) -> float:
    """Relative time to score ``arch`` (for balancing devices): its MFLOPs
    (the network's convolutions dominate; every op runs at its real
    size)."""
    return cost.flops(arch, self.channels, self.layers, 10) / 1e6

  def describe(self, arch) -> dict[str, Any]:
    """``params`` in millions as NASLib's column (this space's network at
    its ``channels`` / ``layers``), the exact count, FLOPs, the canonical
    genotype (each node's pairs sorted), the isomorphism key and the
    parameters of DARTS's evaluation network (C=36, 20 cells, no auxiliary
    head; the papers' "Params (M)")."""
    units = cost.param_count(arch, self.channels, self.layers,
                             self.num_classes)
    return {'canonical': spec.format(iso.canonical(arch)),
            'genotype': spec.format_genotype(arch),
            'key': iso.iso_key(arch),
            'params': units / 1e6,
            'param_count': units,
            'flops': cost.flops(arch, self.channels, self.layers,
                                self.num_classes),
            'eval_params': cost.eval_param_count(arch) / 1e6}

  # --- network ----------------------------------------------------------
  def arch_arrays(self, arch) -> np.ndarray:
    """The data a compiled network takes for this genotype: int32 ``[2, 8,
    2]`` indexed (cell, pair, (op, input)); a TE-NAS supernet op mask
    ``[2, 14, 8]`` passes as float32 (supernet forms only)."""
    if np.shape(arch) == (2, 14, 8):
      from jaxnas.spaces.darts import supernet  # pylint: disable=g-import-not-at-top
      return supernet.check_mask(arch)
    return spec.to_array(arch)

  def network(self, opts=None, num_classes: int = 10, form: str = 'cell'):
    """The Flax network of ``form`` (imports JAX, the spec above does not):
    'cell' is NASLib's NB301 network (:mod:`jaxnas.spaces.darts.network`);
    'tenas_kappa' / 'tenas_regions' are TE-NAS's DARTS supernets for the NTK
    and the linear regions (fixed sizes, :mod:`jaxnas.spaces.darts.supernet`;
    a genotype runs as its one-op-per-edge mask)."""
    from jaxnas import nn as jnn  # pylint: disable=g-import-not-at-top
    from jaxnas.spaces.darts import network, supernet  # pylint: disable=g-import-not-at-top
    opts = opts or jnn.NetOptions()
    if form == 'cell':
      return network.DartsNetwork(self.channels, self.layers, num_classes,
                                  opts)
    if form == 'tenas_kappa':
      return supernet.kappa_network(num_classes, opts)
    if form == 'tenas_regions':
      return supernet.regions_network(opts)
    raise ValueError(f'DARTS has no network form {form!r}; available: '
                     f'{", ".join(self.FORMS)}')
