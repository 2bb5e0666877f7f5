"""Orbax checkpoints of a training run, and what makes a run the same run.

``DIR/checkpoints/<step>/`` holds the population's whole state (every
network's parameters, BN running statistics, optimiser state and step
counter, as host arrays) written with orbax's ``CheckpointManager``
(synchronously; orbax writes into a temporary directory and renames it, so
a run killed mid-save leaves the previous checkpoint intact). The data
stream is a function of the step (:mod:`jaxnas.train.input`), so the state
is all a resumed run needs to continue exactly where the killed one was.

``DIR/checkpoints/run.json`` records the run's identity (architectures and
their layout, seeds, recipe, data fingerprint, schedule length, network):
a rerun with another identity into the same directory is refused, not
silently mixed.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxnas.errors import JaxnasError

PyTree = Any


class Checkpointer:
  """Saves and restores a run's state under ``directory``.

  Args:
    directory: the checkpoint directory (created).
    identity: JSON-able description of the run; must match the one already
      there, if any.
    keep: checkpoints kept (the newest).
  """

  def __init__(self, directory: str, identity: dict[str, Any],
               keep: int = 2):
    self.directory = os.path.abspath(directory)
    os.makedirs(self.directory, exist_ok=True)
    self._check_identity(identity)
    self._manager = ocp.CheckpointManager(
        self.directory, options=ocp.CheckpointManagerOptions(
            max_to_keep=keep, enable_async_checkpointing=False, create=True,
            cleanup_tmp_directories=True))

  def _check_identity(self, identity: dict[str, Any]) -> None:
    path = os.path.join(self.directory, 'run.json')
    identity = json.loads(json.dumps(identity))  # tuples -> lists
    if os.path.exists(path):
      with open(path) as f:
        held = json.load(f)
      differ = sorted(k for k in set(held) | set(identity)
                      if held.get(k) != identity.get(k))
      if differ:
        raise JaxnasError(
            f'{self.directory} holds checkpoints of a different run '
            f'({", ".join(differ)} differ); use another --output or remove '
            'it')
      return
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
      json.dump(identity, f, indent=2)
    os.replace(tmp, path)

  def latest_step(self) -> int | None:
    """The step of the newest complete checkpoint, or None."""
    return self._manager.latest_step()

  def save(self, step: int, state: PyTree) -> None:
    """Writes ``state`` (device or host arrays) as checkpoint ``step``."""
    host = jax.tree.map(np.asarray, jax.device_get(state))
    self._manager.save(step, args=ocp.args.StandardSave(host), force=True)
    self._manager.wait_until_finished()

  def restore(self, step: int, like: PyTree) -> PyTree:
    """Checkpoint ``step`` as host arrays in the structure of ``like`` (a
    state of the same run, e.g. a fresh one)."""
    target = jax.tree.map(lambda x: np.zeros(x.shape, x.dtype), like)
    return self._manager.restore(step, args=ocp.args.StandardRestore(target))

  def close(self) -> None:
    self._manager.close()
