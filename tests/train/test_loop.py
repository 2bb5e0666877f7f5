"""The loop's bookkeeping: when epochs end (against a brute-force count of
images seen) and what train.jsonl says at each step (against sums done
here). The compiled loop end to end, kill and resume, is in
tests/cli/test_train.py."""

import types

import numpy as np
import pytest

from jaxnas.train import loop
from jaxnas.train import records


@pytest.mark.parametrize('num_train,batch,epochs', [(10, 4, 3), (12, 4, 2),
                                                    (7, 10, 4)])
def test_epoch_ending_is_the_first_step_past_each_epochs_images(
    num_train, batch, epochs):
  plan = loop.Plan(epochs=epochs, num_train=num_train, batch_size=batch,
                   stop=1)
  expected = {}
  for e in range(1, epochs + 1):
    step = 1
    while step * batch < e * num_train:
      step += 1
    expected.setdefault(step, e)
    expected[step] = e  # several epochs ending at one step: the last
  assert plan.epoch_ending() == expected
  assert plan.total_steps == max(expected)


class _Population:
  """Two networks (slots 1, 0), two seeds; evaluate returns fixed
  figures."""
  layout = types.SimpleNamespace(order=(1, 0), real=2, seeds=2, seeds_pad=2,
                                 slots=[1, 0])

  def evaluate(self, state, tests):
    del state, tests
    return np.full((2, 2), 0.5), np.full((2, 2), 0.25)


def test_recorder_lines_epoch_sums_and_evaluation(tmp_path):
  pop = _Population()
  plan = loop.Plan(epochs=2, num_train=8, batch_size=4, stop=4, log_every=3,
                   eval_every=2)
  path = str(tmp_path / 'train.jsonl')
  log = records.JsonLines(path, None)
  rec = loop._Recorder(pop, plan, ['a', 'b'], 7, log, tests=['batch'],
                       sums=loop._Recorder.fresh_sums(pop))
  rng = np.random.default_rng(0)
  losses = rng.uniform(0.1, 2.0, (4, 2, 2))
  correct = rng.integers(0, 5, (4, 2, 2)).astype(float)
  extras = []
  for t in range(4):
    metrics = types.SimpleNamespace(loss=losses[t], correct=correct[t],
                                    lr=np.full((2, 2), 0.1 * t))
    special = (t + 1) in plan.epoch_ending()
    extras.append(rec.finish_step(t + 1, metrics, None, special))
  log.close()
  lines = records.read_jsonl(path)
  # Steps 2 and 4 end epochs; step 3 is a log_every step; step 1 is neither.
  assert sorted({r['step'] for r in lines}) == [2, 3, 4]
  assert len(lines) == 3 * 4
  for r in lines:
    slot = 1 if r['arch'] == 'a' else 0
    t, j = r['step'] - 1, r['replica']
    assert r['seed'] == 7
    assert r['loss'] == pytest.approx(losses[t, slot, j])
    assert r['batch_accuracy'] == pytest.approx(100 * correct[t, slot, j] / 4)
    if r['step'] in (2, 4):
      steps = slice(t - 1, t + 1)  # the epoch's two steps
      assert r['epoch_end'] == r['step'] // 2
      assert r['train_loss'] == pytest.approx(losses[steps, slot, j].mean())
      assert r['train_accuracy'] == pytest.approx(
          100 * correct[steps, slot, j].sum() / 8)
    else:
      assert 'train_loss' not in r and 'epoch_end' not in r
  # eval_every=2: the test split is evaluated at the end of epoch 2 only.
  assert 'test_accuracy' not in extras[1]
  assert np.all(extras[3]['test_accuracy'] == 25.0)
