"""Shared fixtures: reference data (JAXNAS_REFERENCE_DATA) and tiny inputs."""

import gc
import os
import tempfile

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
# Tests compile many small programs and run each once: LLVM optimisation
# off makes XLA:CPU compile 2-3x faster (the same values to float32
# round-off). Set before JAX starts its backend; the run.py subprocesses of
# tests/cli inherit it. Benchmarks and runs keep XLA's default.
if '--xla_backend_optimization_level' not in os.environ.get('XLA_FLAGS', ''):
  os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                             ' --xla_backend_optimization_level=0').strip()

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import numpy as np
import pytest

# One persistent XLA cache for the whole session, shared with the run.py
# subprocesses the workflow tests start: the tiny test network compiles once.
CACHE_DIR = os.environ.setdefault(
    'JAXNAS_COMPILATION_CACHE', tempfile.mkdtemp(prefix='jaxnas-xla-'))
jax.config.update('jax_compilation_cache_dir', CACHE_DIR)
jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)


@pytest.fixture(autouse=True, scope='module')
def release_compiled_programs():
  """Drops JAX's compiled programs after each test module. XLA:CPU maps
  three memory areas per compiled kernel and the kernel maps stay while a
  program is cached: over the whole suite they passed Linux's limit of
  65,530 maps per process (vm.max_map_count) and a late compile
  segfaulted."""
  yield
  jax.clear_caches()
  gc.collect()


# Tests that share an expensive session fixture run in one pytest-xdist
# worker (pyproject: --dist loadgroup); any other test runs with its module,
# so module fixtures are made once.
SHARED_FIXTURE_GROUPS = {'suite': 'proxies-suite',
                         'loss_grads': 'proxies-suite',
                         'zico_az': 'proxies-zico-az'}


SLOW_TESTS = 'JAXNAS_SLOW_TESTS'


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config, items):
  del config
  run_slow = os.environ.get(SLOW_TESTS, '') not in ('', '0')
  for item in items:
    names = set(getattr(item, 'fixturenames', ()))
    group = next((g for f, g in SHARED_FIXTURE_GROUPS.items() if f in names),
                 item.module.__name__)
    item.add_marker(pytest.mark.xdist_group(group))
    if not run_slow and item.get_closest_marker('slow'):
      item.add_marker(pytest.mark.skip(
          reason=f'slow: set {SLOW_TESTS}=1 to run it'))


# The tiny network every compiling test uses (so the cache is shared).
TINY = dict(channels=2, cells_per_stage=1)


def reference_file(name: str) -> str:
  """Path of a reference data file; skips if the variable is unset, fails if
  it is set but the file is missing."""
  root = os.environ.get('JAXNAS_REFERENCE_DATA')
  if not root:
    pytest.skip('JAXNAS_REFERENCE_DATA is not set (reference data tests)')
  path = os.path.join(root, name)
  if not os.path.exists(path):
    pytest.fail(f'JAXNAS_REFERENCE_DATA={root} has no {name}')
  return path


@pytest.fixture
def tiny_images():
  """Six 8x8 normalised RGB images (float32 NHWC), seeded."""
  rng = np.random.default_rng(0)
  return rng.normal(size=(6, 8, 8, 3)).astype(np.float32)


def write_npz(path, n=16, size=8, seed=0):
  """A small npz in the project's layout: uint8 NHWC images + labels."""
  rng = np.random.default_rng(seed)
  np.savez(path, images=rng.integers(0, 256, (n, size, size, 3), np.uint8),
           labels=rng.integers(0, 10, n))
  return str(path)
