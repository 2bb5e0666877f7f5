"""Tests of jaxnas.spaces.darts.spec (pure numpy, no JAX)."""

import csv

import numpy as np
import pytest

from jaxnas.errors import SpecError
from jaxnas.spaces import darts
from jaxnas.spaces.darts import spec
from tests.conftest import reference_file

# DARTS_V2 from quark0/darts cnn/genotypes.py, as that file writes it.
DARTS_V2_TEXT = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), "
    "('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
    "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
    "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
    "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")
DARTS_V2_LINE = (
    'sep_conv_3x3~0;sep_conv_3x3~1;sep_conv_3x3~0;sep_conv_3x3~1;'
    'sep_conv_3x3~1;skip_connect~0;skip_connect~0;dil_conv_3x3~2 '
    'max_pool_3x3~0;max_pool_3x3~1;skip_connect~2;max_pool_3x3~1;'
    'max_pool_3x3~0;skip_connect~2;skip_connect~2;max_pool_3x3~1')
# Row 0 of nb301_zc_naslib_725.csv.
ROW0_COMPACT = ('[[(1,0),(0,5),(1,2),(0,0),(0,6),(3,1),(2,4),(1,3)],'
                '[(0,6),(1,6),(1,3),(0,4),(3,4),(1,1),(0,6),(1,0)]]')
ROW0_NORMAL = ('max_pool_3x3~1;dil_conv_3x3~0;skip_connect~1;max_pool_3x3~0;'
               'dil_conv_5x5~0;avg_pool_3x3~3;sep_conv_5x5~2;sep_conv_3x3~1')
ROW0_REDUCE = ('dil_conv_5x5~0;dil_conv_5x5~1;sep_conv_3x3~1;sep_conv_5x5~0;'
               'sep_conv_5x5~3;avg_pool_3x3~1;dil_conv_5x5~0;max_pool_3x3~1')


def _rows():
  with open(reference_file('nb301_zc_naslib_725.csv'), newline='') as f:
    return list(csv.DictReader(f))


def test_op_order_is_naslibs():
  assert spec.OPS == ('max_pool_3x3', 'avg_pool_3x3', 'skip_connect',
                      'sep_conv_3x3', 'sep_conv_5x5', 'dil_conv_3x3',
                      'dil_conv_5x5')


def test_three_text_forms_agree():
  g = spec.parse(DARTS_V2_TEXT)
  assert g.normal[7] == ('dil_conv_3x3', 2)
  assert g.normal_concat == g.reduce_concat == (2, 3, 4, 5)
  assert spec.parse(DARTS_V2_LINE) == g
  assert spec.format(g) == DARTS_V2_LINE
  assert spec.format_genotype(g) == DARTS_V2_TEXT
  assert spec.parse(spec.format_compact(g)) == g
  # DARTS's search prints range(2, 6); positional fields work too.
  ranged = DARTS_V2_TEXT.replace('[2, 3, 4, 5]', 'range(2, 6)')
  assert spec.parse(ranged) == g
  positional = (f'genotypes.Genotype({list(g.normal)!r}, [2, 3, 4, 5], '
                f'{list(g.reduce)!r}, list(range(2, 6)))')
  assert spec.parse(positional) == g


def test_compact_and_array_forms():
  g = spec.parse_pairs(ROW0_NORMAL, ROW0_REDUCE)
  assert spec.parse(ROW0_COMPACT) == g
  assert spec.format_compact(g) == ROW0_COMPACT
  compact = spec.to_compact(g)
  assert compact[0][:2] == ((1, 0), (0, 5))
  assert spec.from_compact(compact) == g
  # Compact text with spaces and tuples (as Python prints it) parses too.
  assert spec.parse(repr(compact)) == g
  arr = spec.to_array(g)
  assert arr.shape == (2, 8, 2) and arr.dtype == np.int32
  np.testing.assert_array_equal(arr[0, 0], [spec.MAX_POOL, 1])  # (op, input)
  np.testing.assert_array_equal(arr[1, 7], [spec.MAX_POOL, 1])
  assert spec.from_array(arr) == g
  assert spec.as_genotype(arr) == g
  assert hash(g) == hash(spec.from_array(arr))


def test_all_reference_rows_round_trip():
  rows = _rows()
  assert len(rows) == 725
  for r in rows:
    g = spec.parse(r['compact'])
    assert g == spec.parse_pairs(r['normal'], r['reduce'])
    assert spec.format(g) == f"{r['normal']} {r['reduce']}"
    assert spec.format_compact(g) == r['compact']
    assert spec.parse(spec.format_genotype(g)) == g
  space = darts.DartsSpace()
  g = space.from_benchmark_row(rows[0])
  assert space.bench_key(g) == f"{rows[0]['normal']} {rows[0]['reduce']}"
  assert space.from_benchmark_row({'compact': rows[0]['compact']}) == g


