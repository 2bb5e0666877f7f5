"""What the engine yields: each proxy's values on one architecture."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


@dataclasses.dataclass
class ProxyResult:
  """One proxy's values on one architecture, one per init (None where
  undefined, with a note)."""
  values: list[float | None]
  notes: list[str | None]

  @property
  def finite(self) -> list[float]:
    return [v for v in self.values if v is not None]

  @property
  def mean(self) -> float | None:
    f = self.finite
    return float(np.mean(f)) if f else None

  @property
  def std(self) -> float | None:
    """Sample standard deviation over the defined inits (0 for one)."""
    f = self.finite
    if not f:
      return None
    return float(np.std(f, ddof=1)) if len(f) > 1 else 0.0

  @property
  def note(self) -> str | None:
    noted = [n for n in self.notes if n]
    if not noted:
      return None
    undefined = ' undefined' if len(self.finite) < len(self.values) else ''
    return f'{len(noted)}/{len(self.values)} inits{undefined}: {noted[0]}'


@dataclasses.dataclass
class ArchScores:
  """Every proxy's result on one architecture."""
  arch: Any
  results: dict[str, ProxyResult]
  seconds: float  # this arch's share of its call's wall time

  def __getitem__(self, proxy: str) -> ProxyResult:
    return self.results[proxy]
