import numpy as np
import pytest


def test_sum_of_layer_gradient_norms(suite, loss_grads):
  """Norms added per layer (the scanned cell axis is one layer per cell;
  here one cell per stage)."""
  for name, case in suite.items():
    _, grads = loss_grads[name]
    want = sum(np.linalg.norm(g) for g in grads.values())
    assert case.values['grad_norm'] == pytest.approx(want, rel=1e-4)
