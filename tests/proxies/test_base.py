"""The proxy interface: Needs and its group key, Proxy, the shared passes of
a Context (logits, loss and input gradients, gates, taps), and finite()."""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import nn as jnn
from jaxnas.proxies import base

CLASSES = 3


class ToyNet(nn.Module):
  """A 1x1 conv (gated, tapped ReLU), a global mean scaled by ``arch``
  ([4] floats), a dense head: small enough to write again by hand below."""
  opts: jnn.NetOptions = jnn.NetOptions()

  @nn.compact
  def __call__(self, images, arch):
    acc = self.opts.tap.init(images.shape[0])
    kernel = self.param('conv_kernel', jnn.get_init('torch'),
                        (1, 1, images.shape[-1], 4))
    y = self.opts.conv(images, kernel, 1, 0)
    y = jnn.apply_gate(y, jnn.gate(self, 'conv_kernel', images.shape[0], 4))
    y, acc = jnn.relu(y, acc, self.opts.tap)
    return jnn.Dense(CLASSES)(y.mean(axis=(1, 2)) * arch), acc


def by_hand(params, images, arch, conv_gate=0.0, head_gate=0.0):
  """ToyNet's logits written out (jnp, so that jax.grad can take them)."""
  a = jnp.einsum('bhwc,co->bhwo', images, params['conv_kernel'][0, 0])
  if jnp.ndim(conv_gate):  # [batch, channels]: broadcast over positions
    a = a * (1.0 + conv_gate[:, None, None, :])
  pooled = jax.nn.relu(a).mean(axis=(1, 2)) * arch
  dense = params['Dense_0']
  return (pooled @ dense['kernel'] + dense['bias']) * (1.0 + head_gate)


def mean_cross_entropy(logits, labels):
  """By hand: log-sum-exp minus the label's logit, averaged."""
  top = logits.max(axis=1, keepdims=True)
  lse = top[:, 0] + jnp.log(jnp.sum(jnp.exp(logits - top), axis=1))
  return jnp.mean(lse - logits[jnp.arange(logits.shape[0]), labels])


@dataclasses.dataclass(frozen=True)
class ReluSum(jnn.Tap):
  hooks = frozenset({'relu'})

  def init(self, batch_size):
    return jnp.zeros(())

  def relu(self, acc, x, count=1, mask=None):
    return acc + count * jnp.sum(x)


class CountingNet:
  """ToyNet whose ``apply`` calls are counted (the shared-pass checks)."""

  def __init__(self, taps):
    self.module = ToyNet(jnn.NetOptions(tap=taps))
    self.opts = self.module.opts
    self.applies = 0

  def apply(self, *args, **kwargs):
    self.applies += 1
    return self.module.apply(*args, **kwargs)

  def init(self, *args, **kwargs):
    return self.module.init(*args, **kwargs)

  def clone(self, **kwargs):
    return self.module.clone(**kwargs)


TAP = ReluSum()
RNG = np.random.default_rng(0)
IMAGES = jnp.asarray(RNG.normal(size=(5, 4, 4, 2)), jnp.float32)
LABELS = jnp.asarray([0, 2, 1, 1, 0])
ARCH = jnp.asarray([1.0, 0.5, 0.0, 2.0], jnp.float32)


def make_context(grads=True, gates=False, input_grads=False, labels=LABELS):
  net = CountingNet(jnn.Taps((TAP,)))
  variables = base.init_variables(net, jax.random.PRNGKey(1), IMAGES, ARCH)
  return base.Context(net, ARCH, variables, IMAGES, labels,
                      jax.random.PRNGKey(2), jnn.Taps((TAP,)), CLASSES,
                      grads=grads, gates=gates, input_grads=input_grads)


def close(a, b, rtol=1e-5):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(u, v, rtol=rtol, atol=1e-6)


# --- Needs and Proxy ---------------------------------------------------------


def test_group_key_ignores_what_a_shared_pass_can_serve():
  plain = base.Needs()
  served = base.Needs(labels=True, tap=TAP, grads=True, gates=True,
                      input_grads=True, backward=True, init_loop='unroll')
  assert plain.group_key('a') == served.group_key('b')


