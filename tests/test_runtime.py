"""Process set-up in one place."""

import subprocess
import sys

import pytest

from jaxnas import runtime
from jaxnas.errors import JaxnasError


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


# --- several processes ------------------------------------------------------


def test_single_process_without_flags_or_cluster_environment():
  plan = runtime.plan_cluster(None, None, None, environ={})
  assert plan == runtime.Cluster() and not plan.several
  assert runtime.join(plan) == plan  # nothing to join


def test_explicit_cluster_flags():
  plan = runtime.plan_cluster('node0:1234', 4, 3, environ={})
  assert plan == runtime.Cluster('node0:1234', 4, 3) and plan.several


@pytest.mark.parametrize('environ, detected', [
    ({'SLURM_JOB_ID': '7', 'SLURM_STEP_NODELIST': 'n[1-2]',
      'SLURM_NTASKS': '2', 'SLURM_PROCID': '1'}, 'slurm'),
    # sbatch script itself (no srun step) or a one-task step: one process.
    ({'SLURM_JOB_ID': '7', 'SLURM_NTASKS': '2'}, None),
    ({'SLURM_JOB_ID': '7', 'SLURM_STEP_NODELIST': 'n1',
      'SLURM_NTASKS': '1'}, None),
    ({'OMPI_MCA_orte_hnp_uri': 'x', 'OMPI_COMM_WORLD_SIZE': '4'}, 'ompi'),
    ({'OMPI_MCA_orte_hnp_uri': 'x', 'OMPI_COMM_WORLD_SIZE': '1'}, None),
])
def test_cluster_environment_is_detected(environ, detected):
  plan = runtime.plan_cluster(None, None, None, environ=environ)
  if detected is None:
    assert plan == runtime.Cluster()
  else:  # jax.distributed.initialize() fills in the rest
    assert plan == runtime.Cluster('auto', None, None, detected)


@pytest.mark.parametrize('flags, message', [
    (('node0', 2, 0), r'--coordinator=node0: expected HOST:PORT'),
    (('node0:', 2, 0), r'--coordinator=node0:: expected HOST:PORT'),
    ((':123', 2, 0), r'--coordinator=:123: expected HOST:PORT'),
    (('node0:70000', 2, 0), r'--coordinator=node0:70000: expected HOST:PORT'),
    (('node0:1234', 2, 2), r'--process_id=2: outside \[0, 2\)'),
    (('node0:1234', 2, -1), r'--process_id=-1: outside \[0, 2\)'),
    (('node0:1234', 0, 0), r'--num_processes=0: must be >= 1'),
    (('node0:1234', None, 0), r'needs --num_processes=N and --process_id=I'),
    ((None, 2, 1), r'several processes need --coordinator'),
])
def test_bad_cluster_flags(flags, message):
  with pytest.raises(JaxnasError, match=message):
    runtime.plan_cluster(*flags, environ={})
