"""Process set-up before JAX starts: devices, compilation cache, logging.

:func:`setup` is the one place that touches process-wide settings; ``run.py``
calls it once after parsing flags, and a notebook can call it first thing:

  from jaxnas import runtime
  runtime.setup(cpu_devices=2)

The CPU device count must be set before JAX creates its backends (the first
computation or device query); :func:`setup` says so if it is too late.
"""

from __future__ import annotations

import logging
import os
import sys


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
