import math
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import nn as jnn
from jaxnas.proxies import synflow
from tests.proxies.conftest import (CLASSES, SPACE, fd_grad, get,
                                    live_kernels)


def test_log_of_abs_weight_times_gradient_of_output_sum(suite):
  """float64 NumPy: |params|, BN removed, one all-ones image, R = sum of
  logits; score = log sum |W * dR/dW| over the kernels. The engine's float32
  with a rescaled input gives the same log."""
  for case in suite.values():
    params = jax.tree.map(np.abs, case.params())
    ones = np.ones((1,) + case.images.shape[1:])

    def total(p):
      return case.forward(p, images=ones, bn_on=False)[0].sum()

    grads = fd_grad(total, params, live_kernels(case, params), step=1e-5)
    want = sum(np.sum(np.abs(get(params, p) * g)) for p, g in grads.items())
    assert case.values['synflow'] == pytest.approx(math.log(want), abs=1e-4)


def test_deep_chain_past_float32_range_is_exact():
  """A positive linear chain of L layers, n x n kernels of equal entries a,
  on an all-ones input of n values: R = n (n a)^L, and every layer's
  sum of W * dR/dW is R (degree one in each layer), so the score is L R.
  Here ln R is about 101 and the gradient reaching the input about e^100,
  both past float32's e^88.7: the device computation must still give the
  exact log."""
  n, layers, log_na = 4, 10, 10.0
  a = math.exp(log_na) / n
  params = {f'layer{i}_kernel': jnp.full((n, n), a, jnp.float32)
            for i in range(layers)}

  def apply(variables, x):
    h = x.reshape(1, -1)
    for i in range(layers):
      h = h @ variables['params'][f'layer{i}_kernel']
    return h, None

  # No gradient sites: only the input scale and the backward seed help.
  ctx = types.SimpleNamespace(
      params=params, images=jnp.ones((1, 2, 2, 1), jnp.float32),
      apply_tapped=lambda v, x, tap: (apply(v, x)[0], tap.init(1)))
  proxy = synflow.make()
  score, note = proxy.host(jax.jit(lambda: proxy.device(ctx))())
  want = math.log(layers) + math.log(n) + layers * log_na
  assert note is None
  assert score == pytest.approx(want, abs=1e-4)


def test_heavy_network_past_float32_range_matches_float64(suite):
  """The tiny NB201 network with every kernel multiplied by e^9 (log score
  about 130 on the all-convolution cell, past what the input scale alone
  keeps in float32: the old scheme returned inf here): the rescaling at
  the stem, cell and block outputs must still give the float64 log."""
  case = suite['convs']
  heavy = jax.tree.map(np.abs, case.params())
  for path, leaf in list(jnn.tree_paths(heavy)):
    if jnn.is_kernel(path):
      get(heavy, path[:-1])[path[-1]] = leaf * math.exp(9.0)
  ones = np.ones((1,) + case.images.shape[1:])

  def total(p):
    return case.forward(p, images=ones, bn_on=False)[0].sum()

  grads = fd_grad(total, heavy, live_kernels(case, heavy), step=1e-3)
  want = math.log(sum(np.sum(np.abs(get(heavy, p) * g))
                      for p, g in grads.items()))
  assert want > 120.0

  net = SPACE.network(jnn.NetOptions(bn=False), CLASSES)

  def apply_tapped(variables, x, tap):
    tapped = net.clone(opts=jnn.NetOptions(bn=False, tap=tap))
    return tapped.apply(variables, x, case.arch)

  ctx = types.SimpleNamespace(
      params=jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), heavy),
      images=jnp.ones(ones.shape, jnp.float32), apply_tapped=apply_tapped)
  proxy = synflow.make()
  score, note = proxy.host(jax.jit(lambda: proxy.device(ctx))())
  assert note is None
  assert score == pytest.approx(want, abs=1e-3)
