"""--mode=describe (NB201; NB101 in test_enumerate)."""

import os

import pytest

from jaxnas.spaces.nb201 import spec
from tests.cli.conftest import read_jsonl, run

# run.py in a subprocess, end to end.
pytestmark = pytest.mark.e2e


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
