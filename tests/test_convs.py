"""Convolutions and pools (jaxnas.convs)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import convs
from jaxnas import nn as jnn
from tests import numpy_nb201 as npn


def test_avg_pool_excludes_padding_from_the_mean():
  x = np.random.default_rng(2).normal(size=(2, 4, 5, 3))
  got = convs.avg_pool_3x3(jnp.asarray(x, jnp.float32))
  np.testing.assert_allclose(got, npn.avg_pool_3x3(x), rtol=1e-5, atol=1e-6)
  # A corner averages its 4 in-image neighbours.
  assert float(got[0, 0, 0, 0]) == pytest.approx(x[0, :2, :2, 0].mean(),
                                                 rel=1e-5)




# --- the convolution ---------------------------------------------------------


def lax_conv(x, kernel, stride=1, padding=None):
  p = kernel.shape[0] // 2 if padding is None else padding
  return jax.lax.conv_general_dilated(
      x, kernel, (stride, stride), ((p, p), (p, p)),
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
      precision=jax.lax.Precision.HIGHEST)


def conv_operands(k, seed=0, c_in=3, c_out=4):
  rng = np.random.default_rng(seed)
  x = jnp.asarray(rng.normal(size=(2, 6, 5, c_in)), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(k, k, c_in, c_out)) / k, jnp.float32)
  return x, kernel


def close(a, b, rtol=1e-4):
  for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    scale = float(np.abs(np.asarray(v)).max()) or 1.0
    np.testing.assert_allclose(u, v, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize('k', [1, 3, 5])
def test_same_conv_values_and_gradients_equal_lax(k):
  x, kernel = conv_operands(k)
  close(convs.conv(x, kernel), lax_conv(x, kernel))
  np.testing.assert_allclose(convs.conv(x, kernel, padding=k // 2),
                             convs.conv(x, kernel))
  close(convs.conv(x, kernel), npn.conv(np.asarray(x, np.float64),
                                      np.asarray(kernel, np.float64)))
  weights = jnp.asarray(np.random.default_rng(9).normal(
      size=(2, 6, 5, 4)), jnp.float32)

  def loss(conv):
    return lambda x, kernel: jnp.sum(weights * jnp.tanh(conv(x, kernel)))

  close(jax.jit(jax.grad(loss(convs.conv), (0, 1)))(x, kernel),
        jax.jit(jax.grad(loss(lax_conv), (0, 1)))(x, kernel))


def test_filter_gradient_in_chunks_equals_the_numpy_sum():
  """A batch of 37 is summed in chunks of 16, 16 and 5."""
  assert convs.FILTER_GRAD_CHUNK == 16
  rng = np.random.default_rng(4)
  x = rng.normal(size=(37, 5, 4, 3))
  g = rng.normal(size=(37, 5, 4, 2))
  got = jax.jit(convs._filter_grad, static_argnums=2)(
      jnp.asarray(x, jnp.float32), jnp.asarray(g, jnp.float32), 3)
  xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  want = np.zeros((3, 3, 3, 2))
  for i in range(3):
    for j in range(3):
      want[i, j] = np.einsum('bhwc,bhwo->co', xp[:, i:i + 5, j:j + 4], g)
  close(got, want, rtol=1e-5)


@pytest.mark.parametrize('k', [1, 3])
def test_same_conv_second_and_third_derivatives_equal_lax(k):
  x, kernel = conv_operands(k, seed=1)
  vx, vk = conv_operands(k, seed=2)

  def along(conv):
    # The loss along a line through (x, kernel): its derivatives in t are
    # directional derivatives of every order.
    def g(t):
      y = conv(x + t * vx, kernel + t * vk)
      return jnp.sum(jnp.tanh(y) * y)
    return g

  for order in (2, 3):
    ours, ref = along(convs.conv), along(lax_conv)
    for _ in range(order):  # reverse over reverse (over reverse)
      ours, ref = jax.grad(ours), jax.grad(ref)
    close(jax.jit(ours)(0.3), jax.jit(ref)(0.3), rtol=1e-3)

  # A Hessian-vector product in the parameters, as GraSP takes it.
  def hvp(conv):
    grad_k = jax.grad(lambda w: jnp.sum(jnp.tanh(conv(x, w))**2))
    return jax.grad(lambda w: jnp.vdot(grad_k(w), vk))(kernel)

  close(jax.jit(hvp, static_argnums=0)(convs.conv),
        jax.jit(hvp, static_argnums=0)(lax_conv), rtol=1e-3)


def test_other_convolutions_fall_back_to_lax():
  x, kernel = conv_operands(3, seed=3)
  close(convs.conv(x, kernel, stride=2, padding=1), lax_conv(x, kernel, 2))
  # 'SAME' is XLA's (on 6 rows at stride 2: one row of padding, below).
  close(convs.conv(x, kernel, stride=2), jax.lax.conv_general_dilated(
      x, kernel, (2, 2), ((0, 1), (1, 1)),
      dimension_numbers=('NHWC', 'HWIO', 'NHWC')))
  close(convs.conv(x, kernel, padding=0), lax_conv(x, kernel, padding=0))
  x4, even = conv_operands(2, seed=4)
  close(convs.conv(x4, even, padding='SAME'), jax.lax.conv_general_dilated(
      x4, even, (1, 1), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC')))


def test_forward_mode_needs_the_plain_convolution():
  x, kernel = conv_operands(3, seed=5)
  tangent = jnp.ones_like(kernel)
  with pytest.raises(TypeError, match='custom_vjp'):
    jax.jvp(lambda w: convs.conv(x, w), (kernel,), (tangent,))
  opts = jnn.NetOptions(forward_mode=True)
  y, dy = jax.jvp(lambda w: opts.conv(x, w, 1, 1), (kernel,), (tangent,))
  close(y, lax_conv(x, kernel))
  close(dy, lax_conv(x, tangent))  # linear in the kernel
