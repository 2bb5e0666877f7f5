"""Parameter and FLOP counts of the NAS-Bench-101 network (NumPy only).

Counts what the benchmark's ``trainable_parameters`` field counts for the TF
model of google-research/nasbench (``model_builder.py``, ``base_ops.py``):

* every conv-BN-ReLU is a conv without bias (k*k*C_in*C_out weights) and a
  batch norm with a trainable scale and offset (2*C_out);
* the stem is a 3x3 conv-BN-ReLU from 3 to `stem_channels` channels;
* `num_stacks` stacks of `cells_per_stack` cells; every stack after the first
  starts with a parameter-free 2x2 max-pool and doubles the channel count, so
  its first cell maps the old count to the doubled one;
* global average pool, then a dense layer with bias to `num_classes`.

Inside a cell with C_in input and C_out output channels (see
:func:`vertex_channels`), every interior vertex receives exactly its own
channel count: interior inputs are truncated to it, and an input->vertex edge
adds a 1x1 conv-BN-ReLU projection of the cell input (C_in -> channels). A
conv vertex then maps its channels to its channels; a max-pool vertex has no
parameters. An input->output edge adds a projection C_in -> C_out (which is
the whole cell when there is no interior vertex).
"""

from __future__ import annotations

import numpy as np

from jaxnas.errors import SpecError
from jaxnas.spaces.nb101 import spec

_KERNEL = {spec.CONV3X3: 3, spec.CONV1X1: 1, spec.MAXPOOL3X3: 0}


def vertex_channels(in_channels: int, out_channels: int,
                    matrix) -> list[int]:
  """Channel count of every vertex of a pruned cell, as the reference does.

  The vertices feeding the output split `out_channels` evenly (the first
  ``out_channels % k`` of them, in vertex order, get one more); every other
  interior vertex takes the maximum over its interior successors, filled in
  reverse vertex order. Vertex 0 has `in_channels`, the output `out_channels`.
  """
  m = np.asarray(matrix)
  num_v = m.shape[0]
  out = num_v - 1
  channels = [0] * num_v
  channels[0], channels[out] = int(in_channels), int(out_channels)
  if num_v == 2:
    return channels
  feeders = [v for v in range(1, out) if m[v, out]]
  if not feeders:
    raise SpecError('vertex_channels: no interior vertex feeds the output; '
                    'is the cell pruned?')
  share, extra = divmod(int(out_channels), len(feeders))
  for i, v in enumerate(feeders):
    channels[v] = share + (1 if i < extra else 0)
  for v in range(out - 1, 0, -1):
    if m[v, out]:
      continue
    succ = [channels[w] for w in range(v + 1, out) if m[v, w]]
    channels[v] = max(succ, default=0)
    if channels[v] <= 0:
      raise SpecError(f'vertex_channels: vertex {v} gets no channels; is the '
                      'cell pruned?')
  return channels


def _conv_bn(kernel: int, c_in: int, c_out: int) -> int:
  """Parameters of a bias-free k x k conv followed by batch norm."""
  return kernel * kernel * c_in * c_out + 2 * c_out


def cell_param_count(cell: spec.Cell, in_channels: int,
                     out_channels: int) -> int:
  """Trainable parameters of one cell mapping in_channels -> out_channels."""
  m = cell.matrix
  num_v = cell.num_vertices
  out = num_v - 1
  channels = vertex_channels(in_channels, out_channels, m)
  total = 0
  for v in range(1, out):
    if m[0, v]:
      total += _conv_bn(1, in_channels, channels[v])  # Input projection.
    kernel = _KERNEL[cell.ops[v]]
    if kernel:
      total += _conv_bn(kernel, channels[v], channels[v])
  if m[0, out]:
    total += _conv_bn(1, in_channels, out_channels)  # Output projection.
  return total


def param_count(cell: spec.Cell, stem_channels: int = 128,
                num_stacks: int = 3, cells_per_stack: int = 3,
                num_classes: int = 10) -> int:
  """Trainable parameter count of the NB101 network built from `cell`.

  With the defaults this equals the benchmark's ``trainable_parameters``.
  """
  if not isinstance(cell, spec.Cell):
    raise SpecError(f'param_count: expected a Cell, got {type(cell).__name__}')
  total = _conv_bn(3, 3, stem_channels)  # Stem.
  channels = stem_channels
  for stack in range(num_stacks):
    in_channels = channels
    if stack > 0:
      channels *= 2
    for i in range(cells_per_stack):
      # The first cell of a stack maps the previous count to the new one.
      total += cell_param_count(cell, in_channels if i == 0 else channels,
                                channels)
  total += channels * num_classes + num_classes  # Dense with bias.
  return int(total)


def _conv_bn_relu_flops(kernel: int, c_in: int, c_out: int,
                        positions: int) -> int:
  """A conv's multiply-adds, BN (affine) 2 and ReLU 1 per output element."""
  return (kernel * kernel * c_in + 3) * c_out * positions


def cell_flops(cell: spec.Cell, in_channels: int, out_channels: int,
               positions: int) -> int:
  """FLOPs of one cell at ``positions`` = H * W (see :func:`flops`)."""
  m = cell.matrix
  out = cell.num_vertices - 1
  channels = vertex_channels(in_channels, out_channels, m)
  total = 0
  for v in range(1, out):
    if m[0, v]:
      total += _conv_bn_relu_flops(1, in_channels, channels[v], positions)
    kernel = _KERNEL[cell.ops[v]]
    total += (_conv_bn_relu_flops(kernel, channels[v], channels[v],
                                  positions) if kernel else
              9 * channels[v] * positions)  # 3x3 max pool, stride 1
  if m[0, out]:
    total += _conv_bn_relu_flops(1, in_channels, out_channels, positions)
  return total


def flops(cell: spec.Cell, stem_channels: int = 128, num_stacks: int = 3,
          cells_per_stack: int = 3, num_classes: int = 10,
          image_size: int = 32) -> int:
  """Forward FLOPs of one image, as NASLib's zero-cost ``flops`` column
  counts them (tensorwatch on NASLib's archai-built network): conv and dense
  multiply-adds once, BN 2 and ReLU 1 per element, max pools k*k per output
  element, the global mean and additions free. Matches all 500 cells of
  NASLib's NB101 file."""
  if not isinstance(cell, spec.Cell):
    raise SpecError(f'flops: expected a Cell, got {type(cell).__name__}')
  side = image_size
  total = _conv_bn_relu_flops(3, 3, stem_channels, side * side)
  channels = stem_channels
  for stack in range(num_stacks):
    in_channels = channels
    if stack > 0:
      side //= 2
      total += 4 * channels * side * side  # 2x2 max pool
      channels *= 2
    for i in range(cells_per_stack):
      total += cell_flops(cell, in_channels if i == 0 else channels,
                          channels, side * side)
  return int(total + channels * num_classes)
