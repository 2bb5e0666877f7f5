"""Zero-cost proxies: a registry of scores computed on untrained networks.

A :class:`Proxy` is split where the device work ends:

* ``tap``: the accumulator the network feeds from its ReLUs (may be
  :data:`jaxnas.nn.NO_TAP`);
* ``device(logits, acc)``: inside the jitted call, picks what leaves the device
  (e.g. the NASWOT kernel);
* ``host(out)``: on the host, in float64, turns it into ``(score, note)``
  where ``score`` is None (never 0) when the value is not defined and
  ``note`` says why.

Proxies that need networks and inputs of their own (TE-NAS's ``ntk_cond``
and ``linear_regions`` on the NB201 supernet) carry a ``scorer`` factory
with :class:`jaxnas.engine.Scorer`'s signature, used instead of the engine
(see :mod:`jaxnas.proxies.supernet_scorer`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from jaxnas import nn as jnn
from jaxnas.proxies import linear_regions
from jaxnas.proxies import naswot
from jaxnas.proxies import ntk


@dataclasses.dataclass(frozen=True)
class Proxy:
  name: str
  tap: jnn.Tap
  device: Callable[[Any, Any], Any]
  host: Callable[[Any], tuple[float | None, str | None]]
  higher_is_better: bool = True
  scorer: Callable[..., Any] | None = None  # replaces engine.Scorer


def _supernet_scorer(*args, **kwargs):
  from jaxnas.proxies import supernet_scorer  # pylint: disable=g-import-not-at-top
  return supernet_scorer.ProxyScorer(*args, **kwargs)


def _own_network(name: str) -> Callable[[Any, Any], Any]:
  def device(logits, acc):
    del logits, acc
    raise TypeError(f'proxy {name} runs on its own network: score it with '
                    'proxy.scorer, not engine.Scorer')
  return device


PROXIES = {
    'naswot': Proxy('naswot', naswot.TAP, lambda logits, acc: acc,
                    naswot.naswot_from_kernel),
    'ntk_cond': Proxy('ntk_cond', jnn.NO_TAP, _own_network('ntk_cond'),
                      ntk.condition_number, higher_is_better=False,
                      scorer=_supernet_scorer),
    'linear_regions': Proxy('linear_regions', linear_regions.TAP,
                            _own_network('linear_regions'),
                            linear_regions.count_regions,
                            scorer=_supernet_scorer),
}


def get_proxy(name: str) -> Proxy:
  try:
    return PROXIES[name]
  except KeyError:
    raise ValueError(f'unknown proxy {name!r}; available: '
                     f'{", ".join(sorted(PROXIES))}') from None
