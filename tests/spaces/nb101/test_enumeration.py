"""Tests of jaxnas.spaces.nb101.enumeration: all unique cells and their file
(pure numpy, no JAX)."""

import itertools

import numpy as np
import pytest

from jaxnas.errors import DataError, SpecError
from jaxnas.spaces.nb101 import enumeration
from jaxnas.spaces.nb101 import spec
from tests.spaces.nb101.helpers import IN, OUT


def _brute_force_hashes(max_vertices):
  """Hashes of every raw spec with <= max_vertices vertices, pruned."""
  hashes = set()
  memo = {}
  for n in range(2, max_vertices + 1):
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    for bits in itertools.product((0, 1), repeat=len(pairs)):
      m = np.zeros((n, n), dtype=np.int8)
      for (i, j), b in zip(pairs, bits):
        m[i, j] = b
      for inner in itertools.product(spec.OPS, repeat=n - 2):
        try:
          cell = spec.make_cell(m, (IN,) + inner + (OUT,))
        except SpecError:
          continue
        key = (cell.matrix.tobytes(), cell.ops)
        if key not in memo:
          memo[key] = cell.module_hash
        hashes.add(memo[key])
  return hashes


def test_enumeration_matches_brute_force():
  enum = enumeration.enumerate_cells(max_vertices=5)
  brute = _brute_force_hashes(5)
  assert len(brute) == 2532
  assert enum.num_cells == len(brute)
  assert set(enum.hashes.tolist()) == brute
  assert list(enum.hashes) == sorted(enum.hashes)
  np.testing.assert_array_equal(np.bincount(enum.num_vertices),
                                [0, 0, 1, 6, 84, 2441])
  for i in range(enum.num_cells):
    cell = enum.cell(i)
    assert cell.module_hash == enum.hashes[i]
    assert enum.find(enum.hashes[i]) == i
  assert enum.find('f' * 32) == -1
  hashes, num_vertices, bits, labels = enum  # It is a tuple of arrays.
  assert labels.shape == (2532, 7) and labels.dtype == np.int8
  assert bits.dtype == np.uint32 and num_vertices.dtype == np.uint8
  assert hashes.dtype.kind == 'U'


def test_enumeration_save_load(tmp_path):
  enum = enumeration.enumerate_cells(max_vertices=4)
  path = tmp_path / 'nb101.npz'
  enumeration.save_enumeration(path, enum)
  loaded = enumeration.load_enumeration(path)
  for a, b in zip(enum, loaded):
    np.testing.assert_array_equal(a, b)
  assert enumeration.load_or_enumerate(path).num_cells == 91
  with pytest.raises(DataError, match='does not exist'):
    enumeration.load_enumeration(tmp_path / 'missing.npz')
  bad = tmp_path / 'bad.npz'
  np.savez(bad, digests=np.zeros((2, 16), np.uint8))
  with pytest.raises(DataError, match='not a valid enumeration'):
    enumeration.load_enumeration(bad)
  with pytest.raises(SpecError, match='max_vertices=8'):
    enumeration.enumerate_cells(max_vertices=8)
