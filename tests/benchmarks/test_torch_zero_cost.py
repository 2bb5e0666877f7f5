"""The PyTorch-eager zero-cost reference in benchmarks/ (skipped without torch)."""

import math

import numpy as np
import pytest

torch = pytest.importorskip('torch')

from benchmarks import torch_reference as tr  # pylint: disable=g-import-not-at-top
from benchmarks import torch_zero_cost as tzc  # pylint: disable=g-import-not-at-top
from tests.conftest import reference_file  # pylint: disable=g-import-not-at-top

DISCONNECTED = ('|none~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|'
                'skip_connect~1|none~2|')
WORKED = ('|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|avg_pool_3x3~0|'
          'nor_conv_3x3~1|avg_pool_3x3~2|')


@pytest.fixture
def batch():
  """Eight random uint8 32x32 images and labels, seeded."""
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, size=(8, 32, 32, 3), dtype=np.uint8)
  return images, rng.integers(0, 10, size=8)


def test_params_flops_worked_example(batch):
  res = tzc.score_cell(WORKED, *batch, proxies=('params', 'flops'))
  assert res['params'][0] == pytest.approx(0.830426, abs=0)
  assert res['flops'][0] == pytest.approx(122.345152, abs=1e-9)


def test_params_flops_match_naslib_rows(batch):
  rows = tzc.load_naslib_cells(reference_file('nb201_zc_naslib_subset.csv'))
  for row in rows[:: len(rows) // 8]:
    res = tzc.score_cell(row['arch_str'], *batch, proxies=('params', 'flops'))
    assert res['params'][0] == pytest.approx(float(row['params']), abs=1e-9)
    assert res['flops'][0] == pytest.approx(float(row['flops']), abs=1e-9)


def test_disconnected_cell_gives_naslib_sentinels(batch):
  proxies = ('synflow', 'grad_norm', 'plain', 'jacov', 'nwot', 'zen')
  res = tzc.score_cell(DISCONNECTED, *batch, proxies=proxies)
  assert res['synflow'][0] == 0.0
  assert res['grad_norm'][0] == 0.0
  assert res['plain'][0] == 0.0
  assert math.isnan(res['jacov'][0])
  assert res['nwot'][0] == -math.inf
  assert res['zen'][0] == -math.inf


def test_nwot_counts_residual_relus_twice():
  net = tr.build_network(WORKED, num_classes=10)
  # 4 conv edges x 15 cells, 4 residual ReLUs twice, the head ReLU.
  assert len(tzc.zc.nwot_modules(net)) == 4 * 15 + 2 * 4 + 1


@pytest.mark.parametrize('name', ['synflow', 'fisher', 'zen', 'l2_norm'])
def test_proxies_leave_the_network_untouched(batch, name):
  torch.manual_seed(0)
  net = tr.build_network(WORKED, num_classes=10)
  before = {k: v.clone() for k, v in net.state_dict().items()}
  value, seconds = tzc.run_proxy(name, net, *batch, seed=3)
  assert math.isfinite(value) and seconds > 0
  for k, v in net.state_dict().items():
    assert v.dtype == before[k].dtype and torch.equal(v, before[k]), k
  assert not any('forward' in vars(m) for m in net.modules())


def test_scores_do_not_depend_on_proxy_order(batch):
  a = tzc.score_cell(WORKED, *batch, proxies=('zen', 'nwot'), seed=5)
  b = tzc.score_cell(WORKED, *batch, proxies=('flops', 'nwot', 'zen'), seed=5)
  assert a['zen'][0] == b['zen'][0]
  assert a['nwot'][0] == b['nwot'][0]
