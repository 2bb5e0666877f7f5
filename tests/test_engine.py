"""The one engine: keys, one compilation for any number of cells, several
proxies in one program, groups, inits, devices and errors."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import engine
from jaxnas import nn as jnn
from jaxnas.errors import DataError
from jaxnas.proxies import get_proxy
from jaxnas.proxies import naswot
from jaxnas.spaces import get_space
from jaxnas.spaces.nb201 import spec
from tests.conftest import TINY

A = '|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'
B = '|skip_connect~0|+|nor_conv_3x3~0|none~1|+|nor_conv_1x1~0|avg_pool_3x3~1|nor_conv_3x3~2|'
SPACE = get_space('nb201', **TINY)


@pytest.fixture(scope='module')
def scorer():
  return engine.Engine(SPACE, [get_proxy('naswot')], inits=3)


def test_two_cells_one_compilation_and_order_independent(scorer, tiny_images):
  key = jax.random.PRNGKey(0)
  archs = [spec.parse(A), spec.parse(B)]
  first = list(scorer.score(key, archs, tiny_images))
  again = list(scorer.score(key, archs[::-1], tiny_images))
  assert scorer.compilations == 1
  assert first[0]['naswot'].values == again[1]['naswot'].values
  assert first[1]['naswot'].values == again[0]['naswot'].values
  for r in first:
    values = r['naswot'].values
    assert len(values) == 3 and len(set(values)) == 3  # 3 distinct inits
    assert r['naswot'].mean == pytest.approx(np.mean(values))
    assert r['naswot'].std == pytest.approx(np.std(values, ddof=1))


def test_each_init_is_the_network_under_its_own_key(scorer, tiny_images):
  """Init i of an arch is the plain network initialised with the i-th split
  of fold_in(seed key, arch id)."""
  key = jax.random.PRNGKey(0)
  arch = spec.parse(A)
  multi = next(scorer.score(key, [arch], tiny_images))['naswot'].values
  net = SPACE.network(jnn.NetOptions(tap=naswot.TAP))
  init, apply = jax.jit(net.init), jax.jit(net.apply)
  arch_key = jax.random.fold_in(key, spec.to_id(arch))
  for i, k in enumerate(jax.random.split(arch_key, 3)):
    variables = init(k, tiny_images[:2, :8, :8], arch)
    _, kernel = apply(variables, tiny_images, arch)
    value, _ = naswot.naswot_from_kernel(np.asarray(kernel))
    assert value == pytest.approx(multi[i], rel=1e-9)


@pytest.mark.slow
def test_several_proxies_one_program_equal_each_alone(tiny_images):
  """naswot, a differentiating proxy and a static one in one program give
  the values each gives alone; one compilation for all."""
  key = jax.random.PRNGKey(2)
  archs = [spec.parse(A), spec.parse(B)]
  names = ('naswot', 'synflow', 'params')
  together = engine.Engine(SPACE, [get_proxy(n) for n in names],
                           init_devices=1)
  rows = list(together.score(key, archs, tiny_images, np.arange(6) % 10))
  assert together.compilations == 1
  for name in names:
    alone = engine.Engine(SPACE, [get_proxy(name)])
    for arch, row in zip(archs, alone.score(key, archs, tiny_images,
                                            np.arange(6) % 10)):
      got = next(r for r in rows if r.arch is arch)[name].values[0]
      assert row[name].values[0] == pytest.approx(got, rel=1e-5)


def test_static_proxies_compile_nothing(tiny_images):
  eng = engine.Engine(SPACE, [get_proxy('params'), get_proxy('flops')])
  arch = spec.parse(A)
  res = next(eng.score(jax.random.PRNGKey(0), [arch], tiny_images))
  assert eng.compilations == 0
  assert res['params'].values == [spec.param_count(arch, 2, 1, 10) / 1e6]
  assert res['flops'].values == [spec.flops(arch, 2, 1, 10, 8) / 1e6]


def test_inits_spread_over_devices_give_the_same_values(tiny_images):
  """One arch's 4 inits on a mesh of 2 init devices (one compiled call),
  as on one device."""
  if jax.local_device_count() < 2:
    pytest.skip('needs 2 devices')
  arch = spec.parse(B)
  key = jax.random.PRNGKey(5)
  one = engine.Engine(SPACE, [get_proxy('naswot')], inits=4, devices=1)
  two = engine.Engine(SPACE, [get_proxy('naswot')], inits=4, devices=2,
                      init_devices=2)
  assert two.mesh.devices.shape == (1, 2)
  a = next(one.score(key, [arch], tiny_images))['naswot'].values
  b = next(two.score(key, [arch], tiny_images))['naswot'].values
  assert a == pytest.approx(b, rel=1e-12)


@pytest.mark.parametrize('n,chunk', [(7, 3), (6, 3), (3, 8), (1, 1)])
def test_unrolled_map_is_a_map(n, chunk):
  """Chunks written out inside a loop, plus the remainder, give the same
  per-row results in the same order as one plain loop."""
  xs = {'a': jnp.arange(n * 2.0).reshape(n, 2), 'b': jnp.arange(n)}
  fn = lambda x: {'s': x['a'].sum() * (x['b'] + 1), 'v': x['a'] * 2}
  got = jax.jit(lambda t: engine._unrolled_map(fn, t, chunk))(xs)
  want = [fn(jax.tree.map(lambda x, i=i: x[i], xs)) for i in range(n)]
  np.testing.assert_array_equal(got['s'], [w['s'] for w in want])
  np.testing.assert_array_equal(got['v'], np.stack([w['v'] for w in want]))


def test_unrolled_inits_in_chunks_equal_all_written_out(tiny_images):
  """A proxy asking for unrolled inits: 5 inits written out 2 per step of a
  loop (and the fifth after it) give the values of all 5 written out."""
  proxy = get_proxy('naswot')
  proxy = dataclasses.replace(proxy, needs=dataclasses.replace(
      proxy.needs, init_loop='unroll'))
  arch, key = spec.parse(A), jax.random.PRNGKey(3)
  chunked = engine.Engine(SPACE, [proxy], inits=5, devices=1, unroll_chunk=2)
  whole = engine.Engine(SPACE, [proxy], inits=5, devices=1, unroll_chunk=8)
  a = next(chunked.score(key, [arch], tiny_images))['naswot'].values
  b = next(whole.score(key, [arch], tiny_images))['naswot'].values
  assert len(set(a)) == 5
  assert a == pytest.approx(b, rel=1e-9)
  with pytest.raises(ValueError, match='unroll_chunk=0'):
    engine.Engine(SPACE, [proxy], unroll_chunk=0)


def test_labels_are_required_only_by_proxies_that_need_them(tiny_images):
  eng = engine.Engine(SPACE, [get_proxy('snip')])
  with pytest.raises(DataError, match='snip need labels'):
    list(eng.score(jax.random.PRNGKey(0), [spec.parse(A)], tiny_images))
  with pytest.raises(DataError, match=r'values must be in \[0, 10\)'):
    list(eng.score(jax.random.PRNGKey(0), [spec.parse(A)], tiny_images,
                   np.full(6, 12)))


def test_a_proxy_asking_more_images_than_the_batch(tiny_images):
  eng = engine.Engine(SPACE, [get_proxy('ntk_cond')])
  with pytest.raises(DataError, match='needs 32 images; the batch has 6'):
    list(eng.score(jax.random.PRNGKey(0), [spec.parse(A)], tiny_images))


def test_bad_batches_and_arguments(scorer, tiny_images):
  bad = tiny_images.copy()
  bad[0, 0, 0, 0] = np.nan
  with pytest.raises(ValueError, match='non-finite'):
    list(scorer.score(jax.random.PRNGKey(0), [spec.parse(A)], bad))
  with pytest.raises(ValueError, match=r'expected shape \[N, H, W, C\]'):
    list(scorer.score(jax.random.PRNGKey(0), [spec.parse(A)],
                      np.zeros((8, 8, 3), np.float32)))
  with pytest.raises(ValueError, match='inits=0'):
    engine.Engine(SPACE, [get_proxy('naswot')], inits=0)
  with pytest.raises(ValueError, match='given once each'):
    engine.Engine(SPACE, [get_proxy('naswot'), get_proxy('naswot')])
  with pytest.raises(ValueError, match='must divide'):
    engine.Engine(SPACE, [get_proxy('naswot')], devices=1, init_devices=2)


def test_undefined_values_are_none_with_a_note(scorer):
  """Identical images: K is singular, naswot undefined (None, never 0)."""
  const = np.zeros((6, 8, 8, 3), np.float32)
  res = next(scorer.score(jax.random.PRNGKey(0), [spec.parse(A)], const))
  r = res['naswot']
  assert r.values == [None] * 3 and r.mean is None and r.std is None
  assert r.note.startswith('3/3 inits undefined: singular NASWOT kernel')
