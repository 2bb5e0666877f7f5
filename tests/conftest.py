"""Shared fixtures: reference data (JAXNAS_REFERENCE_DATA) and tiny inputs."""

import os

import numpy as np
import pytest

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')


def reference_file(name: str) -> str:
  """Path of a reference data file; skips if the variable is unset, fails if
  it is set but the file is missing."""
  root = os.environ.get('JAXNAS_REFERENCE_DATA')
  if not root:
    pytest.skip('JAXNAS_REFERENCE_DATA is not set (reference data tests)')
  path = os.path.join(root, name)
  if not os.path.exists(path):
    pytest.fail(f'JAXNAS_REFERENCE_DATA={root} has no {name}')
  return path


@pytest.fixture
def tiny_images():
  """Six 8x8 normalised RGB images (float32 NHWC), seeded."""
  rng = np.random.default_rng(0)
  return rng.normal(size=(6, 8, 8, 3)).astype(np.float32)
