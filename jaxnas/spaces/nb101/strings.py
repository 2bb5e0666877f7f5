"""NB101 cells as text: the string form and NASLib tuples (NumPy only).

String form (:func:`parse` / :func:`format_cell`)::

  0100000001000000010000000111000001000000010000000 input,conv1x1-bn-relu,...

the V*V row-major matrix digits, one space, then the comma-separated ops.
:func:`parse` also takes the short op names of the data files (``in``, ``c3``,
``c1``, ``mp``, ``out``), comma- or hyphen-separated (``in-c3-mp-out``).
:func:`parse_parts` takes the two fields separately, as in the data files'
``matrix`` and ``ops`` columns.

Every parsed spec is validated and pruned by
:func:`jaxnas.spaces.nb101.spec.make_cell`.
"""

from __future__ import annotations

import numpy as np

from jaxnas.errors import SpecError, one_line
from jaxnas.spaces.nb101 import spec

# NASLib's NB101 op codes (0 input, 1 output, 2 maxpool, 3 conv1x1, 4 conv3x3).
NASLIB_OPS = (spec.INPUT, spec.OUTPUT, spec.MAXPOOL3X3, spec.CONV1X1,
              spec.CONV3X3)


def _split_ops(text: str, ops_text: str) -> list[str]:
  if ',' in ops_text:
    tokens = ops_text.split(',')
  else:
    tokens = ops_text.split('-')
    if not all(t in spec.SHORT_NAMES for t in tokens):
      tokens = [ops_text] if ops_text in spec.ALL_OPS else tokens
  for i, tok in enumerate(tokens):
    if tok not in spec.ALL_OPS and tok not in spec.SHORT_NAMES:
      raise SpecError(f'NB101 cell string {one_line(repr(text))}: unknown op '
                      f'{tok!r} (token {i} of the ops field; known: '
                      f'{", ".join(spec.ALL_OPS)} or '
                      f'{", ".join(spec.SHORT_NAMES)}; separate ops with '
                      'commas)')
  return [spec.SHORT_NAMES.get(t, t) for t in tokens]


def parse_parts(matrix_digits: str, ops_text: str, *, _text=None) -> spec.Cell:
  """Builds a Cell from the two fields of the string form (see :func:`parse`).

  Also fits the data files' `matrix` and `ops` columns.
  """
  text = _text if _text is not None else f'{matrix_digits} {ops_text}'
  ops = _split_ops(text, ops_text)
  for i, ch in enumerate(matrix_digits):
    if ch not in '01':
      raise SpecError(f'NB101 cell string {one_line(repr(text))}: bad matrix '
                      f'digit {ch!r} at position {i} of {matrix_digits!r}, '
                      "digits must be '0' or '1'")
  num_v = len(ops)
  if len(matrix_digits) != num_v * num_v:
    raise SpecError(f'NB101 cell string {one_line(repr(text))}: matrix '
                    f'{matrix_digits!r} has {len(matrix_digits)} digits, '
                    f'expected {num_v * num_v} for {num_v} ops')
  matrix = (np.frombuffer(matrix_digits.encode('ascii'), dtype=np.uint8) -
            ord('0')).reshape(num_v, num_v).astype(np.int8)
  return spec.make_cell(matrix, ops)


def parse(text: str) -> spec.Cell:
  """Parses ``'MATRIX_DIGITS OPS'`` into a (pruned) Cell.

  MATRIX_DIGITS is the V*V row-major 0/1 matrix without separators; OPS is
  the comma-separated op names, full or short (in, c3, c1, mp, out); short
  names may also be hyphen-separated as in the data files.

  Raises:
    SpecError: one line naming the string and the bad token.
  """
  if not isinstance(text, str):
    raise SpecError(f'NB101 cell string must be a str, got '
                    f'{type(text).__name__}: {one_line(repr(text))}')
  fields = text.split()
  if len(fields) != 2:
    raise SpecError(f'NB101 cell string {one_line(repr(text))}: expected 2 '
                    f"space-separated fields 'MATRIX_DIGITS OPS', got "
                    f'{len(fields)}')
  return parse_parts(fields[0], fields[1], _text=text)


def format_cell(cell: spec.Cell) -> str:
  """Canonical string: matrix digits, one space, comma-separated op names
  (``str(cell)``; :func:`parse` reads it back)."""
  if not isinstance(cell, spec.Cell):
    raise SpecError(f'format_cell: expected a Cell, got {type(cell).__name__}')
  return str(cell)


def from_naslib(code) -> spec.Cell:
  """Cell from a NASLib NB101 tuple: n*n matrix digits then n op codes.

  Op codes: 0 input, 1 output, 2 maxpool3x3, 3 conv1x1, 4 conv3x3. The matrix
  may be unpruned; the result is pruned.
  """
  if isinstance(code, str):
    if not code.isdigit():
      raise SpecError(f'NASLib NB101 tuple {one_line(repr(code))}: must be '
                      'digits only')
    values = [int(ch) for ch in code]
  else:
    values = [int(x) for x in code]
  n = int((np.sqrt(1 + 4 * len(values)) - 1) / 2 + 0.5)
  if n < 2 or n * n + n != len(values):
    raise SpecError(f'NASLib NB101 tuple {one_line(repr(code))}: length '
                    f'{len(values)} is not n*n + n')
  bad = [v for v in values[n * n:] if not 0 <= v < len(NASLIB_OPS)]
  if bad:
    raise SpecError(f'NASLib NB101 tuple {one_line(repr(code))}: unknown op '
                    f'code {bad[0]}')
  matrix = np.array(values[:n * n]).reshape(n, n)
  return spec.make_cell(matrix, [NASLIB_OPS[v] for v in values[n * n:]])
