"""Ground-truth tables read from CSV."""

import pytest

from jaxnas import benchmarks as bm
from jaxnas.errors import BenchmarkError

TABLE = """arch_str,cifar10_test,cifar10_valid
a,93.5,91.25
b,,90
c,nan,inf
d,70.1, 69.9 
e,n/a,12
"""


@pytest.fixture
def table_path(tmp_path):
  path = tmp_path / 'gt.csv'
  path.write_text(TABLE)
  return str(path)


def test_values_keys_and_columns(table_path):
  table = bm.Benchmark(table_path, 'arch_str')
  assert table.keys == ['a', 'b', 'c', 'd', 'e']  # file order
  assert table.columns == ['cifar10_test', 'cifar10_valid']
  assert 'a' in table and 'z' not in table
  assert table.value('a', 'cifar10_test') == 93.5
  assert table.value('a', 'cifar10_valid') == 91.25
  assert table.value('b', 'cifar10_valid') == 90.0
  assert table.value('d', 'cifar10_valid') == 69.9  # spaces stripped


@pytest.mark.parametrize('key, metric', [
    ('b', 'cifar10_test'),   # empty cell
    ('c', 'cifar10_test'),   # nan
    ('c', 'cifar10_valid'),  # inf
    ('z', 'cifar10_test'),   # arch not in the table
])
def test_missing_values_are_none(table_path, key, metric):
  assert bm.Benchmark(table_path, 'arch_str').value(key, metric) is None


def test_a_value_that_is_not_a_number_names_arch_metric_and_text(table_path):
  table = bm.Benchmark(table_path, 'arch_str')
  with pytest.raises(BenchmarkError) as info:
    table.value('e', 'cifar10_test')
  assert str(info.value) == (f"benchmark csv:{table_path}: cifar10_test of "
                             "'e' is not a number: 'n/a'")


def test_unknown_metric_is_one_line_naming_the_columns(table_path):
  table = bm.Benchmark(table_path, 'arch_str')
  want = (f"benchmark csv:{table_path}: no metric column 'cifar100_test' "
          '(columns: cifar10_test, cifar10_valid)')
  for call in (lambda: table.check_metric('cifar100_test'),
               lambda: table.value('a', 'cifar100_test'),
               lambda: table.value('z', 'cifar100_test')):
    with pytest.raises(BenchmarkError) as info:
      call()
    assert str(info.value) == want
  with pytest.raises(BenchmarkError):
    table.check_metric('arch_str')  # the key is not a metric
  table.check_metric('cifar10_valid')  # a real column passes


def test_missing_file_and_missing_key_column(tmp_path, table_path):
  missing = str(tmp_path / 'none.csv')
  with pytest.raises(BenchmarkError, match='file not found') as info:
    bm.Benchmark(missing, 'arch_str')
  assert str(info.value) == f'benchmark csv:{missing}: file not found'
  with pytest.raises(BenchmarkError) as info:
    bm.Benchmark(table_path, 'nb101_hash')
  assert str(info.value) == (
      f"benchmark csv:{table_path}: no key column 'nb101_hash' (columns: "
      'arch_str, cifar10_test, cifar10_valid)')
  empty = tmp_path / 'empty.csv'
  empty.write_text('')
  with pytest.raises(BenchmarkError, match=r"no key column 'arch_str' "
                     r'\(columns: \)'):
    bm.Benchmark(str(empty), 'arch_str')


def test_from_flag_wants_the_csv_prefix(table_path):
  table = bm.Benchmark.from_flag(f'csv:{table_path}', 'arch_str')
  assert table.path == table_path and table.key_column == 'arch_str'
  assert table.value('a', 'cifar10_test') == 93.5
  with pytest.raises(BenchmarkError, match="--benchmark='nb201': expected "
                     'csv:PATH'):
    bm.Benchmark.from_flag('nb201', 'arch_str')
  with pytest.raises(BenchmarkError, match='expected csv:PATH'):
    bm.Benchmark.from_flag(table_path, 'arch_str')  # path without prefix

