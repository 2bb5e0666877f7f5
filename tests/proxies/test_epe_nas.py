import numpy as np
import pytest

from jaxnas.proxies import epe_nas
from tests.proxies.test_jacov import input_jacobian


def test_per_class_correlation_score(suite):
  case = suite['convs']
  j = input_jacobian(case)
  want = 0.0
  for c in np.unique(case.labels):
    rows = j[case.labels == c]
    if len(rows) == 1:
      s = np.log(1.0 + 1e-5)
    else:
      s = np.sum(np.log(np.abs(np.corrcoef(rows)) + 1e-5))
    want += abs(s)
  assert case.values['epe_nas'] == pytest.approx(want, rel=1e-3)


def test_more_than_100_classes_uses_pairwise_differences():
  rng = np.random.default_rng(0)
  j = rng.normal(size=(6, 5))
  labels = np.array([0, 0, 1, 1, 1, 2])
  value, _ = epe_nas.host((j, labels, np.zeros((1, 120))))
  s = []
  for c in (0, 1):  # class 2 has one image: skipped
    rows = j[labels == c]
    s.append(np.sum(np.log(np.abs(np.corrcoef(rows)) + 1e-5)) / len(rows))
  want = sum(abs(a - b) for a in s for b in s) / len(s)
  assert value == pytest.approx(want)
