"""Tests of jaxnas.spaces.nb101 (NB101Space): the space as the engine and
searches see it, and how it is handed the enumeration."""

import os

import numpy as np
import pytest

from jaxnas.errors import SpecError
from jaxnas.spaces import nb101
from jaxnas.spaces.nb101 import enumeration
from jaxnas.spaces.nb101 import params
from jaxnas.spaces.nb101 import spec


def _conv_bn(k, c_in, c_out):
  return k * k * c_in * c_out + 2 * c_out


def test_space_param_count_and_describe():
  space = nb101.NB101Space()
  cell = space.parse('0100 input,output')
  assert space.param_count(cell) == params.param_count(cell)
  small = nb101.NB101Space(stem_channels=16, num_stacks=1, cells_per_stack=1)
  assert small.param_count(cell, num_classes=3) == (
      _conv_bn(3, 3, 16) + _conv_bn(1, 16, 16) + 16 * 3 + 3)
  info = space.describe(cell)
  assert info == {'key': cell.module_hash, 'num_vertices': 2,
                  'num_edges': 1}
  assert space.iso_key(cell) == cell.module_hash
  assert space.arch_id(cell) == int(cell.module_hash[:8], 16)
  assert space.parse(space.format(cell)) == cell


def test_space_sample_and_mutate():
  space = nb101.NB101Space()
  rng = np.random.default_rng(0)
  cells = space.sample(rng, 5)
  assert len(cells) == 5 and all(isinstance(c, spec.Cell) for c in cells)
  child = space.mutate(cells[0], rng)
  assert child.module_hash != cells[0].module_hash


def test_space_uses_enumeration_file(tmp_path):
  path = str(tmp_path / 'cells.npz')
  small = enumeration.enumerate_cells(max_vertices=4)
  enumeration.save_enumeration(path, small)
  space = nb101.NB101Space(cells_path=path)
  assert space.enumeration_path() == path
  cells = space.enumerate()
  assert [c.module_hash for c in cells] == list(small.hashes)
  drawn = space.with_enumeration().sample(np.random.default_rng(1), 20)
  assert {c.module_hash for c in drawn} <= set(small.hashes)


def test_enumeration_is_loaded_explicitly(tmp_path, monkeypatch):
  path = str(tmp_path / 'cells.npz')
  small = enumeration.enumerate_cells(max_vertices=3)
  enumeration.save_enumeration(path, small)
  space = nb101.NB101Space(cells_path=path)
  # Nothing is loaded implicitly: sampling from a path alone is refused...
  with pytest.raises(SpecError, match='cells_path=.*holds no enumeration'):
    space.sample(np.random.default_rng(0), 1)
  # ... and each explicit call reads the file anew (no cache).
  first, second = space.enumeration(), space.enumeration()
  assert first is not second
  np.testing.assert_array_equal(first.hashes, small.hashes)
  # A space holding the table needs the file no more.
  held = space.with_enumeration()
  os.remove(path)
  assert held.enumeration() is held.cells
  assert [c.module_hash for c in held.enumerate()] == list(small.hashes)
  assert len(held.sample(np.random.default_rng(0), 3)) == 3
  # Handing over a table keeps the space's repr, equality and hash (its repr
  # keys stored results).
  assert repr(held) == repr(space)
  assert held == space and hash(held) == hash(space)
  direct = nb101.NB101Space(cells=small)
  assert direct.cells is small and direct.cells_path is None
  # The default file is fixed; no environment variable moves it.
  monkeypatch.setenv('JAXNAS_NB101_CELLS', str(tmp_path / 'elsewhere.npz'))
  assert nb101.NB101Space().enumeration_path() == os.path.expanduser(
      os.path.join('~', '.cache', 'jaxnas', 'nb101_cells.npz'))
