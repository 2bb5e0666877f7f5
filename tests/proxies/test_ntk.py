"""ntk_cond: the NTK of the summed logits (neural-tangents) against an
independent jax.jacrev contraction, its condition number in float64, and
the undefined cases."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from jaxnas import engine
from jaxnas import nn as jnn
from jaxnas.proxies import get_proxy
from jaxnas.proxies import ntk
from jaxnas.spaces.nb201 import supernet
from tests.tenas_helpers import ALL_OPS, NO_PATH, SmallTenasSpace, random_mask

SPACE = SmallTenasSpace()


@pytest.fixture(scope='module')
def kappa():
  return engine.Engine(SPACE, [get_proxy('ntk_cond', batch_size=6)],
                       inits=2, weight_init='he_normal', devices=1)


def test_weights_are_conv_kernels_bn_scales_and_classifier_kernel(
    tiny_images):
  net = SPACE.network(form='tenas_kappa')
  params = jax.eval_shape(net.init, jax.random.PRNGKey(0), tiny_images,
                          supernet.full_mask())['params']
  kept = {'/'.join(k) for k in traverse_util.flatten_dict(params)
          if ntk.is_weight(k)}
  want = {'stem/kernel', 'stem/scale', 'lastact_scale', 'classifier/kernel'}
  for e in range(6):
    want |= {f'stage0_cell0/edge{e}_conv1x1_kernel',
             f'stage0_cell0/edge{e}_conv3x3_kernel',
             f'stage0_cell0/edge{e}_bn1x1_scale',
             f'stage0_cell0/edge{e}_bn3x3_scale'}
  assert kept == want


def test_condition_number_in_float64():
  rng = np.random.default_rng(0)
  a = rng.normal(size=(6, 6))
  theta = a @ a.T + 0.5 * np.eye(6)
  kappa_, note = ntk.condition_number(theta.astype(np.float32))
  ev = np.sort(np.linalg.eigvals(theta.astype(np.float32).astype(
      np.float64)).real)
  assert note is None and kappa_ == pytest.approx(ev[-1] / ev[0], rel=1e-9)
  nan = theta.copy()
  nan[0, 1] = np.nan
  for bad, why in ((nan, 'non-finite'), (np.zeros((6, 6)), 'no positive'),
                   (np.ones((6, 6)), 'singular'),
                   (np.diag([1.0, 1e-6]), 'singular')):
    value, note = ntk.condition_number(bad)
    assert value == ntk.NAN_VALUE and why in note


def test_ntk_is_jacobian_contraction_of_summed_logits(kappa, tiny_images):
  """Theta from neural-tangents equals an independent jacrev contraction of
  row i of the batched forward (BN couples the examples), and the engine's
  kappa of init i is its condition number; the logit-averaged kernel of
  trace_axes=(-1,) is a different thing."""
  mask = random_mask(3)
  key = jax.random.PRNGKey(1)
  res = next(kappa.score(key, [mask], tiny_images))
  net = SPACE.network(jnn.NetOptions('he_normal'), form='tenas_kappa')
  x = jnp.asarray(tiny_images)
  # The engine's keys: split(fold_in(seed, arch id)), then the salt 0.
  init_key = jax.random.split(jax.random.fold_in(key, SPACE.arch_id(mask)),
                              2)[1]
  params = net.init(jax.random.fold_in(init_key, 0), x[:2, :8, :8],
                    mask)['params']
  apply = lambda p, xx: net.apply({'params': p}, xx, mask)[0]
  flat = traverse_util.flatten_dict(params)
  names = [k for k in flat if not k[-1].endswith('bias')]

  def logits_of(ws):
    tree = dict(flat)
    tree.update(zip(names, ws))
    return apply(traverse_util.unflatten_dict(tree), x)  # [n, classes]

  jac = jax.jacrev(logits_of)([flat[k] for k in names])
  per_logit = np.concatenate(
      [np.asarray(j).reshape(x.shape[0], 3, -1) for j in jac], -1)
  g = per_logit.sum(1).astype(np.float64)  # d sum_c logit_c / dW
  theta = np.asarray(jax.jit(lambda p: ntk.empirical_ntk(apply, p, x))(
      params))
  np.testing.assert_allclose(theta, g @ g.T, rtol=2e-4,
                             atol=2e-5 * np.abs(g @ g.T).max())
  assert ntk.condition_number(g @ g.T)[0] == pytest.approx(
      res['ntk_cond'].values[1], rel=1e-3)
  mean_kernel = np.einsum('icp,jcp->ij', per_logit, per_logit) / 3
  assert not np.allclose(mean_kernel, g @ g.T, rtol=0.05)


def test_constant_images_and_no_path_cell_are_defined(kappa, tiny_images):
  const = np.full_like(tiny_images, 0.7)
  res = next(kappa.score(jax.random.PRNGKey(0), [supernet.full_mask()],
                         const))['ntk_cond']
  assert res.values == [ntk.NAN_VALUE] * 2
  assert all('singular' in n for n in res.notes)
  assert res.note.startswith('2/2 inits: ')  # defined values, noted
  res = next(kappa.score(jax.random.PRNGKey(0), [NO_PATH],
                         tiny_images))['ntk_cond']
  assert res.values == [ntk.NAN_VALUE] * 2
  assert all('no positive eigenvalue' in n for n in res.notes)


def test_direction_and_options():
  proxy = get_proxy('ntk_cond')
  assert not proxy.higher_is_better and proxy.sign() == -1.0
  assert proxy.needs.batch_size == 32  # TE-NAS paper's NTK batch
  assert proxy.key == 'ntk_cond(batch_size=32,implementation=' \
                      'jacobian_contraction)'
  assert get_proxy('ntk_cond', batch_size=72).needs.batch_size == 72
  assert ALL_OPS.shape == (6,)
