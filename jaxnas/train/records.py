"""What a training run writes as it goes: JSON lines that a resumed run cuts
back to its checkpoint, a progress bar with ETA, and the loss curve."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Any, Iterable


class JsonLines:
  """An append-only JSON-lines file of records carrying a ``step``.

  Opened for a run that starts at step ``resume`` (its checkpoint), it keeps
  the records of steps ``<= resume`` and drops later ones and a torn last
  line, so a killed and resumed run ends with the same lines as an
  uninterrupted one; ``resume=None`` starts the file afresh. Every write is
  flushed.
  """

  def __init__(self, path: str, resume: int | None):
    self.path = path
    kept = []
    if resume is not None and os.path.exists(path):
      with open(path) as f:
        for line in f:
          try:
            record = json.loads(line)
          except json.JSONDecodeError:
            continue  # a line torn by a kill
          if record.get('step', 0) <= resume:
            kept.append(line if line.endswith('\n') else line + '\n')
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
      f.writelines(kept)
    os.replace(tmp, path)
    self._file = open(path, 'a')

  def write(self, records: Iterable[dict[str, Any]]) -> None:
    for r in records:
      self._file.write(json.dumps(r, allow_nan=False) + '\n')
    self._file.flush()

  def close(self) -> None:
    self._file.close()


def read_jsonl(path: str) -> list[dict[str, Any]]:
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def hms(seconds: float) -> str:
  if not math.isfinite(seconds):
    return '?'
  s = int(round(seconds))
  return f'{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s'


class ProgressBar:
  """``train [#####.....] 120/300 steps (2.10 steps/s, ETA 0h01m25s) ...``
  on stderr at most every ``every`` seconds (and at the end); the rate
  counts from the first update, so compilation does not skew the ETA.

  Args:
    total: the last step.
    start: the first step (after a resume, where it resumed).
    every: seconds between lines.
    what: the label.
    width: bar characters.
  """

  def __init__(self, total: int, start: int = 0, every: float = 10.0,
               what: str = 'train', width: int = 30, stream=None):
    self.total, self.start, self.every = total, start, every
    self.what, self.width = what, width
    self.stream = stream or sys.stderr
    self._first: tuple[float, int] | None = None
    self._last = -math.inf

  def update(self, done: int, note: str = '') -> None:
    now = time.perf_counter()
    if self._first is None:
      self._first = (now, done)
    if now - self._last < self.every and done < self.total:
      return
    self._last = now
    t0, d0 = self._first
    rate = (done - d0) / (now - t0) if now > t0 and done > d0 else 0.0
    eta = (self.total - done) / rate if rate > 0 else math.inf
    filled = int(self.width * done / max(self.total, 1))
    bar = '#' * filled + '.' * (self.width - filled)
    print(f'{self.what} [{bar}] {done}/{self.total} steps ({rate:.2f} '
          f'steps/s, ETA {hms(eta)}){" " + note if note else ""}',
          file=self.stream, flush=True)


def plot_curves(records: list[dict[str, Any]], path: str,
                title: str = '') -> None:
  """The loss curve (per step, one line per network) and, where there are
  epoch evaluations, test accuracy per epoch, as a PNG."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  nets: dict[tuple, dict[str, list]] = {}
  for r in records:
    if 'loss' not in r:
      continue
    net = nets.setdefault((r['arch'], r.get('replica', 0)),
                          {'step': [], 'loss': [], 'eval': [], 'acc': []})
    net['step'].append(r['step'])
    net['loss'].append(r['loss'])
    if r.get('test_accuracy') is not None:
      net['eval'].append(r['step'])
      net['acc'].append(r['test_accuracy'])
  has_acc = any(n['acc'] for n in nets.values())
  fig, axes = plt.subplots(1, 2 if has_acc else 1,
                           figsize=(11 if has_acc else 6, 4), squeeze=False)
  many = len(nets) > 10
  for i, ((arch, replica), n) in enumerate(sorted(nets.items())):
    label = None if many else f'{i}' + (f'/{replica}' if replica else '')
    axes[0, 0].plot(n['step'], n['loss'], lw=0.8, label=label)
    if has_acc and n['acc']:
      axes[0, 1].plot(n['eval'], n['acc'], lw=0.8, marker='.', label=label)
  axes[0, 0].set_xlabel('step')
  axes[0, 0].set_ylabel('training loss (batch)')
  axes[0, 0].set_yscale('log')
  if has_acc:
    axes[0, 1].set_xlabel('step')
    axes[0, 1].set_ylabel('test accuracy (%)')
  if not many and nets:
    axes[0, 0].legend(fontsize=6, title='network', title_fontsize=6)
  if title:
    fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  tmp = path + '.tmp.png'
  fig.savefig(tmp, dpi=120)
  plt.close(fig)
  os.replace(tmp, path)
