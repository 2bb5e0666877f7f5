"""The native NASWOT kernel: its values against brute force, and how it is
built, cached, turned off and replaced when it cannot be built."""

import os
import stat

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import native

needs_kernel = pytest.mark.skipif(
    not native.naswot_gram_available(),
    reason='native NASWOT kernel could not be built here (see stderr)')


def agreements(x, mask):
  """Brute force: for each pair of rows, the units (mask > 0) where both
  are on (> 0) or both off."""
  codes = x[:, mask > 0] > 0
  return np.array([[np.sum(a == b) for b in codes] for a in codes])


@needs_kernel
@pytest.mark.parametrize('units', [5, 64, 130])  # 130: a partial 64-bit word
def test_kernel_counts_agreements(units):
  rng = np.random.default_rng(units)
  x = rng.normal(size=(6, units)).astype(np.float32)
  x[1] = x[0]    # identical rows agree everywhere
  x[2] = 0.0     # zero is 'off'
  x[3] = -x[0]   # opposite rows agree nowhere (no exact zeros here)
  mask = (rng.random(units) > 0.3).astype(np.float32)
  got = np.asarray(jax.jit(native.naswot_gram)(jnp.asarray(x),
                                              jnp.asarray(mask)))
  assert got.dtype == np.int32
  np.testing.assert_array_equal(got, agreements(x, mask))
  assert got[0, 1] == mask.sum() and got[0, 3] == 0


@needs_kernel
def test_kernel_under_vmap_runs_each_input():
  rng = np.random.default_rng(7)
  xs = rng.normal(size=(3, 4, 20)).astype(np.float32)
  mask = np.ones(20, np.float32)
  got = np.asarray(jax.vmap(native.naswot_gram, (0, None))(
      jnp.asarray(xs), jnp.asarray(mask)))
  for x, k in zip(xs, got):
    np.testing.assert_array_equal(k, agreements(x, mask))


def test_native_kernel_can_be_turned_off(monkeypatch):
  monkeypatch.setattr(native, '_state', {})
  monkeypatch.setenv('JAXNAS_NATIVE', '0')
  assert not native.naswot_gram_available()


def test_failed_native_build_says_why_and_falls_back(monkeypatch, tmp_path,
                                                     capsys):
  monkeypatch.setattr(native, '_state', {})
  monkeypatch.setenv('JAXNAS_NATIVE', '1')
  monkeypatch.setenv('JAXNAS_CACHE_DIR', str(tmp_path))
  monkeypatch.setenv('CXX', '/bin/false')  # a "compiler" that always fails
  if (native.sys.platform, native.platform.machine()) != ('linux', 'x86_64'):
    pytest.skip('the kernel is only built on Linux x86-64')
  assert not native.naswot_gram_available()
  err = capsys.readouterr().err
  assert 'native NASWOT kernel unavailable' in err and 'false' in err
  assert not list(tmp_path.rglob('*.so'))  # no half-written library left
  assert not native.naswot_gram_available()  # the answer is kept...
  assert capsys.readouterr().err == ''  # ...and the reason said once


def test_other_platforms_use_the_xla_formulation(monkeypatch, capsys):
  monkeypatch.setattr(native, '_state', {})
  monkeypatch.setenv('JAXNAS_NATIVE', '1')
  monkeypatch.setattr(native.platform, 'machine', lambda: 'aarch64')
  assert not native.naswot_gram_available()
  assert 'native NASWOT kernel not built on' in capsys.readouterr().err


def fake_compiler(path, log):
  """A shell script that 'compiles' by writing its -o file, and logs."""
  path.write_text('#!/bin/sh\n'
                  f'echo run >> {log}\n'
                  'while [ $# -gt 1 ]; do\n'
                  '  if [ "$1" = "-o" ]; then echo lib > "$2"; fi\n'
                  '  shift\n'
                  'done\n')
  path.chmod(path.stat().st_mode | stat.S_IEXEC)
  return str(path)


def test_the_library_is_built_once_per_compiler(monkeypatch, tmp_path):
  log = tmp_path / 'runs.log'
  monkeypatch.setenv('JAXNAS_CACHE_DIR', str(tmp_path / 'cache'))
  monkeypatch.setenv('CXX', fake_compiler(tmp_path / 'cxx_a', log))
  first = native._build()
  assert os.path.dirname(first) == str(tmp_path / 'cache' / 'native')
  assert os.path.basename(first).startswith('naswot_gram-')
  assert native._build() == first  # cached: the compiler is not run again
  assert log.read_text().split() == ['run']
  monkeypatch.setenv('CXX', fake_compiler(tmp_path / 'cxx_b', log))
  second = native._build()  # another compiler: another library
  assert second != first and os.path.exists(second)
  assert log.read_text().split() == ['run', 'run']
  # Only the finished libraries remain (no temporary files).
  assert sorted(os.listdir(tmp_path / 'cache' / 'native')) == sorted(
      [os.path.basename(first), os.path.basename(second)])


def test_compiler_and_cache_dir_choices(monkeypatch, tmp_path):
  monkeypatch.setenv('CXX', '/bin/true')
  assert native._compiler() == '/bin/true'
  monkeypatch.setenv('JAXNAS_CACHE_DIR', str(tmp_path))
  assert native._cache_dir() == os.path.join(str(tmp_path), 'native')
  monkeypatch.delenv('JAXNAS_CACHE_DIR')
  monkeypatch.setenv('HOME', str(tmp_path / 'home'))
  assert native._cache_dir() == os.path.join(str(tmp_path), 'home', '.cache',
                                             'jaxnas', 'native')
  monkeypatch.setenv('CXX', 'no-such-compiler-anywhere')
  monkeypatch.setenv('PATH', str(tmp_path))  # nothing to find
  assert native._compiler() is None
  with pytest.raises(RuntimeError, match=r'no C\+\+ compiler found'):
    native._build()