@pytest.mark.parametrize('text, message', [
    (DARTS_V2_LINE.replace('max_pool_3x3~0', 'none~0', 1),
     r"unknown op 'none' \('none' exists only in the DARTS supernet\)"),
    (DARTS_V2_LINE.replace('sep_conv_3x3~0', 'conv_7x1_1x7~0', 1),
     "normal pair 0: unknown op 'conv_7x1_1x7'"),
    (DARTS_V2_LINE.replace('dil_conv_3x3~2', 'dil_conv_3x3~5'),
     r'normal pair 7 \(dil_conv_3x3, 5\): input 5 out of range for node 5 '
     r'\(allowed 0..4\)'),
    (DARTS_V2_LINE.replace('sep_conv_3x3~1', 'sep_conv_3x3~2', 1),
     r'input 2 out of range for node 2 \(allowed 0..1\)'),
    (DARTS_V2_LINE.replace(';dil_conv_3x3~2', ''),
     r'normal cell has 7 \(op, input\) pair\(s\), expected 8'),
    (DARTS_V2_LINE.replace(' ', ';max_pool_3x3~0 '),
     'normal cell has 9'),
    (DARTS_V2_LINE.replace('sep_conv_3x3~0', 'sep_conv_3x3-0', 1),
     "normal token 0 'sep_conv_3x3-0' is not 'op~input'"),
    (DARTS_V2_LINE.replace('sep_conv_3x3~0', 'sep_conv_3x3~x', 1),
     "is not 'op~input'"),
    (DARTS_V2_LINE.replace('sep_conv_3x3~1', 'sep_conv_3x3~0', 1),
     r'normal node 2 takes input 0 twice'),
    (DARTS_V2_LINE.replace(' ', ''), r"expected 'NORMAL REDUCE'.*found 1"),
    (DARTS_V2_LINE + ' extra', 'found 3 field'),
    (DARTS_V2_TEXT.replace('normal_concat=[2, 3, 4, 5]',
                           'normal_concat=[3, 4, 5]'),
     r'normal_concat \[3, 4, 5\] must be the nodes 2, 3, 4, 5'),
    (DARTS_V2_TEXT.replace('reduce_concat=[2, 3, 4, 5]',
                           'reduce_concat=range(2, 7)'),
     'reduce_concat'),
    (DARTS_V2_TEXT.replace('normal_concat=[2, 3, 4, 5]',
                           'normal_concat=range(2, 1000000000000)'),
     r'normal_concat range\(2, 1000000000000\) must be'),
    ('Genotype(' * 200 + ')' * 200, 'not a literal|not valid'),
    ('[' * 100000, 'not a Python literal'),
    (DARTS_V2_TEXT.replace(', reduce_concat=[2, 3, 4, 5]', ''),
     'missing field'),
    (DARTS_V2_TEXT.replace("('max_pool_3x3', 0)", 'foo()', 1),
     'reduce is not a literal'),
    (DARTS_V2_TEXT[:-1], r'not valid Genotype\(...\) syntax'),
    ('[[(1,0)],[(0,6)]]', 'normal cell has 1'),
    (ROW0_COMPACT.replace('(1,0)', '(1,7)', 1),
     r'normal pair 0: op index 7 out of range 0..6'),
    (ROW0_COMPACT.replace('(3,1)', '(4,1)', 1),
     'normal pair 5 .*input 4 out of range for node 4'),
    ('[[(1,0),(0,5)]]', 'must be 2 cells'),
    ('[[(1,0', 'not a Python literal'),
])
def test_malformed_strings(text, message):
  with pytest.raises(SpecError, match=message) as info:
    spec.parse(text)
  msg = str(info.value)
  assert '\n' not in msg
  assert msg.startswith('DARTS arch ')  # names the input


@pytest.mark.parametrize('mutate_arr, message', [
    (lambda a: a[:1], r'expected shape \(2, 8, 2\)'),
    (lambda a: a.astype(float), 'expected integers'),
    (lambda a: _set(a, (0, 3, 0), 7), 'op index 7 out of range'),
    (lambda a: _set(a, (1, 2, 1), 3), 'reduce pair 2 .*input 3 out of range'),
    (lambda a: _set(a, (0, 6, 1), -1), 'input -1 out of range'),
    (lambda a: _set(a, (1, 1, 1), int(a[1, 0, 1])), 'takes input .* twice'),
])
def test_malformed_arrays(mutate_arr, message):
  arr = spec.to_array(spec.parse(DARTS_V2_LINE))
  with pytest.raises(SpecError, match=message):
    spec.from_array(mutate_arr(arr))


def _set(a, index, value):
  a = a.copy()
  a[index] = value
  return a


def test_genotype_validates_on_construction():
  g = spec.parse(DARTS_V2_LINE)
  with pytest.raises(SpecError, match="reduce pair 0: unknown op 'none'"):
    spec.Genotype(g.normal, (('none', 0),) + g.reduce[1:])
  with pytest.raises(SpecError, match='not an integer'):
    spec.Genotype(g.normal, (('max_pool_3x3', '0'),) + g.reduce[1:])
  with pytest.raises(SpecError, match='use parse'):
    spec.as_genotype(DARTS_V2_LINE)
  with pytest.raises(SpecError, match='must be a string'):
    spec.parse(None)
