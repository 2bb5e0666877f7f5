"""The DARTS cell (the NB301 search space) as plain data (NumPy only, no JAX).

A DARTS network stacks two kinds of cell, *normal* and *reduce*, each with two
inputs (states 0 and 1: the outputs of the two previous cells) and four
intermediate nodes (states 2..5). Intermediate node ``j`` (state ``j + 2``)
is the sum of two ops, each applied to one earlier state; the cell's output
is the channel concatenation of states 2..5 (DARTS's ``concat = [2, 3, 4,
5]``, the only concat this space allows). A cell is therefore 8 (op, input)
pairs: pairs ``2j`` and ``2j + 1`` feed node ``j`` (state ``j + 2``), their
inputs are ``< j + 2`` and differ from each other (DARTS keeps the two
strongest *distinct* incoming edges; NASLib samples the two inputs without
replacement).

Ops, in NASLib's order (the op index is the position; DARTS's ``PRIMITIVES``
prepend ``'none'``, which only exists in the supernet)::

  max_pool_3x3, avg_pool_3x3, skip_connect, sep_conv_3x3, sep_conv_5x5,
  dil_conv_3x3, dil_conv_5x5

Forms of a genotype:

* :class:`Genotype`: ``normal`` and ``reduce`` as tuples of 8 ``(op name,
  input)`` pairs; it also has DARTS's ``normal_concat`` / ``reduce_concat``,
  so DARTS-style model builders can read it.
* Array (for the engine): int32 ``[2, 8, 2]`` indexed ``(cell, pair, field)``
  with cell 0 = normal, 1 = reduce and field 0 = op index, 1 = input.
* Command-line string: ``'NORMAL REDUCE'``, each cell 8 ``op~input`` tokens
  joined by ``;`` (the ``normal`` / ``reduce`` columns of the NB301 data).
* DARTS text: ``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2,
  3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])`` (``range(2, 6)``
  is accepted for the concats).
* NASLib compact: ``[[(input, op), ...8], [(input, op), ...8]]`` (note the
  (input, op) order), as NASLib's ``convert_genotype_to_compact`` writes it.

Canonical forms, the isomorphism key and ``arch_id`` are in
:mod:`jaxnas.spaces.darts.iso`; parameter and FLOP counts in
:mod:`jaxnas.spaces.darts.cost`.
"""

from __future__ import annotations

import ast
import dataclasses
from typing import Any, Sequence, Union

import numpy as np

from jaxnas.errors import SpecError

OPS = ('max_pool_3x3', 'avg_pool_3x3', 'skip_connect', 'sep_conv_3x3',
       'sep_conv_5x5', 'dil_conv_3x3', 'dil_conv_5x5')
MAX_POOL, AVG_POOL, SKIP, SEP3, SEP5, DIL3, DIL5 = range(7)
NUM_OPS = len(OPS)
NUM_NODES = 4  # intermediate nodes per cell (states 2..5)
NUM_PAIRS = 2 * NUM_NODES
CELLS = ('normal', 'reduce')
CONCAT = (2, 3, 4, 5)
ARRAY_SHAPE = (len(CELLS), NUM_PAIRS, 2)
_OP_INDEX = {name: i for i, name in enumerate(OPS)}


