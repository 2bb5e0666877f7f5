"""Search spaces by name."""

from __future__ import annotations

from typing import Any


def get_space(name: str, **kwargs: Any):
  """Returns the space object for 'nb201', 'nb101' or 'darts'.

  Keyword arguments set the network's size: ``channels`` (NB201's and
  DARTS's C, NB101's stem width) and ``cells_per_stage`` (NB201's N,
  NB101's cells per stack, DARTS's normal cells per stage N: ``layers =
  3N + 2``), or the space's own field names.
  """
  if name == 'nb201':
    from jaxnas.spaces.nb201 import NB201Space  # pylint: disable=g-import-not-at-top
    return NB201Space(**kwargs)
  if name == 'nb101':
    from jaxnas.spaces.nb101 import NB101Space  # pylint: disable=g-import-not-at-top
    renames = {'channels': 'stem_channels',
               'cells_per_stage': 'cells_per_stack'}
    return NB101Space(**{renames.get(k, k): v for k, v in kwargs.items()})
  if name == 'darts':
    from jaxnas.spaces.darts import DartsSpace  # pylint: disable=g-import-not-at-top
    if 'cells_per_stage' in kwargs:
      kwargs['layers'] = 3 * kwargs.pop('cells_per_stage') + 2
    return DartsSpace(**kwargs)
  raise ValueError(f'unknown space {name!r}; available: nb201, nb101, '
                   'darts')
