"""Shared building blocks of the search-space networks.

Layout is NHWC throughout (``[batch, height, width, channels]``); kernels are
HWIO (conv) or IO (dense) and every conv / dense weight is a parameter whose
name ends in ``kernel`` (see :func:`weight_layers`).

Options
-------
A network is built with :class:`NetOptions`: the weight initialiser, whether
BatchNorm runs (``bn=False`` makes it the identity, as synflow needs) and the
:class:`Tap` listening to it. Each space's network takes one ``NetOptions``
and hands it to its blocks, so an option reaches every layer in one place.

Taps (what proxies see inside a network) are in :mod:`jaxnas.taps`,
initialisers in :mod:`jaxnas.inits`, convolutions and pools in
:mod:`jaxnas.convs`; this module re-exports them, so a network imports
one module.

Running statistics
------------------
BatchNorm normalises with the batch's statistics (train mode), as scoring
does. Training also keeps running averages in the ``batch_stats``
collection: a network makes them (:func:`bn_stats`) only when that
collection is mutable (``init`` with every collection, or
``apply(..., mutable=['batch_stats'])``), updates them only in such an
apply, and normalises with them when built with
``NetOptions(use_running_average=True)`` (eval mode). Scoring neither asks
for nor makes them, so its programs and values are unchanged, and the
parameters' random streams do not depend on them (variables draw no keys).

Gates
-----
Fisher needs, for every conv / dense output ``a``, the per-example,
per-channel sum over positions of ``a * dL/da``. A network multiplies each
such output by ``1 + g`` with ``g`` a zero ``[batch, channels]`` variable of
the ``gates`` collection (:func:`gate`), present only when the caller asks
for that collection; ``dL/dg`` is then exactly that sum. A gate has the name
and module of its kernel, so the kernel's fan-in is at hand.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

# Re-exported: a network imports this one module for all its blocks.
from jaxnas.convs import avg_pool_3x3, conv, depthwise_conv, lax_conv, max_pool_3x3  # pylint: disable=unused-import
from jaxnas.inits import INIT_NAMES, draw_kernels, get_init, make_kernels, masked_kernel_init, ones, torch_bias_init, zeros  # pylint: disable=unused-import
from jaxnas.taps import FEATURE_KINDS, NO_TAP, Record, Tap, Taps, check_record, feature, relu  # pylint: disable=unused-import

Array = jax.Array
PyTree = Any

# --------------------------------------------------------------------------
# Options.


@dataclasses.dataclass(frozen=True)
class NetOptions:
  """What a space network is built with besides its size.

  Attributes:
    weight_init: initialiser name (see :data:`INIT_NAMES`).
    bn: False makes every BatchNorm the identity (synflow).
    tap: the proxies' tap.
    unroll: unroll scans over cells. XLA:CPU runs backward passes inside a
      ``while`` loop ~2x slower (measured: NB201, batch 64, one gradient
      1.18 s unrolled vs 2.14 s), at ~2.5x the compile time; worth it for
      programs that differentiate, not for forward-only ones.
    forward_mode: the network is differentiated in forward mode (``jvp``):
      plain convolutions, whose JVP rule is ordinary convolutions, instead
      of :func:`conv`'s custom-VJP ones (which have no forward-mode rule).
    use_running_average: BatchNorm normalises with the running statistics
      of the ``batch_stats`` collection (eval mode) instead of the batch's.
    bn_momentum: decay of the running statistics, in flax's (and
      TensorFlow's) convention: ``running = m * running + (1 - m) * batch``
      (PyTorch's ``momentum=0.1`` is 0.9; NAS-Bench-101's is 0.997).
  """
  weight_init: str = 'torch'
  bn: bool = True
  tap: Tap = NO_TAP
  unroll: bool = False
  forward_mode: bool = False
  use_running_average: bool = False
  bn_momentum: float = 0.9

  def __post_init__(self):
    get_init(self.weight_init)  # raises on an unknown name
    if not 0.0 <= self.bn_momentum < 1.0:
      raise ValueError(f'bn_momentum must be in [0, 1), got '
                       f'{self.bn_momentum}')

  def listens(self, hook: str) -> bool:
    return hook in self.tap.hooks

  def conv(self, x: Array, kernel: Array, stride: int = 1,
           padding: int | str = 'SAME') -> Array:
    """:func:`conv`, or the plain convolution in forward mode."""
    if self.forward_mode:
      return lax_conv(x, kernel, stride, padding)
    return conv(x, kernel, stride, padding)


# --------------------------------------------------------------------------
# Layers.


def moments(x: Array) -> tuple[Array, Array]:
  """Per-channel mean and biased variance over (N, H, W).

  Both come from one matrix-vector product of a row of 1/M with ``[x, x^2]``
  (``[M, 2C]``, M = N*H*W): on XLA:CPU this ran 2-3x faster than two column
  reductions.
  """
  c = x.shape[-1]
  flat = x.reshape(-1, c)
  weights = jnp.full((1, flat.shape[0]), 1.0 / flat.shape[0], x.dtype)
  both = jnp.dot(weights, jnp.concatenate([flat, jnp.square(flat)], 1),
                 precision=jax.lax.Precision.HIGHEST)[0]
  mean, mean_sq = both[:c], both[c:]
  return mean, jnp.maximum(mean_sq - jnp.square(mean), 0.0)


BATCH_STATS = 'batch_stats'


class BNStats(NamedTuple):
  """Running statistics of one BatchNorm: mean and (unbiased) variance,
  ``[channels]`` each."""
  mean: Array
  var: Array


def _stat_names(name: str) -> tuple[str, str]:
  return (f'{name}_mean', f'{name}_var') if name else ('mean', 'var')


def bn_stats(module: nn.Module, name: str, channels: int,
             opts: NetOptions) -> BNStats | None:
  """The running statistics of BatchNorm ``name`` of ``module`` (variables
  ``{name}_mean`` and ``{name}_var`` of the ``batch_stats`` collection,
  initialised to 0 and 1), or None when they are not wanted: BN off, or
  neither eval mode nor a mutable ``batch_stats`` (scoring). Create them
  outside any ``lax.switch`` / ``lax.cond`` branch and hand the values in.
  """
  if not opts.bn or not (opts.use_running_average or
                         module.is_mutable_collection(BATCH_STATS)):
    return None
  mean_name, var_name = _stat_names(name)
  mean = module.variable(BATCH_STATS, mean_name, jnp.zeros, (channels,),
                         jnp.float32)
  var = module.variable(BATCH_STATS, var_name, jnp.ones, (channels,),
                        jnp.float32)
  return BNStats(mean.value, var.value)


def store_bn_stats(module: nn.Module, name: str,
                   stats: BNStats | None) -> None:
  """Writes the updated running statistics of ``name`` back (a no-op when
  there are none, while initialising, or when ``batch_stats`` is not
  mutable, e.g. in eval mode)."""
  if (stats is None or module.is_initializing() or
      not module.is_mutable_collection(BATCH_STATS)):
    return
  mean_name, var_name = _stat_names(name)
  module.put_variable(BATCH_STATS, mean_name, stats.mean)
  module.put_variable(BATCH_STATS, var_name, stats.var)


def update_bn_stats(stats: BNStats, mean: Array, var: Array, count: int,
                    momentum: float) -> BNStats:
  """``momentum * running + (1 - momentum) * batch``; the batch variance
  enters unbiased (times count / (count - 1)), as PyTorch and TensorFlow
  keep it. No gradient flows into the statistics."""
  unbiased = var * (count / max(count - 1, 1))
  mean, unbiased = jax.lax.stop_gradient((mean, unbiased))
  return BNStats(momentum * stats.mean + (1.0 - momentum) * mean,
                 momentum * stats.var + (1.0 - momentum) * unbiased)


def batch_norm(x: Array, scale: Array, bias: Array, opts: NetOptions,
               acc: Any, stats: BNStats | None = None, eps: float = 1e-5
               ) -> tuple[Array, Any, BNStats | None]:
  """BatchNorm over (N, H, W); reports the statistics it uses to the tap.
  With ``opts.bn`` False it is the identity (and reports nothing).

  Args:
    x: ``[batch, height, width, channels]``.
    scale, bias: the affine parameters ``[channels]``.
    opts: ``bn``, ``use_running_average`` and ``bn_momentum`` are read.
    acc: the tap's accumulator.
    stats: the running statistics (:func:`bn_stats`), or None (scoring).

  Returns:
    ``(y, acc, stats)``: in train mode the batch's statistics normalise
    and ``stats`` comes back updated (None stays None); in eval mode the
    running statistics normalise and come back unchanged.
  """
  if not opts.bn:
    return x, acc, stats
  count = x.size // x.shape[-1]
  if opts.use_running_average:
    if stats is None:
      raise ValueError('eval mode (use_running_average) needs the '
                       'batch_stats collection in the variables')
    mean, var = stats
  else:
    mean, var = moments(x)
    if stats is not None:
      stats = update_bn_stats(stats, mean, var, count, opts.bn_momentum)
  if opts.listens('bn'):
    acc = opts.tap.bn(acc, mean, var, count)
  inv = jax.lax.rsqrt(var + eps) * scale
  return x * inv + (bias - mean * inv), acc, stats


GATES = 'gates'


def gate(module: nn.Module, name: str, batch: int, channels: int,
         stack: int | None = None) -> Array | None:
  """The zero ``[batch, channels]`` gate of kernel ``name`` of ``module``
  (``[stack, batch, channels]`` for ``stack`` kernels stacked on a leading
  axis), or None when the caller did not ask for gates. Create it outside
  any ``lax.switch`` / ``lax.cond`` branch and apply it with
  :func:`apply_gate` inside."""
  shape = (batch, channels) if stack is None else (stack, batch, channels)
  if module.is_mutable_collection(GATES) and not module.is_initializing():
    # Made by ``apply(..., mutable=['gates'])`` at the batch's size, never
    # by ``init`` (whose input is any size).
    return module.variable(GATES, name, jnp.zeros, shape, jnp.float32).value
  if module.has_variable(GATES, name):
    return module.get_variable(GATES, name)
  return None


def apply_gate(y: Array, g: Array | None) -> Array:
  """``y * (1 + g)`` broadcast over positions (identity when g is None)."""
  if g is None:
    return y
  return y * (1.0 + g.reshape(g.shape[:1] + (1,) * (y.ndim - 2) +
                              g.shape[1:]))


class ConvBN(nn.Module):
  """Conv (no bias) -> BN. Parameters: kernel, scale, bias (BN affine);
  running statistics (when kept): mean, var.

  ``__call__(x, acc) -> (y, acc)``.
  """
  features: int
  kernel_size: int
  stride: int = 1
  opts: NetOptions = NetOptions()

  @nn.compact
  def __call__(self, x: Array, acc: Any) -> tuple[Array, Any]:
    k = self.kernel_size
    kernel = self.param('kernel', get_init(self.opts.weight_init),
                        (k, k, x.shape[-1], self.features))
    scale = self.param('scale', ones, (self.features,))
    bias = self.param('bias', zeros, (self.features,))
    stats = bn_stats(self, '', self.features, self.opts)
    y = self.opts.conv(x, kernel, self.stride, k // 2)
    y = apply_gate(y, gate(self, 'kernel', x.shape[0], self.features))
    y, acc, stats = batch_norm(y, scale, bias, self.opts, acc, stats)
    store_bn_stats(self, '', stats)
    return y, acc


class Dense(nn.Module):
  """Linear layer (kernel IO, bias) with its gate; the classifier."""
  features: int
  weight_init: str = 'torch'
  kernel_init: Callable | None = None  # overrides weight_init's

  @nn.compact
  def __call__(self, x: Array) -> Array:
    fan_in = x.shape[-1]
    kernel = self.param('kernel', self.kernel_init or
                        get_init(self.weight_init), (fan_in, self.features))
    bias_init = (torch_bias_init(fan_in) if self.weight_init == 'torch' and
                 self.kernel_init is None else zeros)
    bias = self.param('bias', bias_init, (self.features,))
    y = jnp.dot(x, kernel) + bias
    return apply_gate(y, gate(self, 'kernel', x.shape[0], self.features))


# --------------------------------------------------------------------------
# Weight layers (what NASLib's per-layer measures sum over).


def _names(path) -> tuple[str, ...]:
  return tuple(str(getattr(k, 'key', k)) for k in path)


def _paths(tree: PyTree) -> list[tuple[tuple[str, ...], Array]]:
  return [(_names(path), leaf)
          for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]]


def is_kernel(path: tuple[str, ...]) -> bool:
  return path[-1].endswith('kernel')


def weight_layers(params: PyTree) -> list[tuple[tuple[str, ...], Array]]:
  """Every conv / dense weight as its own layer: ``(path, kernel)``.

  A kernel is a leaf whose name ends in ``kernel``: HWIO (4-D) for a conv,
  IO (2-D) for a dense layer. A scan over the cells of a stage stacks its
  kernels on a leading axis (5-D / 3-D leaves); those are split into one
  layer per cell.
  """
  out = []
  for path, leaf in _paths(params):
    if not is_kernel(path):
      continue
    if leaf.ndim in (2, 4):
      out.append((path, leaf))
    elif leaf.ndim in (3, 5):
      out.extend(((path + (str(i),), leaf[i]) for i in range(leaf.shape[0])))
    else:
      raise ValueError(f'kernel {"/".join(path)} has rank {leaf.ndim}; '
                       'expected HWIO or IO, possibly stacked')
  return out


def layer_sum(fn: Callable[..., Array], *trees: PyTree) -> Array:
  """Sum over weight layers of ``fn(layer, *matching layers of the other
  trees)`` (e.g. the kernels of params and of their gradients)."""
  layers = [weight_layers(t) for t in trees]
  total = jnp.zeros((), jnp.float32)
  for parts in zip(*layers):
    total = total + fn(*(leaf for _, leaf in parts))
  return total


def only_kernels(tree: PyTree) -> PyTree:
  """``tree`` with every leaf that is not a kernel replaced by zeros."""
  return jax.tree_util.tree_map_with_path(
      lambda path, x: x if is_kernel(_names(path)) else jnp.zeros_like(x),
      tree)


def tree_paths(tree: PyTree) -> Iterable[tuple[tuple[str, ...], Array]]:
  return _paths(tree)
