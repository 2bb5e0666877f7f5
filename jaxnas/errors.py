"""Exceptions raised by jaxnas.

Every error message is one line that names the offending input and says what
is wrong with it, so that a user scoring thousands of cells can tell which one
failed and why.
"""


def one_line(text, limit: int = 160) -> str:
  """`text` (any object, via str) on one line: whitespace runs collapsed to
  one space, cut to `limit` characters with a trailing '...'."""
  text = ' '.join(str(text).split())
  return text if len(text) <= limit else text[:limit - 3] + '...'


class JaxnasError(Exception):
  """Base class of all jaxnas errors."""


class SpecError(JaxnasError, ValueError):
  """A malformed or invalid architecture (string, op list or matrix)."""


class DataError(JaxnasError, ValueError):
  """Bad input data: wrong shape or dtype, non-finite values, missing files."""


class BenchmarkError(JaxnasError, ValueError):
  """A ground-truth table that is missing, malformed, or lacks a column."""
