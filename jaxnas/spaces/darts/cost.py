"""Parameter and FLOP counts of DARTS-space networks (NumPy only, no JAX).

Two networks are counted, both built from a :class:`spec.Genotype` the same
way (DARTS's ``NetworkCIFAR`` layout):

* NASLib's NB301 network, as scored by NAS-Bench-Suite-Zero: C = 32, 8
  cells, reductions at cells ``layers // 3`` and ``2 * layers // 3``, stem
  conv 3 -> 3C + affine BN, no auxiliary head. Its cell ops use
  **non-affine** BNs (no parameters) and NASLib puts a BN after each pool.
  :func:`param_count` and :func:`flops` count it the way tensorwatch 0.9.1
  does (what NASLib's ``params`` and ``flops`` predictors report, in units,
  not millions).
* DARTS's evaluation network (``cnn/model.py`` of quark0/darts): C = 36, 20
  cells, cell ops with **affine** BNs, no BN after pools, and an optional
  auxiliary head on the output of cell ``2 * layers // 3``.
  :func:`eval_param_count` counts its parameters.

Counting conventions (tensorwatch): FLOPs are multiply-adds counted once;
conv = k_h k_w C_in (C_out / groups) H_out W_out; BN = numel x (2 if affine
else 1); ReLU = numel; max/avg pool 3x3 = 9 per output; Linear = in x out;
the final AdaptiveAvgPool2d(1) counts C (H + 1) (W + 1); identities, sums
and concatenations count nothing. Parameters exclude BN running statistics.
"""

from __future__ import annotations

from jaxnas.errors import SpecError
from jaxnas.spaces.darts import spec

# FactorizedReduce and every stride-2 op halve the side exactly: even sides.
_MIN_SIDE_DIVISOR = 4


def _op_cost(op: int, c: int, side_in: int, stride: int,
             darts_eval: bool) -> tuple[int, int]:
  """(FLOPs, params) of one cell op on ``[c, side_in, side_in]``."""
  s_in = side_in * side_in
  s = s_in // (stride * stride)
  bn_flops = (2 if darts_eval else 1) * c * s  # BN on the op's output
  bn_params = 2 * c if darts_eval else 0
  if op in (spec.MAX_POOL, spec.AVG_POOL):
    # DARTS's pools are bare; NASLib appends BatchNorm2d(C, affine=False).
    return 9 * c * s + (0 if darts_eval else c * s), 0
  if op == spec.SKIP:
    if stride == 1:
      return 0, 0
    # FactorizedReduce(C, C): ReLU, two 1x1 stride-2 convs C -> C/2, BN.
    return c * s_in + c * c * s + bn_flops, c * c + bn_params
  k = 3 if op in (spec.SEP3, spec.DIL3) else 5
  # ReLU, depthwise k x k (stride), pointwise 1x1, BN.
  f = c * s_in + k * k * c * s + c * c * s + bn_flops
  p = k * k * c + c * c + bn_params
  if op in (spec.SEP3, spec.SEP5):
    # A separable conv is two such units, the second at stride 1.
    f, p = f + c * s + k * k * c * s + c * c * s + bn_flops, 2 * p
  return f, p


def _preprocess(c_in: int, c: int, side_in: int, reduce: bool
                ) -> tuple[int, int]:
  """(FLOPs, params) of ReLUConvBN(c_in, c, 1x1), or FactorizedReduce(c_in,
  c) when ``reduce`` (both with affine BNs)."""
  s_in = side_in * side_in
  s = s_in // 4 if reduce else s_in
  return c_in * s_in + c_in * c * s + 2 * c * s, c_in * c + 2 * c


def check_size(channels: int, layers: int, input_size: int = 32) -> None:
  """Raises SpecError unless a DARTS network of this size can be built."""
  if channels < 2 or channels % 2:
    raise SpecError(f'DARTS network: channels={channels} must be even and '
                    '>= 2 (FactorizedReduce splits them in two)')
  if layers < 3:
    raise SpecError(f'DARTS network: layers={layers} must be >= 3 (two '
                    'reduction cells at layers // 3 and 2 * layers // 3)')
  if input_size < 4 or input_size % _MIN_SIDE_DIVISOR:
    raise SpecError(f'DARTS network: input_size={input_size} must be a '
                    f'multiple of {_MIN_SIDE_DIVISOR}')


