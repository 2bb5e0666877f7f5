"""The zero-cost suite on a tiny NB201 network (C=1, N=1, 8x8 images),
computed once by the engine and compared, proxy by proxy, with independent
float64 computations: the NumPy forward of tests/numpy_nb201 and central
finite differences of it (no JAX autodiff on the reference side)."""

import jax
import numpy as np
import pytest

from jaxnas import engine
from jaxnas import nn as jnn
from jaxnas.proxies import NASLIB_SUITE, base, get_proxies
from jaxnas.spaces import get_space
from jaxnas.spaces.nb201 import spec
from tests import numpy_nb201 as npn

SPACE = get_space('nb201', channels=1, cells_per_stage=1)
ARCHS = {
    'mixed': spec.parse('|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+'
                        '|skip_connect~0|nor_conv_3x3~1|none~2|'),
    'convs': spec.parse('|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+'
                        '|nor_conv_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|'),
}
KEY = jax.random.PRNGKey(11)
CLASSES = 10


class Case:
  """One architecture: the engine's values and the parameters it used."""

  def __init__(self, arch, values, images, labels):
    self.arch, self.values = arch, values
    self.images = images.astype(np.float64)
    self.labels = labels
    self.key = jax.random.split(jax.random.fold_in(KEY, SPACE.arch_id(arch)),
                                1)[0]

  def params(self, weight_init='torch'):
    net = SPACE.network(jnn.NetOptions(weight_init), CLASSES)
    p = base.init_variables(net, self.key, self.images.astype(np.float32),
                            self.arch)['params']
    return jax.tree.map(lambda a: np.asarray(a, np.float64), p)

  def forward(self, params, images=None, **kwargs):
    return npn.forward(params, self.images if images is None else images,
                       self.arch, 1, **kwargs)

  def loss(self, params, **kwargs):
    logits = self.forward(params, **kwargs)[0]
    z = logits - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return -logp[np.arange(len(self.labels)), self.labels].mean()


def live_kernels(case: Case, params) -> list[tuple[str, ...]]:
  """Paths of the kernels the real network has (chosen ops only)."""
  out = []
  for path, _ in jnn.tree_paths(params):
    if not jnn.is_kernel(path):
      continue
    name = path[-1]
    if name.startswith('edge'):
      e, conv = int(name[4]), name.split('_')[1]
      if case.arch[e] != (spec.CONV1 if conv == 'conv1x1' else spec.CONV3):
        continue
    out.append(path)
  return out


def get(tree, path):
  for k in path:
    tree = tree[k]
  return tree


def central_differences(f, array, step=1e-6):
  """d f() / d array by central differences, ``array`` changed in place one
  entry at a time (and restored)."""
  g = np.zeros_like(array)
  for idx in np.ndindex(array.shape):
    old = array[idx]
    array[idx] = old + step
    up = f()
    array[idx] = old - step
    down = f()
    array[idx] = old
    g[idx] = (up - down) / (2 * step)
  return g


def fd_grad(f, params, paths, step=1e-6):
  """Central differences of f over every entry of the leaves at paths."""
  return {path: central_differences(lambda: f(params), get(params, path),
                                    step)
          for path in paths}


@pytest.fixture(scope='session')
def suite():
  """name -> Case, every NASLib proxy computed by one engine program."""
  return _one_program(NASLIB_SUITE, ARCHS)


def _one_program(names, archs, options=None):
  """name -> Case: the proxies ``names`` of the cells ``archs`` (name ->
  arch) by one engine program, on a fixed batch of 6 images and labels."""
  rng = np.random.default_rng(3)
  images = rng.normal(size=(6, 8, 8, 3)).astype(np.float32)
  labels = np.array([3, 1, 3, 0, 7, 1])
  eng = engine.Engine(SPACE, get_proxies(names, options),
                      num_classes=CLASSES, devices=1)
  rows = list(eng.score(KEY, list(archs.values()), images, labels))
  assert eng.compilations == 1
  return {name: Case(arch, {k: v.values[0] for k, v in row.results.items()},
                     images, labels)
          for (name, arch), row in zip(archs.items(), rows)}


@pytest.fixture(scope='session')
def loss_grads(suite):
  """name -> (params, {kernel path: dL/dW}) by finite differences."""
  out = {}
  for name, case in suite.items():
    params = case.params()
    out[name] = (params, fd_grad(case.loss, params,
                                 live_kernels(case, params)))
  return out


ZICO_AZ = ('zico', 'az_expressivity', 'az_progressivity', 'az_trainability',
           'az_complexity', 'flops')
# No 1x1 conv in stage 0: at C=1 its single weight feeds a BN, so its exact
# gradient is 0 and ZiCo sees float32 round-off (as the reference would).
ZICO_ARCHS = {**ARCHS, 'no_c1_conv1x1': spec.parse(
    '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+'
    '|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|')}


@pytest.fixture(scope='session')
def zico_az():
  """name -> Case: zico and the AZ-NAS proxies by one engine program (the
  suite's images and labels; AZ-NAS's Gaussian batch of the same 6)."""
  options = {n: {'batch_size': 6} for n in (
      'az_expressivity', 'az_progressivity', 'az_trainability')}
  return _one_program(ZICO_AZ, ZICO_ARCHS, options)
