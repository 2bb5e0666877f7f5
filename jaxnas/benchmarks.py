"""Ground-truth tables: trained accuracies keyed by architecture.

``--benchmark=csv:PATH`` names a CSV with a key column (``arch_str`` for
NB201, ``nb101_hash`` for NB101), or key columns whose values joined by a
space make the key (``normal`` and ``reduce`` for DARTS), and numeric
accuracy columns, e.g. the NB201 table with ``cifar10_test``,
``cifar10_valid``, ``cifar100_test``, ``imagenet16_test``. Empty cells and
``nan`` read as missing.
"""

from __future__ import annotations

import csv
import math
import os

from jaxnas.errors import BenchmarkError


class Benchmark:
  """A ground-truth table: ``value(key, metric)`` and ``keys``."""

  def __init__(self, path: str, key_column: str | tuple[str, ...]):
    what = f'benchmark csv:{path}'
    keys = (key_column,) if isinstance(key_column, str) else tuple(key_column)
    if not os.path.exists(path):
      raise BenchmarkError(f'{what}: file not found')
    with open(path, newline='') as f:
      reader = csv.DictReader(f)
      columns = reader.fieldnames or []
      missing = [k for k in keys if k not in columns]
      if missing:
        raise BenchmarkError(f'{what}: no key column {missing[0]!r} '
                             f'(columns: {", ".join(columns)})')
      self.rows = {' '.join(row[k] for k in keys): row for row in reader}
    self.path = path
    self.key_column = key_column
    self.columns = [c for c in columns if c not in keys]

  @classmethod
  def from_flag(cls, flag: str, key_column: str | tuple[str, ...]
                ) -> 'Benchmark':
    if not flag.startswith('csv:'):
      raise BenchmarkError(f'--benchmark={flag!r}: expected csv:PATH')
    return cls(flag[4:], key_column)

  def check_metric(self, metric: str) -> None:
    if metric not in self.columns:
      raise BenchmarkError(f'benchmark csv:{self.path}: no metric column '
                           f'{metric!r} (columns: {", ".join(self.columns)})')

  @property
  def keys(self) -> list[str]:
    return list(self.rows)

  def __contains__(self, key: str) -> bool:
    return key in self.rows

  def value(self, key: str, metric: str) -> float | None:
    """The metric of one arch, or None if the arch or value is missing."""
    self.check_metric(metric)
    row = self.rows.get(key)
    if row is None:
      return None
    text = row[metric].strip()
    if not text:
      return None
    try:
      v = float(text)
    except ValueError:
      raise BenchmarkError(f'benchmark csv:{self.path}: {metric} of {key!r} '
                           f'is not a number: {text!r}') from None
    return v if math.isfinite(v) else None
