import jax
import numpy as np
import pytest

from jaxnas import engine
from jaxnas.proxies import get_proxy
from jaxnas.proxies import naswot
from jaxnas.spaces import get_space
from jaxnas.spaces.nb201 import spec
from tests.conftest import TINY

A = '|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'
B = '|skip_connect~0|+|nor_conv_3x3~0|none~1|+|nor_conv_1x1~0|avg_pool_3x3~1|nor_conv_3x3~2|'


@pytest.fixture(scope='module')
def scorer():
  return engine.Scorer(get_space('nb201', **TINY), get_proxy('naswot'),
                       inits=3)


def test_two_cells_one_trace_and_order_independent(scorer, tiny_images):
  key = jax.random.PRNGKey(0)
  archs = [spec.parse(A), spec.parse(B)]
  first = list(scorer.score(key, archs, tiny_images))
  again = list(scorer.score(key, archs[::-1], tiny_images))
  assert scorer.traces == 1
  assert first[0].values == again[1].values
  assert first[1].values == again[0].values
  for r in first:
    assert len(r.values) == 3 and len(set(r.values)) == 3  # 3 distinct inits
    assert r.mean == pytest.approx(np.mean(r.values))
    assert r.std == pytest.approx(np.std(r.values))


def test_each_init_is_the_network_under_its_own_key(scorer, tiny_images):
  """Init i of an arch is the plain network initialised with the i-th split
  of fold_in(seed key, arch id)."""
  key = jax.random.PRNGKey(0)
  arch = spec.parse(A)
  multi = next(scorer.score(key, [arch], tiny_images)).values
  net = scorer.network
  init, apply = jax.jit(net.init), jax.jit(net.apply)
  arch_key = jax.random.fold_in(key, spec.to_id(arch))
  for i, k in enumerate(jax.random.split(arch_key, 3)):
    variables = init(k, tiny_images[:2, :8, :8], arch)
    _, kernel = apply(variables, tiny_images, arch)
    value, _ = naswot.naswot_from_kernel(np.asarray(kernel))
    assert value == pytest.approx(multi[i], rel=1e-9)


def test_nan_images_rejected(scorer, tiny_images):
  bad = tiny_images.copy()
  bad[0, 0, 0, 0] = np.nan
  with pytest.raises(ValueError, match='non-finite'):
    list(scorer.score(jax.random.PRNGKey(0), [spec.parse(A)], bad))


def test_wrong_shape_rejected(scorer):
  with pytest.raises(ValueError, match=r'expected shape \[N, H, W, C\]'):
    list(scorer.score(jax.random.PRNGKey(0), [spec.parse(A)],
                      np.zeros((8, 8, 3), np.float32)))
