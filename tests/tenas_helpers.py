"""Shared by the TE-NAS tests: small stand-ins for TE-NAS's networks (one
stage keeps compiles short), a float64 NumPy supernet forward, masks."""

import dataclasses

import jax
import numpy as np

from jaxnas import nn as jnn
from jaxnas.spaces.nb201 import NB201Space, spec, supernet
from tests import numpy_nb201 as npn

ALL_OPS = spec.parse('|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+'
                     '|skip_connect~0|nor_conv_3x3~1|none~2|')
NO_PATH = spec.parse('|nor_conv_3x3~0|+|none~0|none~1|+'
                     '|none~0|none~1|nor_conv_1x1~2|')


@dataclasses.dataclass(frozen=True)
class SmallTenasSpace(NB201Space):
  """NB201 whose TE-NAS kappa network is a one-stage C=2 supernet with 3
  classes (the regions network is TE-NAS's own, already tiny)."""

  def network(self, opts=None, num_classes=10, form='cell'):
    if form == 'tenas_kappa':
      return supernet.SuperNetwork(2, 1, 1, True, 3,
                                   opts or jnn.NetOptions())
    return super().network(opts, num_classes, form)


def random_mask(seed):
  """A mask with 0-4 ops per edge, 'none' sometimes on, one empty edge."""
  rng = np.random.default_rng(seed)
  mask = (rng.random((6, 5)) < 0.5).astype(np.float32)
  mask[0] = 0.0
  mask[1, [spec.SKIP, spec.CONV3]] = 1.0
  mask[2, :] = [1, 0, 1, 1, 1]
  return mask


def numpy_supernet(params, x, mask, stem):
  """Returns (logits, every ReLU call's input, the cell node each call
  reads (None for lastact)) of a one-stage supernet, in float64."""
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  inputs, sources = [], []

  def relu(v, source=None):
    inputs.append(v)
    sources.append(source)
    return np.maximum(v, 0.0)

  x = np.asarray(x, np.float64)
  if stem:
    x = npn.bn(npn.conv(x, p['stem']['kernel']), p['stem']['scale'],
               p['stem']['bias'])
  cp = p['stage0_cell0']
  nodes = [x]
  for j in range(1, 4):
    total = np.zeros_like(x)
    for i in range(j):
      e = spec.EDGES.index((i, j))
      k = mask[e].sum()
      for op in np.flatnonzero(mask[e]):
        if op == spec.SKIP:
          y = nodes[i]
        elif op == spec.POOL:
          y = npn.avg_pool_3x3(nodes[i])
        elif op in (spec.CONV1, spec.CONV3):
          name = '1x1' if op == spec.CONV1 else '3x3'
          y = npn.bn(npn.conv(relu(nodes[i], i),
                              cp[f'edge{e}_conv{name}_kernel']),
                     cp[f'edge{e}_bn{name}_scale'],
                     cp[f'edge{e}_bn{name}_bias'])
        else:  # none
          y = np.zeros_like(x)
        total = total + y / k
    nodes.append(total)
  h = relu(npn.bn(nodes[3], p['lastact_scale'], p['lastact_bias']))
  logits = h.mean(axis=(1, 2)) @ p['classifier']['kernel'] + p[
      'classifier']['bias']
  return logits, inputs, sources
