import numpy as np
import pytest

from jaxnas.errors import JaxnasError
from jaxnas.proxies import get_proxy, zico
from tests.proxies.conftest import Case, fd_grad, live_kernels


def reference_zico(case: Case, splits: int = 2) -> float:
  """ZiCo as the reference computes it, from finite-difference gradients of
  each part's mean cross-entropy (NumPy forward, float64)."""
  size = len(case.labels) // splits
  params = case.params()
  paths = live_kernels(case, params)
  per_split = []
  for s in range(splits):
    part = Case(case.arch, {}, case.images[s * size:(s + 1) * size],
                case.labels[s * size:(s + 1) * size])
    per_split.append(fd_grad(part.loss, params, paths))
  total = 0.0
  for path in paths:
    g = np.stack([grads[path] for grads in per_split])
    # A scanned stage stacks its cells' kernels: one layer per cell.
    layers = ([g[:, i] for i in range(g.shape[1])] if g.ndim in (4, 6)
              else [g])
    for layer in layers:
      std = layer.std(axis=0)
      mean_abs = np.abs(layer).mean(axis=0)
      live = std > 1e-7  # finite differences leave ~1e-10 on dead weights
      ratio = np.sum(mean_abs[live] / std[live])
      if ratio != 0:
        total += np.log(ratio)
  return total


def test_zico_from_split_gradients(zico_az):
  """'convs' has a 1x1 conv at C=1 before a BN: its one weight's exact
  gradient is 0, so its float32 round-off ratio (kept, as the reference
  keeps it) has no finite-difference counterpart; it is left out."""
  for name, case in zico_az.items():
    if name == 'convs':
      continue
    assert case.values['zico'] == pytest.approx(reference_zico(case),
                                                rel=1e-3)


def test_host_skips_zero_layers_and_rejects_undefined():
  s = np.array([2.0, 0.0, 5.0], np.float32)
  assert zico.host(s) == (pytest.approx(np.log(2.0) + np.log(5.0)), None)
  score, note = zico.host(np.zeros(3, np.float32))
  assert score is None and 'no layer' in note
  score, note = zico.host(np.array([1.0, np.inf], np.float32))
  assert score is None and 'not finite' in note


def test_options():
  assert get_proxy('zico').key == 'zico(splits=2)'
  assert get_proxy('zico', splits=4).key == 'zico(splits=4)'
  with pytest.raises(JaxnasError, match='splits >= 2'):
    get_proxy('zico', splits=1)
