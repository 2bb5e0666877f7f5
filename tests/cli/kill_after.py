"""Runs run.py, SIGKILLing itself right after its K-th record reaches its
shard's scores.jsonl: a process killed mid-share, at a known point.

  python tests/cli/kill_after.py K RUN_PY FLAGS...
"""

import os
import runpy
import signal
import sys

from jaxnas import store


def main() -> None:
  limit, run_py, flags = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
  append = store.JsonlLog.append
  written = []

  def append_then_die(log, record):
    append(log, record)
    if os.sep + 'shards' + os.sep in log.path:
      written.append(record['arch'])
      if len(written) >= limit:
        os.kill(os.getpid(), signal.SIGKILL)

  store.JsonlLog.append = append_then_die
  sys.argv = [run_py, *flags]
  runpy.run_path(run_py, run_name='__main__')


if __name__ == '__main__':
  main()
