"""Process set-up before JAX starts: devices, compilation cache, logging.

:func:`setup` is the one place that touches process-wide settings; ``run.py``
calls it once after parsing flags, and a notebook can call it first thing:

  from jaxnas import runtime
  runtime.setup(cpu_devices=2)

The CPU device count must be set before JAX creates its backends (the first
computation or device query); :func:`setup` says so if it is too late.

Several processes: :func:`plan_cluster` checks ``--coordinator``,
``--num_processes``, ``--process_id`` (or sees a SLURM / Open MPI job) and
:func:`join` joins the ``jax.distributed`` cluster, after :func:`setup`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys

from jaxnas.errors import JaxnasError


def backends_started() -> bool:
  """Whether JAX has already created its backends in this process."""
  if 'jax' not in sys.modules:
    return False
  from jax._src import xla_bridge  # pylint: disable=g-import-not-at-top
  return bool(xla_bridge._backends)  # pylint: disable=protected-access


def setup(cpu_devices: int | None = None, compilation_cache: str | None = None,
          log_level: str = 'warning') -> None:
  """Sets up the process for jaxnas.

  Args:
    cpu_devices: split the host CPU into this many XLA devices (JAX's
      ``jax_num_cpu_devices``); None leaves JAX's default.
    compilation_cache: persistent XLA compilation cache directory ('' or
      None: off). A second process skips most compile time.
    log_level: absl / Python logging level of jaxnas's dependencies.

  Raises:
    RuntimeError: if ``cpu_devices`` is given after JAX started its
      backends (with a different count).
  """
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  import jax  # pylint: disable=g-import-not-at-top
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  absl_logging.set_verbosity(log_level)
  logging.getLogger('jax').setLevel(log_level.upper())
  if cpu_devices is not None:
    if cpu_devices < 1:
      raise ValueError(f'cpu_devices must be >= 1, got {cpu_devices}')
    if backends_started():
      have = jax.config.jax_num_cpu_devices
      if have != cpu_devices and len(jax.devices('cpu')) != cpu_devices:
        raise RuntimeError(f'cpu_devices={cpu_devices}: JAX already started '
                           f'with {len(jax.devices("cpu"))} CPU device(s); '
                           'call jaxnas.runtime.setup before any JAX work')
    else:
      jax.config.update('jax_num_cpu_devices', cpu_devices)
  if compilation_cache:
    path = os.path.expanduser(compilation_cache)
    jax.config.update('jax_compilation_cache_dir', path)
    jax.config.update('jax_persistent_cache_min_compile_time_secs', 1.0)


# ---------------------------------------------------------------------------
# Several processes (jax.distributed).


@dataclasses.dataclass(frozen=True)
class Cluster:
  """This process's place in a run: process ``process_id`` of
  ``num_processes``. ``coordinator`` is the HOST:PORT jax.distributed was
  given ('auto': jax detected it; None: a single process, no cluster);
  ``detected`` names the environment that asked for a cluster
  (``slurm``, ``ompi``) when no flag did."""
  coordinator: str | None = None
  num_processes: int | None = 1
  process_id: int | None = 0
  detected: str | None = None

  @property
  def several(self) -> bool:
    return (self.num_processes or 1) > 1


def _environment_cluster(environ) -> str | None:
  """'slurm' / 'ompi' when the environment describes a job of several
  tasks that jax 0.5.3's ``jax.distributed.initialize()`` detects by itself
  (``jax/_src/clusters``: SLURM via SLURM_JOB_ID with the srun step's
  SLURM_STEP_NODELIST, SLURM_NTASKS, SLURM_PROCID; Open MPI via
  OMPI_MCA_orte_hnp_uri, OMPI_COMM_WORLD_SIZE/RANK); None otherwise. A
  one-task job (e.g. an sbatch script running python directly) stays a
  single process."""
  def count(name: str) -> int:
    try:
      return int(environ.get(name, '1'))
    except ValueError:
      return 1
  if ('SLURM_JOB_ID' in environ and 'SLURM_STEP_NODELIST' in environ and
      count('SLURM_NTASKS') > 1):
    return 'slurm'
  if 'OMPI_MCA_orte_hnp_uri' in environ and count('OMPI_COMM_WORLD_SIZE') > 1:
    return 'ompi'
  return None


def plan_cluster(coordinator: str | None, num_processes: int | None,
                 process_id: int | None, environ=None) -> Cluster:
  """Checks the cluster flags and decides whether this process joins one.

  ``--coordinator=HOST:PORT --num_processes=N --process_id=I`` joins
  explicitly; ``--coordinator=auto`` lets jax detect what is unset (e.g. on
  a Cloud TPU pod); without flags, a SLURM or Open MPI job of several tasks
  joins through jax's detection (see :func:`_environment_cluster`).

  Returns:
    The plan (``num_processes`` and ``process_id`` are None where jax will
    detect them; :func:`join` fills them in).

  Raises:
    JaxnasError: one line naming the bad flag.
  """
  environ = os.environ if environ is None else environ
  if num_processes is not None and num_processes < 1:
    raise JaxnasError(f'--num_processes={num_processes}: must be >= 1')
  if (process_id is not None and num_processes is not None and
      not 0 <= process_id < num_processes):
    raise JaxnasError(f'--process_id={process_id}: outside [0, '
                      f'{num_processes}) (--num_processes={num_processes})')
  if process_id is not None and process_id < 0:
    raise JaxnasError(f'--process_id={process_id}: must be >= 0')
  if coordinator is None:
    if (num_processes or 1) > 1 or (process_id or 0) > 0:
      raise JaxnasError(f'--num_processes={num_processes} --process_id='
                        f'{process_id}: several processes need '
                        '--coordinator=HOST:PORT (process 0\'s address) or '
                        '--coordinator=auto')
    detected = _environment_cluster(environ)
    if detected is None:
      return Cluster()
    return Cluster('auto', None, None, detected)
  if coordinator == 'auto':
    return Cluster('auto', num_processes, process_id)
  host, sep, port = coordinator.rpartition(':')
  if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
    raise JaxnasError(f'--coordinator={coordinator}: expected HOST:PORT '
                      '(e.g. node0:12345, port 1-65535) or auto')
  if num_processes is None or process_id is None:
    raise JaxnasError(f'--coordinator={coordinator}: needs --num_processes=N '
                      'and --process_id=I too')
  return Cluster(coordinator, num_processes, process_id)


def join(plan: Cluster) -> Cluster:
  """Joins the jax.distributed cluster of ``plan`` (nothing for a single
  process); call after :func:`setup`, before any JAX work. Every process
  keeps computing on its own local devices only (``jax.local_devices()``):
  the cluster gives each its index and the count, and jax's health
  checking ends the others if one dies.

  Returns:
    The cluster as joined (detected values filled in).
  """
  if plan.coordinator is None:
    return plan
  import jax  # pylint: disable=g-import-not-at-top
  if backends_started():
    raise RuntimeError('jaxnas.runtime.join: JAX already started its '
                       'backends; join the cluster before any JAX work')
  try:
    jax.distributed.initialize(
        coordinator_address=(None if plan.coordinator == 'auto' else
                             plan.coordinator),
        num_processes=plan.num_processes, process_id=plan.process_id)
  except ValueError as e:  # jax found no cluster to fill in the rest
    if plan.coordinator != 'auto':
      raise
    raise JaxnasError(f'--coordinator=auto: jax.distributed.initialize '
                      f'could not detect a cluster ({e})') from e
  return dataclasses.replace(plan, num_processes=jax.process_count(),
                             process_id=jax.process_index())
