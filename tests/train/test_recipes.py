"""The recipes' optax chains against the reference optimisers' update rules
written out in NumPy (PyTorch's SGD-Nesterov with coupled decay; TF1's
RMSProp with momentum), and the schedules."""

import math

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnas.train import recipes


def _run(tx, w0, grads):
  params = {'w': jnp.asarray(w0)}
  state = tx.init(params)
  out = []
  for g in grads:
    updates, state = tx.update({'w': jnp.asarray(g)}, state, params)
    params = optax.apply_updates(params, updates)
    out.append(np.asarray(params['w']))
  return out


def _cosine(peak, t, total):
  return 0.5 * peak * (1 + math.cos(math.pi * min(t, total) / total))


def test_nb201_chain_is_torch_sgd_nesterov_with_coupled_decay():
  rng = np.random.default_rng(0)
  w = rng.normal(size=5).astype(np.float64)
  grads = rng.normal(size=(4, 5))
  r = recipes.recipe_for('nb201')
  total = 10
  got = _run(recipes.optimizer(r, total), w.astype(np.float32),
             grads.astype(np.float32))
  # torch.optim.SGD(lr, momentum=0.9, nesterov=True, weight_decay=5e-4):
  # d = g + wd w; b = m b + d (b = d at t=0); step = d + m b; w -= lr step.
  buf = None
  for t, g in enumerate(grads):
    d = g + 5e-4 * w
    buf = d if buf is None else 0.9 * buf + d
    w = w - _cosine(0.1, t, total) * (d + 0.9 * buf)
    np.testing.assert_allclose(got[t], w, rtol=2e-5, atol=1e-6)


def test_nb101_chain_is_tf1_rmsprop_with_momentum():
  rng = np.random.default_rng(1)
  w = rng.normal(size=5)
  grads = rng.normal(size=(4, 5))
  r = recipes.recipe_for('nb101')
  total = 10
  got = _run(recipes.optimizer(r, total), w.astype(np.float32),
             grads.astype(np.float32))
  # tf.train.RMSPropOptimizer(lr, decay=0.9, momentum=0.9, epsilon=1.0):
  # ms starts at 1; ms = d ms + (1-d) g^2; mom = m mom + lr g / sqrt(ms+eps).
  ms, mom = np.ones(5), np.zeros(5)
  for t, g in enumerate(grads):
    g = g + 1e-4 * w
    lr = 0.0 if t == 0 else _cosine(0.2, t, total)
    ms = 0.9 * ms + 0.1 * g * g
    mom = 0.9 * mom + lr * g / np.sqrt(ms + 1.0)
    w = w - mom
    np.testing.assert_allclose(got[t], w, rtol=2e-5, atol=1e-6)


def test_zero_parameters_with_zero_gradients_stay_zero():
  for name in ('nb201', 'nb101'):
    got = _run(recipes.optimizer(recipes.recipe_for(name), 5),
               np.zeros(3, np.float32), np.zeros((3, 3), np.float32))
    assert not np.any(got[-1])


def test_schedule_and_steps():
  r = recipes.recipe_for('nb201')
  lr = recipes.schedule(r, 100)
  assert float(lr(0)) == pytest.approx(0.1)
  assert float(lr(50)) == pytest.approx(0.05)
  assert float(lr(100)) == pytest.approx(0.0, abs=1e-9)
  assert float(recipes.schedule(recipes.recipe_for('nb101'), 100)(0)) == 0.0
  assert recipes.total_steps(500, 256, 2) == 4
  assert recipes.epoch_end(1, 500, 256) == 2
  assert recipes.recipe_for('nb201', 'imagenet16-120').crop_padding == 2
  assert recipes.config_defaults('nb101')['epochs'] == 108
  with pytest.raises(ValueError, match='darts'):
    recipes.recipe_for('darts')
