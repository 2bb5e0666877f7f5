import numpy as np
import pytest

from tests.proxies.conftest import get


def test_fisher_from_activation_gradients(suite):
  """Per conv / dense output a: g_nk = sum_hw a * dL/da = dL/dm_nk for a
  multiplier (1 + m_nk) on the output (central differences on the NumPy
  forward); fisher = sum over layers and channels of 0.5 * mean_n g_nk^2
  times the layer's fan-in."""
  for case in suite.values():
    params = case.params()
    shapes = {}
    case.forward(params, conv_hook=lambda n, y: shapes.setdefault(
        n, y.shape) and y)
    total = 0.0
    for site, shape in shapes.items():
      fan = _fan_in(params, site)
      g = np.zeros((shape[0], shape[-1]))
      for n in range(shape[0]):
        for k in range(shape[-1]):
          def loss(m, n=n, k=k, site=site):
            def hook(name, y):
              if name != site:
                return y
              y = y.copy()
              y[n, ..., k] *= 1 + m
              return y
            return case.loss(params, conv_hook=hook)
          g[n, k] = (loss(1e-5) - loss(-1e-5)) / 2e-5
      total += np.sum(0.5 * np.mean(g**2, axis=0)) * fan
    assert case.values['fisher'] == pytest.approx(total, rel=1e-3)


def _fan_in(params, site):
  """k * k * C_in of the kernel behind a NumPy forward site name."""
  parts = site.split('/')
  if parts[0] == 'classifier':
    kernel = params['classifier']['kernel']
  elif parts[0] == 'stem':
    kernel = params['stem']['kernel']
  elif parts[0].startswith('reduce'):
    block = params[parts[0]]
    kernel = (block['shortcut_kernel'] if parts[1] == 'shortcut' else
              block[parts[1]]['kernel'])
  else:
    e = int(parts[2][4:])
    cell = params[parts[0]]
    live = [get(cell, (f'edge{e}_conv{s}_kernel',)) for s in ('1x1', '3x3')]
    kernel = next(k for k in live if np.any(k))[0]
  return int(np.prod(kernel.shape[:-1]))
