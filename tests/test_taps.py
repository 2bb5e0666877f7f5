"""Taps and records (jaxnas.taps)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import nn as jnn
from jaxnas import taps


# --- taps and records --------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ReluSum(taps.Tap):
  """Sum of count * (masked) ReLU inputs."""
  hooks = frozenset({'relu'})

  def init(self, batch_size):
    return jnp.zeros(())

  def relu(self, acc, x, count=1, mask=None):
    return acc + count * jnp.sum(x if mask is None else x * mask)


@dataclasses.dataclass(frozen=True)
class FeatureAndBnCount(taps.Tap):
  """feature calls count 1 each, bn calls 100 each."""
  hooks = frozenset({'feature', 'bn'})

  def init(self, batch_size):
    return jnp.zeros((), jnp.int32)

  def feature(self, acc, x, kind):
    return acc + 1

  def bn(self, acc, mean, var, count):
    return acc + 100


def test_taps_call_only_the_taps_that_listen():
  both = taps.Taps((ReluSum(), FeatureAndBnCount()))
  assert both.hooks == {'relu', 'feature', 'bn'}
  assert taps.NO_TAP.hooks == frozenset() and taps.Taps().hooks == frozenset()
  assert jnn.NetOptions(tap=both).listens('bn')
  assert not jnn.NetOptions().listens('relu')
  x = jnp.asarray([[1.0, -2.0, 3.0]])
  acc = both.init(4)
  acc = both.relu(acc, x, 2, jnp.asarray([1.0, 1.0, 0.0]))  # 2 * (1 - 2)
  acc = both.feature(acc, x, 'cell')
  acc = both.bn(acc, x[0], x[0], 3)
  assert float(acc[0]) == -2.0 and int(acc[1]) == 101
  # No listener: the accumulator comes back untouched.
  only_relu = taps.Taps((ReluSum(),))
  acc = only_relu.init(4)
  assert only_relu.feature(acc, x, 'op') is acc
  assert taps.NO_TAP.relu((), x) == ()


def test_what_a_tap_sees_carries_no_gradient():
  x = jnp.asarray([1.0, -2.0, 3.0])
  direct = jax.grad(lambda v: ReluSum().relu(0.0, v))(x)
  np.testing.assert_array_equal(direct, [1.0, 1.0, 1.0])
  through = jax.grad(lambda v: taps.Taps((ReluSum(),)).relu((0.0,), v)[0])(x)
  np.testing.assert_array_equal(through, [0.0, 0.0, 0.0])


def test_relu_returns_the_relu_and_reports_its_input():
  x = jnp.asarray([[-1.0, 0.5], [2.0, -3.0]])
  y, acc = taps.relu(x, jnp.zeros(()), ReluSum(), count=3)
  np.testing.assert_array_equal(y, [[0.0, 0.5], [2.0, 0.0]])
  assert float(acc) == 3 * (-1.5)  # the input, not the output


def test_record_keeps_values_through_a_scan():
  def body(record, v):
    return record.put(v * jnp.ones(2)), None

  record, _ = jax.lax.scan(body, taps.Record.empty(5, (2,)),
                           jnp.asarray([1.0, 2.0, 3.0]))
  assert int(record.count) == 3
  np.testing.assert_array_equal(record.values, [[1, 1], [2, 2], [3, 3],
                                                [0, 0], [0, 0]])
  np.testing.assert_array_equal(record.valid(), [1, 1, 1, 0, 0])
  taps.check_record(record.count, 5, 'relu sites')  # fits: no error


def test_record_overflow_is_counted_and_refused_on_the_host():
  record = taps.Record.empty(2)
  for v in (1.0, 2.0, 3.0):
    record = record.put(v)
  assert int(record.count) == 3
  np.testing.assert_array_equal(record.valid(), [1, 1])
  with pytest.raises(ValueError, match='relu sites: 3 sites reported but '
                     'the record holds 2'):
    taps.check_record(record.count, 2, 'relu sites')


@dataclasses.dataclass(frozen=True)
class Doubler(taps.Tap):
  """Stands in for a feature with 2 x (a different value and gradient) and
  counts the features it saw; starts at 10."""
  hooks = frozenset({'gradient'})

  def init(self, batch_size):
    return jnp.zeros((), jnp.int32) + 10

  def gradient(self, acc, x, kind):
    return 2.0 * x, acc + 1


def test_feature_site_reports_then_lets_gradient_taps_stand_in():
  both = taps.Taps((FeatureAndBnCount(), Doubler(), ReluSum()))
  acc = both.start(None, 3)  # the default start is init
  assert [int(a) for a in acc] == [0, 10, 0]

  def f(x):
    y, acc2 = taps.feature(x, acc, both, 'cell')
    return jnp.sum(y), acc2

  total, acc2 = f(jnp.ones(4))
  assert float(total) == 8.0
  assert [int(a) for a in acc2] == [1, 11, 0]
  assert np.allclose(jax.grad(lambda x: f(x)[0])(jnp.ones(4)), 2.0)
  # A tap without the hook leaves the feature alone.
  y, _ = taps.feature(jnp.ones(4), acc[:1], taps.Taps((FeatureAndBnCount(),)),
                      'cell')
  assert np.array_equal(y, np.ones(4))