@pytest.mark.parametrize('change', [
    dict(form='tenas_kappa'), dict(bn=False), dict(weight_init='gaussian'),
    dict(num_classes=1), dict(inputs='ones'), dict(inputs='gaussian'),
    dict(batch_size=32), dict(salt=7)])
def test_group_key_separates_other_networks_and_inputs(change):
  assert (base.Needs(**change).group_key('a') !=
          base.Needs().group_key('a'))
  assert (base.Needs(**change).group_key('a') ==
          base.Needs(**change).group_key('b'))


def test_prepared_inputs_are_never_shared():
  prepared = base.Needs(inputs='prepared')
  assert prepared.group_key('zen') == prepared.group_key('zen')
  assert prepared.group_key('zen') != prepared.group_key('other')


def test_proxy_definitions_are_checked():
  with pytest.raises(ValueError, match='exactly one of device'):
    base.Proxy('x')
  with pytest.raises(ValueError, match='exactly one of device'):
    base.Proxy('x', host=base.finite('x'), device=lambda ctx: 0,
               static=lambda *a: 1.0)
  with pytest.raises(ValueError, match='needs a host'):
    base.Proxy('x', device=lambda ctx: 0)
  with pytest.raises(ValueError, match='prepare function'):
    base.Proxy('x', host=base.finite('x'), device=lambda ctx: 0,
               needs=base.Needs(inputs='prepared'))
  with pytest.raises(ValueError, match='prepare function'):
    base.Proxy('x', host=base.finite('x'), device=lambda ctx: 0,
               prepare=lambda images, rng: images)
  with pytest.raises(ValueError, match="Needs.inputs='mnist'; choose one of "
                     'batch, ones, gaussian, prepared'):
    base.Needs(inputs='mnist')
  with pytest.raises(ValueError, match="Needs.init_loop='scan'"):
    base.Needs(init_loop='scan')


def test_proxy_key_and_sign():
  static = lambda space, arch, classes, size: 1.0
  assert base.Proxy('params', static=static).key == 'params'
  ntk = base.Proxy('ntk_cond', static=static, higher_is_better=False,
                   options=(('batch_size', 32), ('inits', 3)))
  assert ntk.key == 'ntk_cond(batch_size=32,inits=3)'
  assert ntk.sign() == -1.0 and base.Proxy('p', static=static).sign() == 1.0


# --- finite() and the loss ---------------------------------------------------


def test_finite_is_float64_or_none_with_a_note():
  host = base.finite('logdet')
  value, note = host(np.float32(2.5))
  assert (value, note) == (2.5, None) and type(value) is float
  assert host(jnp.asarray(np.nan)) == (None, 'logdet is nan')
  assert host(np.float32(-np.inf)) == (None, 'logdet is -inf')
  # The transform runs in float64: 1e30 squared overflows float32 only.
  assert base.finite('x', lambda v: v * v)(np.float32(1e30))[0] == (
      pytest.approx(1e60, rel=1e-6))
  with np.errstate(divide='ignore'):
    assert base.finite('x', np.log)(np.float32(0.0)) == (
        None, 'x is -inf (from 0)')


def test_cross_entropy_is_pytorchs_mean():
  logits = RNG.normal(size=(6, 4))
  labels = np.asarray([0, 3, 1, 1, 2, 0])
  logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
  want = -logp[np.arange(6), labels].mean()
  assert float(base.cross_entropy(jnp.asarray(logits, jnp.float32),
                                  jnp.asarray(labels))) == pytest.approx(
                                      want, rel=1e-5)


def test_init_variables_do_not_depend_on_the_batch():
  net = ToyNet()
  key = jax.random.PRNGKey(3)
  small = base.init_variables(net, key, IMAGES, ARCH)
  assert set(small) == {'params'}
  close(small, net.init(key, IMAGES, ARCH), rtol=0)


# --- Context -----------------------------------------------------------------


