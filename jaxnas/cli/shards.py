"""Several processes, one output directory: shares, shards and the merge.

A run of N processes (``--num_processes``, see :mod:`jaxnas.runtime`) splits
its architectures deterministically: the distinct names, in the run's
order, go to process ``index % N``. Process I scores its share on its own
local devices into its own shard, ``OUTPUT/shards/I-of-N/`` (a private
SQLite store and a ``scores.jsonl``, the single-process machinery
unchanged), then writes ``done.json`` naming what it finished (a
fingerprint of the settings and of its share). Every process waits until
all N markers name this run's shares; process 0 then merges the shard
logs, in the run's order, into the one ``OUTPUT/scores.jsonl`` and the one
store. Nothing is shared while scoring but plain files, each written by
one process, so any shared filesystem (NFS on a GPU cluster, a TPU pod's
mounted bucket) will do; see BUILD_NOTES.md ("Scale").

A rerun of the same command resumes each share from its shard (and from a
merged ``scores.jsonl`` of an earlier run), so nothing is scored twice.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from typing import Any, Sequence

from jaxnas.errors import JaxnasError

POLL_SECONDS = 0.5


def shares(names: Sequence[str], num_processes: int) -> list[list[str]]:
  """Process i's share: ``names[i::num_processes]`` (``names`` distinct,
  in the run's order)."""
  return [list(names[i::num_processes]) for i in range(num_processes)]


def fingerprint(identity: Any, share: Sequence[str]) -> str:
  """What a done marker certifies: these settings scored this share."""
  text = json.dumps([identity, list(share)], sort_keys=True)
  return hashlib.sha256(text.encode()).hexdigest()


def read_complete_jsonl(path: str) -> list[dict[str, Any]]:
  """The complete lines of a JSON-lines file another process may be
  appending to (an unterminated last line is left out); [] if absent."""
  if not os.path.exists(path):
    return []
  with open(path, 'rb') as f:
    data = f.read()
  data = data[:data.rfind(b'\n') + 1]
  out = []
  for n, line in enumerate(data.decode().splitlines(), 1):
    if line.strip():
      try:
        out.append(json.loads(line))
      except json.JSONDecodeError as e:
        raise JaxnasError(f'{path}:{n}: not a JSON line ({e.msg})') from None
  return out


@dataclasses.dataclass(frozen=True)
class Shards:
  """The shard files of process ``process_id`` of ``num_processes`` under
  ``output``."""
  output: str
  num_processes: int
  process_id: int

  def dir(self, i: int) -> str:
    return os.path.join(self.output, 'shards',
                        f'{i}-of-{self.num_processes}')

  def log_path(self, i: int) -> str:
    return os.path.join(self.dir(i), 'scores.jsonl')

  @property
  def store_path(self) -> str:
    return os.path.join(self.dir(self.process_id), 'store.sqlite')

  def _marker(self, i: int) -> str:
    return os.path.join(self.dir(i), 'done.json')

  def mark_done(self, fp: str, count: int) -> None:
    """Says (atomically) that this process's share is scored."""
    path = self._marker(self.process_id)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f'{path}.tmp'
    with open(tmp, 'w') as f:
      json.dump({'fingerprint': fp, 'archs': count,
                 'time': time.time()}, f)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)

  def done(self, i: int, fp: str) -> bool:
    """Whether process i's marker certifies the share ``fp``."""
    try:
      with open(self._marker(i)) as f:
        return json.load(f).get('fingerprint') == fp
    except (FileNotFoundError, json.JSONDecodeError):
      return False  # absent, or (on some filesystems) seen mid-replace

  def wait_all(self, fps: Sequence[str], log, every: float) -> None:
    """Returns once every process's marker certifies its share.

    There is no timeout of its own: if a process dies, jax.distributed's
    health checking ends this one (after its heartbeat timeout, 100 s in
    jax 0.5.3), and a rerun of the command resumes every share.
    """
    last = time.monotonic()
    while True:
      waiting = [i for i, fp in enumerate(fps) if not self.done(i, fp)]
      if not waiting:
        return
      if time.monotonic() - last >= every:
        last = time.monotonic()
        log(f'process {self.process_id}: waiting for process(es) '
            f'{waiting[:8]}{"..." if len(waiting) > 8 else ""} to finish '
            'their shares')
      time.sleep(POLL_SECONDS)
