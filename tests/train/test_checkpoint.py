"""Checkpoints: a saved state comes back bit for bit, the newest is found,
old ones are dropped, and another run's directory is refused."""

import numpy as np
import pytest

from jaxnas.errors import JaxnasError
from jaxnas.train.checkpoint import Checkpointer

IDENTITY = {'archs': ['a', 'b'], 'seeds': 2, 'recipe': {'lr': 0.1}}


def _state(value):
  rng = np.random.default_rng(value)
  return {'params': {'w': rng.normal(size=(3, 4)).astype(np.float32)},
          'step': np.int32(value), 'sums': np.arange(4.0) * value}


def test_save_restore_latest_and_keep(tmp_path):
  ckpt = Checkpointer(str(tmp_path), IDENTITY, keep=2)
  assert ckpt.latest_step() is None
  for step in (5, 10, 15):
    ckpt.save(step, _state(step))
  assert ckpt.latest_step() == 15
  ckpt.close()
  again = Checkpointer(str(tmp_path), IDENTITY, keep=2)
  assert again.latest_step() == 15
  held = again.restore(15, _state(0))
  want = _state(15)
  np.testing.assert_array_equal(held['params']['w'], want['params']['w'])
  assert held['params']['w'].dtype == np.float32
  assert int(held['step']) == 15
  np.testing.assert_array_equal(held['sums'], want['sums'])
  with pytest.raises(Exception):
    again.restore(5, _state(0))  # only the newest two are kept
  np.testing.assert_array_equal(again.restore(10, _state(0))['sums'],
                                _state(10)['sums'])
  again.close()


def test_another_runs_directory_is_refused_naming_what_differs(tmp_path):
  Checkpointer(str(tmp_path), IDENTITY).close()
  other = dict(IDENTITY, seeds=3)
  with pytest.raises(JaxnasError, match=r'different run \(seeds differ\)'):
    Checkpointer(str(tmp_path), other)
  # Tuples and lists are the same identity (it is stored as JSON).
  Checkpointer(str(tmp_path), dict(IDENTITY, archs=('a', 'b'))).close()
