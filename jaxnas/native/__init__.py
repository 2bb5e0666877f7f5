"""Native (C++) CPU kernels called from XLA through the FFI.

One kernel for now: the NASWOT code kernel (``naswot_gram.cc``), which packs
the binary ReLU codes into 64-bit words and counts agreements with XOR and
popcount. On this project's 2-core CPU it computes a ``[128, 16384]`` kernel
in 0.4 ms against 14 ms for the best XLA:CPU formulation (a float32 Gram
product), with bit-identical results (see BUILD_NOTES.md).

The library is compiled on first use with the system C++ compiler (``$CXX``
or ``c++``/``g++``) against the XLA FFI headers that jaxlib ships, for the
host CPU (``-march=native``), into ``$JAXNAS_CACHE_DIR`` (default
``~/.cache/jaxnas``)/native, keyed by the source, the flags, the jaxlib
version and the CPU. If there is no compiler or the build fails, callers use
the XLA formulation instead and one line on stderr says why.
``JAXNAS_NATIVE=0`` turns the kernels off.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading

import jax
import jax.numpy as jnp

_HERE = os.path.dirname(os.path.abspath(__file__))
_SOURCE = os.path.join(_HERE, 'naswot_gram.cc')
_TARGET = 'jaxnas_naswot_gram'
_FLAGS = ('-O3', '-march=native', '-std=c++17', '-shared', '-fPIC', '-w')

_lock = threading.Lock()
_state: dict = {}


def _cpu_signature() -> str:
  try:
    with open('/proc/cpuinfo') as f:
      lines = [l for l in f if l.startswith(('model name', 'flags'))]
    return ''.join(sorted(set(lines)))
  except OSError:
    return platform.processor() or platform.machine()


def _compiler() -> str | None:
  for name in (os.environ.get('CXX'), 'c++', 'g++', 'clang++'):
    if name and shutil.which(name):
      return shutil.which(name)
  return None


def _cache_dir() -> str:
  root = os.environ.get('JAXNAS_CACHE_DIR',
                        os.path.join(os.path.expanduser('~'), '.cache',
                                     'jaxnas'))
  return os.path.join(root, 'native')


def _build() -> str:
  """Path of the compiled library, building it if needed; raises on failure."""
  cxx = _compiler()
  if cxx is None:
    raise RuntimeError('no C++ compiler found (set $CXX)')
  include = jax.ffi.include_dir()
  with open(_SOURCE, 'rb') as f:
    source = f.read()
  key = hashlib.sha256(b'\0'.join([
      source, ' '.join(_FLAGS).encode(), cxx.encode(),
      jax.__version__.encode(), include.encode(),
      _cpu_signature().encode()])).hexdigest()[:16]
  out_dir = _cache_dir()
  path = os.path.join(out_dir, f'naswot_gram-{key}.so')
  if os.path.exists(path):
    return path
  os.makedirs(out_dir, exist_ok=True)
  fd, tmp = tempfile.mkstemp(suffix='.so', dir=out_dir)
  os.close(fd)
  try:
    cmd = [cxx, *_FLAGS, '-I', include, _SOURCE, '-o', tmp]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode:
      last = (proc.stderr.strip().splitlines() or ['(no output)'])[-1]
      raise RuntimeError(f'{os.path.basename(cxx)} failed '
                         f'(exit {proc.returncode}): {last}')
    os.replace(tmp, path)  # atomic: concurrent builders agree
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
  return path


def naswot_gram_available() -> bool:
  """Whether the native NASWOT kernel is registered with XLA (CPU).

  Builds and registers it on the first call; later calls are free. False
  when ``JAXNAS_NATIVE=0``, off Linux/x86-64, or when the build fails (the
  reason goes to stderr once).
  """
  with _lock:
    if _TARGET in _state:
      return _state[_TARGET]
    ok = False
    if os.environ.get('JAXNAS_NATIVE', '1') == '0':
      pass
    elif sys.platform != 'linux' or platform.machine() not in ('x86_64',
                                                              'AMD64'):
      print(f'jaxnas: native NASWOT kernel not built on {sys.platform}/'
            f'{platform.machine()}; using the XLA formulation',
            file=sys.stderr)
    else:
      try:
        lib = ctypes.cdll.LoadLibrary(_build())
        jax.ffi.register_ffi_target(
            _TARGET, jax.ffi.pycapsule(lib.JaxnasNaswotGram), platform='cpu')
        ok = True
      except (OSError, RuntimeError, subprocess.SubprocessError) as e:
        print(f'jaxnas: native NASWOT kernel unavailable ({e}); using the '
              f'XLA formulation', file=sys.stderr)
    _state[_TARGET] = ok
    return ok


def naswot_gram(x: jax.Array, unit_mask: jax.Array) -> jax.Array:
  """Agreement counts of the codes ``x > 0``: f32 ``[B, N]``, ``[N]`` -> s32
  ``[B, B]`` over the units where ``unit_mask > 0``. CPU only; call
  :func:`naswot_gram_available` first."""
  b = x.shape[0]
  return jax.ffi.ffi_call(_TARGET, jax.ShapeDtypeStruct((b, b), jnp.int32),
                          vmap_method='sequential')(x, unit_mask)
