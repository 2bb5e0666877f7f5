"""The NAS-Bench-201 cell as plain data (NumPy only, no JAX).

A cell has four nodes; node 0 is the cell input, node 3 its output, and node
j is the sum over i < j of op_ij(node i). A cell is therefore six op choices,
one per edge, in the order the benchmark's string writes them:

  0->1, 0->2, 1->2, 0->3, 1->3, 2->3

String form (Dong & Yang, ICLR 2020):
  ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``

The array form used everywhere in jaxnas is an int vector of shape ``[6]``
holding indices into :data:`OPS`. The *cell id* is the base-5 number whose
digits are the six op indices (edge 0->1 most significant); it is jaxnas's own
enumeration order and NOT the benchmark's index (the benchmark file is a
seeded shuffle: always map to the benchmark by string).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from jaxnas.errors import SpecError

OPS = ('none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3', 'avg_pool_3x3')
NONE, SKIP, CONV1, CONV3, POOL = range(5)
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
NUM_EDGES = len(EDGES)
NUM_OPS = len(OPS)
NUM_CELLS = NUM_OPS**NUM_EDGES  # 15,625
_OP_INDEX = {name: i for i, name in enumerate(OPS)}
_POWERS = NUM_OPS**np.arange(NUM_EDGES - 1, -1, -1)


def parse(arch: str) -> np.ndarray:
  """Parses an NB201 string into its op array.

  Args:
    arch: e.g. ``'|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...~2|'``.

  Returns:
    int32 array ``[6]`` of op indices, edges in string order.

  Raises:
    SpecError: naming the arch and the first bad token.
  """
  if not isinstance(arch, str):
    raise SpecError(f'NB201 arch must be a string, got {type(arch).__name__}: '
                    f'{arch!r}')
  text = arch.strip()
  nodes = text.split('+')
  if len(nodes) != 3:
    raise SpecError(f'NB201 arch {arch!r}: expected 3 nodes separated by '
                    f"'+', found {len(nodes)}")
  ops = []
  for j, node in enumerate(nodes, start=1):
    if len(node) < 2 or node[0] != '|' or node[-1] != '|':
      raise SpecError(f'NB201 arch {arch!r}: node {j} {node!r} must be '
                      "enclosed in '|'")
    tokens = node[1:-1].split('|')
    if len(tokens) != j:
      raise SpecError(f'NB201 arch {arch!r}: node {j} {node!r} must have '
                      f'{j} input edge(s), found {len(tokens)}')
    for i, token in enumerate(tokens):
      name, sep, src = token.partition('~')
      if not sep or src != str(i):
        raise SpecError(f'NB201 arch {arch!r}: bad token {token!r}, '
                        f"expected 'op~{i}'")
      if name not in _OP_INDEX:
        raise SpecError(f'NB201 arch {arch!r}: unknown op {name!r} in token '
                        f'{token!r} (known: {", ".join(OPS)})')
      ops.append(_OP_INDEX[name])
  # String order is node-major: (0->1), (0->2, 1->2), (0->3, 1->3, 2->3),
  # which is exactly EDGES.
  return np.asarray(ops, dtype=np.int32)


def check_ops(ops) -> np.ndarray:
  """Validates an op array ``[6]`` and returns it as int32."""
  arr = np.asarray(ops)
  if arr.shape != (NUM_EDGES,):
    raise SpecError(f'NB201 op array {ops!r}: expected shape ({NUM_EDGES},), '
                    f'got {arr.shape}')
  if not np.issubdtype(arr.dtype, np.integer):
    raise SpecError(f'NB201 op array {ops!r}: expected integers, got '
                    f'{arr.dtype}')
  bad = (arr < 0) | (arr >= NUM_OPS)
  if bad.any():
    raise SpecError(f'NB201 op array {ops!r}: op index {int(arr[bad][0])} out '
                    f'of range 0..{NUM_OPS - 1}')
  return arr.astype(np.int32)


def format(ops) -> str:  # pylint: disable=redefined-builtin
  """Formats an op array as the benchmark's string."""
  ops = check_ops(ops)
  parts, e = [], 0
  for j in range(1, 4):
    tokens = []
    for i in range(j):
      tokens.append(f'{OPS[ops[e]]}~{i}')
      e += 1
    parts.append('|' + '|'.join(tokens) + '|')
  return '+'.join(parts)


