"""run.py end to end on the tiny network (C=2, N=1, 8x8 images)."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from scipy import stats

from jaxnas.spaces.nb201 import spec
from tests.conftest import TINY, write_npz

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_FLAGS = [f'--channels={TINY["channels"]}',
              f'--cells_per_stage={TINY["cells_per_stage"]}', '--batch_size=6']


def run(*args, check=True):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  proc = subprocess.run([sys.executable, os.path.join(ROOT, 'run.py'),
                         *args], capture_output=True, text=True, env=env,
                        cwd=ROOT, timeout=600)
  if check and proc.returncode != 0:
    raise AssertionError(f'run.py failed ({proc.returncode}):\n{proc.stderr}')
  return proc


def read_jsonl(path):
  with open(path) as f:
    return [json.loads(l) for l in f if l.strip()]


@pytest.fixture(scope='module')
def npz(tmp_path_factory):
  return write_npz(tmp_path_factory.mktemp('data') / 'd.npz', n=16)


def archs_file(path, archs):
  with open(path, 'w') as f:
    f.write('\n'.join(spec.format(a) for a in archs) + '\n')
  return str(path)


def test_score_then_rerun_skips(tmp_path, npz):
  archs = spec.sample(np.random.default_rng(0), 3)
  af = archs_file(tmp_path / 'a.txt', archs)
  out = str(tmp_path / 'out')
  args = ['--mode=score', f'--archs={af}', f'--data=npz:{npz}',
          f'--output={out}', '--inits=2', *TINY_FLAGS]
  run(*args)
  recs = read_jsonl(os.path.join(out, 'scores.jsonl'))
  # Two devices, cells grouped by cost: lines come in completion order.
  assert sorted(r['arch'] for r in recs) == sorted(spec.format(a)
                                                   for a in archs)
  for r in recs:
    assert len(r['naswot_each']) == 2
    assert r['naswot'] == pytest.approx(np.mean(r['naswot_each']))
  cfg = json.load(open(os.path.join(out, 'config.json')))
  assert cfg['versions']['jax'] == '0.5.3'
  again = run(*args)
  assert 'to score' not in again.stderr
  assert read_jsonl(os.path.join(out, 'scores.jsonl')) == recs


def test_scores_do_not_depend_on_devices_or_grouping(tmp_path, npz):
  """Balanced 2-device scoring (cells reordered by cost) gives every cell
  the score it gets alone on one device."""
  archs = spec.sample(np.random.default_rng(5), 7)
  af = archs_file(tmp_path / 'a.txt', archs)
  scores = []
  for devices in (1, 2):
    out = str(tmp_path / f'out{devices}')
    run('--mode=score', f'--archs={af}', f'--data=npz:{npz}',
        f'--output={out}', f'--cpu_devices={devices}', *TINY_FLAGS)
    recs = read_jsonl(os.path.join(out, 'scores.jsonl'))
    scores.append({r['arch']: r['naswot'] for r in recs})
  assert scores[0].keys() == {spec.format(a) for a in archs}
  assert scores[0].keys() == scores[1].keys()
  for arch, value in scores[0].items():
    if value is None:
      assert scores[1][arch] is None
    else:
      assert scores[1][arch] == pytest.approx(value, rel=1e-5), arch


def test_sigkill_then_rerun_scores_each_arch_once(tmp_path, npz):
  archs = spec.sample(np.random.default_rng(1), 40)
  af = archs_file(tmp_path / 'a.txt', archs)
  out = str(tmp_path / 'out')
  log = os.path.join(out, 'scores.jsonl')
  args = [sys.executable, os.path.join(ROOT, 'run.py'), '--mode=score',
          f'--archs={af}', f'--data=npz:{npz}', f'--output={out}',
          *TINY_FLAGS]
  proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  deadline = time.time() + 900  # compile included; generous for slow CI
  while time.time() < deadline and proc.poll() is None:
    if os.path.exists(log) and len(open(log).readlines()) >= 3:
      break
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert os.path.exists(log), 'no result was written before the deadline'
  done_before = len(read_jsonl(log))
  assert 3 <= done_before < 40, 'the kill must land mid-run'
  run(*args[2:])
  recs = read_jsonl(log)
  names = [r['arch'] for r in recs]
  assert sorted(names) == sorted(spec.format(a) for a in archs)
  assert len(names) == len(set(names)) == 40


def test_scores_jsonl_alone_resumes(tmp_path, npz):
  """A committed scores.jsonl (no SQLite) is imported, not recomputed."""
  archs = spec.sample(np.random.default_rng(2), 2)
  af = archs_file(tmp_path / 'a.txt', archs)
  out = str(tmp_path / 'out')
  args = ['--mode=score', f'--archs={af}', f'--data=npz:{npz}',
          f'--output={out}', *TINY_FLAGS]
  run(*args)
  first = read_jsonl(os.path.join(out, 'scores.jsonl'))
  os.remove(os.path.join(out, 'store.sqlite'))
  again = run(*args)
  assert 'imported 2' in again.stderr and 'to score' not in again.stderr
  assert read_jsonl(os.path.join(out, 'scores.jsonl')) == first


def test_describe(tmp_path):
  af = tmp_path / 'a.txt'
  good = '|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|'
  af.write_text(good + '\n|bogus~0|+|none~0|none~1|+|none~0|none~1|none~2|\n')
  out = str(tmp_path / 'out')
  run('--mode=describe', f'--archs={af}', f'--output={out}')
  recs = read_jsonl(os.path.join(out, 'describe.jsonl'))
  assert recs[0]['valid'] and recs[0]['arch'] == good
  assert recs[0]['params'] == spec.param_count(spec.parse(good))
  assert recs[0]['key'] == spec.iso_key(spec.parse(good))
  assert not recs[1]['valid'] and "unknown op 'bogus'" in recs[1]['error']


def _score_table(path, archs, scores):
  with open(path, 'w', newline='') as f:
    w = csv.writer(f)
    w.writerow(['arch', 'naswot'])
    for a, s in zip(archs, scores):
      w.writerow([spec.format(a), s])
  return str(path)


def _benchmark(path, archs, accs):
  with open(path, 'w', newline='') as f:
    w = csv.writer(f)
    w.writerow(['arch_str', 'cifar10_test', 'cifar10_valid'])
    for a, acc in zip(archs, accs):
      w.writerow([spec.format(a), acc, acc - 3])
  return str(path)


def test_search_from_score_table_picks_run_argmax(tmp_path):
  cells = spec.enumerate_all()
  rng = np.random.default_rng(0)
  scores = rng.normal(size=len(cells))
  accs = 80 + 10 * rng.random(len(cells))
  table = _score_table(tmp_path / 's.csv', cells, scores)
  bench = _benchmark(tmp_path / 'b.csv', cells, accs)
  out = str(tmp_path / 'out')
  run('--mode=search', '--algorithm=naswot', '--n_samples=10', '--runs=7',
      f'--score_table=csv:{table}', f'--benchmark=csv:{bench}',
      f'--output={out}', '--seed=3')
  runs = read_jsonl(os.path.join(out, 'search.jsonl'))
  assert len(runs) == 7
  # Re-draw the candidates independently: 10 uniform rows of the score
  # table (here: the whole space) per run.
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


def test_random_search_uses_benchmark(tmp_path):
  cells = spec.enumerate_all()[:500]
  accs = np.linspace(50, 90, len(cells))
  bench = _benchmark(tmp_path / 'b.csv', cells, accs)
  out = str(tmp_path / 'out')
  run('--mode=search', '--algorithm=random', '--n_samples=1', '--runs=5',
      f'--benchmark=csv:{bench}', f'--output={out}')
  runs = read_jsonl(os.path.join(out, 'search.jsonl'))
  assert len(runs) == 5 and all(r['evaluated'] == 1 for r in runs)


def test_correlate_matches_scipy(tmp_path, npz):
  cells = spec.sample(np.random.default_rng(4), 12)
  accs = np.random.default_rng(5).random(12) * 10 + 80
  bench = _benchmark(tmp_path / 'b.csv', cells, accs)
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


@pytest.mark.parametrize('args, message', [
    (['--mode=score', '--archs=ARCHS', '--data=synthetic'],
     "ARCHS:2: NB201 arch '|nor_conv_3x3~0|': expected 3 nodes"),
    (['--mode=score', '--archs=MISSING', '--data=synthetic'],
     'MISSING: not found'),
    (['--mode=score', '--sample=1', '--data=npz:MISSING'],
     'data npz:MISSING: file not found'),
    (['--mode=correlate', '--sample=1', '--data=synthetic',
      '--benchmark=csv:MISSING'], 'benchmark csv:MISSING: file not found'),
    (['--mode=score', '--sample=1', '--data=npz:GRAY'],
     r'expected shape [N, H, W, 3] (NHWC, RGB), got [4, 8, 8]'),
])
def test_bad_inputs_one_line_error(tmp_path, args, message):
  arch_file = tmp_path / 'archs.txt'
  arch_file.write_text(
      '|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\n|nor_conv_3x3~0|\n')
  gray = str(tmp_path / 'gray.npz')
  np.savez(gray, images=np.zeros((4, 8, 8), np.uint8))
  subst = {'ARCHS': str(arch_file), 'MISSING': str(tmp_path / 'missing'),
           'GRAY': gray}
  for k, v in subst.items():
    args = [a.replace(k, v) for a in args]
    message = message.replace(k, v)
  proc = run(*args, f'--output={tmp_path}/out', check=False)
  assert proc.returncode == 2, proc.stderr
  errors = [l for l in proc.stderr.splitlines() if l.startswith('error:')]
  assert len(errors) == 1 and message in errors[0], proc.stderr


def test_nb101_enumerate_and_describe(tmp_path):
  out = str(tmp_path / 'out')
  proc = run('--mode=enumerate', '--space=nb101', '--max_vertices=5',
             f'--output={out}')
  assert 'nb101: 2532 unique cells' in proc.stdout
  info = json.load(open(os.path.join(out, 'enumerate.json')))
  assert info['cells'] == 2532 and os.path.exists(info['file'])
  af = tmp_path / 'a.txt'
  af.write_text('0100110001000000010010000010000001000000010000000 '
                'in-c3-mp-c3-c3-c1-out\n0110000 input,bogus\n')
  run('--mode=describe', '--space=nb101', f'--archs={af}', f'--output={out}')
  recs = read_jsonl(os.path.join(out, 'describe.jsonl'))
  # The official hash and parameter count of this cell in NB101's data.
  assert recs[0]['key'] == '00005c142e6f48ac74fdcf73e3439874'
  assert recs[0]['params'] == 8555530
  assert not recs[1]['valid'] and "unknown op 'bogus'" in recs[1]['error']


@pytest.mark.parametrize('algorithm', ['random', 're', 'area', 'reinforce'])
def test_benchmark_searches_spend_the_budget(tmp_path, algorithm):
  cells = spec.enumerate_all()
  rng = np.random.default_rng(0)
  accs = 50 + 40 * rng.random(len(cells))
  bench = _benchmark(tmp_path / 'b.csv', cells, accs)
  table = _score_table(tmp_path / 's.csv', cells, accs + rng.normal(
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
