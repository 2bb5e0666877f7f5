"""Search spaces by name."""

from __future__ import annotations

from typing import Any


def get_space(name: str, **kwargs: Any):
  """Returns the space object for 'nb201' (and later 'nb101').

  Keyword arguments set the network's size (e.g. ``channels``,
  ``cells_per_stage``).
  """
  if name == 'nb201':
    from jaxnas.spaces.nb201 import NB201Space  # pylint: disable=g-import-not-at-top
    return NB201Space(**kwargs)
  if name == 'nb101':
    try:
      from jaxnas.spaces.nb101 import NB101Space  # pylint: disable=g-import-not-at-top
    except ImportError:
      raise ValueError('space nb101 is not available yet') from None
    return NB101Space(**kwargs)
  raise ValueError(f'unknown space {name!r}; available: nb201, nb101')
