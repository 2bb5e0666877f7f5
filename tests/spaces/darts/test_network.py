"""The DARTS (NB301) network with the genotype as data against an
independent NumPy float64 forward of each genotype (tests/numpy_darts.py),
on a tiny network: C=2, 4 cells (normal, reduce, reduce, normal: every kind
of cell and preprocessing), 8x8 images."""

import os

import jax
import numpy as np
import pytest

from jaxnas import engine
from jaxnas import nn as jnn
from jaxnas.proxies import get_proxies, naswot
from jaxnas.spaces import get_space
from jaxnas.spaces.darts import cost, network, ops, spec
from tests import numpy_darts, numpy_nb201

C, LAYERS = 2, 4
GENOTYPES = [
    # NASLib's first NB301 row.
    'max_pool_3x3~1;dil_conv_3x3~0;skip_connect~1;max_pool_3x3~0;'
    'dil_conv_5x5~0;avg_pool_3x3~3;sep_conv_5x5~2;sep_conv_3x3~1 '
    'dil_conv_5x5~0;dil_conv_5x5~1;sep_conv_3x3~1;sep_conv_5x5~0;'
    'sep_conv_5x5~3;avg_pool_3x3~1;dil_conv_5x5~0;max_pool_3x3~1',
    # Skips everywhere (stride-2 FactorizedReduce skips in the reduction
    # cell, identities from its nodes), a state read by two conv edges.
    'skip_connect~0;skip_connect~1;sep_conv_3x3~2;sep_conv_3x3~0;'
    'skip_connect~2;dil_conv_3x3~3;avg_pool_3x3~4;skip_connect~2 '
    'skip_connect~0;skip_connect~1;skip_connect~2;sep_conv_5x5~1;'
    'skip_connect~3;max_pool_3x3~0;dil_conv_5x5~4;skip_connect~2',
    # TE-NAS's CIFAR-10 genotype.
    'dil_conv_3x3~0;sep_conv_5x5~1;sep_conv_3x3~0;sep_conv_3x3~2;'
    'skip_connect~0;dil_conv_5x5~1;sep_conv_3x3~1;sep_conv_5x5~3 '
    'sep_conv_5x5~0;sep_conv_5x5~1;sep_conv_5x5~1;sep_conv_5x5~2;'
    'sep_conv_3x3~1;sep_conv_3x3~3;sep_conv_5x5~2;sep_conv_3x3~4',
]


@pytest.fixture(scope='module')
def tiny_net():
  net = network.DartsNetwork(C, LAYERS, opts=jnn.NetOptions(tap=naswot.TAP))
  return jax.jit(net.init), jax.jit(net.apply)


def _params64(variables):
  return jax.tree.map(lambda a: np.asarray(a, np.float64),
                      variables['params'])


@pytest.mark.parametrize('text', GENOTYPES)
def test_forward_and_naswot_kernel_match_numpy(tiny_net, tiny_images, text):
  init, apply = tiny_net
  g = spec.parse(text)
  arr = spec.to_array(g)
  variables = init(jax.random.PRNGKey(3), tiny_images, arr)
  logits, k = apply(variables, tiny_images, arr)
  ref_logits, relu_inputs = numpy_darts.forward(
      _params64(variables), tiny_images, g, LAYERS)
  # float32 round-off through eight cells: relative to the logits' scale.
  np.testing.assert_allclose(np.asarray(logits), ref_logits, rtol=1e-4,
                             atol=1e-4 * np.abs(ref_logits).max())
  ref_k = numpy_nb201.naswot_kernel_brute_force(relu_inputs)
  np.testing.assert_array_equal(np.asarray(k), ref_k)


