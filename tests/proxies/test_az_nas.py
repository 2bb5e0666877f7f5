import jax
import numpy as np
import pytest

from jaxnas import engine
from jaxnas.proxies import az_nas, get_proxy


def entropy(feature: np.ndarray) -> float:
  """The reference's expressivity of one NHWC feature, in float64."""
  x = feature.reshape(-1, feature.shape[-1])
  x = x - x.mean(axis=0, keepdims=True)
  s = np.linalg.eigvalsh(x.T @ x / x.shape[0])
  p = s / s.sum()
  return float(np.sum(-p * np.log(p + 1e-8)))


def reference_entropies(case) -> np.ndarray:
  """Kaiming-normal (fan-in) weights, N(0, 1) input from the group's key,
  NumPy forward; the stem, block and cell outputs in forward order."""
  params = case.params('he_normal_fan_in')
  x = np.asarray(jax.random.normal(jax.random.fold_in(
      case.key, engine.GAUSSIAN_SALT), case.images.shape), np.float64)
  feats = {}
  case.forward(params, images=x, features=feats)
  assert len(feats['sites']) == 6  # stem, cell, block, cell, block, cell
  return np.array([entropy(f) for f in feats['sites']])


def test_expressivity_and_progressivity(zico_az):
  for case in zico_az.values():
    e = reference_entropies(case)
    assert case.values['az_expressivity'] == pytest.approx(
        e.sum(), rel=1e-4, abs=1e-4)
    assert case.values['az_progressivity'] == pytest.approx(
        np.min(np.diff(e)), rel=1e-4, abs=1e-4)


def test_complexity_is_the_flops(zico_az):
  for case in zico_az.values():
    assert case.values['az_complexity'] == case.values['flops']


def test_feature_entropy_against_numpy():
  x = np.random.default_rng(0).normal(size=(4, 3, 3, 5)) * np.arange(1, 6)
  got = float(az_nas.feature_entropy(np.asarray(x, np.float32)))
  assert got == pytest.approx(entropy(x), rel=1e-5)
  assert np.isnan(float(az_nas.feature_entropy(np.ones((2, 3, 3, 4),
                                                       np.float32))))


def record(values):
  rec = np.zeros(az_nas.TAP.capacity, np.float32)
  rec[:len(values)] = values
  return rec, np.int32(len(values))


def test_hosts_undefined_cases():
  assert az_nas.host_expressivity(record([1.0, 2.5, 2.0])) == (
      pytest.approx(5.5), None)
  assert az_nas.host_progressivity(record([1.0, 2.5, 2.0])) == (
      pytest.approx(-0.5), None)
  for host in (az_nas.host_expressivity, az_nas.host_progressivity):
    score, note = host(record([1.0, np.nan]))
    assert score is None and 'feature 1' in note
    score, note = host(record([]))
    assert score is None and 'no stem' in note
  score, note = az_nas.host_progressivity(record([1.0]))
  assert score is None and 'fewer than two' in note
  with pytest.raises(ValueError, match='capacity'):
    az_nas.host_expressivity((np.zeros(az_nas.TAP.capacity, np.float32),
                              np.int32(az_nas.TAP.capacity + 1)))


def test_directions_and_options():
  for name in ('az_expressivity', 'az_progressivity', 'az_complexity'):
    assert get_proxy(name).higher_is_better
  assert get_proxy('az_expressivity').key == 'az_expressivity(batch_size=64)'
  assert get_proxy('az_complexity').static is not None
