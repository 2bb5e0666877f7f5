"""linear_regions: patches, exact counting, and the engine's keys and
patches, against brute force."""

import jax
import numpy as np

from jaxnas import engine
from jaxnas import nn as jnn
from jaxnas.proxies import get_proxy
from jaxnas.proxies import linear_regions as lr
from jaxnas.spaces.nb201 import spec, supernet
from tests.tenas_helpers import (ALL_OPS, NO_PATH, SmallTenasSpace,
                                 numpy_supernet, random_mask)

SPACE = SmallTenasSpace()


def test_sample_patches_are_one_channel_crops():
  rng = np.random.default_rng(0)
  images = rng.normal(size=(4, 5, 6, 3)).astype(np.float32)
  patches = lr.sample_patches(images, 40, np.random.default_rng(1))
  assert patches.shape == (40, 3, 3, 1)
  crops = {images[n, y:y + 3, x:x + 3, c].tobytes(): c
           for n in range(4) for y in range(3) for x in range(4)
           for c in range(3)}
  assert all(p[..., 0].tobytes() in crops for p in patches)
  assert {crops[p[..., 0].tobytes()] for p in patches} == {0, 1, 2}


def test_count_regions_matches_python_set():
  rng = np.random.default_rng(0)
  bits = rng.integers(0, 2, size=(200, 11)).astype(bool)
  bits[100:] = bits[:100]  # duplicates
  packed = np.packbits(bits, axis=1)
  assert lr.count_regions(packed)[0] == len({tuple(b) for b in bits})


def test_engine_counts_distinct_patterns_brute_force(tiny_images):
  """R from the engine (packed bits, np.unique) equals a Python set of the
  NumPy forward's sign patterns over every ReLU output, per BN batch, on
  the init and patches the engine derives from the seed key."""
  eng = engine.Engine(SPACE, [get_proxy('linear_regions', inputs=60,
                                        batch=20)], inits=2, devices=1)
  key = jax.random.PRNGKey(4)
  archs = [random_mask(4), ALL_OPS, NO_PATH]
  res = list(eng.score(key, archs, tiny_images))
  assert eng.compilations == 2  # masks [6, 5] and op arrays [6]
  patches = lr.sample_patches(tiny_images, 60, np.random.default_rng(
      np.asarray(jax.random.key_data(key)).tolist()))
  net = SPACE.network(form='tenas_regions')
  for arch, r in zip(archs, res):
    mask = (supernet.check_mask(arch) if np.asarray(arch).ndim == 2 else
            supernet.one_hot(arch))
    keys = jax.random.split(jax.random.fold_in(key, SPACE.arch_id(arch)), 2)
    for i in range(2):
      params = net.init(jax.random.fold_in(keys[i], 1), patches[:2],
                        mask)['params']
      patterns, ambiguous = [], 0
      for b in range(3):
        x = patches[20 * b:20 * (b + 1)]
        _, pre, _ = numpy_supernet(params, x, mask, stem=False)
        pre = np.concatenate([v.reshape(20, -1) for v in pre], 1)
        patterns += [tuple(np.sign(np.maximum(row, 0.0))) for row in pre]
        ambiguous += int(np.sum((pre != 0) & (np.abs(pre) < 1e-5)))
      assert ambiguous == 0  # no unit within rounding of the ReLU kink
      assert r['linear_regions'].values[i] == len(set(patterns))
  assert res[0]['linear_regions'].values[0] > 1


def test_regions_network_and_options():
  net = SPACE.network(jnn.NetOptions('he_normal'), form='tenas_regions')
  assert (net.channels, net.stages, net.stem) == (1, 1, False)
  assert net.opts.weight_init == 'he_normal_fan_in'
  proxy = get_proxy('linear_regions')
  assert proxy.higher_is_better and proxy.needs.inputs == 'prepared'
  assert proxy.key == 'linear_regions(inputs=3000,batch=1000)'
  assert spec.NUM_EDGES == 6
