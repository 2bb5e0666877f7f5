"""--mode=enumerate (and NB101 describe) through run.py."""

import json
import os

import pytest

from tests.cli.conftest import read_jsonl, run

# run.py in a subprocess, end to end.
pytestmark = pytest.mark.e2e


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