def test_live_parameters_are_the_real_network(tiny_net, tiny_images):
  """Kernels of ops not chosen are zero; the live ones (and every BN and
  classifier parameter) are exactly cost.param_count's network."""
  init = tiny_net[0]
  for text in GENOTYPES:
    g = spec.parse(text)
    params = _params64(init(jax.random.PRNGKey(0), tiny_images,
                            spec.to_array(g)))
    live = 0
    for path, leaf in jnn.tree_paths(params):
      if not jnn.is_kernel(path):
        live += leaf.size
        continue
      cell = path[0]
      kinds = [leaf] if leaf.ndim == 4 else list(leaf)  # stacked per pair
      for p, kernel in enumerate(kinds):
        live += kernel.size if kernel.any() else 0
        if leaf.ndim == 5:  # an edge kernel: live iff its pair's op
          reduce = cell in {f'cell{i}' for i in
                            network.reduction_cells(LAYERS)}
          name, src = (g.reduce if reduce else g.normal)[p]
          # A skip has weights only at stride 2 (FactorizedReduce).
          expect = path[-1].startswith(f'edge_{name}_') and (
              name != 'skip_connect' or src < 2)
          assert kernel.any() == expect, (path, p, text)
    assert live == cost.param_count(g, C, LAYERS, 10), text


def test_stacked_kernel_names_cover_every_op():
  names = {n for n, _, _ in ops.edge_specs(4, np.zeros(8, np.int32),
                                           np.ones(8, bool), True)}
  assert {n.split('_', 1)[1].rsplit('_', 2)[0] for n in names} == {
      'sep_conv_3x3', 'sep_conv_5x5', 'dil_conv_3x3', 'dil_conv_5x5',
      'skip_connect'}


def test_depthwise_conv_matches_grouped_lax_conv():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(2, 8, 8, 3)).astype(np.float32)
  for k, stride, dilation in [(3, 1, 1), (5, 2, 1), (3, 2, 2), (5, 1, 2)]:
    kernel = rng.normal(size=(k, k, 1, 3)).astype(np.float32)
    pad = dilation * (k - 1) // 2
    ref = jax.lax.conv_general_dilated(
        x, kernel, (stride, stride), ((pad, pad), (pad, pad)),
        rhs_dilation=(dilation, dilation),
        dimension_numbers=('NHWC', 'HWIO', 'NHWC'), feature_group_count=3)
    np.testing.assert_allclose(jnn.depthwise_conv(x, kernel, stride,
                                                  dilation), ref,
                               rtol=1e-5, atol=1e-5)


def test_one_compilation_for_any_number_of_genotypes(tiny_images):
  """NASWOT on several genotypes through the engine: one program."""
  space = get_space('darts', channels=C, layers=LAYERS)
  eng = engine.Engine(space, get_proxies(['naswot']), devices=1)
  archs = [spec.parse(t) for t in GENOTYPES] + space.sample(
      np.random.default_rng(0), 3)
  scores = list(eng.score(jax.random.PRNGKey(0), archs, tiny_images))
  assert eng.compilations == 1 and len(scores) == len(archs)
  assert all(np.isfinite(s['naswot'].values[0]) for s in scores)


@pytest.mark.skipif(not os.environ.get('JAXNAS_SLOW_TESTS'),
                    reason='set JAXNAS_SLOW_TESTS=1 (compiles a DARTS '
                    'backward pass: ~2 CPU-minutes)')
def test_gradients_through_every_op_are_finite(tiny_images):
  """snip (a weight gradient through the switches and the scan) on a
  3-cell network (normal, reduce, reduce), on genotypes using every op:
  finite and positive. (3 cells: the backward pass of the scanned switches
  is what takes long to compile on XLA:CPU.)"""
  space = get_space('darts', channels=C, layers=3)
  eng = engine.Engine(space, get_proxies(['snip']), devices=1)
  labels = np.arange(tiny_images.shape[0]) % 10
  archs = [spec.parse(t) for t in GENOTYPES]
  for s in eng.score(jax.random.PRNGKey(0), archs, tiny_images, labels):
    value = s['snip'].values[0]
    assert value is not None and np.isfinite(value) and value > 0, s[
        'snip'].note
  assert eng.compilations == 1
