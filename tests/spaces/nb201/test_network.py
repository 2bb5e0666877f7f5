import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import nn as jnn
from jaxnas.proxies import naswot
from jaxnas.spaces.nb201 import network, spec
from tests import numpy_nb201

CELLS = [
    '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|'
    'nor_conv_3x3~1|skip_connect~2|',
    '|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|'
    'skip_connect~1|skip_connect~2|',
    # node 1 is zero but two conv edges read it: their ReLUs still count
    '|none~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|'
    'none~2|',
    '|nor_conv_1x1~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|nor_conv_3x3~0|'
    'nor_conv_3x3~1|nor_conv_3x3~2|',
    '|skip_connect~0|+|avg_pool_3x3~0|none~1|+|none~0|skip_connect~1|'
    'avg_pool_3x3~2|',
]
C, N = 3, 2


@pytest.fixture(scope='module')
def tiny_net():
  net = network.TinyNetwork(channels=C, cells_per_stage=N,
                            opts=jnn.NetOptions(tap=naswot.TAP))
  return net, jax.jit(net.init), jax.jit(net.apply)


@pytest.mark.parametrize('arch', CELLS)
def test_forward_and_naswot_kernel_match_numpy(tiny_net, tiny_images, arch):
  net, init, apply = tiny_net
  ops = spec.parse(arch)
  variables = init(jax.random.PRNGKey(7), tiny_images, ops)
  logits, k = apply(variables, tiny_images, ops)
  params = jax.tree.map(lambda x: np.asarray(x, np.float64),
                        variables['params'])
  ref_logits, relu_inputs = numpy_nb201.forward(params, tiny_images, ops, N)
  np.testing.assert_allclose(np.asarray(logits), ref_logits, rtol=2e-4,
                             atol=2e-5)
  ref_k = numpy_nb201.naswot_kernel_brute_force(relu_inputs)
  np.testing.assert_array_equal(np.asarray(k), ref_k)
  # N_A on the diagonal: every ReLU unit agrees with itself.
  n_a = sum(x[0].size for x in relu_inputs)
  assert np.all(np.diag(np.asarray(k)) == n_a)


def test_relu_call_count(tiny_net, tiny_images):
  """ReLU calls: one per conv edge per cell, 2 per reduction, lastact."""
  ops = spec.parse(CELLS[0])
  variables = tiny_net[1](jax.random.PRNGKey(0), tiny_images, ops)
  params = jax.tree.map(np.asarray, variables['params'])
  _, relu_inputs = numpy_nb201.forward(params, tiny_images, ops, N)
  convs = int(np.sum((ops == spec.CONV1) | (ops == spec.CONV3)))
  assert len(relu_inputs) == 3 * N * convs + 2 * 2 + 1


def _cell_params(weight_init):
  cell = network.Cell(16, opts=jnn.NetOptions(weight_init))
  carry = (jnp.zeros((2, 4, 4, 16)), ())
  return jax.jit(cell.init)(jax.random.PRNGKey(0), carry,
                            spec.parse(CELLS[0]))['params']


def test_torch_default_init_bounds():
  v = _cell_params('torch')
  k = np.asarray(v['edge0_conv3x3_kernel'])  # fan_in = 9 * 16
  bound = 1 / np.sqrt(9 * 16)
  assert np.abs(k).max() <= bound
  assert abs(k.var() - bound**2 / 3) < 0.15 * bound**2 / 3
  np.testing.assert_array_equal(np.asarray(v['edge0_bn3x3_scale']), 1.0)
  kh = np.asarray(_cell_params('he_normal')['edge0_conv3x3_kernel'])
  # He normal, fan-out mode: std sqrt(2 / (9 * 16))
  assert abs(kh.std() / np.sqrt(2 / (9 * 16)) - 1) < 0.15


def test_tap_sees_nothing_by_default(tiny_images):
  net = network.TinyNetwork(channels=2, cells_per_stage=1)
  ops = spec.parse(CELLS[0])
  v = jax.jit(net.init)(jax.random.PRNGKey(0), tiny_images, ops)
  logits, acc = jax.jit(net.apply)(v, tiny_images, ops)
  assert logits.shape == (6, 10) and acc == ()
  assert jnn.NO_TAP.relu((), tiny_images) == ()


def test_kernels_of_ops_not_chosen_are_zero():
  """Every edge owns both convolutions; only the chosen one is drawn."""
  v = _cell_params('torch')
  ops = spec.parse(CELLS[0])
  for e in range(6):
    assert np.asarray(v[f'edge{e}_conv1x1_kernel']).any() == (
        ops[e] == spec.CONV1)
    assert np.asarray(v[f'edge{e}_conv3x3_kernel']).any() == (
        ops[e] == spec.CONV3)
