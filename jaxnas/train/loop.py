"""The training loop of a population: steps, records, evaluation,
checkpoints, resume, and scores at chosen steps.

:func:`train` initialises (or restores the newest checkpoint of) a
:class:`~jaxnas.train.population.Population`, feeds it the prefetched batch
stream from the step it starts at, and writes ``train.jsonl``: per network
and logged step ``arch, replica, seed, step, epoch, loss, lr,
batch_accuracy``; at the step that ends an epoch (and at the last step)
also ``train_loss, train_accuracy`` (over the epoch) and, with a test
split, ``test_loss, test_accuracy`` (eval mode). Accuracies are in percent.
Scores at ``score_steps`` go to ``scores.jsonl``. A killed run rerun with
the same command restores the newest checkpoint, cuts both files back to
it, and continues with the same batches, so it ends with the parameters
and lines of an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Callable, Sequence

import jax
import numpy as np

from jaxnas.train import input as input_lib
from jaxnas.train import records as records_lib
from jaxnas.train import recipes
from jaxnas.train.checkpoint import Checkpointer
from jaxnas.train.population import Population

Scorer = Callable[[int, Any], list[dict[str, Any]]]


@dataclasses.dataclass(frozen=True)
class Plan:
  """When things happen in a run (steps count updates done).

  Attributes:
    epochs: epochs of the schedule.
    num_train: training images (an epoch is ``num_train / batch_size``
      steps).
    batch_size: images per step.
    stop: the step to stop at (``<=`` the schedule's length).
    checkpoint_every: steps between checkpoints (and one at ``stop``).
    log_every: steps between ``train.jsonl`` lines (epoch ends and ``stop``
      always).
    eval_every: epochs between test evaluations (the last epoch and
      ``stop`` always).
    score_steps: steps at which the scorer runs (0: before training).
  """
  epochs: int
  num_train: int
  batch_size: int
  stop: int
  checkpoint_every: int = 500
  log_every: int = 1
  eval_every: int = 1
  score_steps: tuple[int, ...] = ()

  @property
  def total_steps(self) -> int:
    return recipes.total_steps(self.num_train, self.batch_size, self.epochs)

  def epoch_ending(self) -> dict[int, int]:
    """step -> the (last) epoch that ends at that step."""
    return {recipes.epoch_end(e, self.num_train, self.batch_size): e
            for e in range(1, self.epochs + 1)}

  def epoch_at(self, step: int) -> float:
    return step * self.batch_size / self.num_train


class _Recorder:
  """The per-network lines of ``train.jsonl``: the step's loss, learning
  rate and batch accuracy, and at an epoch's end (and ``plan.stop``) the
  epoch's training loss / accuracy over the images it saw and, with test
  batches, the test loss / accuracy.

  ``sums`` (per network: summed loss, correct predictions, images of the
  epoch so far) is part of the checkpointed state, so a resumed run ends an
  epoch with the same figures as an uninterrupted one.
  """

  def __init__(self, population: Population, plan: Plan,
               names: Sequence[str], seed: int, train_log, tests,
               sums: dict[str, np.ndarray]):
    self.population, self.plan, self.names, self.seed = (population, plan,
                                                          names, seed)
    self.train_log, self.tests, self.sums = train_log, tests, sums
    self.ending = plan.epoch_ending()
    self.t_start = time.perf_counter()

  @staticmethod
  def fresh_sums(population: Population) -> dict[str, np.ndarray]:
    lay = population.layout
    shape = (len(lay.order), lay.seeds_pad)
    return {'loss': np.zeros(shape), 'correct': np.zeros(shape),
            'images': np.zeros(shape)}

  def lines(self, step: int, host, extra: dict[str, np.ndarray]):
    lay, plan = self.population.layout, self.plan
    out = []
    for a, slot in enumerate(lay.slots):
      for j in range(lay.seeds):
        r = {'arch': self.names[a], 'replica': j, 'seed': self.seed,
             'step': step, 'epoch': round(plan.epoch_at(step), 4),
             'loss': float(host.loss[slot, j]),
             'lr': float(host.lr[slot, j]),
             'batch_accuracy': 100.0 * float(host.correct[slot, j]) /
                               plan.batch_size,
             'seconds': round(time.perf_counter() - self.t_start, 3)}
        for name, values in extra.items():
          r[name] = float(values[slot, j])
        out.append(r)
    return out

  def finish_step(self, step: int, metrics, state, special: bool):
    """Adds the step's metrics to the epoch sums, writes its lines (every
    ``plan.log_every`` steps and at special steps) and returns the epoch
    figures computed at this step (empty unless an epoch ends here)."""
    plan, sums = self.plan, self.sums
    host = jax.device_get(metrics)
    sums['loss'] += np.asarray(host.loss) * plan.batch_size
    sums['correct'] += np.asarray(host.correct)
    sums['images'] += plan.batch_size
    extra = {}
    epoch = self.ending.get(step)
    if epoch is not None or step == plan.stop:
      seen = np.maximum(sums['images'], 1)
      extra['train_loss'] = sums['loss'] / seen
      extra['train_accuracy'] = 100.0 * sums['correct'] / seen
      if self.tests is not None and (
          step == plan.stop or epoch == plan.epochs or
          (epoch and epoch % plan.eval_every == 0)):
        extra['test_loss'], acc = self.population.evaluate(state, self.tests)
        extra['test_accuracy'] = 100.0 * acc
      if epoch is not None:
        for v in sums.values():
          v[:] = 0.0
    if special or step % plan.log_every == 0:
      recs = self.lines(step, host, extra)
      if epoch is not None:
        for r in recs:
          r['epoch_end'] = epoch
      self.train_log.write(recs)
    return extra


def train(population: Population, splits, key: jax.Array, plan: Plan,
          output: str, names: Sequence[str], seed: int,
          checkpointer: Checkpointer | None = None,
          scorer: Scorer | None = None, progress_seconds: float = 10.0,
          eval_batch_size: int = 500, log=print) -> Any:
  """Trains ``population`` as ``plan`` says; returns the final state.

  Args:
    population: the networks.
    splits: :class:`jaxnas.train.splits.Splits` (uint8 train / test images).
    key: the run's key (``PRNGKey(seed)``).
    plan: the :class:`Plan`.
    output: directory of ``train.jsonl``, ``scores.jsonl``,
      ``loss_curve.png``.
    names: the architectures' names (caller's order).
    seed: the run's seed (recorded; the data stream's seed).
    checkpointer: saves every ``plan.checkpoint_every`` steps and restores
      the newest checkpoint (None: no checkpoints, no resume).
    scorer: ``scorer(step, state) -> records`` at ``plan.score_steps``.
    progress_seconds: seconds between progress lines.
    eval_batch_size: test images per eval call.
    log: one-line messages.
  """
  init_keys, data_keys = population.keys(key)
  state = population.init(init_keys)
  sums = _Recorder.fresh_sums(population)
  start = checkpointer.latest_step() if checkpointer else None
  if start is not None:
    held = checkpointer.restore(start, {'state': state, 'epoch': sums})
    state = jax.device_put(held['state'], population.sharding('arch', 'seed'))
    sums = held['epoch']
    log(f'resuming from the checkpoint of step {start}')
  train_log = records_lib.JsonLines(os.path.join(output, 'train.jsonl'),
                                    start)
  score_log = None  # no scores.jsonl for a run that scores nothing
  if scorer is not None:
    score_log = records_lib.JsonLines(os.path.join(output, 'scores.jsonl'),
                                      start)
  start = start or 0
  tests = None
  if splits.test_images is not None:
    tests = [jax.device_put(b, population.sharding()) for b in
             input_lib.test_batches(splits.test_images, splits.test_labels,
                                    eval_batch_size)]
  recorder = _Recorder(population, plan, names, seed, train_log, tests, sums)

  def score(step):
    if scorer is not None and step in plan.score_steps:
      score_log.write(scorer(step, state))

  if start == 0:
    score(0)
  bar = records_lib.ProgressBar(plan.stop, start, progress_seconds)
  prefetch = input_lib.Prefetcher(
      input_lib.Stream(splits.train_images, splits.train_labels,
                       plan.batch_size, seed, population.seed_index),
      start, plan.stop, population.put_batch)
  pending = None  # a plain step's metrics, fetched after the next dispatch
  try:
    for index, batch in prefetch:
      state, metrics = population.step(state, batch, data_keys)
      step = index + 1
      if pending is not None:
        recorder.finish_step(*pending, state, False)
        pending = None
      special = (step in recorder.ending or step == plan.stop or
                 step in plan.score_steps or
                 step % plan.checkpoint_every == 0)
      if not special:
        pending = (step, metrics)
        bar.update(step)
        continue
      extra = recorder.finish_step(step, metrics, state, True)
      score(step)
      if checkpointer and (step % plan.checkpoint_every == 0 or
                           step == plan.stop):
        checkpointer.save(step, {'state': state, 'epoch': recorder.sums})
      note = ''
      if 'test_accuracy' in extra:
        note = f'test accuracy {np.mean(extra["test_accuracy"]):.2f}%'
      bar.update(step, note)
  finally:
    prefetch.close()
    train_log.close()
    if score_log is not None:
      score_log.close()
  records_lib.plot_curves(
      records_lib.read_jsonl(os.path.join(output, 'train.jsonl')),
      os.path.join(output, 'loss_curve.png'))
  return state
