"""The DARTS space as the command line and the engine use it: the
benchmark join on the NB301 data's ``normal`` and ``reduce`` columns, the
size flags, costs, and what it cannot do."""

import numpy as np
import pytest

from jaxnas import benchmarks
from jaxnas.errors import JaxnasError, SpecError
from jaxnas.spaces import get_space
from jaxnas.spaces.darts import DartsSpace, cost, iso, sampling, spec
from tests.conftest import reference_file
from tests.spaces.darts.test_spec import DARTS_V2_LINE, DARTS_V2_TEXT


def test_benchmark_joins_on_normal_and_reduce():
  path = reference_file('nb301_zc_naslib_725.csv')
  space = get_space('darts')
  table = benchmarks.Benchmark.from_flag(f'csv:{path}', space.benchmark_key)
  assert len(table.keys) == 725
  assert 'normal' not in table.columns and 'val_accuracy' in table.columns
  for key in table.keys[:50]:
    row = table.rows[key]
    g = space.from_benchmark_row(row)
    assert space.bench_key(g) == key == f"{row['normal']} {row['reduce']}"
    # An --archs line is the key itself.
    assert space.bench_key(space.parse(key)) == key
    assert table.value(key, 'val_accuracy') == float(row['val_accuracy'])
    assert space.param_count(g) == round(float(row['params']) * 1e6)
    assert space.flops(g) == round(float(row['flops']) * 1e6)


def test_single_key_columns_still_work(tmp_path):
  path = tmp_path / 't.csv'
  path.write_text('arch_str,acc\n|a|,1.5\n')
  table = benchmarks.Benchmark(str(path), 'arch_str')
  assert table.value('|a|', 'acc') == 1.5 and table.columns == ['acc']
  with pytest.raises(benchmarks.BenchmarkError, match="no key column 'x'"):
    benchmarks.Benchmark(str(path), ('arch_str', 'x'))


def test_size_flags_and_costs():
  space = get_space('darts', channels=16, cells_per_stage=1)
  assert (space.channels, space.layers) == (16, 5)
  assert get_space('darts', layers=4).layers == 4
  g = sampling.sample(np.random.default_rng(0))
  assert space.param_count(g, 100) == cost.param_count(g, 16, 5, 100)
  assert space.flops(g, 10, 16) == cost.flops(g, 16, 5, 10, 16)
  assert space.cost_hint(g) == cost.flops(g, 16, 5) / 1e6
  with pytest.raises(SpecError, match='channels=3'):
    get_space('darts', channels=3)
  with pytest.raises(SpecError, match='layers=2'):
    get_space('darts', layers=2)


def test_what_the_space_cannot_do():
  space = get_space('darts')
  with pytest.raises(JaxnasError, match='cannot be enumerated'):
    space.enumerate()
  with pytest.raises(ValueError, match="no network form 'kappa'"):
    space.network(form='kappa')


def test_space_interface():
  space = DartsSpace()
  rng = np.random.default_rng(0)
  archs = space.sample(rng, 3)
  assert len(archs) == 3
  g = space.parse(DARTS_V2_TEXT)
  assert space.format(g) == DARTS_V2_LINE
  assert space.parse(space.format(g)) == g
  assert space.arch_id(g) == iso.arch_id(g)
  assert space.iso_key(g) == iso.iso_key(g)
  assert space.mutate(g, rng) != g
  np.testing.assert_array_equal(space.arch_arrays(g), spec.to_array(g))
  info = space.describe(g)
  assert space.param_count(g) == info['param_count']
  assert info['params'] == info['param_count'] / 1e6
  # DARTS's own log for DARTS_V2 at C=36, 20 cells: 3.349342 MB.
  assert info['eval_params'] == 3.349342
  assert info['key'] == iso.iso_key(g)
  assert spec.parse(info['canonical']) == iso.canonical(g)
  assert spec.parse(info['genotype']) == g
  with pytest.raises(SpecError, match='n=-1'):
    space.sample(rng, -1)
  with pytest.raises(SpecError, match='neither normal/reduce columns'):
    space.from_benchmark_row({'val_accuracy': '93.1'})
