"""The registry: names, options, out-of-tree proxies."""

import pytest

from jaxnas.errors import JaxnasError
from jaxnas.proxies import (NASLIB_SUITE, REGISTRY, get_proxies, get_proxy,
                            parse_options)


def test_every_registered_proxy_builds_with_its_name():
  for name, factory in REGISTRY.items():
    proxy = factory()
    assert proxy.name == name
    assert (proxy.device is None) == (proxy.static is not None)
  assert set(NASLIB_SUITE) <= set(REGISTRY)


def test_directions():
  lower = {n for n in REGISTRY if not get_proxy(n).higher_is_better}
  assert lower == {'ntk_cond'}


def test_options_are_typed_and_checked():
  assert parse_options(['ntk_cond.batch_size=72',
                        'linear_regions.inputs=300']) == {
                            'ntk_cond': {'batch_size': 72},
                            'linear_regions': {'inputs': 300}}
  for bad, message in (('ntk_cond.batch_size', 'expected PROXY.OPTION'),
                       ('ntk_cond.bogus=1', "has no option 'bogus'"),
                       ('ntk_cond.batch_size=x', "is not a int"),
                       ('nope.x=1', "unknown proxy 'nope'")):
    with pytest.raises(JaxnasError, match=message):
      parse_options([bad])
  with pytest.raises(JaxnasError, match='not in --proxies'):
    get_proxies(['naswot'], {'ntk_cond': {'batch_size': 4}})
  with pytest.raises(JaxnasError, match='twice'):
    get_proxies(['naswot', 'naswot'])
  with pytest.raises(JaxnasError, match='inputs=100 must be a positive '
                     'multiple of batch=30'):
    get_proxy('linear_regions', inputs=100, batch=30)


def test_module_function_names(tmp_path, monkeypatch):
  (tmp_path / 'ext_proxy.py').write_text(
      'from jaxnas.proxies import get_proxy\n'
      'def make(scale: float = 1.0):\n'
      '  return get_proxy("params")\n'
      'def broken():\n'
      '  return 3\n')
  monkeypatch.syspath_prepend(str(tmp_path))
  assert get_proxy('ext_proxy:make').name == 'params'
  assert parse_options(['ext_proxy:make.scale=2']) == {
      'ext_proxy:make': {'scale': 2.0}}
  with pytest.raises(JaxnasError, match='not a Proxy'):
    get_proxy('ext_proxy:broken')
  with pytest.raises(JaxnasError, match='cannot import'):
    get_proxy('no_such_module:make')
  with pytest.raises(JaxnasError, match='unknown proxy'):
    get_proxy('bogus')
