"""One-line messages and the exception hierarchy."""

import numpy as np
import pytest

from jaxnas import errors


def test_one_line_collapses_whitespace_runs():
  assert errors.one_line('a\n  b\t\tc \r\n d  ') == 'a b c d'
  assert errors.one_line('') == ''


def test_one_line_takes_any_object_through_str():
  text = errors.one_line(np.eye(2, dtype=int))
  assert text == '[[1 0] [0 1]]'  # str(np.eye(2)) spans two lines
  assert errors.one_line(KeyError('x')) == "'x'"


def test_one_line_cuts_to_the_limit_with_an_ellipsis():
  assert errors.one_line('abcdefghij', limit=10) == 'abcdefghij'  # fits
  cut = errors.one_line('abcdefghijk', limit=10)
  assert cut == 'abcdefg...' and len(cut) == 10
  long = errors.one_line('word ' * 100)
  assert len(long) == 160 and long.endswith('...')
  assert long.startswith('word word ')


@pytest.mark.parametrize('cls', [errors.SpecError, errors.DataError,
                                 errors.BenchmarkError])
def test_every_error_is_a_jaxnas_error_and_a_value_error(cls):
  # Callers catch JaxnasError for one-line reports; ValueError keeps the
  # errors catchable by code that does not know jaxnas.
  with pytest.raises(errors.JaxnasError, match='bad input'):
    raise cls('bad input')
  assert issubclass(cls, ValueError)
