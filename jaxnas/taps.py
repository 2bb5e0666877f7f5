"""Taps: what zero-cost proxies see inside a network.

Zero-cost proxies look inside the network. Instead of hooks, a network
threads an accumulator ``acc`` through its forward pass and calls its tap at
fixed *sites*:

* ``relu(acc, x, count, mask)``: ``x`` is the input of ``count`` ReLU calls
  (``count`` may be traced, e.g. the conv edges leaving a cell node; 0 means
  none); ``mask`` (0/1 over the channel axis, may be traced) marks the real
  channels of a padded tensor;
* ``feature(acc, x, kind)``: a layer's output, ``kind`` one of
  :data:`FEATURE_KINDS`;
* ``bn(acc, mean, var, count)``: the per-channel batch statistics of a
  BatchNorm's input (biased variance over ``count`` values);
* ``gradient(acc, x, kind) -> (x, acc)``: at the ``stem``, ``cell`` and
  ``block`` sites of single-input networks (NB201, NB101; through
  :func:`feature`), the tap may replace ``x`` by a function of it
  (AZ-NAS's trainability: the same value with its own gradient rule, which
  sets the cotangent entering each block and reads what leaves it;
  synflow: ``x`` divided by a power of two, against float32 overflow).

A network starts its accumulator with ``tap.start(module, batch_size)``
(by default ``init(batch_size)``), so a tap may also read variables of its
own collection.

Sites sit inside ``lax.switch`` branches (an edge's op), ``lax.cond`` and
``nn.scan`` over cells, so an accumulator must keep its structure (shapes,
dtypes) through every call: running sums, or a fixed-capacity record
(:class:`Record`). A tap declares the hooks it listens to in ``hooks``; the
others are no-ops, so a NASWOT program contains no feature or BN work.
:class:`Taps` combines several taps (one accumulator each), so proxies that
share a forward pass share it; what a tap sees carries no gradient.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array


FEATURE_KINDS = ('stem', 'op', 'cell', 'block', 'pre_pool')


@dataclasses.dataclass(frozen=True)
class Tap:
  """Base tap: listens to nothing. Subclasses set ``hooks`` and override the
  matching methods (see the module docstring)."""
  hooks = frozenset()

  def init(self, batch_size: int) -> Any:
    del batch_size
    return ()

  def relu(self, acc: Any, x: Array, count: Any = 1,
           mask: Array | None = None) -> Any:
    del x, count, mask
    return acc

  def feature(self, acc: Any, x: Array, kind: str) -> Any:
    del x, kind
    return acc

  def bn(self, acc: Any, mean: Array, var: Array, count: int) -> Any:
    del mean, var, count
    return acc

  def gradient(self, acc: Any, x: Array, kind: str) -> tuple[Array, Any]:
    del kind
    return x, acc

  def start(self, module: Any, batch_size: int) -> Any:
    """The accumulator a network starts with (``module`` is the network,
    for taps that read variables)."""
    del module
    return self.init(batch_size)


NO_TAP = Tap()


@dataclasses.dataclass(frozen=True)
class Taps(Tap):
  """Several taps on one forward pass; the accumulator is a tuple, one entry
  per tap, in order."""
  taps: tuple[Tap, ...] = ()

  @property
  def hooks(self) -> frozenset:  # type: ignore[override]
    return frozenset().union(*(t.hooks for t in self.taps))

  def init(self, batch_size: int) -> tuple:
    return tuple(t.init(batch_size) for t in self.taps)

  def _each(self, acc, method: str, *args) -> tuple:
    if not any(method in t.hooks for t in self.taps):
      return acc
    # Taps observe: no gradient flows through what they see.
    args = tuple(jax.lax.stop_gradient(a) if isinstance(a, jax.Array) else a
                 for a in args)
    return tuple(getattr(t, method)(a, *args) if method in t.hooks else a
                 for t, a in zip(self.taps, acc))

  def relu(self, acc, x, count=1, mask=None):
    return self._each(acc, 'relu', x, count, mask)

  def feature(self, acc, x, kind):
    return self._each(acc, 'feature', x, kind)

  def bn(self, acc, mean, var, count):
    return self._each(acc, 'bn', mean, var, count)

  def gradient(self, acc, x, kind):
    acc = list(acc)
    for i, t in enumerate(self.taps):
      if 'gradient' in t.hooks:
        x, acc[i] = t.gradient(acc[i], x, kind)
    return x, tuple(acc)

  def start(self, module, batch_size):
    return tuple(t.start(module, batch_size) for t in self.taps)


class Record(NamedTuple):
  """A fixed-capacity record of per-site values, for taps that keep one
  value per site (a list would change structure inside scans and switches).

  ``values[i]`` is the i-th reported value; ``count`` the number of reports
  (may exceed the capacity: :meth:`check` says so on the host).
  """
  values: Array  # [capacity, *shape]
  count: Array  # int32 scalar

  @classmethod
  def empty(cls, capacity: int, shape: tuple[int, ...] = (),
            dtype=jnp.float32) -> 'Record':
    return cls(jnp.zeros((capacity,) + shape, dtype), jnp.zeros((), jnp.int32))

  def put(self, value: Array) -> 'Record':
    value = jnp.asarray(value, self.values.dtype).reshape(self.values.shape[1:])
    values = jax.lax.dynamic_update_index_in_dim(self.values, value,
                                                 self.count, 0)
    return Record(values, self.count + 1)

  def valid(self) -> Array:
    """0/1 ``[capacity]``: which rows hold a report."""
    return (jnp.arange(self.values.shape[0]) < self.count).astype(jnp.float32)


def check_record(count: int, capacity: int, what: str) -> None:
  """Host side: raises if a :class:`Record` overflowed."""
  if int(count) > capacity:
    raise ValueError(f'{what}: {int(count)} sites reported but the record '
                     f'holds {capacity}; raise its capacity')


def feature(x: Array, acc: Any, tap: Tap, kind: str) -> tuple[Array, Any]:
  """A feature site: reports ``x`` to ``tap`` and lets a tap with the
  ``gradient`` hook stand in for it; returns (x, acc)."""
  acc = tap.feature(acc, x, kind)
  if 'gradient' in tap.hooks:
    x, acc = tap.gradient(acc, x, kind)
  return x, acc


def relu(x: Array, acc: Any, tap: Tap, count: Any = 1,
         mask: Array | None = None) -> tuple[Array, Any]:
  """A ReLU that reports its input to ``tap``; returns (relu(x), acc)."""
  return jax.nn.relu(x), tap.relu(acc, x, count, mask)
