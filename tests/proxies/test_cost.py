"""params and flops against NASLib's published columns."""

import csv

import pytest

from jaxnas.proxies import get_proxy
from jaxnas.spaces import get_space
from jaxnas.spaces.nb101 import strings
from tests.conftest import reference_file

CLASSES = {'cifar10': 10, 'cifar100': 100, 'ImageNet16-120': 120}


def test_nb201_equals_naslib_on_all_subset_rows():
  space = get_space('nb201')
  params, flops = get_proxy('params'), get_proxy('flops')
  rows = list(csv.DictReader(open(reference_file(
      'nb201_zc_naslib_subset.csv'))))
  assert len(rows) == 2174
  for r in rows:
    arch = space.parse(r['arch_str'])
    n = CLASSES[r['dataset']]
    size = 16 if r['dataset'] == 'ImageNet16-120' else 32
    assert params.static(space, arch, n, size) == pytest.approx(
        float(r['params']), abs=1e-6)
    assert flops.static(space, arch, n, size) == pytest.approx(
        float(r['flops']), abs=1e-6)


def test_nb101_equals_naslib_on_all_500_rows():
  space = get_space('nb101')
  rows = list(csv.DictReader(open(reference_file('nb101_zc_naslib_500.csv'))))
  assert len(rows) == 500
  for r in rows:
    cell = strings.parse_parts(r['matrix'], r['ops'].replace('-', ','))
    assert get_proxy('params').static(space, cell, 10, 32) == pytest.approx(
        float(r['params']), abs=1e-5)
    assert get_proxy('flops').static(space, cell, 10, 32) == pytest.approx(
        float(r['flops']), abs=1e-5)
