"""The command line: one-line errors, exit code 2."""

import numpy as np
import pytest

from tests.cli.conftest import run

# run.py in a subprocess, end to end.
pytestmark = pytest.mark.e2e


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
