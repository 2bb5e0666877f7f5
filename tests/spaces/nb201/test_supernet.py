"""The TE-NAS NB201 supernet against an independent float64 NumPy forward."""

import jax
import numpy as np
import pytest

from jaxnas import nn as jnn
from jaxnas.proxies import linear_regions as lr
from jaxnas.spaces.nb201 import spec, supernet
from tests import numpy_nb201 as npn
from tests.tenas_helpers import (ALL_OPS, NO_PATH, numpy_supernet,
                                 random_mask)


def test_one_hot_supernet_is_the_nb201_network(tiny_images):
  """A one-hot mask (or the op array itself) computes NB201's TinyNetwork:
  the independent NumPy forward of tests/numpy_nb201 on the same
  parameters."""
  sup = supernet.SuperNetwork(channels=2, cells_per_stage=1, num_classes=3)
  shapes = jax.eval_shape(sup.init, jax.random.PRNGKey(0), tiny_images,
                          supernet.full_mask())['params']
  rng = np.random.default_rng(0)  # any parameters, BN affine included
  params = jax.tree.map(lambda a: rng.normal(size=a.shape).astype(
      np.float32), shapes)
  apply = jax.jit(lambda x, arch: sup.apply({'params': params}, x, arch)[0])
  for ops in (ALL_OPS, NO_PATH):
    got = apply(tiny_images, supernet.one_hot(ops))
    # TinyNetwork's layout: one scanned 'stage{s}' with a leading cell axis.
    tiny = {(k[:-len('_cell0')] if k.endswith('_cell0') else k):
            (jax.tree.map(lambda a: np.asarray(a)[None], v)
             if k.endswith('_cell0') else v) for k, v in params.items()}
    want, _ = npn.forward(jax.tree.map(np.asarray, tiny), tiny_images, ops,
                          1)
    np.testing.assert_allclose(np.asarray(got), want, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(np.asarray(apply(tiny_images, ops)), want,
                               rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize('seed', [0, 1])
def test_mixed_edges_and_taps_match_numpy(seed):
  """Mixture weights 1/k, masked ops adding nothing, and the ReLU taps
  (which nodes report) against the NumPy forward."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(7, 6, 6, 2)).astype(np.float32)
  mask = random_mask(seed)
  net = supernet.SuperNetwork(channels=2, stages=1, stem=False,
                              num_classes=2,
                              opts=jnn.NetOptions(tap=lr.TAP))
  params = jax.jit(net.init)(jax.random.PRNGKey(seed), x, mask)['params']
  logits, acc = jax.jit(net.apply)({'params': params}, x, mask)
  want, relu_inputs, sources = numpy_supernet(params, x, mask, stem=False)
  np.testing.assert_allclose(np.asarray(logits), want, rtol=2e-4, atol=2e-5)
  # The tap: nodes 0, 1, 2 (zero bits when no conv op reads them) + lastact.
  expected = []
  for i in range(3):
    calls = [v for v, src in zip(relu_inputs, sources) if src == i]
    readers = sum(mask[e, [spec.CONV1, spec.CONV3]].sum()
                  for e, (a, _) in enumerate(spec.EDGES) if a == i)
    assert len(calls) == readers  # a ReLU call per conv op
    expected.append(calls[0].reshape(len(x), -1) > 0 if calls else
                    np.zeros((len(x), 6 * 6 * 2), bool))
  assert sources[-1] is None  # lastact
  expected.append(relu_inputs[-1].reshape(len(x), -1) > 0)
  np.testing.assert_array_equal(np.concatenate(
      [np.asarray(a) for a in acc], 1), np.concatenate(expected, 1))


def test_mask_validation():
  with pytest.raises(ValueError, match=r'expected shape \(6, 5\)'):
    supernet.check_mask(np.ones((5, 5)))
  with pytest.raises(ValueError, match='must be 0 or 1'):
    supernet.check_mask(np.full((6, 5), 0.5))
  assert supernet.mask_ops(supernet.full_mask()) is None
  np.testing.assert_array_equal(supernet.mask_ops(supernet.one_hot(ALL_OPS)),
                                ALL_OPS)
  assert supernet.region_init('he_normal') == 'he_normal_fan_in'
  assert supernet.region_init('torch') == 'torch'
