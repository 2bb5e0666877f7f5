"""Helpers shared by the NB101 tests: small specs and one-line error checks."""

import numpy as np
import pytest

from jaxnas.errors import SpecError
from jaxnas.spaces.nb101 import spec

C3, C1, MP = spec.OPS
IN, OUT = spec.INPUT, spec.OUTPUT

# A 7-vertex cell from the NB101 data (hash 0000718c96730a92ea6d5242f8ce77e2).
DATA_MATRIX = '0100000001000000010000000111000001000000010000000'
DATA_OPS = 'in-c1-c1-c3-c1-c3-out'
DATA_HASH = '0000718c96730a92ea6d5242f8ce77e2'


def chain(ops):
  """A path input -> ops... -> output."""
  n = len(ops) + 2
  return np.eye(n, k=1, dtype=int), [IN] + list(ops) + [OUT]


def raises(match, fn, *args):
  """Calls fn(*args), checks it raises a one-line SpecError matching `match`,
  and returns the message."""
  with pytest.raises(SpecError, match=match) as info:
    fn(*args)
  message = str(info.value)
  assert '\n' not in message
  return message