def _check_cell(pairs: Any, cell: str, where: str) -> tuple[tuple[str, int],
                                                            ...]:
  """Validates one cell's 8 (op name, input) pairs; returns them as tuples."""
  try:
    items = list(pairs)
  except TypeError:
    raise SpecError(f'{where}: {cell} cell must be a sequence of 8 (op, input) '
                    f'pairs, got {pairs!r}') from None
  if len(items) != NUM_PAIRS:
    raise SpecError(f'{where}: {cell} cell has {len(items)} (op, input) '
                    f'pair(s), expected {NUM_PAIRS}')
  out = []
  for p, pair in enumerate(items):
    node = p // 2 + 2
    try:
      name, src = pair
    except (TypeError, ValueError):
      raise SpecError(f'{where}: {cell} pair {p} {pair!r} is not an (op, '
                      'input) pair') from None
    if not isinstance(name, str) or name not in _OP_INDEX:
      hint = (" ('none' exists only in the DARTS supernet)"
              if name == 'none' else '')
      raise SpecError(f'{where}: {cell} pair {p}: unknown op {name!r}{hint}; '
                      f'DARTS ops: {", ".join(OPS)}')
    if isinstance(src, (bool, np.bool_)) or not isinstance(
        src, (int, np.integer)):
      raise SpecError(f'{where}: {cell} pair {p}: input {src!r} is not an '
                      'integer')
    if not 0 <= src < node:
      raise SpecError(f'{where}: {cell} pair {p} ({name}, {src}): input {src} '
                      f'out of range for node {node} (allowed 0..{node - 1})')
    out.append((name, int(src)))
    if p % 2 and out[-1][1] == out[-2][1]:
      raise SpecError(f'{where}: {cell} node {node} takes input {src} twice '
                      '(its two inputs must differ)')
  return tuple(out)


def _check_concat(concat: Any, cell: str, where: str) -> None:
  if isinstance(concat, range):
    ok = concat == range(CONCAT[0], CONCAT[-1] + 1)
  else:
    ok = isinstance(concat, (list, tuple)) and tuple(concat) == CONCAT
  if not ok:
    raise SpecError(f'{where}: {cell}_concat {concat!r} must be the nodes '
                    '2, 3, 4, 5 (this space concatenates all four)')


@dataclasses.dataclass(frozen=True)
class Genotype:
  """A DARTS genotype: 8 (op name, input) pairs per cell (validated).

  Attributes:
    normal: the normal cell, pairs ``2j, 2j + 1`` feeding node ``j + 2``.
    reduce: the reduction cell, same layout.
  """
  normal: tuple[tuple[str, int], ...]
  reduce: tuple[tuple[str, int], ...]

  def __post_init__(self):
    for cell in CELLS:
      object.__setattr__(self, cell,
                         _check_cell(getattr(self, cell), cell,
                                     'DARTS genotype'))

  @property
  def normal_concat(self) -> tuple[int, ...]:
    return CONCAT

  @property
  def reduce_concat(self) -> tuple[int, ...]:
    return CONCAT

  def cells(self) -> tuple[tuple[tuple[str, int], ...], ...]:
    """``(normal, reduce)``."""
    return self.normal, self.reduce


Arch = Union[Genotype, np.ndarray, Sequence]


def _where(text: Any) -> str:
  return f'DARTS arch {text!r}'


# --- arrays -------------------------------------------------------------


def from_array(arr: Any) -> Genotype:
  """Int array ``[2, 8, 2]`` (cell, pair, (op, input)) -> :class:`Genotype`."""
  a = np.asarray(arr)
  where = f'DARTS array {a.tolist()!r}'
  if a.shape != ARRAY_SHAPE:
    raise SpecError(f'{where}: expected shape {ARRAY_SHAPE} (cell, pair, '
                    f'(op, input)), got {a.shape}')
  if not np.issubdtype(a.dtype, np.integer):
    raise SpecError(f'{where}: expected integers, got {a.dtype}')
  cells = []
  for c, cell in enumerate(CELLS):
    pairs = []
    for p in range(NUM_PAIRS):
      op, src = int(a[c, p, 0]), int(a[c, p, 1])
      if not 0 <= op < NUM_OPS:
        raise SpecError(f'{where}: {cell} pair {p}: op index {op} out of '
                        f'range 0..{NUM_OPS - 1}')
      pairs.append((OPS[op], src))
    cells.append(_check_cell(pairs, cell, where))
  return Genotype(*cells)


def as_genotype(arch: Arch) -> Genotype:
  """A :class:`Genotype`, or its array ``[2, 8, 2]``, as a Genotype."""
  if isinstance(arch, Genotype):
    return arch
  if isinstance(arch, str):
    raise SpecError(f'{_where(arch)}: a string; use parse() for text')
  return from_array(arch)


