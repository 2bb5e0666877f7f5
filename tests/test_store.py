"""Tests of jaxnas.store: the SQLite store and the JSON-lines log."""

import json
import sqlite3

import pytest

from jaxnas.store import JsonlLog, Store, StoreError, open_or_rebuild


def test_store_roundtrip_and_persistence(tmp_path):
  path = str(tmp_path / 's.sqlite')
  st = Store(path)
  st.put('nb201', 'a', 'naswot', 0, 'fp', 1, 'cfg', {'value': 1.5})
  st.close()
  st = Store(path)
  assert st.get('nb201', 'a', 'naswot', 0, 'fp', 1, 'cfg') == {'value': 1.5}
  assert st.get('nb201', 'a', 'naswot', 1, 'fp', 1, 'cfg') is None
  assert st.get_all('nb201', 'naswot', 0, 'fp', 1, 'cfg') == {
      'a': {'value': 1.5}}
  with pytest.raises(ValueError):  # NaN is never stored as a number
    st.put('nb201', 'b', 'naswot', 0, 'fp', 1, 'cfg', {'value': float('nan')})


def test_jsonl_log_drops_torn_line(tmp_path):
  path = str(tmp_path / 'scores.jsonl')
  with open(path, 'w') as f:
    f.write(json.dumps({'arch': 'a', 'seed': 0}) + '\n')
    f.write('{"arch": "b", "se')  # killed mid-write
  log = JsonlLog(path, ('arch', 'seed'))
  assert {'arch': 'a', 'seed': 0} in log
  assert {'arch': 'b', 'seed': 0} not in log
  log.append({'arch': 'b', 'seed': 0})
  with open(path) as f:
    lines = [json.loads(l) for l in f]
  assert [l['arch'] for l in lines] == ['a', 'b']


def test_damaged_store_is_one_line_error_or_rebuilt(tmp_path):
  path = tmp_path / 's.sqlite'
  store = Store(str(path))
  store.put('nb201', 'a', 'naswot', 0, 'fp', 1, 'cfg', {'v': 1})
  store.close()
  raw = bytearray(path.read_bytes())
  raw[:16] = b'not a database!!'
  path.write_bytes(bytes(raw))
  with pytest.raises(StoreError, match='s.sqlite') as e:
    Store(str(path))
  assert '\n' not in str(e.value)
  said = []
  store, rebuilt = open_or_rebuild(str(path), said.append)
  assert rebuilt and store.get('nb201', 'a', 'naswot', 0, 'fp', 1,
                               'cfg') is None
  assert len(said) == 1 and 'damaged' in said[0] and 'scores.jsonl' in said[0]
  assert list(tmp_path.glob('s.sqlite.damaged-*'))  # kept, not deleted


def test_foreign_sqlite_file_is_refused(tmp_path):
  path = str(tmp_path / 'other.sqlite')
  db = sqlite3.connect(path)
  db.execute('CREATE TABLE results (x TEXT)')
  db.commit()
  db.close()
  with pytest.raises(StoreError, match='not a jaxnas store'):
    Store(path)
