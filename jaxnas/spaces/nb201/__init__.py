"""NAS-Bench-201 search space: spec (numpy) and network (Flax)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from jaxnas.spaces.nb201 import spec


@dataclasses.dataclass(frozen=True)
class NB201Space:
  """The NB201 space as the engine and searches see it.

  An architecture is an int32 op array ``[6]``; strings are parsed at the
  edges of the program (files, flags) and formatted for output.
  """
  channels: int = 16
  cells_per_stage: int = 5
  name: str = 'nb201'
  benchmark_key: str = 'arch_str'
  num_cells = spec.NUM_CELLS  # class constant (not a field)

  # --- spec -------------------------------------------------------------
  def parse(self, text: str) -> np.ndarray:
    return spec.parse(text)

  def format(self, arch) -> str:
    return spec.format(arch)

  def from_benchmark_row(self, row: dict[str, str]) -> np.ndarray:
    """The cell of a benchmark row (its ``arch_str`` column)."""
    return spec.parse(row[self.benchmark_key])

  def bench_key(self, arch) -> str:
    """The key of benchmark tables (``arch_str``): the canonical string."""
    return spec.format(arch)

  def arch_id(self, arch) -> int:
    """Order-independent integer id used to derive the arch's PRNG key: the
    cell id, or for a supernet op mask ``[6, 5]`` NUM_CELLS + its 30 bits."""
    arr = np.asarray(arch)
    if arr.shape == (spec.NUM_EDGES, spec.NUM_OPS):
      bits = (arr.reshape(-1) > 0).astype(np.int64)
      return spec.NUM_CELLS + int(bits @ (1 << np.arange(bits.size)))
    return spec.to_id(arch)

  def iso_key(self, arch) -> str:
    return spec.iso_key(arch)

  def sample(self, rng: np.random.Generator, n: int) -> list[np.ndarray]:
    return list(spec.sample(rng, n))

  def mutate(self, arch, rng: np.random.Generator) -> np.ndarray:
    return spec.mutate(arch, rng)

  def enumerate(self) -> list[np.ndarray]:
    return list(spec.enumerate_all())

  def param_count(self, arch, num_classes: int = 10) -> int:
    return spec.param_count(arch, self.channels, self.cells_per_stage,
                            num_classes)

  def flops(self, arch, num_classes: int = 10, image_size: int = 32) -> int:
    return spec.flops(arch, self.channels, self.cells_per_stage,
                      num_classes, image_size)

  def cost_hint(self, arch) -> float:
    """Relative time to score `arch` (for balancing devices): measured
    single-core costs of one cell's conv3x3 / conv1x1 / pool edges and of
    the NASWOT kernel of a node that conv edges read, in milliseconds."""
    return spec.cost_hint(arch)

  def describe(self, arch) -> dict[str, Any]:
    return {'key': spec.iso_key(arch), 'connected': spec.is_connected(arch)}

  # --- network ----------------------------------------------------------
  FORMS = ('cell', 'tenas_kappa', 'tenas_regions')

  def arch_arrays(self, arch) -> np.ndarray:
    """The data the compiled network takes for this arch: the op array
    ``[6]`` (a 0/1 op mask ``[6, 5]`` is also accepted by the supernet
    forms)."""
    arr = np.asarray(arch)
    if arr.shape == (spec.NUM_EDGES, spec.NUM_OPS):
      from jaxnas.spaces.nb201 import supernet  # pylint: disable=g-import-not-at-top
      return supernet.check_mask(arr)
    return spec.check_ops(arch)

  def network(self, opts=None, num_classes: int = 10, form: str = 'cell'):
    """The Flax network of ``form`` (imports JAX; the spec above does not):
    'cell' is NB201's TinyNetwork; 'tenas_kappa' and 'tenas_regions' are
    TE-NAS's supernets for the NTK and the linear regions (fixed sizes, see
    :mod:`jaxnas.spaces.nb201.supernet`)."""
    from jaxnas import nn as jnn  # pylint: disable=g-import-not-at-top
    from jaxnas.spaces.nb201 import network, supernet  # pylint: disable=g-import-not-at-top
    opts = opts or jnn.NetOptions()
    if form == 'cell':
      return network.TinyNetwork(self.channels, self.cells_per_stage,
                                 num_classes, opts)
    if form == 'tenas_kappa':
      return supernet.kappa_network(num_classes, opts)
    if form == 'tenas_regions':
      return supernet.regions_network(opts)
    raise ValueError(f'NB201 has no network form {form!r}; available: '
                     f'{", ".join(self.FORMS)}')
