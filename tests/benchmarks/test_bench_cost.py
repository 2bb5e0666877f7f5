"""benchmarks/bench_cost.py: which proxies a cost measurement covers."""

from benchmarks import bench_cost
from jaxnas.proxies import NASLIB_SUITE, REGISTRY


def test_all_is_every_proxy_of_the_cell_network():
  names = bench_cost.proxy_names('all')
  # TE-NAS's two measures run on their own supernets, not the cell network.
  assert set(names) == set(REGISTRY) - {'ntk_cond', 'linear_regions'}
  assert len(names) == 21
  assert set(NASLIB_SUITE) <= set(names)


def test_naslib_and_lists():
  assert bench_cost.proxy_names('naslib') == list(NASLIB_SUITE)
  assert bench_cost.proxy_names('naswot,zico') == ['naswot', 'zico']
