"""Results store (SQLite, stdlib) and the JSON-lines log beside it.

Every score is committed to SQLite the moment it exists, keyed by everything
that determines it (space, arch, proxy, seed, data fingerprint, inits and the
network/init configuration), so a rerun of the same command skips what is
stored and a run killed at any point loses nothing already computed.

``scores.jsonl`` is written after the store: on start, :class:`JsonlLog`
drops a torn last line and remembers which records it holds, and the caller
appends the stored records it lacks, so after a kill and a rerun every
architecture appears exactly once.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Any, Iterable

from jaxnas.errors import JaxnasError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
  space TEXT NOT NULL,
  arch TEXT NOT NULL,
  proxy TEXT NOT NULL,
  seed INTEGER NOT NULL,
  data TEXT NOT NULL,
  inits INTEGER NOT NULL,
  config TEXT NOT NULL,
  record TEXT NOT NULL,
  created REAL NOT NULL,
  PRIMARY KEY (space, arch, proxy, seed, data, inits, config)
)
"""
_COLUMNS = ['space', 'arch', 'proxy', 'seed', 'data', 'inits', 'config',
            'record', 'created']


class StoreError(JaxnasError):
  """The results store cannot be used (unreadable, damaged, foreign)."""


def open_or_rebuild(path: str, log) -> tuple['Store', bool]:
  """The store at ``path``; a damaged one is moved aside (kept, renamed
  ``PATH.damaged-<time>``) and replaced by an empty store, which the caller
  refills from its JSON-lines log. Returns ``(store, rebuilt)``.

  Raises:
    StoreError: when the path cannot be used at all (e.g. an unwritable
      directory).
  """
  try:
    return Store(path), False
  except StoreError as e:
    if not os.path.isfile(path):
      raise
    aside = f'{path}.damaged-{int(time.time())}'
    os.replace(path, aside)
    for suffix in ('-wal', '-shm'):
      if os.path.exists(path + suffix):
        os.replace(path + suffix, aside + suffix)
    log(f'WARNING: {e}; moved it to {aside} and rebuilding the store from '
        'the results already in scores.jsonl')
    return Store(path), True


class Store:
  """A table of proxy results; one row per (space, arch, proxy, ...).

  Raises:
    StoreError: one line naming the file, when it cannot be opened or is
      not a jaxnas store (e.g. a damaged header).
  """

  def __init__(self, path: str):
    directory = os.path.dirname(os.path.abspath(path))
    try:
      os.makedirs(directory, exist_ok=True)
    except OSError as e:
      raise StoreError(f'results store {path}: cannot create its directory '
                       f'({e.strerror})') from None
    self.path = path
    try:
      self._db = sqlite3.connect(path)
      self._db.execute('PRAGMA journal_mode=WAL')
      self._db.execute('PRAGMA synchronous=NORMAL')
      self._db.execute(_SCHEMA)
      self._db.commit()
      columns = [r[1] for r in self._db.execute('PRAGMA table_info(results)')]
    except sqlite3.Error as e:
      raise StoreError(f'results store {path}: {e}') from None
    if columns != _COLUMNS:
      raise StoreError(f'results store {path}: not a jaxnas store (table '
                       f'"results" has columns {columns})')

  def close(self) -> None:
    self._db.close()

  def get(self, space: str, arch: str, proxy: str, seed: int, data: str,
          inits: int, config: str) -> dict[str, Any] | None:
    row = self._db.execute(
        'SELECT record FROM results WHERE space=? AND arch=? AND proxy=? AND '
        'seed=? AND data=? AND inits=? AND config=?',
        (space, arch, proxy, seed, data, inits, config)).fetchone()
    return None if row is None else json.loads(row[0])

  def get_all(self, space: str, proxy: str, seed: int, data: str, inits: int,
              config: str) -> dict[str, dict[str, Any]]:
    """All stored records of one configuration, by arch."""
    rows = self._db.execute(
        'SELECT arch, record FROM results WHERE space=? AND proxy=? AND '
        'seed=? AND data=? AND inits=? AND config=?',
        (space, proxy, seed, data, inits, config))
    return {arch: json.loads(rec) for arch, rec in rows}

  def put(self, space: str, arch: str, proxy: str, seed: int, data: str,
          inits: int, config: str, record: dict[str, Any]) -> None:
    """Stores one result and commits at once."""
    self._db.execute(
        'INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        (space, arch, proxy, seed, data, inits, config,
         json.dumps(record, allow_nan=False), time.time()))
    self._db.commit()



class JsonlLog:
  """Append-only JSON lines with a key per record, robust to torn writes."""

  def __init__(self, path: str, key_fields: Iterable[str]):
    self.path = path
    self.key_fields = tuple(key_fields)
    self.keys: set[tuple] = set()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if os.path.exists(path):
      self._recover()

  def key(self, record: dict[str, Any]) -> tuple:
    return tuple(json.dumps(record.get(f), sort_keys=True)
                 for f in self.key_fields)

  def _recover(self) -> None:
    with open(self.path, 'rb') as f:
      data = f.read()
    good = data[:data.rfind(b'\n') + 1]  # drop a torn last line
    if len(good) != len(data):
      with open(self.path, 'wb') as f:
        f.write(good)
    for line in good.decode().splitlines():
      if line.strip():
        self.keys.add(self.key(json.loads(line)))

  def __contains__(self, record: dict[str, Any]) -> bool:
    return self.key(record) in self.keys

  def append(self, record: dict[str, Any]) -> None:
    line = json.dumps(record, allow_nan=False) + '\n'
    with open(self.path, 'a') as f:
      f.write(line)
      f.flush()
      os.fsync(f.fileno())
    self.keys.add(self.key(record))

  def extend(self, records: list[dict[str, Any]]) -> None:
    """Appends several records with one write and one fsync."""
    if not records:
      return
    text = ''.join(json.dumps(r, allow_nan=False) + '\n' for r in records)
    with open(self.path, 'a') as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
    self.keys.update(self.key(r) for r in records)
