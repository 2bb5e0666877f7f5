"""Process set-up in one place."""

import subprocess
import sys

import pytest

from jaxnas import runtime


def _python(code):
  return subprocess.run([sys.executable, '-c', code], capture_output=True,
                        text=True, timeout=300)


def test_setup_sets_cpu_devices_before_jax_starts():
  proc = _python('from jaxnas import runtime\n'
                 'runtime.setup(cpu_devices=3, compilation_cache="")\n'
                 'import jax\nprint(jax.local_device_count())')
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.strip().splitlines()[-1] == '3'


def test_setup_after_jax_started_says_so():
  proc = _python('import jax\njax.devices()\nfrom jaxnas import runtime\n'
                 'runtime.setup(cpu_devices=3)')
  assert proc.returncode != 0
  assert 'call jaxnas.runtime.setup before any JAX work' in proc.stderr


def test_bad_device_count():
  with pytest.raises(ValueError, match='cpu_devices must be >= 1'):
    runtime.setup(cpu_devices=0)
