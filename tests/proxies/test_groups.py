"""Grouping proxies by what they need (jaxnas.proxies.groups)."""

from jaxnas.proxies import get_proxy
from jaxnas.proxies import naswot
from jaxnas.proxies.groups import make_groups


def test_groups_share_a_network_only_when_their_needs_agree():
  groups = make_groups([get_proxy(n) for n in (
      'naswot', 'snip', 'fisher', 'synflow', 'zen', 'ntk_cond', 'params')])
  names = [[p.name for p in g.proxies] for g in groups]
  assert names == [['naswot', 'snip', 'fisher'], ['synflow'], ['zen'],
                   ['ntk_cond']]
  assert groups[0].any('gates') and not groups[1].any('gates')
  assert groups[0].taps.taps == (naswot.TAP,)
