"""--mode=search through run.py."""

import json
import os

import numpy as np
import pytest

from jaxnas.spaces.nb201 import spec
from tests.cli.conftest import benchmark, read_jsonl, run, score_table

# run.py in a subprocess, end to end.
pytestmark = pytest.mark.e2e


def test_search_from_score_table_picks_run_argmax(tmp_path):
  cells = spec.enumerate_all()
  rng = np.random.default_rng(0)
  scores = rng.normal(size=len(cells))
  accs = 80 + 10 * rng.random(len(cells))
  shuffled = rng.permutation(len(cells))  # the table's rows in any order
  table = score_table(tmp_path / 's.csv', [cells[i] for i in shuffled],
                      scores[shuffled])
  bench = benchmark(tmp_path / 'b.csv', cells, accs)
  out = str(tmp_path / 'out')
  run('--mode=search', '--algorithm=naswot', '--n_samples=10', '--runs=7',
      f'--score_table=csv:{table}', f'--benchmark=csv:{bench}',
      f'--output={out}', '--seed=3')
  runs = read_jsonl(os.path.join(out, 'search.jsonl'))
  assert len(runs) == 7
  # Re-draw the candidates independently: 10 uniform draws of the score
  # table's cells (here: the whole space) in enumeration order per run.
  draw = np.random.default_rng(3)
  for r in runs:
    ids = draw.integers(0, len(cells), 10)
    best = max(ids, key=lambda i: scores[i])
    assert r['arch'] == spec.format(cells[best])
    assert r['accuracy'] == pytest.approx(accs[best])
    assert r['evaluated'] == 10
  summary = json.load(open(os.path.join(out, 'search_summary.json')))
  assert summary['metrics']['cifar10_test']['mean'] == pytest.approx(
      np.mean([r['accuracy'] for r in runs]))


def test_random_search_usesbenchmark(tmp_path):
  cells = spec.enumerate_all()[:500]
  accs = np.linspace(50, 90, len(cells))
  bench = benchmark(tmp_path / 'b.csv', cells, accs)
  out = str(tmp_path / 'out')
  run('--mode=search', '--algorithm=random', '--n_samples=1', '--runs=5',
      f'--benchmark=csv:{bench}', f'--output={out}')
  runs = read_jsonl(os.path.join(out, 'search.jsonl'))
  assert len(runs) == 5 and all(r['evaluated'] == 1 for r in runs)


@pytest.mark.parametrize('algorithm', ['random', 're', 'area', 'reinforce'])
def test_benchmark_searches_spend_the_budget(tmp_path, algorithm):
  cells = spec.enumerate_all()
  rng = np.random.default_rng(0)
  accs = 50 + 40 * rng.random(len(cells))
  bench = benchmark(tmp_path / 'b.csv', cells, accs)
  table = score_table(tmp_path / 's.csv', cells, accs + rng.normal(
      size=len(cells)))
  out = str(tmp_path / 'out')
  run('--mode=search', f'--algorithm={algorithm}', '--n_samples=30',
      '--runs=4', f'--benchmark=csv:{bench}', f'--score_table=csv:{table}',
      '--search_metric=cifar10_valid', f'--output={out}')
  runs = read_jsonl(os.path.join(out, 'search.jsonl'))
  valid = {spec.format(c): a - 3 for c, a in zip(cells, accs)}
  assert len(runs) == 4
  for r in runs:
    assert r['evaluated'] == 30 and r['reused'] >= 0
    # the chosen cell is reported with its own benchmark accuracy
    assert r['score'] == pytest.approx(valid[r['arch']])
    assert r['accuracy'] == pytest.approx(valid[r['arch']] + 3)


def test_nb101_search_is_restricted_to_table_cells(tmp_path):
  from jaxnas.spaces.nb101 import enumeration  # pylint: disable=g-import-not-at-top
  from jaxnas.spaces.nb101 import strings  # pylint: disable=g-import-not-at-top
  small = enumeration.enumerate_cells(4)  # the 91 cells of <= 4 vertices
  rng = np.random.default_rng(0)
  lines = ['nb101_hash,matrix,ops,val_acc_108']
  for i in range(small.num_cells):
    c = small.cell(i)
    lines.append(f'{c.module_hash},{c.matrix_digits},{c.short_ops},'
                 f'{80 + 10 * rng.random():.4f}')
  bench = tmp_path / 'b.csv'
  bench.write_text('\n'.join(lines) + '\n')
  hashes = {l.split(',')[0] for l in lines[1:]}
  out = str(tmp_path / 'out')
  proc = run('--mode=search', '--space=nb101', '--algorithm=re',
             '--n_samples=20', '--runs=3', '--population=5',
             '--tournament=2', f'--benchmark=csv:{bench}',
             '--search_metric=val_acc_108', '--metric=val_acc_108',
             f'--output={out}')
  assert 'search restricted to the cells' in proc.stderr
  assert '91 of 423624 looked up' in proc.stderr
  runs = read_jsonl(os.path.join(out, 'search.jsonl'))
  assert len(runs) == 3
  for r in runs:
    assert r['evaluated'] == 20
    assert strings.parse(r['arch']).module_hash in hashes


def test_naswot_search_follows_the_proxy_direction(tmp_path):
  """--algorithm=naswot --proxies=ntk_cond keeps the LOWEST condition
  number of each run's candidates (lower is better), not the highest."""
  cells = spec.enumerate_all()
  rng = np.random.default_rng(1)
  kappa = rng.lognormal(5, 1, size=len(cells))
  table = score_table(tmp_path / 's.csv', cells, kappa, proxy='ntk_cond')
  out = str(tmp_path / 'out')
  run('--mode=search', '--algorithm=naswot', '--proxies=ntk_cond',
      '--n_samples=12', '--runs=6', f'--score_table=csv:{table}',
      f'--output={out}', '--seed=4')
  runs = read_jsonl(os.path.join(out, 'search.jsonl'))
  draw = np.random.default_rng(4)
  for r in runs:
    ids = draw.integers(0, len(cells), 12)
    best = min(ids, key=lambda i: kappa[i])
    assert r['arch'] == spec.format(cells[best])
    assert r['score'] == pytest.approx(kappa[best])
    assert r['score'] == pytest.approx(min(kappa[ids]))