def _network(arch, channels: int, layers: int, num_classes: int,
             input_size: int, darts_eval: bool) -> tuple[int, int, int]:
  """(FLOPs, params, channels into the auxiliary head) of the network."""
  arr = spec.to_array(arch)
  check_size(channels, layers, input_size)
  stem = 3 * channels
  side = input_size
  f = 27 * stem * side * side + 2 * stem * side * side  # conv 3x3, affine BN
  p = 27 * stem + 2 * stem
  c_pp, c_p, c = stem, stem, channels
  side_pp = side_p = side  # sides of the cell's two inputs
  reduce_prev, c_aux = False, 0
  for i in range(layers):
    reduce = i in (layers // 3, 2 * layers // 3)
    if reduce:
      c *= 2
    for c_in, side_in, red in ((c_pp, side_pp, reduce_prev),
                               (c_p, side_p, False)):
      df, dp = _preprocess(c_in, c, side_in, red)
      f, p = f + df, p + dp
    for op, src in arr[int(reduce)].tolist():
      stride = 2 if reduce and src < 2 else 1
      side_in = side_p if src < 2 or not reduce else side_p // 2
      df, dp = _op_cost(op, c, side_in, stride, darts_eval)
      f, p = f + df, p + dp
    side_out = side_p // 2 if reduce else side_p
    c_pp, c_p = c_p, len(spec.CONCAT) * c
    side_pp, side_p = side_p, side_out
    reduce_prev = reduce
    if i == 2 * layers // 3:
      c_aux = c_p
  f += c_p * (side_p + 1)**2 + c_p * num_classes  # pool quirk, Linear
  p += c_p * num_classes + num_classes
  return f, p, c_aux


def param_count(arch, channels: int = 32, layers: int = 8,
                num_classes: int = 10) -> int:
  """Parameters of NASLib's NB301 network (tensorwatch count).

  With the defaults this is NASLib's ``params`` score (the NB301 data's
  ``params`` column) times 1e6.

  Args:
    arch: a :class:`spec.Genotype` or its array ``[2, 8, 2]``.
    channels: C of the first cells (the stem has 3C).
    layers: number of cells.
    num_classes: width of the classifier.

  Returns:
    The parameter count (conv weights, affine BNs of the stem and the
    preprocessing, classifier weight and bias).
  """
  return _network(arch, channels, layers, num_classes, 32, False)[1]


def flops(arch, channels: int = 32, layers: int = 8, num_classes: int = 10,
          input_size: int = 32) -> int:
  """FLOPs (multiply-adds) of NASLib's NB301 network on one
  ``[1, 3, input_size, input_size]`` image, counted as tensorwatch counts
  them; with the defaults, NASLib's ``flops`` score times 1e6."""
  return _network(arch, channels, layers, num_classes, input_size, False)[0]


def aux_head_params(c_in: int, num_classes: int = 10) -> int:
  """Parameters of DARTS's ``AuxiliaryHeadCIFAR(c_in, num_classes)``: 1x1
  conv c_in -> 128 + BN, 2x2 conv 128 -> 768 + BN, Linear(768, classes)."""
  return (c_in * 128 + 2 * 128 + 128 * 768 * 4 + 2 * 768 + 768 * num_classes +
          num_classes)


def eval_param_count(arch, channels: int = 36, layers: int = 20,
                     num_classes: int = 10, auxiliary: bool = False) -> int:
  """Parameters of DARTS's CIFAR evaluation network ``NetworkCIFAR``.

  Args:
    arch: a :class:`spec.Genotype` or its array ``[2, 8, 2]``.
    channels: DARTS's ``--init_channels`` (36).
    layers: DARTS's ``--layers`` (20).
    num_classes: classes (10 for CIFAR-10).
    auxiliary: include the auxiliary head's parameters. DARTS's own report
      (``utils.count_parameters_in_MB``, the papers' "Params (M)") leaves
      them out even when training with ``--auxiliary``: use False for it.

  Returns:
    The parameter count.
  """
  _, p, c_aux = _network(arch, channels, layers, num_classes, 32, True)
  return p + (aux_head_params(c_aux, num_classes) if auxiliary else 0)
