"""--mode=correlate through run.py."""

import json
import os

import numpy as np
import pytest
from scipy import stats

from jaxnas.spaces.nb201 import spec
from tests.cli.conftest import TINY_FLAGS, benchmark, read_jsonl, run

# run.py in a subprocess, end to end.
pytestmark = pytest.mark.e2e


def test_correlate_matches_scipy(tmp_path, npz):
  cells = spec.sample(np.random.default_rng(4), 12)
  accs = np.random.default_rng(5).random(12) * 10 + 80
  bench = benchmark(tmp_path / 'b.csv', cells, accs)
  out = str(tmp_path / 'out')
  run('--mode=correlate', '--sample=0', f'--benchmark=csv:{bench}',
      f'--data=npz:{npz}', f'--output={out}',
      '--metric=cifar10_test,cifar10_valid', *TINY_FLAGS)
  corr = json.load(open(os.path.join(out, 'correlation.json')))
  recs = {r['arch']: r['naswot']
          for r in read_jsonl(os.path.join(out, 'scores.jsonl'))}
  names = [spec.format(c) for c in cells]
  pairs = [(recs[n], a) for n, a in zip(names, accs) if recs[n] is not None]
  s, a = zip(*pairs)
  assert [c['metric'] for c in corr] == ['cifar10_test', 'cifar10_valid']
  assert corr[0]['n'] == len(pairs)
  assert corr[0]['kendall_tau'] == pytest.approx(stats.kendalltau(s, a)[0])
  assert corr[0]['spearman'] == pytest.approx(stats.spearmanr(s, a)[0])
  assert os.path.getsize(os.path.join(out, 'correlation.png')) > 1000


@pytest.mark.slow
def test_nb101_correlate_reads_cells_from_benchmark_rows(tmp_path, npz):
  """NB101 tables are keyed by hash; cells come from matrix/ops columns and
  rows without a graph are skipped."""
  from jaxnas.spaces.nb101 import strings as nb101  # pylint: disable=g-import-not-at-top
  cells = [('0100110001000000010010000010000001000000010000000',
            'in-c3-mp-c3-c3-c1-out', 93.0),
           ('011001000', 'in-c3-out', 80.0),
           ('011001000', 'in-mp-out', 70.0),
           ('0110001000010000', 'in-c1-c3-out', 85.0)]
  lines = ['nb101_hash,matrix,ops,val_acc_108',
           'ffff0000ffff0000ffff0000ffff0000,,,90.0']
  for matrix, ops, acc in cells:
    h = nb101.parse_parts(matrix, ops).module_hash
    lines.append(f'{h},{matrix},{ops},{acc}')
  bench = tmp_path / 'b.csv'
  bench.write_text('\n'.join(lines) + '\n')
  out = str(tmp_path / 'out')
  proc = run('--mode=correlate', '--space=nb101', '--sample=0',
             f'--benchmark=csv:{bench}', '--metric=val_acc_108',
             f'--data=npz:{npz}', f'--output={out}', '--channels=4',
             '--cells_per_stage=1', '--batch_size=6', '--cpu_devices=1')
  assert '1 row(s) without a usable cell skipped' in proc.stderr
  recs = read_jsonl(os.path.join(out, 'scores.jsonl'))
  assert len(recs) == 4
  corr = json.load(open(os.path.join(out, 'correlation.json')))
  assert corr[0]['n'] + corr[0]['n_dropped'] == 4


def test_bare_combine_adds_the_recommended_combined_row(tmp_path):
  """From a score table (nothing compiled): --combine alone scores the
  recommended combination's proxies and adds the "combined" row."""
  from jaxnas import ranking  # pylint: disable=g-import-not-at-top
  from tests.test_ranking import brute_force_log_rank_sum  # pylint: disable=g-import-not-at-top
  cells = spec.sample(np.random.default_rng(6), 10)
  rng = np.random.default_rng(7)
  accs = rng.random(10) * 10 + 80
  proxies = ranking.COMBINATIONS[ranking.RECOMMENDED]
  scores = {p: [None if i == 3 and p == proxies[0] else float(a + rng.normal(
      scale=4)) for i, a in enumerate(accs)] for p in proxies}
  table = tmp_path / 's.csv'
  lines = ['arch,' + ','.join(proxies)]
  for i, c in enumerate(cells):
    lines.append(spec.format(c) + ',' + ','.join(
        '' if scores[p][i] is None else repr(scores[p][i]) for p in proxies))
  table.write_text('\n'.join(lines) + '\n')
  archs = tmp_path / 'a.txt'
  archs.write_text('\n'.join(spec.format(c) for c in cells) + '\n')
  out = str(tmp_path / 'out')
  run('--mode=correlate', '--combine', f'--archs={archs}',
      f'--score_table=csv:{table}',
      f'--benchmark=csv:{benchmark(tmp_path / "b.csv", cells, accs)}',
      '--metric=cifar10_test', f'--output={out}')
  corr = json.load(open(os.path.join(out, 'correlation.json')))
  assert [c['proxy'] for c in corr] == [*proxies, 'combined']
  row = corr[-1]
  want = brute_force_log_rank_sum([scores[p] for p in proxies],
                                  [True] * len(proxies))
  assert row['n'] == 10 and row['combination'] == ranking.RECOMMENDED
  assert row['spearman'] == pytest.approx(stats.spearmanr(want, accs)[0])
  assert row['kendall_tau'] == pytest.approx(stats.kendalltau(want, accs)[0])