def to_array(arch: Arch) -> np.ndarray:
  """The int32 array ``[2, 8, 2]``: ``[cell, pair] = (op index, input)``."""
  g = as_genotype(arch)
  return np.asarray([[(_OP_INDEX[name], src) for name, src in cell]
                     for cell in g.cells()], dtype=np.int32)


# --- text forms ---------------------------------------------------------


def _parse_cell_tokens(text: str, cell: str, where: str) -> tuple:
  pairs = []
  for p, token in enumerate(text.split(';')):
    name, sep, src = token.strip().partition('~')
    if not sep or not name or not (src.isascii() and src.isdigit()):
      raise SpecError(f"{where}: {cell} token {p} {token!r} is not 'op~input'")
    pairs.append((name, int(src)))
  return _check_cell(pairs, cell, where)


def parse_pairs(normal: str, reduce: str) -> Genotype:
  """Two ``op~input;...`` cells (the NB301 data's columns) -> Genotype."""
  where = _where(f'{normal} {reduce}')
  return Genotype(_parse_cell_tokens(normal, 'normal', where),
                  _parse_cell_tokens(reduce, 'reduce', where))


def _parse_command_line(text: str) -> Genotype:
  fields = text.split()
  if len(fields) != 2:
    raise SpecError(f"{_where(text)}: expected 'NORMAL REDUCE' (two cells of "
                    "8 'op~input' joined by ';', separated by a space), found "
                    f'{len(fields)} field(s)')
  where = _where(text)
  return Genotype(_parse_cell_tokens(fields[0], 'normal', where),
                  _parse_cell_tokens(fields[1], 'reduce', where))


def _literal(node: ast.AST, what: str, where: str) -> Any:
  """A literal, or ``range(a, b)`` / ``list(range(a, b))`` (for concats)."""
  if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and
      node.func.id in ('range', 'list') and not node.keywords):
    args = [_literal(a, what, where) for a in node.args]
    if node.func.id == 'list' and len(args) == 1 and isinstance(args[0],
                                                                range):
      return args[0]
    if node.func.id == 'range' and 1 <= len(args) <= 3 and all(
        isinstance(a, int) for a in args):
      return range(*args)
  try:
    return ast.literal_eval(node)
  except (ValueError, TypeError, SyntaxError, RecursionError):
    raise SpecError(f'{where}: {what} is not a literal: '
                    f'{ast.unparse(node)!r}') from None


def parse_genotype_text(text: str) -> Genotype:
  """DARTS's ``Genotype(normal=[...], normal_concat=..., reduce=[...],
  reduce_concat=...)`` text (keyword or positional) -> Genotype."""
  where = _where(text)
  try:
    tree = ast.parse(text.strip(), mode='eval').body
  except (SyntaxError, ValueError, RecursionError):
    raise SpecError(f'{where}: not valid Genotype(...) syntax') from None
  name = ast.unparse(tree.func) if isinstance(tree, ast.Call) else ''
  if name.split('.')[-1] != 'Genotype':
    raise SpecError(f'{where}: expected Genotype(normal=..., '
                    'normal_concat=..., reduce=..., reduce_concat=...)')
  fields = ('normal', 'normal_concat', 'reduce', 'reduce_concat')
  if len(tree.args) > len(fields):
    raise SpecError(f'{where}: Genotype takes 4 fields, got '
                    f'{len(tree.args)} positional')
  values = {f: _literal(a, f, where) for f, a in zip(fields, tree.args)}
  for kw in tree.keywords:
    if kw.arg not in fields or kw.arg in values:
      raise SpecError(f'{where}: unexpected or repeated field {kw.arg!r}')
    values[kw.arg] = _literal(kw.value, kw.arg, where)
  missing = [f for f in fields if f not in values]
  if missing:
    raise SpecError(f'{where}: missing field(s) {", ".join(missing)}')
  for cell in CELLS:
    _check_concat(values[f'{cell}_concat'], cell, where)
  return Genotype(*(_check_cell(values[cell], cell, where) for cell in CELLS))


