"""One DARTS op at a time (jaxnas.spaces.darts.ops) against the NumPy
float64 reference ops of tests/numpy_darts.py."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import nn as jnn
from jaxnas.spaces.darts import ops
from jaxnas.spaces.darts import spec
from tests import numpy_darts


class _Relu:
  """The reference's ReLU recorder, without the recording."""

  @staticmethod
  def relu(x):
    return np.maximum(x, 0.0)


def _weights(op, c, rng):
  """Random kernels of every part op ``op`` reads, by part name."""
  if op == spec.SKIP:
    parts = [('fr1', (1, 1, c, c // 2)), ('fr2', (1, 1, c, c // 2))]
  elif op in ops.CONVS:
    parts = ops._parts(op, c)  # pylint: disable=protected-access
  else:
    parts = []
  return {part: rng.normal(size=shape) / np.sqrt(np.prod(shape[:-1]))
          for part, shape in parts}


@pytest.mark.parametrize('stride', [1, 2])
@pytest.mark.parametrize('name', spec.OPS)
def test_op_matches_numpy(name, stride):
  rng = np.random.default_rng(spec.OPS.index(name) * 2 + stride)
  c, op = 4, spec.OPS.index(name)
  x = rng.normal(size=(3, 8, 8, c))
  parts = _weights(op, c, rng)
  weights = {ops.kernel_name(op, p): (jnp.asarray(k, jnp.float32), None)
             for p, k in parts.items()}
  got, acc = ops.apply_op(op, stride, jnp.asarray(x, jnp.float32), weights,
                          (), jnn.NetOptions())
  want = numpy_darts.op_forward(_Relu(), name, x, stride, parts.__getitem__)
  assert acc == ()
  assert got.shape == want.shape == (3, 8 // stride, 8 // stride, c)
  np.testing.assert_allclose(np.asarray(got), want, rtol=2e-4, atol=2e-4)
