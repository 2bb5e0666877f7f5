"""Tests of jaxnas.spaces.nb101.strings: the string form and NASLib tuples."""

import numpy as np

from jaxnas.spaces.nb101 import sampling
from jaxnas.spaces.nb101 import spec
from jaxnas.spaces.nb101 import strings
from tests.spaces.nb101.helpers import C3, DATA_MATRIX, DATA_OPS, IN, OUT
from tests.spaces.nb101.helpers import chain, raises


def test_malformed_strings():
  good = str(spec.make_cell(*chain([C3])))
  assert good == '010001000 input,conv3x3-bn-relu,output'
  raises("expected 2 space-separated fields .* got 1", strings.parse,
         '010001000')
  raises('got 3', strings.parse, good + ' extra')
  raises("bad matrix digit '2' at position 3", strings.parse,
         '010201000 input,conv3x3-bn-relu,output')
  msg = raises("has 8 digits, expected 9 for 3 ops", strings.parse,
               '01000100 input,conv3x3-bn-relu,output')
  assert "'01000100'" in msg
  raises("unknown op 'conv9' \\(token 1", strings.parse,
         '010001000 input,conv9,output')
  raises("unknown op ''", strings.parse, '010001000 input,,output')
  raises("unknown op 'c5'", strings.parse, '010001000 in-c5-out')
  raises('must be a str', strings.parse, b'010001000 in,c3,out')
  raises("no path from input to output", strings.parse,
         '000000000 in,c3,out')
  raises('length 5 is not n\\*n \\+ n', strings.from_naslib, '01234')
  raises('unknown op code 7', strings.from_naslib, '0100' + '07')
  raises('format_cell: expected a Cell, got str', strings.format_cell, good)


def test_parse_format_round_trip():
  rng = np.random.default_rng(2)
  for _ in range(200):
    cell = sampling.sample(rng)
    text = strings.format_cell(cell)
    assert str(cell) == text and '\n' not in text
    again = strings.parse(text)
    assert again == cell and hash(again) == hash(cell)
    assert strings.parse(f'{cell.matrix_digits} {cell.short_ops}') == cell
    short_csv = cell.short_ops.replace('-', ',')
    assert strings.parse(f'  {cell.matrix_digits}   {short_csv} ') == cell
    assert repr(cell) == f'Cell({text!r})'
  cell = strings.parse_parts(DATA_MATRIX, DATA_OPS)
  assert strings.format_cell(cell).endswith(
      'input,conv1x1-bn-relu,conv1x1-bn-relu,conv3x3-bn-relu,conv1x1-bn-relu,'
      'conv3x3-bn-relu,output')
  assert cell.pretty().splitlines()[1] == '  0: input -> 1'
  np.testing.assert_array_equal(cell.labels, [-1, 1, 1, 0, 1, 0, -2])


def test_parse_prunes():
  # Vertex 2 is a dead end, pruned away.
  cell = strings.parse('0110 0001 0000 0000'.replace(' ', '') +
                       ' in,c3,mp,out')
  assert cell.ops == (IN, C3, OUT) and cell.num_edges == 2
