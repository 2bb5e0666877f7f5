"""BatchNorm running statistics and eval mode, and one train step of the
tiny NB201 network against a hand-written update."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import nn as jnn
from jaxnas.data import NORMS
from jaxnas.proxies.base import init_variables
from jaxnas.spaces import get_space
from jaxnas.spaces.nb201 import spec
from jaxnas.train import recipes
from jaxnas.train.step import Trainer
from tests.conftest import TINY

A = '|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'
SPACE = get_space('nb201', **TINY)


def test_conv_bn_running_statistics_and_eval_mode_match_numpy():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(4, 3, 3, 5)).astype(np.float32)
  opts = jnn.NetOptions(bn_momentum=0.9)
  layer = jnn.ConvBN(3, 1, opts=opts)
  variables = layer.init(jax.random.PRNGKey(0), x, None)
  assert not variables[jnn.BATCH_STATS]['mean'].any()  # starts at 0 / 1
  w = np.asarray(variables['params']['kernel'])[0, 0]  # [5, 3]
  (y, _), new = layer.apply(variables, x, None, mutable=[jnn.BATCH_STATS])
  z = (x.reshape(-1, 5).astype(np.float64) @ w)  # 1x1 conv
  mean, var = z.mean(0), z.var(0)
  np.testing.assert_allclose(y.reshape(-1, 3), (z - mean) / np.sqrt(
      var + 1e-5), rtol=1e-4, atol=1e-4)
  stats = new[jnn.BATCH_STATS]
  np.testing.assert_allclose(stats['mean'], 0.1 * mean, rtol=1e-5,
                             atol=1e-6)
  np.testing.assert_allclose(stats['var'], 0.9 + 0.1 * z.var(0, ddof=1),
                             rtol=1e-5)
  # Eval mode normalises with the running statistics and changes nothing.
  evaluated = layer.clone(opts=dataclasses.replace(
      opts, use_running_average=True))
  y_eval, _ = evaluated.apply({**variables, jnn.BATCH_STATS: stats}, x, None)
  np.testing.assert_allclose(
      y_eval.reshape(-1, 3), (z - stats['mean']) / np.sqrt(
          stats['var'] + 1e-5), rtol=1e-4, atol=1e-4)
  # Scoring (nothing mutable, train mode) makes no statistics.
  assert jnn.BATCH_STATS not in layer.init(jax.random.PRNGKey(0), x, None,
                                           mutable=['params'])


@pytest.fixture(scope='module')
def trainer():
  recipe = dataclasses.replace(recipes.recipe_for('nb201'), crop_padding=0,
                               flip=False)
  return Trainer.from_recipe(SPACE, recipe, steps=10, num_classes=10,
                             norm='cifar10', image_shape=(8, 8, 3))


@pytest.fixture(scope='module')
def init(trainer):
  """``trainer.init`` compiled once (eager, the network's init runs op by
  op: several times slower)."""
  return jax.jit(trainer.init)


def _batch(n=6, seed=0):
  rng = np.random.default_rng(seed)
  return (rng.integers(0, 256, (n, 8, 8, 3), np.uint8),
          rng.integers(0, 10, n).astype(np.int32))


@pytest.mark.slow
def test_training_init_draws_the_scoring_parameters(trainer, init):
  arch = SPACE.arch_arrays(spec.parse(A))
  key = jax.random.PRNGKey(3)
  state = init(key, arch)
  scored = jax.jit(lambda k: init_variables(
      trainer.network, k, jnp.zeros((2, 8, 8, 3)), arch)['params'])(key)
  for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(scored)):
    np.testing.assert_array_equal(a, b)
  assert jax.tree.leaves(state.batch_stats)


def test_one_step_is_the_nesterov_update_of_the_loss_gradient(trainer, init):
  arch = SPACE.arch_arrays(spec.parse(A))
  state = init(jax.random.PRNGKey(1), arch)
  images, labels = _batch()
  new, metrics = jax.jit(trainer.step)(state, arch, images, labels,
                                       jax.random.PRNGKey(0))
  mean, std = NORMS['cifar10']
  x = (images / 255.0 - np.array(mean)) / np.array(std)

  def loss(params):
    logits = trainer.network.apply(
        {'params': params, jnn.BATCH_STATS: state.batch_stats},
        jnp.asarray(x, jnp.float32), arch, mutable=[jnn.BATCH_STATS])[0][0]
    logp = jax.nn.log_softmax(logits)
    return -jnp.mean(logp[jnp.arange(6), labels])

  value, grads = jax.value_and_grad(loss)(state.params)
  assert float(metrics.loss) == pytest.approx(float(value), rel=1e-5)
  assert float(metrics.lr) == pytest.approx(0.1)
  assert int(new.step) == 1
  for w, g, w1 in zip(jax.tree.leaves(state.params), jax.tree.leaves(grads),
                      jax.tree.leaves(new.params)):
    d = np.asarray(g, np.float64) + 5e-4 * np.asarray(w, np.float64)
    np.testing.assert_allclose(w1, w - 0.1 * (d + 0.9 * d), rtol=1e-4,
                               atol=1e-6)
  moved = [np.any(a != b) for a, b in zip(
      jax.tree.leaves(state.batch_stats), jax.tree.leaves(new.batch_stats))]
  assert all(moved[:2])  # the stem BN's running mean and var


def test_eval_mode_treats_images_independently(trainer, init):
  arch = SPACE.arch_arrays(spec.parse(A))
  state = init(jax.random.PRNGKey(1), arch)
  step = jax.jit(trainer.step)
  for t in range(3):
    images, labels = _batch(seed=t)
    state, _ = step(state, arch, images, labels, jax.random.PRNGKey(0))
  images, labels = _batch(seed=9)
  ones = np.ones(6, np.float32)
  evaluate = jax.jit(trainer.evaluate)
  loss, correct = evaluate(state, arch, images, labels, ones)
  # Image 0 alone (padded with copies, masked) loses what it loses in the
  # full batch: no batch statistics in eval mode.
  single = np.repeat(images[:1], 6, 0)
  mask = np.eye(6, dtype=np.float32)[0]
  loss0, _ = evaluate(state, arch, single, np.repeat(labels[:1], 6), mask)
  x = trainer.preprocess(jax.random.PRNGKey(0), images)
  logits = trainer.eval_network.apply(state.variables, x, arch)[0]
  ce = -jax.nn.log_softmax(logits)[np.arange(6), labels]
  assert float(loss0) == pytest.approx(float(ce[0]), rel=1e-4)
  assert float(loss) == pytest.approx(float(ce.sum()), rel=1e-4)
  assert 0 <= int(correct) <= 6
  train_logits = trainer.network.apply(
      {'params': state.params}, x, arch)[0]
  assert not np.allclose(train_logits, logits, atol=1e-3)


def test_nb101_step_updates_only_the_statistics_of_ops_that_ran():
  """NB101's ops sit in lax.switch / lax.cond branches: a vertex's conv3x3
  BN statistics move only if the cell uses conv3x3 there, and eval mode
  runs."""
  space = get_space('nb101', stem_channels=4, num_stacks=1,
                    cells_per_stack=1)
  cell = space.sample(np.random.default_rng(4), 1)[0]
  trainer = Trainer.from_recipe(space, recipes.recipe_for('nb101'), 10, 10,
                                'cifar10', (8, 8, 3))
  arch = space.arch_arrays(cell)
  state = jax.jit(trainer.init)(jax.random.PRNGKey(0), arch)
  images, labels = _batch()
  new, metrics = jax.jit(trainer.step)(state, arch, images, labels,
                                       jax.random.PRNGKey(0))
  assert float(metrics.lr) == 0.0  # NB101's first step
  ops = np.asarray(arch['ops'])
  stats0 = jax.tree_util.tree_flatten_with_path(state.batch_stats)[0]
  stats1 = jax.tree.leaves(new.batch_stats)
  checked = 0
  for (path, before), after in zip(stats0, stats1):
    name = jax.tree_util.keystr(path)
    for v in range(1, ops.shape[0] - 1):
      if f'vertex{v}_conv3x3_mean' in name:
        ran = ops[v] == 0  # CONV3X3
        assert bool(np.any(np.asarray(before) != np.asarray(after))) == ran
        checked += 1
  assert checked
  loss, correct = jax.jit(trainer.evaluate)(new, arch, images, labels,
                                            np.ones(6, np.float32))
  assert np.isfinite(float(loss)) and 0 <= int(correct) <= 6
