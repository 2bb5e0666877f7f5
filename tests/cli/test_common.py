"""What the modes share: progress lines, output files, the architectures to
work on and the summary of repeated values."""

import json
import math
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxnas.cli import common
from jaxnas.config import RunConfig
from jaxnas.errors import BenchmarkError, JaxnasError, SpecError
from jaxnas.spaces.nb201 import spec

SPACE = common.make_space(RunConfig(space='nb201'))
# Hand-written cells: A and B differ, C has a 'none' edge.
A = '|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'
B = '|skip_connect~0|+|nor_conv_3x3~0|none~1|+|nor_conv_1x1~0|avg_pool_3x3~1|nor_conv_3x3~2|'
C = '|none~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|'
D = '|avg_pool_3x3~0|+|skip_connect~0|skip_connect~1|+|none~0|none~1|none~2|'


def formatted(archs):
  return [spec.format(a) for a in archs]


# --- numbers ---------------------------------------------------------------


@pytest.mark.parametrize('seconds, text', [
    (0, '0h00m00s'), (59.4, '0h00m59s'), (59.6, '0h01m00s'),
    (3661, '1h01m01s'), (100_000, '27h46m40s'),
    (math.inf, '?'), (math.nan, '?')])
def test_hms(seconds, text):
  assert common.hms(seconds) == text


def test_summary_stats_is_mean_and_sample_sd():
  values = np.random.default_rng(0).normal(5.0, 2.0, 7)
  stats = common.summary_stats(iter(values.tolist()))  # any iterable
  assert stats['n'] == 7
  assert stats['mean'] == pytest.approx(np.mean(values), rel=1e-12)
  # Sample sd (ddof=1), written out rather than via numpy's ddof argument.
  sd = math.sqrt(sum((v - values.mean())**2 for v in values) / 6)
  assert stats['std'] == pytest.approx(sd, rel=1e-12)
  assert common.summary_stats([1.0, 3.0]) == {'mean': 2.0,
                                              'std': math.sqrt(2.0), 'n': 2}
  assert common.summary_stats([4.5]) == {'mean': 4.5, 'std': 0.0, 'n': 1}
  assert common.summary_stats([]) == {'mean': None, 'std': None, 'n': 0}


# --- progress and output files ---------------------------------------------


def test_progress_rate_counts_from_the_first_item(monkeypatch, capsys):
  clock = iter([0.0, 10.0, 15.0, 20.0, 21.0])
  monkeypatch.setattr(common.time, 'perf_counter', lambda: next(clock))
  progress = common.Progress(5, 'scoring', every=10.0)  # t = 0
  progress.update()   # t = 10: first item (compiling); no rate yet
  progress.update()   # t = 15: under 10 s since the last line
  progress.update()   # t = 20: 2 items in 10 s after the first
  progress.update(2)  # t = 21: done (always said)
  lines = capsys.readouterr().err.splitlines()
  assert lines == ['scoring: 1/5 (0.00/s, ETA ?)',
                   'scoring: 3/5 (0.20/s, ETA 0h00m10s)',
                   'scoring: 5/5 (0.36/s, ETA 0h00m00s)']


def test_write_json_replaces_the_file_and_refuses_nan(tmp_path):
  path = str(tmp_path / 'out.json')
  common.write_json(path, {'a': [1, 2.5], 'b': None})
  common.write_json(path, {'a': 1})
  with open(path) as f:
    text = f.read()
  assert json.loads(text) == {'a': 1} and text.endswith('\n')
  assert sorted(p.name for p in tmp_path.iterdir()) == ['out.json']
  with pytest.raises(ValueError):
    common.write_json(path, {'a': float('nan')})  # not valid JSON
  with open(path) as f:
    assert json.load(f) == {'a': 1}  # the old file is untouched


def test_git_revision_is_the_checkout_head(tmp_path, monkeypatch):
  package_root = os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(common.__file__))))
  head = subprocess.run(['git', '-C', package_root, 'rev-parse', 'HEAD'],
                        capture_output=True, text=True)
  rev = common.git_revision()
  if head.returncode:
    assert rev is None  # not a git checkout (e.g. an installed copy)
  else:
    assert rev.removesuffix('+dirty') == head.stdout.strip()
  # Outside any checkout: None, not an exception.
  if subprocess.run(['git', '-C', str(tmp_path), 'rev-parse'],
                    capture_output=True).returncode == 0:
    pytest.skip('the temporary directory is inside a git checkout')
  monkeypatch.setattr(common, '__file__', str(tmp_path / 'a' / 'b' / 'c.py'))
  assert common.git_revision() is None


