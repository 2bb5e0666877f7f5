"""Zero-cost proxies: a registry of scores computed on untrained networks.

Every proxy is a :class:`jaxnas.proxies.base.Proxy` made by a factory whose
keyword arguments are its options (with the references' defaults); the
registry below maps a name to its factory. A new proxy is one module with a
``make(**options) -> Proxy`` and one line here; the engine, the command line
(``--proxies=NAME``, ``--proxy_options=NAME.OPTION=VALUE``) and every search
pick it up. A proxy written outside jaxnas is named ``module:function``
(e.g. ``--proxies=naswot,my_proxy:make``) and needs no registry line.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable, Sequence

from jaxnas.errors import JaxnasError
from jaxnas.proxies import az_nas
from jaxnas.proxies import az_trainability
from jaxnas.proxies import cost
from jaxnas.proxies import epe_nas
from jaxnas.proxies import fisher
from jaxnas.proxies import grad_norm
from jaxnas.proxies import grasp
from jaxnas.proxies import jacov
from jaxnas.proxies import l2_norm
from jaxnas.proxies import linear_regions
from jaxnas.proxies import meco
from jaxnas.proxies import naswot
from jaxnas.proxies import ntk
from jaxnas.proxies import plain
from jaxnas.proxies import snip
from jaxnas.proxies import swap
from jaxnas.proxies import synflow
from jaxnas.proxies import zen
from jaxnas.proxies import zico
from jaxnas.proxies.base import Needs, Proxy

REGISTRY: dict[str, Callable[..., Proxy]] = {
    'naswot': naswot.make,
    'ntk_cond': ntk.make,
    'linear_regions': linear_regions.make,
    # NASLib's zero-cost suite ('nwot' is naswot).
    'params': cost.make_params,
    'flops': cost.make_flops,
    'l2_norm': l2_norm.make,
    'synflow': synflow.make,
    'snip': snip.make,
    'grad_norm': grad_norm.make,
    'plain': plain.make,
    'grasp': grasp.make,
    'fisher': fisher.make,
    'jacov': jacov.make,
    'epe_nas': epe_nas.make,
    'zen': zen.make,
    # Not in NASLib's suite.
    'swap': swap.make,
    'swap_reg': swap.make_reg,
    'meco': meco.make,
    'zico': zico.make,
    'az_expressivity': az_nas.make_expressivity,
    'az_progressivity': az_nas.make_progressivity,
    'az_trainability': az_trainability.make,
    'az_complexity': az_nas.make_complexity,
}
NASLIB_SUITE = ('params', 'flops', 'l2_norm', 'synflow', 'snip', 'grad_norm',
                'plain', 'grasp', 'fisher', 'jacov', 'epe_nas', 'naswot',
                'zen')

__all__ = ['Needs', 'Proxy', 'REGISTRY', 'get_proxy', 'get_proxies',
           'parse_options']


def factory(name: str) -> Callable[..., Proxy]:
  """The factory of a registered proxy, or of ``module:function`` (a proxy
  written outside jaxnas, importable from the working directory)."""
  if name in REGISTRY:
    return REGISTRY[name]
  module, colon, attr = name.partition(':')
  if not colon:
    raise JaxnasError(f'unknown proxy {name!r}; available: '
                      f'{", ".join(sorted(REGISTRY))}, or MODULE:FUNCTION')
  try:
    made = getattr(importlib.import_module(module), attr)
  except (ImportError, AttributeError) as e:
    raise JaxnasError(f'proxy {name!r}: cannot import it ({e})') from None
  if not callable(made):
    raise JaxnasError(f'proxy {name!r}: {attr} is not a function')
  return made


def get_proxy(name: str, **options: Any) -> Proxy:
  """The proxy ``name`` (registered, or ``module:function``) with
  ``options`` (the factory's keyword arguments)."""
  factory_fn = factory(name)
  known = inspect.signature(factory_fn).parameters
  for option in options:
    if option not in known:
      raise JaxnasError(f'proxy {name} has no option {option!r}; its options:'
                        f' {", ".join(known) or "none"}')
  try:
    proxy = factory_fn(**options)
  except (TypeError, ValueError) as e:
    raise JaxnasError(f'proxy {name}: {e}') from None
  if not isinstance(proxy, Proxy):
    raise JaxnasError(f'proxy {name}: the factory returned a '
                      f'{type(proxy).__name__}, not a Proxy')
  return proxy


def parse_options(items: Sequence[str]) -> dict[str, dict[str, Any]]:
  """``['ntk_cond.batch_size=72', ...]`` -> ``{'ntk_cond': {'batch_size':
  72}}``; values are converted to the type of the option's default."""
  out: dict[str, dict[str, Any]] = {}
  for item in items:
    head, sep, text = item.partition('=')
    name, dot, option = head.rpartition('.')
    if not sep or not dot or not name or not option:
      raise JaxnasError(f'--proxy_options item {item!r}: expected '
                        'PROXY.OPTION=VALUE')
    params = inspect.signature(factory(name)).parameters
    if option not in params:
      raise JaxnasError(f'--proxy_options item {item!r}: proxy {name} has no '
                        f'option {option!r} (options: '
                        f'{", ".join(params) or "none"})')
    default = params[option].default
    try:
      if isinstance(default, bool):
        if text.lower() not in ('true', 'false', '1', '0'):
          raise ValueError(text)
        value: Any = text.lower() in ('true', '1')
      elif default is None or isinstance(default, str):
        value = text
      else:
        value = type(default)(text)
    except ValueError:
      raise JaxnasError(f'--proxy_options item {item!r}: {text!r} is not a '
                        f'{type(default).__name__}') from None
    out.setdefault(name, {})[option] = value
  return out


def get_proxies(names: Sequence[str],
                options: dict[str, dict[str, Any]] | None = None
                ) -> list[Proxy]:
  """The proxies ``names`` (each once) with their ``options``."""
  options = options or {}
  for name in options:
    if name not in names:
      raise JaxnasError(f'--proxy_options set options of {name}, which is not '
                        f'in --proxies ({", ".join(names)})')
  if len(set(names)) != len(names):
    raise JaxnasError(f'--proxies lists a proxy twice: {", ".join(names)}')
  proxies = [get_proxy(n, **options.get(n, {})) for n in names]
  made = [p.name for p in proxies]
  if len(set(made)) != len(made):
    raise JaxnasError(f'--proxies: two proxies are both named '
                      f'{next(n for n in made if made.count(n) > 1)!r}')
  return proxies