def from_compact(compact: Any, where: str | None = None) -> Genotype:
  """NASLib's compact ``((input, op) x 8, (input, op) x 8)`` -> Genotype."""
  where = where or _where(compact)
  try:
    cells = list(compact)
  except TypeError:
    cells = None
  if cells is None or len(cells) != 2:
    raise SpecError(f'{where}: NASLib compact form must be 2 cells of 8 '
                    '(input, op) pairs')
  out = []
  for cell, pairs in zip(CELLS, cells):
    try:
      items = list(pairs)
    except TypeError:
      raise SpecError(f'{where}: {cell} cell {pairs!r} is not a sequence of '
                      '(input, op) pairs') from None
    named = []
    for p, pair in enumerate(items):
      try:
        src, op = pair
      except (TypeError, ValueError):
        raise SpecError(f'{where}: {cell} pair {p} {pair!r} is not an '
                        '(input, op) pair') from None
      if (isinstance(op, (bool, np.bool_)) or
          not isinstance(op, (int, np.integer)) or not 0 <= op < NUM_OPS):
        raise SpecError(f'{where}: {cell} pair {p}: op index {op!r} out of '
                        f'range 0..{NUM_OPS - 1}')
      named.append((OPS[op], src))
    out.append(_check_cell(named, cell, where))
  return Genotype(*out)


def parse_compact(text: str) -> Genotype:
  """NASLib's compact text ``[[(1,0),(0,5),...],[...]]`` -> Genotype."""
  try:
    value = ast.literal_eval(text.strip())
  except (ValueError, TypeError, SyntaxError, RecursionError):
    raise SpecError(f'{_where(text)}: NASLib compact form is not a Python '
                    'literal') from None
  return from_compact(value, _where(text))


def parse(text: str) -> Genotype:
  """Parses any of the three text forms (told apart by how they begin).

  Args:
    text: ``'NORMAL REDUCE'`` (``op~input`` tokens joined by ``;``),
      ``'Genotype(normal=[...], ...)'`` or NASLib's ``'[[(input, op), ...],
      [...]]'``.

  Returns:
    The validated :class:`Genotype`.

  Raises:
    SpecError: one line naming the text and what is wrong with it.
  """
  if not isinstance(text, str):
    raise SpecError(f'DARTS arch must be a string, got {type(text).__name__}: '
                    f'{text!r}')
  stripped = text.strip()
  if stripped.startswith(('[', '(')):
    return parse_compact(stripped)
  if 'Genotype' in stripped.split('(', 1)[0]:
    return parse_genotype_text(stripped)
  return _parse_command_line(stripped)


def format_cell(pairs: Sequence[tuple[str, int]]) -> str:
  """One cell as ``op~input;...`` (a column of the NB301 data)."""
  return ';'.join(f'{name}~{src}' for name, src in pairs)


def format(arch: Arch) -> str:  # pylint: disable=redefined-builtin
  """The command-line form ``'NORMAL REDUCE'`` (pairs in stored order)."""
  g = as_genotype(arch)
  return f'{format_cell(g.normal)} {format_cell(g.reduce)}'


def format_genotype(arch: Arch) -> str:
  """DARTS's ``Genotype(...)`` text (as the namedtuple's repr prints it)."""
  g = as_genotype(arch)
  return (f'Genotype(normal={list(g.normal)!r}, normal_concat='
          f'{list(CONCAT)!r}, reduce={list(g.reduce)!r}, reduce_concat='
          f'{list(CONCAT)!r})')


def to_compact(arch: Arch) -> tuple[tuple[tuple[int, int], ...], ...]:
  """NASLib's compact tuple ``((input, op) x 8, (input, op) x 8)``."""
  g = as_genotype(arch)
  return tuple(tuple((src, _OP_INDEX[name]) for name, src in cell)
               for cell in g.cells())


def format_compact(arch: Arch) -> str:
  """NASLib's compact form as the NB301 data's ``compact`` column spells it:
  ``[[(1,0),(0,5),...],[...]]`` (no spaces)."""
  return '[' + ','.join(
      '[' + ','.join(f'({s},{o})' for s, o in cell) + ']'
      for cell in to_compact(arch)) + ']'
