"""Weight initialisers (jaxnas.inits)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import inits
from jaxnas import nn as jnn

KEY = jax.random.PRNGKey(0)


# --- initialisers ----------------------------------------------------------

# (scale, mode, distribution) as jax.nn.initializers.variance_scaling names
# them, and the variance each initialiser's documentation gives.
CONV_SHAPE = (3, 3, 64, 32)  # fan_in 9 * 64 = 576, fan_out 9 * 32 = 288
INITS = {
    'torch': ((1 / 3, 'fan_in', 'uniform'), 1 / (3 * 576)),
    'he_normal': ((2.0, 'fan_out', 'normal'), 2 / 288),
    'he_normal_fan_in': ((2.0, 'fan_in', 'normal'), 2 / 576),
    'gaussian': (None, 1.0),
    'lecun_normal': ((1.0, 'fan_in', 'normal'), 1 / 576),
}


def draw(init, shape, *args):
  return np.asarray(init(KEY, shape, *args))


@pytest.mark.parametrize('name', inits.INIT_NAMES)
def test_init_variance_matches_its_formula(name):
  assert set(inits.INIT_NAMES) == set(INITS)
  rule, variance = INITS[name]
  w = draw(inits.get_init(name), CONV_SHAPE)
  assert w.dtype == np.float32 and w.size == 18432
  w64 = w.astype(np.float64)
  # Sample variance of 18432 draws: relative sd ~ sqrt(2 / n) = 1%.
  assert w64.var() == pytest.approx(variance, rel=0.05)
  assert abs(w64.mean()) < 4 * np.sqrt(variance / w.size)
  if name == 'torch':  # U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    bound = 1 / np.sqrt(576)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
  else:  # untruncated: some draws beyond 3 sd (expected 0.27%, ~50)
    assert np.sum(np.abs(w64) > 3 * np.sqrt(variance)) > 10
  # The draws are jax.nn.initializers.variance_scaling's, conv and dense.
  for shape in (CONV_SHAPE, (256, 10)):
    want = (jax.random.normal(KEY, shape) if rule is None else
            jax.nn.initializers.variance_scaling(*rule)(KEY, shape))
    np.testing.assert_allclose(draw(inits.get_init(name), shape), want,
                               rtol=1e-6)
  # `live` multiplies the draw: 0 for a weight the real network lacks.
  assert not draw(inits.get_init(name), (3, 3, 2, 2), 0.0).any()


def test_unknown_init_names_the_choices():
  with pytest.raises(ValueError, match="unknown weight init 'xavier'; choose "
                     'one of torch, he_normal'):
    inits.get_init('xavier')
  with pytest.raises(ValueError, match='unknown weight init'):
    jnn.NetOptions(weight_init='xavier')
  with pytest.raises(ValueError, match='unknown weight init'):
    inits.masked_kernel_init('xavier')


@pytest.mark.parametrize('name', ['torch', 'he_normal', 'he_normal_fan_in',
                                  'gaussian'])
def test_masked_init_uses_real_fans(name):
  init = inits.masked_kernel_init(name)
  in_mask = (np.arange(48) < 40).astype(np.float32)
  out_mask = (np.arange(64) < 24).astype(np.float32)
  w = draw(init, (3, 3, 48, 64), in_mask, out_mask)
  real = w[:, :, :40, :24]
  assert not w[:, :, 40:].any() and not w[:, :, :, 24:].any()
  fan_in, fan_out = 9 * 40, 9 * 24
  expected = {'torch': 1 / (3 * fan_in), 'he_normal': 2 / fan_out,
              'he_normal_fan_in': 2 / fan_in, 'gaussian': 1.0}[name]
  assert real.var() == pytest.approx(expected, rel=0.1)
  if name == 'torch':
    assert np.abs(real).max() <= 1 / np.sqrt(fan_in)
  # Full masks: the same draw as the plain initialiser.
  full = draw(init, (3, 3, 8, 8), jnp.ones(8), jnp.ones(8))
  plain = draw(inits.get_init(name), (3, 3, 8, 8))
  np.testing.assert_allclose(full, plain, rtol=1e-6)


def test_masked_init_of_a_dead_slot_is_zero():
  init = inits.masked_kernel_init('he_normal')
  w = draw(init, (3, 3, 4, 4), jnp.ones(4), jnp.zeros(4))  # fan_out 0
  assert np.isfinite(w).all() and not w.any()


def test_torch_bias_and_constant_inits():
  b = draw(inits.torch_bias_init(64), (20000,))
  assert np.abs(b).max() <= 1 / 8 and b.var() == pytest.approx(
      (1 / 8)**2 / 3, rel=0.05)
  assert (np.asarray(inits.ones(KEY, (3,))) == 1).all()
  assert not np.asarray(inits.zeros(KEY, (3,))).any()