def canonical(arch: str) -> str:
  """Returns the benchmark's spelling of an arch string (validating it)."""
  return format(parse(arch))


def to_id(ops) -> int:
  """Op array -> jaxnas cell id in [0, 15625) (base-5, edge 0->1 first)."""
  return int(check_ops(ops) @ _POWERS)


def from_id(cell_id) -> np.ndarray:
  """Cell id (int or int array) -> op array(s) ``[..., 6]``."""
  ids = np.asarray(cell_id, dtype=np.int64)
  if np.any((ids < 0) | (ids >= NUM_CELLS)):
    raise SpecError(f'NB201 cell id {cell_id!r} out of range 0..'
                    f'{NUM_CELLS - 1}')
  return ((ids[..., None] // _POWERS) % NUM_OPS).astype(np.int32)


def enumerate_all() -> np.ndarray:
  """All 15,625 cells as an int32 array ``[15625, 6]`` in cell-id order."""
  return from_id(np.arange(NUM_CELLS))


def sample(rng: np.random.Generator, n: int | None = None) -> np.ndarray:
  """Uniformly random cell(s): ``[6]`` or ``[n, 6]``."""
  shape = (NUM_EDGES,) if n is None else (n, NUM_EDGES)
  return rng.integers(0, NUM_OPS, size=shape).astype(np.int32)


def mutate(ops, rng: np.random.Generator) -> np.ndarray:
  """Changes the op of one uniformly chosen edge to a different op."""
  child = check_ops(ops).copy()
  edge = rng.integers(NUM_EDGES)
  child[edge] = (child[edge] + rng.integers(1, NUM_OPS)) % NUM_OPS
  return child


def neighbours(ops) -> np.ndarray:
  """All 24 cells one edge-mutation away, ``[24, 6]``."""
  ops = check_ops(ops)
  out = []
  for e in range(NUM_EDGES):
    for op in range(NUM_OPS):
      if op != ops[e]:
        child = ops.copy()
        child[e] = op
        out.append(child)
  return np.stack(out)


# Single-core milliseconds per cell-equivalent (jax 0.5.3, XLA:CPU, batch
# 128, C=16; averaged over the three stages): an edge's conv3x3 / conv1x1
# (with its BN) / avg-pool, and the NASWOT kernel of a node read by conv
# edges (about 0.5 ms with the native kernel of jaxnas.native; 8.5 ms with
# the XLA Gram product). Only the ratios matter (they order cells by cost).
_COST_MS = {CONV3: 13.0, CONV1: 5.0, POOL: 1.0}
_COST_TAP_MS = 1.0


def cost_hint(ops) -> float:
  """Relative cost of running (and NASWOT-scoring) the cell `ops`."""
  ops = np.asarray(ops)
  cost = sum(_COST_MS.get(int(op), 0.0) for op in ops)
  tapped = {i for e, (i, _) in enumerate(EDGES) if ops[e] in (CONV1, CONV3)}
  return cost + _COST_TAP_MS * len(tapped)


def is_connected(ops) -> bool:
  """Whether any input->output path carries a non-'none' op on every edge."""
  ops = check_ops(ops)
  live = [True, False, False, False]
  for e, (i, j) in enumerate(EDGES):
    if ops[e] != NONE and live[i]:
      live[j] = True
  return live[3]


def iso_key(ops) -> str:
  """Isomorphism key: equal for cells computing the same function class.

  Each node gets a symbolic expression: node 0 is ``'0'``; an edge gives ``#``
  (zero) for 'none' or a zero input, its input's expression for a skip, and
  ``(expr)@op`` otherwise; a node joins its incoming terms sorted, with
  ``'+'`` (a node whose terms are all zero is written ``'#+#'``, not
  collapsed). The key is node 3's expression. This is the rule of
  NATS-Bench's unique string with zeros considered; it yields exactly the
  benchmark's 6,466 classes over the 15,625 cells (tested).
  """
  ops = check_ops(ops)
  expr = ['0', None, None, None]
  terms: list[list[str]] = [[], [], [], []]
  for e, (i, j) in enumerate(EDGES):
    op = ops[e]
    if op == NONE or expr[i] == '#':
      term = '#'
    elif op == SKIP:
      term = expr[i]
    else:
      term = f'({expr[i]})@{OPS[op]}'
    terms[j].append(term)
    if len(terms[j]) == j:  # all inputs of node j seen (EDGES is node-major)
      joined = sorted(terms[j])
      expr[j] = '+'.join(joined)
  return expr[3]


def as_op_arrays(archs: Iterable) -> np.ndarray:
  """Strings or op arrays -> ``[n, 6]`` int32 (validated)."""
  rows = [parse(a) if isinstance(a, str) else check_ops(a) for a in archs]
  if not rows:
    return np.zeros((0, NUM_EDGES), np.int32)
  return np.stack(rows)


def param_count(ops, channels: int = 16, cells_per_stage: int = 5,
                num_classes: int = 10) -> int:
  """Trainable parameters of the real TinyNetwork for this cell.

  Counts what the benchmark's network owns: only the chosen op of each edge
  has parameters (conv kernel, BN scale and bias); the stem (conv + BN), the
  two residual blocks (two conv-BN and a 1x1 shortcut conv), ``lastact``'s BN
  and the classifier (weight + bias). BN running statistics are not counted.
  """
  ops = check_ops(ops)
  c = channels
  total = 3 * 9 * c + 2 * c  # stem
  for stage in range(3):
    w = c * 2**stage
    if stage:
      cin = w // 2
      total += 9 * cin * w + 2 * w + 9 * w * w + 2 * w + cin * w
    per_cell = sum((w * w + 2 * w) if op == CONV1 else
                   (9 * w * w + 2 * w) if op == CONV3 else 0 for op in ops)
    total += cells_per_stage * per_cell
  total += 2 * 4 * c  # lastact BN
  total += 4 * c * num_classes + num_classes
  return int(total)


def flops(ops, channels: int = 16, cells_per_stage: int = 5,
          num_classes: int = 10, image_size: int = 32) -> int:
  """Forward FLOPs of one image through the real TinyNetwork, counted as
  NASLib's zero-cost ``flops`` column counts them (tensorwatch 0.9.1 on
  ``[1, 3, H, W]``): a conv or linear layer's multiply-adds once (no bias
  term), BN 2 per element (affine), ReLU 1 per input element, pooling k*k
  per output element, the global average pool C (H + 1)(W + 1) (tensorwatch's
  off-by-one), additions free. Matches NASLib's published ``flops`` of all
  725 x 3 cells of its NB201 subset.
  """
  ops = check_ops(ops)
  c, size = channels, image_size * image_size
  total = 27 * c * size + 2 * c * size  # stem conv + BN
  for stage in range(3):
    w, s = c * 2**stage, size // 4**stage
    if stage:
      cin, s_in = w // 2, s * 4
      total += cin * s_in + 9 * cin * w * s + 2 * w * s  # ReLU, conv_a, BN
      total += w * s + 9 * w * w * s + 2 * w * s  # ReLU, conv_b, BN
      total += 4 * cin * s + cin * w * s  # 2x2 avg pool, 1x1 shortcut conv
    per_cell = 0
    for op in ops:
      if op == CONV3:
        per_cell += w * s + 9 * w * w * s + 2 * w * s
      elif op == CONV1:
        per_cell += w * s + w * w * s + 2 * w * s
      elif op == POOL:
        per_cell += 9 * w * s
    total += cells_per_stage * per_cell
  w, side = 4 * c, image_size // 4
  total += 3 * w * side * side  # lastact BN + ReLU
  total += w * (side + 1)**2  # global average pool (tensorwatch's count)
  total += w * num_classes
  return int(total)
