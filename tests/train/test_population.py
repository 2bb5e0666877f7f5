"""A population (cells x seeds) in one compiled step: one compilation per
program whatever its size, and every network as if trained alone."""


import jax
import numpy as np
import pytest

from jaxnas.spaces import get_space
from jaxnas.spaces.nb201 import spec
from jaxnas.train import input as input_lib
from jaxnas.train import population as pop_lib
from jaxnas.train import recipes
from jaxnas.train.step import Trainer
from tests.conftest import TINY

A = '|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'
B = '|skip_connect~0|+|none~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|'
SPACE = get_space('nb201', **TINY)


@pytest.fixture(scope='module')
def trainer():
  return Trainer.from_recipe(SPACE, recipes.recipe_for('nb201'), steps=10,
                             num_classes=10, norm='cifar10',
                             image_shape=(8, 8, 3))


def _data(n=24):
  rng = np.random.default_rng(0)
  return (rng.integers(0, 256, (n, 8, 8, 3), np.uint8),
          rng.integers(0, 10, n).astype(np.int32))


@pytest.mark.slow
@pytest.mark.parametrize('seed_chunk', [None, 2])  # 2: chunks of 2 and 1
def test_population_compiles_once_and_matches_single_networks(trainer,
                                                              seed_chunk):
  archs = [spec.parse(A), spec.parse(B)]
  pop = pop_lib.Population(trainer, SPACE, archs, seeds=3, devices=1,
                           seed_chunk=seed_chunk)
  images, labels = _data()
  stream = input_lib.Stream(images, labels, 6, 0, pop.seed_index)
  init_keys, data_keys = pop.keys(jax.random.PRNGKey(0))
  state = pop.init(init_keys)
  for t in range(3):
    state, metrics = pop.step(state, pop.put_batch(stream.batch(t)),
                              data_keys)
  tests = input_lib.test_batches(images[:10], labels[:10], 4)
  loss, acc = pop.evaluate(state, tests)
  assert pop.compilations == 3  # init, step, eval; any cells and seeds
  assert loss.shape == (len(archs), 3)
  step, init = jax.jit(trainer.step), jax.jit(trainer.init)
  for a, arch in enumerate(archs):
    slot = pop.layout.slots[a]
    arrays = SPACE.arch_arrays(arch)
    for j in range(3):
      alone = init(init_keys[slot, j], arrays)
      for t in range(3):
        x, y = stream.batch(t)
        alone, m = step(alone, arrays, x[j], y[j], data_keys[j])
      got = pop.network_state(state, a, j)
      for u, v in zip(jax.tree.leaves(got.params),
                      jax.tree.leaves(alone.params)):
        np.testing.assert_allclose(u, v, rtol=2e-4, atol=2e-5)
      assert float(metrics.loss[slot, j]) == pytest.approx(float(m.loss),
                                                           rel=1e-4)
  # The seeds are different networks.
  p = pop.network_state(state, 0, 0).params
  q = pop.network_state(state, 0, 1).params
  assert any(np.any(u != v) for u, v in zip(jax.tree.leaves(p),
                                            jax.tree.leaves(q)))


def test_plan_spreads_cells_over_devices_then_seeds():
  archs = [spec.parse(A), spec.parse(B), spec.parse(A)]
  lay = pop_lib.plan(archs, seeds=2, devices=2, cost=lambda a: 1.0)
  assert (lay.arch_devices, lay.seed_devices) == (2, 1)
  assert len(lay.order) == 4 and sorted(lay.slots) == sorted(set(lay.slots))
  one = pop_lib.plan(archs[:1], seeds=3, devices=2)
  assert (one.arch_devices, one.seed_devices, one.seeds_pad) == (1, 2, 4)
  with pytest.raises(ValueError, match='seeds'):
    pop_lib.plan(archs, seeds=0, devices=1)


def test_seed_chunk_below_one_is_a_one_line_error(trainer):
  with pytest.raises(ValueError, match=r'^seed_chunk=0; it must be >= 1$'):
    pop_lib.Population(trainer, SPACE, [spec.parse(A)], seeds=2, devices=1,
                       seed_chunk=0)
