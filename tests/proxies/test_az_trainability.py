import jax
import numpy as np
import pytest

from jaxnas import engine
from jaxnas.proxies import az_trainability as azt
from jaxnas.proxies import get_proxy
from tests.proxies.conftest import central_differences


def pixel_unshuffle(x: np.ndarray, s: int) -> np.ndarray:
  """PyTorch's PixelUnshuffle on NHWC: [B, H, W, C] -> [B, H/s, W/s, C s s]
  with channel c * s * s + i * s + j taking pixel (s h + i, s w + j)."""
  b, h, w, c = x.shape
  x = x.reshape(b, h // s, s, w // s, s, c).transpose(0, 1, 3, 5, 2, 4)
  return x.reshape(b, h // s, w // s, c * s * s)


def reference_trainability(case) -> float:
  """The reference's formula in float64, each block's input gradient by
  central differences of the NumPy forward with the block's input
  replaced (no autodiff, no probe)."""
  params = case.params('he_normal_fan_in')
  x = np.asarray(jax.random.normal(jax.random.fold_in(
      case.key, engine.GAUSSIAN_SALT), case.images.shape), np.float64)
  feats = {}
  case.forward(params, images=x, features=feats)
  sites = feats['sites']
  key = jax.random.fold_in(case.key, engine.PROXY_SALT)
  terms = []
  for k in range(1, len(sites)):
    g_out = np.asarray(azt.block_cotangent(key, k, sites[k].shape),
                       np.float64)

    def pulled(z, k=k, g_out=g_out):
      out = {}
      case.forward(params, images=x, features=out, replace={k - 1: z})
      return float(np.sum(out['sites'][k] * g_out))

    z = sites[k - 1].copy()
    g_in = central_differences(lambda z=z, pulled=pulled: pulled(z), z)
    assert not np.array_equal(g_in, g_out)  # no identity block here
    if g_in.shape[1] != g_out.shape[1]:
      g_in = pixel_unshuffle(g_in, g_in.shape[1] // g_out.shape[1])
    n = np.prod(g_out.shape[:3])
    m = g_in.reshape(n, -1).T @ g_out.reshape(n, -1) / n
    sigma = np.linalg.svd(m, compute_uv=False).max()
    terms.append(-sigma - 1 / (sigma + 1e-6) + 2)
  assert len(terms) == 5  # stem>cell, cell>block, block>cell, twice more
  return float(np.mean(terms))


def test_trainability_against_finite_differences(zico_az):
  for name in ('mixed', 'convs'):
    case = zico_az[name]
    assert case.values['az_trainability'] == pytest.approx(
        reference_trainability(case), rel=2e-3, abs=2e-3)


def outputs(terms, identity=(), relation=None):
  n = len(terms) + 1
  t = np.zeros(azt.PROBE.capacity, np.float32)
  t[:n - 1] = terms
  ident = np.zeros_like(t)
  ident[list(identity)] = 1.0
  rel = np.full(azt.PROBE.capacity, azt.FIRST, np.int32)
  rel[1:n] = azt.SAME if relation is None else relation
  return t, ident, rel, np.int32(n)


def test_host_mean_and_undefined_cases():
  assert azt.host(outputs([-0.5, 0.0, -1.0])) == (pytest.approx(-0.5), None)
  score, note = azt.host(outputs([-0.5, 0.0], identity=[1]))
  assert score is None and 'block 2 is the identity' in note
  score, note = azt.host(outputs([-0.5, 0.0], relation=[azt.SAME,
                                                        azt.OTHER]))
  assert score is None and 'block 2 neither' in note
  score, note = azt.host(outputs([]))
  assert score is None and 'fewer than two' in note
  with pytest.raises(ValueError, match='capacity'):
    azt.host(outputs([0.0])[:3] + (np.int32(azt.PROBE.capacity + 1),))


def test_block_term_is_zero_at_an_isometry():
  g = np.asarray(azt.block_cotangent(jax.random.PRNGKey(0), 3, (64, 4)))
  # M = g^T g / n has sigma = 1 for orthogonal columns scaled to norm sqrt n.
  q = np.linalg.qr(g)[0] * np.sqrt(64)
  assert float(azt.block_term(q, q)) == pytest.approx(0.0, abs=1e-5)
  m = np.asarray(azt.space_to_depth(np.arange(32.).reshape(1, 4, 4, 2)))
  assert m.shape == (4, 8) and sorted(m[0]) == [0, 1, 2, 3, 8, 9, 10, 11]


def test_direction_and_options():
  proxy = get_proxy('az_trainability')
  assert proxy.higher_is_better
  assert proxy.key == 'az_trainability(batch_size=64)'
  assert proxy.needs.group_key('x') == get_proxy(
      'az_expressivity').needs.group_key('x')
