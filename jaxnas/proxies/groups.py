"""Proxies that share a network: the engine's unit of work.

Proxies whose :meth:`~jaxnas.proxies.base.Needs.group_key` agree share one
network, its initialisation per init key and its passes (one forward, one
backward); their taps listen together.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Sequence

from jaxnas import nn as jnn
from jaxnas.proxies.base import Proxy


@dataclasses.dataclass(frozen=True)
class Group:
  """Proxies sharing a network, its variables and passes."""
  key: tuple
  proxies: tuple[Proxy, ...]

  @property
  def needs(self):
    return self.proxies[0].needs

  def any(self, field: str) -> bool:
    return any(getattr(p.needs, field) for p in self.proxies)

  @property
  def taps(self) -> jnn.Taps:
    unique = []
    for p in self.proxies:
      if p.needs.tap is not jnn.NO_TAP and p.needs.tap not in unique:
        unique.append(p.needs.tap)
    return jnn.Taps(tuple(unique))


def make_groups(proxies: Sequence[Proxy]) -> list[Group]:
  by_key: dict[tuple, list[Proxy]] = collections.OrderedDict()
  for p in proxies:
    if p.device is not None:
      by_key.setdefault(p.needs.group_key(p.name), []).append(p)
  return [Group(k, tuple(ps)) for k, ps in by_key.items()]
