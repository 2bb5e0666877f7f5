"""Run records: a resumed run's JSON lines are cut back to its checkpoint,
progress lines carry rate and ETA, the loss curve is a PNG."""

import io
import math

from jaxnas.train import records


def test_json_lines_cut_back_to_the_resume_step_and_drop_a_torn_line(
    tmp_path):
  path = str(tmp_path / 'train.jsonl')
  log = records.JsonLines(path, None)
  log.write([{'step': s, 'loss': 1.0 / s} for s in range(1, 6)])
  log.close()
  with open(path, 'a') as f:
    f.write('{"step": 6, "lo')  # killed mid-line
  resumed = records.JsonLines(path, 3)
  resumed.write([{'step': 4, 'loss': 0.0}])
  resumed.close()
  lines = records.read_jsonl(path)
  assert [r['step'] for r in lines] == [1, 2, 3, 4]
  assert lines[-1]['loss'] == 0.0
  fresh = records.JsonLines(path, None)  # a new run starts afresh
  fresh.close()
  assert records.read_jsonl(path) == []


def test_json_lines_refuse_nan(tmp_path):
  log = records.JsonLines(str(tmp_path / 'x.jsonl'), None)
  try:
    log.write([{'step': 1, 'loss': math.nan}])
  except ValueError:
    pass
  else:
    raise AssertionError('NaN was written as JSON')
  finally:
    log.close()


def test_hms():
  assert records.hms(0) == '0h00m00s'
  assert records.hms(3725.4) == '1h02m05s'
  assert records.hms(math.inf) == '?'


def test_progress_bar_rate_eta_and_throttle():
  out = io.StringIO()
  bar = records.ProgressBar(10, start=2, every=1e9, stream=out, width=10)
  bar.update(2)   # first update: prints, no rate yet
  bar.update(5)   # throttled
  bar.update(10, 'done')  # the last step always prints
  lines = out.getvalue().splitlines()
  assert len(lines) == 2
  assert lines[0].startswith('train [##........] 2/10 steps (0.00 steps/s, '
                             'ETA ?)')
  assert lines[1].startswith('train [##########] 10/10 steps (')
  assert lines[1].endswith('ETA 0h00m00s) done')


def test_plot_curves_writes_a_png(tmp_path):
  recs = [{'arch': 'a', 'step': s, 'loss': 2.0 / s,
           **({'test_accuracy': 10.0 * s} if s % 2 == 0 else {})}
          for s in range(1, 7)]
  path = str(tmp_path / 'curve.png')
  records.plot_curves(recs, path, title='t')
  with open(path, 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
