"""Shared network blocks: initialisers, taps and records, BatchNorm, the
custom-gradient convolution, pooling, gates, and the weight-layer helpers."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import nn as jnn
from tests import numpy_nb201 as npn

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
}


def draw(init, shape, *args):
  return np.asarray(init(KEY, shape, *args))


@pytest.mark.parametrize('name', jnn.INIT_NAMES)
def test_init_variance_matches_its_formula(name):
  assert set(jnn.INIT_NAMES) == set(INITS)
  rule, variance = INITS[name]
  w = draw(jnn.get_init(name), CONV_SHAPE)
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
    np.testing.assert_allclose(draw(jnn.get_init(name), shape), want,
                               rtol=1e-6)
  # `live` multiplies the draw: 0 for a weight the real network lacks.
  assert not draw(jnn.get_init(name), (3, 3, 2, 2), 0.0).any()


def test_unknown_init_names_the_choices():
  with pytest.raises(ValueError, match="unknown weight init 'xavier'; choose "
                     'one of torch, he_normal'):
    jnn.get_init('xavier')
  with pytest.raises(ValueError, match='unknown weight init'):
    jnn.NetOptions(weight_init='xavier')
  with pytest.raises(ValueError, match='unknown weight init'):
    jnn.masked_kernel_init('xavier')


@pytest.mark.parametrize('name', ['torch', 'he_normal', 'he_normal_fan_in',
                                  'gaussian'])
def test_masked_init_uses_real_fans(name):
  init = jnn.masked_kernel_init(name)
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
  plain = draw(jnn.get_init(name), (3, 3, 8, 8))
  np.testing.assert_allclose(full, plain, rtol=1e-6)


def test_masked_init_of_a_dead_slot_is_zero():
  init = jnn.masked_kernel_init('he_normal')
  w = draw(init, (3, 3, 4, 4), jnp.ones(4), jnp.zeros(4))  # fan_out 0
  assert np.isfinite(w).all() and not w.any()


def test_torch_bias_and_constant_inits():
  b = draw(jnn.torch_bias_init(64), (20000,))
  assert np.abs(b).max() <= 1 / 8 and b.var() == pytest.approx(
      (1 / 8)**2 / 3, rel=0.05)
  assert (np.asarray(jnn.ones(KEY, (3,))) == 1).all()
  assert not np.asarray(jnn.zeros(KEY, (3,))).any()


# --- taps and records --------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ReluSum(jnn.Tap):
  """Sum of count * (masked) ReLU inputs."""
  hooks = frozenset({'relu'})

  def init(self, batch_size):
    return jnp.zeros(())

  def relu(self, acc, x, count=1, mask=None):
    return acc + count * jnp.sum(x if mask is None else x * mask)


@dataclasses.dataclass(frozen=True)
class FeatureAndBnCount(jnn.Tap):
  """feature calls count 1 each, bn calls 100 each."""
  hooks = frozenset({'feature', 'bn'})

  def init(self, batch_size):
    return jnp.zeros((), jnp.int32)

  def feature(self, acc, x, kind):
    return acc + 1

  def bn(self, acc, mean, var, count):
    return acc + 100


def test_taps_call_only_the_taps_that_listen():
  taps = jnn.Taps((ReluSum(), FeatureAndBnCount()))
  assert taps.hooks == {'relu', 'feature', 'bn'}
  assert jnn.NO_TAP.hooks == frozenset() and jnn.Taps().hooks == frozenset()
  assert jnn.NetOptions(tap=taps).listens('bn')
  assert not jnn.NetOptions().listens('relu')
  x = jnp.asarray([[1.0, -2.0, 3.0]])
  acc = taps.init(4)
  acc = taps.relu(acc, x, 2, jnp.asarray([1.0, 1.0, 0.0]))  # 2 * (1 - 2)
  acc = taps.feature(acc, x, 'cell')
  acc = taps.bn(acc, x[0], x[0], 3)
  assert float(acc[0]) == -2.0 and int(acc[1]) == 101
  # No listener: the accumulator comes back untouched.
  only_relu = jnn.Taps((ReluSum(),))
  acc = only_relu.init(4)
  assert only_relu.feature(acc, x, 'op') is acc
  assert jnn.NO_TAP.relu((), x) == ()


def test_what_a_tap_sees_carries_no_gradient():
  x = jnp.asarray([1.0, -2.0, 3.0])
  direct = jax.grad(lambda v: ReluSum().relu(0.0, v))(x)
  np.testing.assert_array_equal(direct, [1.0, 1.0, 1.0])
  through = jax.grad(lambda v: jnn.Taps((ReluSum(),)).relu((0.0,), v)[0])(x)
  np.testing.assert_array_equal(through, [0.0, 0.0, 0.0])


def test_relu_returns_the_relu_and_reports_its_input():
  x = jnp.asarray([[-1.0, 0.5], [2.0, -3.0]])
  y, acc = jnn.relu(x, jnp.zeros(()), ReluSum(), count=3)
  np.testing.assert_array_equal(y, [[0.0, 0.5], [2.0, 0.0]])
  assert float(acc) == 3 * (-1.5)  # the input, not the output


def test_record_keeps_values_through_a_scan():
  def body(record, v):
    return record.put(v * jnp.ones(2)), None

  record, _ = jax.lax.scan(body, jnn.Record.empty(5, (2,)),
                           jnp.asarray([1.0, 2.0, 3.0]))
  assert int(record.count) == 3
  np.testing.assert_array_equal(record.values, [[1, 1], [2, 2], [3, 3],
                                                [0, 0], [0, 0]])
  np.testing.assert_array_equal(record.valid(), [1, 1, 1, 0, 0])
  jnn.check_record(record.count, 5, 'relu sites')  # fits: no error


def test_record_overflow_is_counted_and_refused_on_the_host():
  record = jnn.Record.empty(2)
  for v in (1.0, 2.0, 3.0):
    record = record.put(v)
  assert int(record.count) == 3
  np.testing.assert_array_equal(record.valid(), [1, 1])
  with pytest.raises(ValueError, match='relu sites: 3 sites reported but '
                     'the record holds 2'):
    jnn.check_record(record.count, 2, 'relu sites')


# --- BatchNorm and pooling ---------------------------------------------------


def test_moments_are_per_channel_mean_and_biased_variance():
  rng = np.random.default_rng(0)
  x = (3.0 + rng.normal(size=(4, 5, 5, 3)) * [1.0, 0.1, 2.0]).astype(
      np.float32)
  mean, var = jax.jit(jnn.moments)(jnp.asarray(x))
  x64 = x.astype(np.float64)
  np.testing.assert_allclose(mean, x64.mean(axis=(0, 1, 2)), rtol=1e-6)
  np.testing.assert_allclose(var, x64.var(axis=(0, 1, 2)), rtol=1e-3,
                             atol=1e-5)
  # A constant channel: variance exactly 0, never negative from rounding.
  _, var = jnn.moments(jnp.full((2, 3, 3, 4), 0.1, jnp.float32))
  assert (np.asarray(var) >= 0).all() and np.asarray(var).max() < 1e-7


def test_batch_norm_normalises_and_reports_its_statistics():
  rng = np.random.default_rng(1)
  x = rng.normal(2.0, 3.0, size=(4, 3, 3, 5)).astype(np.float32)
  scale = rng.normal(size=5).astype(np.float32)
  bias = rng.normal(size=5).astype(np.float32)
  seen = []
  want = npn.bn(x.astype(np.float64), scale, bias,
                lambda m, v, n: seen.append((m, v, n)))

  @dataclasses.dataclass(frozen=True)
  class BnRecorder(jnn.Tap):
    hooks = frozenset({'bn'})

    def bn(self, acc, mean, var, count):
      return (mean, var, count)

  opts = jnn.NetOptions(tap=BnRecorder())
  y, (mean, var, count) = jnn.batch_norm(jnp.asarray(x), scale, bias, opts,
                                         None)
  np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)
  (want_mean, want_var, want_count), = seen
  np.testing.assert_allclose(mean, want_mean, rtol=1e-5)
  np.testing.assert_allclose(var, want_var, rtol=1e-4)
  assert count == want_count == 36
  # bn=False: the identity, and the tap hears nothing.
  y, acc = jnn.batch_norm(jnp.asarray(x), scale, bias,
                          jnn.NetOptions(bn=False, tap=BnRecorder()), 'acc')
  assert acc == 'acc'
  np.testing.assert_array_equal(y, x)


def test_avg_pool_excludes_padding_from_the_mean():
  x = np.random.default_rng(2).normal(size=(2, 4, 5, 3))
  got = jnn.avg_pool_3x3(jnp.asarray(x, jnp.float32))
  np.testing.assert_allclose(got, npn.avg_pool_3x3(x), rtol=1e-5, atol=1e-6)
  # A corner averages its 4 in-image neighbours.
  assert float(got[0, 0, 0, 0]) == pytest.approx(x[0, :2, :2, 0].mean(),
                                                 rel=1e-5)


# --- the convolution ---------------------------------------------------------


def lax_conv(x, kernel, stride=1, padding=None):
  p = kernel.shape[0] // 2 if padding is None else padding
  return jax.lax.conv_general_dilated(
      x, kernel, (stride, stride), ((p, p), (p, p)),
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
      precision=jax.lax.Precision.HIGHEST)


def conv_operands(k, seed=0, c_in=3, c_out=4):
  rng = np.random.default_rng(seed)
  x = jnp.asarray(rng.normal(size=(2, 6, 5, c_in)), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(k, k, c_in, c_out)) / k, jnp.float32)
  return x, kernel


def close(a, b, rtol=1e-4):
  for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    scale = float(np.abs(np.asarray(v)).max()) or 1.0
    np.testing.assert_allclose(u, v, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize('k', [1, 3, 5])
def test_same_conv_values_and_gradients_equal_lax(k):
  x, kernel = conv_operands(k)
  close(jnn.conv(x, kernel), lax_conv(x, kernel))
  np.testing.assert_allclose(jnn.conv(x, kernel, padding=k // 2),
                             jnn.conv(x, kernel))
  close(jnn.conv(x, kernel), npn.conv(np.asarray(x, np.float64),
                                      np.asarray(kernel, np.float64)))
  weights = jnp.asarray(np.random.default_rng(9).normal(
      size=(2, 6, 5, 4)), jnp.float32)

  def loss(conv):
    return lambda x, kernel: jnp.sum(weights * jnp.tanh(conv(x, kernel)))

  close(jax.jit(jax.grad(loss(jnn.conv), (0, 1)))(x, kernel),
        jax.jit(jax.grad(loss(lax_conv), (0, 1)))(x, kernel))


@pytest.mark.parametrize('k', [1, 3])
def test_same_conv_second_and_third_derivatives_equal_lax(k):
  x, kernel = conv_operands(k, seed=1)
  vx, vk = conv_operands(k, seed=2)

  def along(conv):
    # The loss along a line through (x, kernel): its derivatives in t are
    # directional derivatives of every order.
    def g(t):
      y = conv(x + t * vx, kernel + t * vk)
      return jnp.sum(jnp.tanh(y) * y)
    return g

  for order in (2, 3):
    ours, ref = along(jnn.conv), along(lax_conv)
    for _ in range(order):  # reverse over reverse (over reverse)
      ours, ref = jax.grad(ours), jax.grad(ref)
    close(jax.jit(ours)(0.3), jax.jit(ref)(0.3), rtol=1e-3)

  # A Hessian-vector product in the parameters, as GraSP takes it.
  def hvp(conv):
    grad_k = jax.grad(lambda w: jnp.sum(jnp.tanh(conv(x, w))**2))
    return jax.grad(lambda w: jnp.vdot(grad_k(w), vk))(kernel)

  close(jax.jit(hvp, static_argnums=0)(jnn.conv),
        jax.jit(hvp, static_argnums=0)(lax_conv), rtol=1e-3)


def test_other_convolutions_fall_back_to_lax():
  x, kernel = conv_operands(3, seed=3)
  close(jnn.conv(x, kernel, stride=2, padding=1), lax_conv(x, kernel, 2))
  # 'SAME' is XLA's (on 6 rows at stride 2: one row of padding, below).
  close(jnn.conv(x, kernel, stride=2), jax.lax.conv_general_dilated(
      x, kernel, (2, 2), ((0, 1), (1, 1)),
      dimension_numbers=('NHWC', 'HWIO', 'NHWC')))
  close(jnn.conv(x, kernel, padding=0), lax_conv(x, kernel, padding=0))
  x4, even = conv_operands(2, seed=4)
  close(jnn.conv(x4, even, padding='SAME'), jax.lax.conv_general_dilated(
      x4, even, (1, 1), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC')))


def test_forward_mode_needs_the_plain_convolution():
  x, kernel = conv_operands(3, seed=5)
  tangent = jnp.ones_like(kernel)
  with pytest.raises(TypeError, match='custom_vjp'):
    jax.jvp(lambda w: jnn.conv(x, w), (kernel,), (tangent,))
  opts = jnn.NetOptions(forward_mode=True)
  y, dy = jax.jvp(lambda w: opts.conv(x, w, 1, 1), (kernel,), (tangent,))
  close(y, lax_conv(x, kernel))
  close(dy, lax_conv(x, tangent))  # linear in the kernel


# --- gates and layers --------------------------------------------------------


def test_apply_gate_scales_each_example_and_channel():
  y = jnp.asarray(np.random.default_rng(6).normal(size=(2, 3, 3, 4)),
                  jnp.float32)
  g = jnp.asarray(np.random.default_rng(7).normal(size=(2, 4)), jnp.float32)
  assert jnn.apply_gate(y, None) is y
  np.testing.assert_allclose(jnn.apply_gate(y, g),
                             np.asarray(y) * (1 + np.asarray(g))[:, None,
                                                                 None, :],
                             rtol=1e-6)
  np.testing.assert_allclose(jnn.apply_gate(y[:, 0, 0], g),
                             np.asarray(y[:, 0, 0]) * (1 + np.asarray(g)),
                             rtol=1e-6)


def test_dense_is_x_kernel_plus_bias_with_torch_bias():
  x = jnp.asarray(np.random.default_rng(8).normal(size=(3, 16)), jnp.float32)
  layer = jnn.Dense(5)
  variables = jax.jit(layer.init)(KEY, x)
  assert set(variables) == {'params'}  # init makes no gates
  p = variables['params']
  want = np.asarray(x) @ np.asarray(p['kernel']) + np.asarray(p['bias'])
  np.testing.assert_allclose(jax.jit(layer.apply)(variables, x), want,
                             rtol=1e-5,
                             atol=1e-6)
  assert np.abs(p['bias']).max() <= 1 / 4 and np.asarray(p['bias']).any()
  for other in (jnn.Dense(5, 'he_normal'),
                jnn.Dense(5, kernel_init=jnn.get_init('gaussian'))):
    assert not np.asarray(jax.jit(other.init)(KEY, x)['params']['bias']).any()


def test_dense_gate_gradient_is_output_times_its_gradient():
  x = jnp.asarray(np.random.default_rng(10).normal(size=(3, 6)), jnp.float32)
  w = jnp.asarray(np.random.default_rng(11).normal(size=(3, 4)), jnp.float32)
  layer = jnn.Dense(4)
  params = jax.jit(layer.init)(KEY, x)['params']
  _, made = layer.apply({'params': params}, x, mutable=[jnn.GATES])
  gates = made[jnn.GATES]
  assert gates['kernel'].shape == (3, 4) and not np.asarray(
      gates['kernel']).any()

  def loss(gates):
    return jnp.sum(w * layer.apply({'params': params, jnn.GATES: gates}, x))

  a = np.asarray(x) @ np.asarray(params['kernel']) + np.asarray(
      params['bias'])
  # L = sum w * a * (1 + g): dL/dg = a * dL/da = a * w.
  np.testing.assert_allclose(jax.jit(jax.grad(loss))(gates)['kernel'],
                             a * np.asarray(w), rtol=1e-5, atol=1e-6)


def test_conv_bn_values_and_gate_gradient():
  rng = np.random.default_rng(12)
  x = jnp.asarray(rng.normal(size=(2, 5, 5, 3)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(2, 5, 5, 4)), jnp.float32)
  block = jnn.ConvBN(4, 3)
  params = jax.jit(block.init)(KEY, x, ())['params']
  assert params['kernel'].shape == (3, 3, 3, 4)
  scale, bias = np.asarray(params['scale']), np.asarray(params['bias'])
  assert (scale == 1).all() and not bias.any()
  y, acc = jax.jit(block.apply)({'params': params}, x, ())
  conv_out = npn.conv(np.asarray(x, np.float64),
                      np.asarray(params['kernel'], np.float64))
  np.testing.assert_allclose(y, npn.bn(conv_out, scale, bias), rtol=1e-4,
                             atol=1e-4)
  assert acc == ()
  strided, _ = jax.jit(jnn.ConvBN(4, 3, stride=2).apply)({'params': params},
                                                         x, ())
  np.testing.assert_allclose(
      strided, npn.bn(npn.conv(np.asarray(x, np.float64),
                               np.asarray(params['kernel'], np.float64), 2),
                      scale, bias), rtol=1e-4, atol=1e-4)

  # d loss / d gate[b, c] = sum over positions of a * dL/da, a the conv
  # output (Fisher's per-channel sum), with dL/da from a BN written here.
  gates = block.apply({'params': params}, x, (),
                      mutable=[jnn.GATES])[1][jnn.GATES]

  def loss_of_conv_out(a):
    mean = a.mean(axis=(0, 1, 2))
    var = a.var(axis=(0, 1, 2))
    return jnp.sum(w * (a - mean) / jnp.sqrt(var + 1e-5))

  a = jnp.asarray(conv_out, jnp.float32)
  want = np.sum(np.asarray(a * jax.grad(loss_of_conv_out)(a)), axis=(1, 2))
  got = jax.jit(jax.grad(lambda g: jnp.sum(w * block.apply(
      {'params': params, jnn.GATES: g}, x, ())[0])))(gates)['kernel']
  np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


# --- weight layers -----------------------------------------------------------


def layered_params():
  rng = np.random.default_rng(13)
  arr = lambda *shape: jnp.asarray(rng.normal(size=shape), jnp.float32)
  return {'stem': {'kernel': arr(3, 3, 3, 4), 'scale': arr(4)},
          'cells': {'edge_kernel': arr(2, 1, 1, 4, 4), 'bias': arr(2, 4)},
          'head': {'kernel': arr(4, 10), 'bias': arr(10)},
          'mlp': {'kernel': arr(3, 4, 2)}}


def test_weight_layers_split_stacked_kernels():
  params = layered_params()
  layers = jnn.weight_layers(params)
  paths = [path for path, _ in layers]
  assert paths == [('cells', 'edge_kernel', '0'), ('cells', 'edge_kernel', '1'),
                   ('head', 'kernel'), ('mlp', 'kernel', '0'),
                   ('mlp', 'kernel', '1'), ('mlp', 'kernel', '2'),
                   ('stem', 'kernel')]
  leaves = dict(layers)
  np.testing.assert_array_equal(leaves[('cells', 'edge_kernel', '1')],
                                params['cells']['edge_kernel'][1])
  np.testing.assert_array_equal(leaves[('mlp', 'kernel', '2')],
                                params['mlp']['kernel'][2])
  assert jnn.is_kernel(('a', 'edge0_conv3x3_kernel'))
  assert not jnn.is_kernel(('kernel', 'bias'))
  with pytest.raises(ValueError, match='kernel bad/kernel has rank 1'):
    jnn.weight_layers({'bad': {'kernel': jnp.ones(3)}})


def test_layer_sum_is_a_sum_over_layers():
  params = layered_params()
  grads = jax.tree.map(lambda v: 2.0 * v + 1.0, params)
  kernels = [params['cells']['edge_kernel'][0],
             params['cells']['edge_kernel'][1], params['head']['kernel'],
             *params['mlp']['kernel'], params['stem']['kernel']]
  kernels = [np.asarray(k, np.float64) for k in kernels]
  # A per-layer norm tells stacked cells apart from one big layer.
  norms = jax.jit(lambda p: jnn.layer_sum(
      lambda w: jnp.sqrt(jnp.sum(w**2)), p))(params)
  assert float(norms) == pytest.approx(
      sum(np.linalg.norm(k) for k in kernels), rel=1e-5)
  products = jax.jit(lambda p, g: jnn.layer_sum(
      lambda w, d: jnp.sum(w * d), p, g))(params, grads)
  assert float(products) == pytest.approx(
      sum(np.sum(k * (2 * k + 1)) for k in kernels), rel=1e-5)


def test_only_kernels_zeroes_everything_else():
  params = layered_params()
  kept = jnn.only_kernels(params)
  for path, leaf in jnn.tree_paths(kept):
    original = params
    for name in path:
      original = original[name]
    if path[-1].endswith('kernel'):
      np.testing.assert_array_equal(leaf, original)
    else:
      assert leaf.shape == original.shape and not np.asarray(leaf).any()
  assert len(jnn.tree_paths(kept)) == 7
