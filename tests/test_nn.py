"""Shared network blocks (jaxnas.nn): options, BatchNorm, gates, layers
and the weight-layer helpers."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import nn as jnn
from tests import numpy_nb201 as npn

KEY = jax.random.PRNGKey(0)


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
  y, (mean, var, count), stats = jnn.batch_norm(jnp.asarray(x), scale,
                                                bias, opts, None)
  assert stats is None  # scoring keeps no running statistics
  np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)
  (want_mean, want_var, want_count), = seen
  np.testing.assert_allclose(mean, want_mean, rtol=1e-5)
  np.testing.assert_allclose(var, want_var, rtol=1e-4)
  assert count == want_count == 36
  # bn=False: the identity, and the tap hears nothing.
  y, acc, _ = jnn.batch_norm(jnp.asarray(x), scale, bias,
                             jnn.NetOptions(bn=False, tap=BnRecorder()),
                             'acc')
  assert acc == 'acc'
  np.testing.assert_array_equal(y, x)


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
