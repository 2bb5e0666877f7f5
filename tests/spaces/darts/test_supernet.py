"""TE-NAS's DARTS supernet: masks (NumPy) and the network on tiny inputs."""

import jax
import numpy as np
import pytest

from jaxnas import nn as jnn
from jaxnas.errors import SpecError
from jaxnas.proxies import linear_regions
from jaxnas.spaces import get_space
from jaxnas.spaces.darts import sampling, spec, supernet as sn

TENAS = ('dil_conv_3x3~0;sep_conv_5x5~1;sep_conv_3x3~0;sep_conv_3x3~2;'
         'skip_connect~0;dil_conv_5x5~1;sep_conv_3x3~1;sep_conv_5x5~3 '
         'sep_conv_5x5~0;sep_conv_5x5~1;sep_conv_5x5~1;sep_conv_5x5~2;'
         'sep_conv_3x3~1;sep_conv_3x3~3;sep_conv_5x5~2;sep_conv_3x3~4')


def test_edges_are_tenas_sorted_order():
  keys = [f'{j}<-{s}' for j, s in sn.EDGES]
  assert keys == sorted(keys) and len(keys) == 14
  assert [sn.edge_index(j, s) for j, s in sn.EDGES] == list(range(14))


def test_genotype_mask_round_trip():
  rng = np.random.default_rng(0)
  for g in [spec.parse(TENAS)] + [sampling.sample(rng) for _ in range(20)]:
    mask = sn.genotype_mask(g)
    assert mask.sum() == 16 and not mask[..., sn.NONE].any()
    back = sn.mask_genotype(mask)
    # Pairs come back in input order within each node.
    assert back is not None and spec.format(back) == spec.format(
        spec.from_array(_sorted_pairs(spec.to_array(g))))
    np.testing.assert_array_equal(np.asarray(sn.to_mask(spec.to_array(g))),
                                  mask)
  assert sn.mask_genotype(sn.full_mask()) is None


def _sorted_pairs(arr):
  out = arr.copy()
  for c in range(2):
    for j in range(4):
      pair = sorted(arr[c, 2 * j:2 * j + 2].tolist(), key=lambda p: p[1])
      out[c, 2 * j:2 * j + 2] = pair
  return out


def test_bad_masks():
  with pytest.raises(SpecError, match='expected shape'):
    sn.check_mask(np.ones((14, 8)))
  with pytest.raises(SpecError, match='0 or 1'):
    sn.check_mask(np.full(sn.MASK_SHAPE, 0.5))


def test_networks_run_on_masks_and_genotypes(tiny_images):
  space = get_space('darts')
  kappa = space.network(jnn.NetOptions(), 10, 'tenas_kappa')
  mask = sn.full_mask()
  v = kappa.init(jax.random.PRNGKey(0), tiny_images, mask)
  logits, _ = kappa.apply(v, tiny_images, mask)
  assert logits.shape == (6, 10) and np.all(np.isfinite(logits))
  # A genotype is its one-op-per-edge mask.
  g = spec.parse(TENAS)
  a, _ = kappa.apply(v, tiny_images, spec.to_array(g))
  b, _ = kappa.apply(v, tiny_images, sn.genotype_mask(g))
  np.testing.assert_allclose(a, b, rtol=1e-6)
  # Linear regions: 1-channel 3x3 patches through the stem-less network;
  # pruning ops changes the patterns it sees (never below 1 region).
  regions = space.network(jnn.NetOptions(tap=linear_regions.TAP), 10,
                          'tenas_regions')
  x = np.random.default_rng(0).normal(size=(50, 3, 3, 1)).astype(np.float32)
  v = regions.init(jax.random.PRNGKey(0), x, mask)
  counts = []
  for m in (mask, sn.genotype_mask(g)):
    _, acc = regions.apply(v, x, m)
    rows = np.asarray(linear_regions.pack_patterns(acc))
    counts.append(len(np.unique(rows, axis=0)))
  assert 1 < counts[1] <= counts[0] <= 50