def test_git_revision_is_dirty_for_code_not_for_results(tmp_path,
                                                       monkeypatch):
  git = lambda *a: subprocess.run(['git', '-C', str(tmp_path), *a],
                                  capture_output=True, text=True, check=True)
  try:
    git('init', '-q')
  except (OSError, subprocess.CalledProcessError):
    pytest.skip('no git')
  (tmp_path / 'pkg').mkdir()
  (tmp_path / 'run.flags').write_text('--seed=0\n')
  (tmp_path / 'scores.jsonl').write_text('{}\n')
  git('add', '.')
  git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'x')
  head = git('rev-parse', 'HEAD').stdout.strip()
  monkeypatch.setattr(common, '__file__', str(tmp_path / 'pkg' / 'cli' /
                                              'common.py'))
  assert common.git_revision() == head
  (tmp_path / 'scores.jsonl').write_text('{"a": 1}\n')  # a run's output
  assert common.git_revision() == head
  (tmp_path / 'run.flags').write_text('--seed=1\n')  # what a run computes
  assert common.git_revision() == head + '+dirty'


def test_versions_and_config_json(tmp_path, monkeypatch):
  versions = common.versions()
  assert versions['numpy'] == np.__version__
  assert versions['jax'] == jax.__version__
  assert versions['python'] == '.'.join(map(str, sys.version_info[:3]))
  monkeypatch.setattr(sys, 'argv', ['run.py', '--mode=score'])
  cfg = RunConfig(mode='score', output=str(tmp_path), seed=3)
  common.write_config(cfg, {'data': 'synthetic'})
  with open(tmp_path / 'config.json') as f:
    info = json.load(f)
  assert info['config']['mode'] == 'score' and info['config']['seed'] == 3
  assert info['command'] == 'run.py --mode=score'
  assert info['data'] == 'synthetic'
  assert len(info['devices']) == jax.local_device_count()
  assert info['versions'] == versions


def test_make_space_passes_the_size_only_when_given():
  assert common.make_space(RunConfig(space='nb201')).channels == 16
  small = common.make_space(RunConfig(space='nb201', channels=2,
                                      cells_per_stage=1))
  assert (small.name, small.channels, small.cells_per_stage) == ('nb201', 2, 1)
  assert common.make_space(RunConfig(space='nb101')).name == 'nb101'


# --- architectures -----------------------------------------------------------


def test_read_archs_skips_blanks_and_comments(tmp_path):
  path = tmp_path / 'archs.txt'
  path.write_text(f'# my cells\n\n  {A}  \n#{B}\n{C}\n')
  assert common.read_lines(str(path)) == [(3, A), (5, C)]
  assert formatted(common.read_archs(SPACE, str(path))) == [A, C]


def test_a_bad_line_is_one_line_naming_file_and_line(tmp_path):
  path = tmp_path / 'archs.txt'
  path.write_text(f'{A}\n\n|nor_conv_3x3~0|\n{B}\n')
  with pytest.raises(SpecError) as info:
    common.read_archs(SPACE, str(path))
  message = str(info.value)
  assert message.startswith(f"{path}:3: NB201 arch '|nor_conv_3x3~0|'")
  assert '\n' not in message


def test_missing_and_empty_archs_files(tmp_path):
  missing = str(tmp_path / 'missing.txt')
  with pytest.raises(SpecError, match='not found') as info:
    common.read_archs(SPACE, missing)
  assert str(info.value) == f'--archs file {missing}: not found'
  empty = tmp_path / 'empty.txt'
  empty.write_text('# nothing yet\n\n')
  with pytest.raises(SpecError) as info:
    common.read_archs(SPACE, str(empty))
  assert str(info.value) == (f'--archs file {empty}: contains no '
                             'architectures')


