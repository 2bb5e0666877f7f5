"""Scores of given (e.g. trained) variables: the engine's given-variables
path reproduces its fresh-init scores when handed those inits, and proxies
with a network of their own are refused."""

import jax
import numpy as np
import pytest

from jaxnas import engine
from jaxnas import nn as jnn
from jaxnas.proxies import get_proxies
from jaxnas.proxies.base import init_variables
from jaxnas.spaces import get_space
from jaxnas.spaces.nb201 import spec
from tests.conftest import TINY

A = '|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'
SPACE = get_space('nb201', **TINY)


@pytest.mark.slow
def test_given_inits_score_as_fresh_ones(tiny_images):
  eng = engine.Engine(SPACE, get_proxies(['naswot', 'snip']), inits=2)
  key = jax.random.PRNGKey(0)
  arch = spec.parse(A)
  labels = np.arange(6) % 10
  fresh = next(eng.score(key, [arch], tiny_images, labels))
  keys = eng.arch_keys(key, [arch])[0]
  net = SPACE.network(jnn.NetOptions())
  arrays = SPACE.arch_arrays(arch)
  init = jax.jit(lambda k: init_variables(net, k, tiny_images,
                                          arrays)['params'])
  inits = [init(k) for k in keys]
  given = {'params': jax.tree.map(lambda *xs: np.stack(xs), *inits)}
  again = next(eng.score(key, [arch], tiny_images, labels,
                         variables=[given]))
  for name in ('naswot', 'snip'):
    np.testing.assert_allclose(again[name].values, fresh[name].values,
                               rtol=1e-6)
  # Other parameters, other scores.
  shifted = jax.tree.map(lambda x: x * 1.5, given)
  moved = next(eng.score(key, [arch], tiny_images, labels,
                         variables=[shifted]))
  assert moved['snip'].values != fresh['snip'].values


def test_proxies_with_a_network_of_their_own_are_refused():
  eng = engine.Engine(SPACE, get_proxies(['naswot', 'zen']), inits=1)
  with pytest.raises(ValueError, match='zen'):
    eng.check_given()
