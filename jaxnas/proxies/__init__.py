"""Zero-cost proxies: a registry of scores computed on untrained networks.

A :class:`Proxy` is split where the device work ends:

* ``tap``: the accumulator the network feeds from its ReLUs (may be
  :data:`jaxnas.nn.NO_TAP`);
* ``device(logits, acc)``: inside the jitted call, picks what leaves the device
  (e.g. the NASWOT kernel);
* ``host(out)``: on the host, in float64, turns it into ``(score, note)``
  where ``score`` is None (never 0) when the value is not defined and
  ``note`` says why.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from jaxnas import nn as jnn
from jaxnas.proxies import naswot


@dataclasses.dataclass(frozen=True)
class Proxy:
  name: str
  tap: jnn.Tap
  device: Callable[[Any, Any], Any]
  host: Callable[[Any], tuple[float | None, str | None]]
  higher_is_better: bool = True


PROXIES = {
    'naswot': Proxy('naswot', naswot.TAP, lambda logits, acc: acc,
                    naswot.naswot_from_kernel),
}


def get_proxy(name: str) -> Proxy:
  try:
    return PROXIES[name]
  except KeyError:
    raise ValueError(f'unknown proxy {name!r}; available: '
                     f'{", ".join(sorted(PROXIES))}') from None