def write_table(tmp_path, rows):
  path = tmp_path / 'gt.csv'
  path.write_text('arch_str,cifar10_test,cifar10_valid\n' + ''.join(
      f'{r},90,89\n' for r in rows))
  return f'csv:{path}'


def test_load_benchmark_checks_every_metric(tmp_path):
  flag = write_table(tmp_path, [A, B])
  assert common.load_benchmark(RunConfig(), SPACE) is None
  table = common.load_benchmark(
      RunConfig(benchmark=flag, metric='cifar10_test,cifar10_valid'), SPACE)
  assert table.value(A, 'cifar10_valid') == 89.0
  with pytest.raises(BenchmarkError, match="no metric column 'cifar100'"):
    common.load_benchmark(
        RunConfig(benchmark=flag, metric='cifar10_test,cifar100'), SPACE)


def test_benchmark_cells_skip_unusable_rows_and_say_so(tmp_path, capsys):
  table = common.load_benchmark(
      RunConfig(benchmark=write_table(tmp_path, [A, 'junk', B, C])), SPACE)
  assert formatted(common.benchmark_cells(SPACE, table)) == [A, B, C]
  assert 'benchmark: 1 row(s) without a usable cell skipped; 3 cells' in (
      capsys.readouterr().err)
  assert formatted(common.benchmark_cells(SPACE, table, {C, A, D})) == [A, C]


def test_select_archs_from_a_file_or_a_sample(tmp_path):
  rng = lambda: np.random.default_rng(5)
  path = tmp_path / 'archs.txt'
  path.write_text(f'{B}\n{A}\n')
  # --archs wins over --sample.
  got = common.select_archs(RunConfig(archs=str(path), sample=3), SPACE,
                            None, rng())
  assert formatted(got) == [B, A]
  with pytest.raises(JaxnasError, match='--mode=score needs --archs=FILE '
                     'or --sample=N'):
    common.select_archs(RunConfig(mode='score'), SPACE, None, rng())
  # Without a table: N seeded draws from the space, or all 15625 cells.
  drawn = common.select_archs(RunConfig(sample=4), SPACE, None, rng())
  assert formatted(drawn) == formatted(spec.sample(rng(), 4))
  every = common.select_archs(RunConfig(sample=0), SPACE, None, rng())
  assert len(every) == 15625 == len(set(formatted(every)))


def test_select_archs_samples_the_cells_a_table_covers(tmp_path):
  rows = [A, B, C, D]
  table = common.load_benchmark(
      RunConfig(benchmark=write_table(tmp_path, rows)), SPACE)
  for n in (0, 4, 9):  # 0 or at least the table: every row, in order
    got = common.select_archs(RunConfig(sample=n), SPACE, table,
                              np.random.default_rng(0))
    assert formatted(got) == rows
  seen = set()
  for seed in range(20):
    got = formatted(common.select_archs(RunConfig(sample=2), SPACE, table,
                                        np.random.default_rng(seed)))
    assert len(set(got)) == 2 and set(got) <= set(rows)
    assert got == sorted(got, key=rows.index)  # the table's order
    seen.update(got)
  assert seen == set(rows)


def test_select_archs_within_a_score_table(tmp_path, capsys):
  scores = tmp_path / 'scores.csv'
  scores.write_text(f'arch,naswot\n{D},1.5\n{B},2.5\n{C},0.5\n')
  # Alone: the score table's cells.
  got = common.select_archs(RunConfig(sample=0, score_table=f'csv:{scores}'),
                            SPACE, None, np.random.default_rng(0))
  assert formatted(got) == [D, B, C]
  assert 'restricted to the 3 cells of --score_table' in capsys.readouterr().err
  # With a benchmark: its rows that the score table also covers.
  table = common.load_benchmark(
      RunConfig(benchmark=write_table(tmp_path, [A, B, C])), SPACE)
  got = common.select_archs(RunConfig(sample=0, score_table=str(scores)),
                            SPACE, table, np.random.default_rng(0))
  assert formatted(got) == [B, C]
  with pytest.raises(JaxnasError, match='--score_table csv:nowhere.csv: '
                     'file not found'):
    common.score_table_pool(RunConfig(score_table='csv:nowhere.csv'), SPACE)
  assert common.score_table_pool(RunConfig(), SPACE) is None