def test_one_forward_pass_serves_logits_tap_and_both_gradients():
  ctx = make_context(grads=True, input_grads=True)
  logits = ctx.logits()
  close(logits, by_hand(ctx.params, IMAGES, ARCH))
  a = np.einsum('bhwc,co->bhwo', np.asarray(IMAGES),
                np.asarray(ctx.params['conv_kernel'][0, 0]))
  assert float(ctx.tap(TAP)) == pytest.approx(a.sum(), rel=1e-5)
  ctx.loss_grads()
  ctx.input_grads()
  ctx.loss_grads()
  assert ctx.network.applies == 1


def test_loss_grads_are_the_gradient_of_the_mean_cross_entropy():
  ctx = make_context(grads=True)
  g_params, g_gates = ctx.loss_grads()
  want = jax.grad(lambda p: mean_cross_entropy(by_hand(p, IMAGES, ARCH),
                                               LABELS))(ctx.params)
  close(g_params, want)
  assert g_gates == {}
  assert not np.asarray(g_params['conv_kernel'])[..., 2].any()  # arch[2] = 0


def test_gate_gradients_are_the_gradient_at_zero_gates():
  ctx = make_context(grads=True, gates=True)
  gates = ctx.zero_gates()
  assert jax.tree.map(np.shape, gates) == {
      'conv_kernel': (5, 4), 'Dense_0': {'kernel': (5, CLASSES)}}
  assert not any(np.asarray(g).any() for g in jax.tree.leaves(gates))
  _, g_gates = ctx.loss_grads()

  def loss(conv_gate, head_gate):
    return mean_cross_entropy(by_hand(ctx.params, IMAGES, ARCH, conv_gate,
                                      head_gate), LABELS)

  want = jax.grad(loss, (0, 1))(jnp.zeros((5, 4)),
                                jnp.zeros((5, CLASSES)))
  close(g_gates['conv_kernel'], want[0])
  close(g_gates['Dense_0']['kernel'], want[1])


def test_input_grads_are_per_image_gradients_of_the_summed_logits():
  ctx = make_context(grads=False, input_grads=True, labels=None)
  want = jax.grad(lambda x: jnp.sum(by_hand(ctx.params, x, ARCH)))(IMAGES)
  close(ctx.input_grads(), want)
  assert ctx.input_grads().shape == IMAGES.shape


def test_missing_declarations_are_errors():
  with pytest.raises(ValueError, match=r'need Needs\(labels=True\)'):
    make_context(grads=False).loss_grads()  # a forward-only pass
  with pytest.raises(ValueError, match=r'need Needs\(labels=True\)'):
    make_context(grads=True, labels=None).loss_grads()
  with pytest.raises(ValueError, match='input gradients need a proxy'):
    make_context(grads=False).input_grads()
  forward_only = make_context(grads=False)
  close(forward_only.logits(), by_hand(forward_only.params, IMAGES, ARCH))


def test_run_tap_and_apply_on_other_inputs():
  ctx = make_context(grads=False)
  other = IMAGES[:2] * -1.0
  a = np.einsum('bhwc,co->bhwo', np.asarray(other),
                np.asarray(ctx.params['conv_kernel'][0, 0]))
  assert float(ctx.run_tap(other, TAP)) == pytest.approx(a.sum(), rel=1e-5)
  logits, acc = ctx.apply(ctx.variables, other)
  close(logits, by_hand(ctx.params, other, ARCH))
  assert acc[0] == ctx.run_tap(other, TAP)
  fresh = ctx.init(jax.random.PRNGKey(1))
  close(fresh, ctx.variables, rtol=0)  # the key the context was made with


def test_apply_forward_mode_can_be_jvped():
  ctx = make_context(grads=False)
  tangent = jax.tree.map(jnp.ones_like, ctx.variables)
  with pytest.raises(TypeError, match='custom_vjp'):
    jax.jvp(lambda v: ctx.apply(v, IMAGES)[0], (ctx.variables,), (tangent,))
  logits, d_logits = jax.jvp(lambda v: ctx.apply_forward_mode(v, IMAGES),
                             (ctx.variables,), (tangent,))
  close(logits, by_hand(ctx.params, IMAGES, ARCH))
  _, want = jax.jvp(lambda p: by_hand(p, IMAGES, ARCH), (ctx.params,),
                    (tangent['params'],))
  close(d_logits, want, rtol=1e-4)
