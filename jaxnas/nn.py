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

Taps
----
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
  BatchNorm's input (biased variance over ``count`` values).

Sites sit inside ``lax.switch`` branches (an edge's op), ``lax.cond`` and
``nn.scan`` over cells, so an accumulator must keep its structure (shapes,
dtypes) through every call: running sums, or a fixed-capacity record
(:class:`Record`). A tap declares the hooks it listens to in ``hooks``; the
others are no-ops, so a NASWOT program contains no feature or BN work.
:class:`Taps` combines several taps (one accumulator each), so proxies that
share a forward pass share it; what a tap sees carries no gradient.

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
import functools
from typing import Any, Callable, Iterable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
PyTree = Any

# --------------------------------------------------------------------------
# Initialisers.

# (variance scale, fan mode, distribution) of each named initialiser:
# * 'torch': PyTorch's default for Conv2d / Linear weights,
#   kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
#   variance 1 / (3 fan_in);
# * 'he_normal': He (Kaiming) normal, fan-out mode, ReLU gain (NASWOT's NB101
#   port, TE-NAS); 'he_normal_fan_in' the fan-in variant (AZ-NAS);
# * 'gaussian': N(0, 1) whatever the fan (Zen-NAS, SWAP);
# * 'lecun_normal': variance 1 / fan_in, TF1's variance_scaling_initializer()
#   (NAS-Bench-101's training code; TF truncates, with the same variance).
# Distributions are untruncated. Dense biases: PyTorch's uniform for 'torch',
# zeros otherwise.
_INIT_RULES = {
    'torch': (1.0 / 3.0, 'fan_in', 'uniform'),
    'he_normal': (2.0, 'fan_out', 'normal'),
    'he_normal_fan_in': (2.0, 'fan_in', 'normal'),
    'gaussian': (1.0, 'none', 'normal'),
    'lecun_normal': (1.0, 'fan_in', 'normal'),
}
INIT_NAMES = tuple(_INIT_RULES)


def _rule(name: str) -> tuple[float, str, str]:
  try:
    return _INIT_RULES[name]
  except KeyError:
    raise ValueError(f'unknown weight init {name!r}; choose one of '
                     f'{", ".join(_INIT_RULES)}') from None


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
  field = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
  return field * shape[-2], field * shape[-1]


def _draw(key, shape, variance, distribution):
  if distribution == 'uniform':
    w = jax.random.uniform(key, shape, jnp.float32, -1.0, 1.0)
    return w * jnp.sqrt(3.0 * variance)
  return jax.random.normal(key, shape, jnp.float32) * jnp.sqrt(variance)


def get_init(name: str) -> Callable:
  """Kernel initialiser ``init(key, shape, live=1)`` by name.

  ``live`` (0/1, may be traced) multiplies the draw: a weight that exists in
  the padded program but not in the real network (an op not chosen) is 0.
  The dtype is always float32.
  """
  scale, mode, distribution = _rule(name)

  def init(key, shape, live=1.0, dtype=jnp.float32):
    del dtype  # always float32, whatever jax_enable_x64 says
    fan_in, fan_out = _fans(shape)
    fan = {'fan_in': fan_in, 'fan_out': fan_out, 'none': 1}[mode]
    # As jax.nn.initializers.variance_scaling computes it (bit for bit).
    variance = jnp.array(scale / fan, dtype=jnp.float32)
    return _draw(key, shape, variance, distribution) * live

  return init


def draw_kernels(key: Array, shapes: list[tuple[int, ...]], name: str,
                 live: list[Any]) -> list[Array]:
  """Kernels drawn with the initialiser ``name`` from one random draw (the
  same distribution as :func:`get_init` per kernel).

  XLA:CPU compiles every random draw (threefry) separately and the time
  grows faster than their number (measured: 50 draws 5.9 s, 450 draws
  238 s), so a network with hundreds of kernels outside scans draws them
  together.

  Args:
    key: the random key.
    shapes: each kernel's shape (HWIO or IO; the fans come from it).
    name: the initialiser (see :data:`INIT_NAMES`).
    live: per kernel, a 0/1 factor (may be traced; 0: a weight the real
      network lacks), either a scalar or a vector of n factors, in which
      case n kernels of the shape are stacked on a leading axis.

  Returns:
    The kernels, ``shape`` or ``[n, *shape]``.
  """
  scale, mode, distribution = _rule(name)
  full = [tuple(jnp.shape(l)) + tuple(s) for s, l in zip(shapes, live)]
  sizes = [int(np.prod(s)) for s in full]
  flat = _draw(key, (sum(sizes),), jnp.array(1.0, jnp.float32), distribution)
  out, offset = [], 0
  for shape, stacked, size, l in zip(shapes, full, sizes, live):
    fan_in, fan_out = _fans(shape)
    fan = {'fan_in': fan_in, 'fan_out': fan_out, 'none': 1}[mode]
    variance = jnp.array(scale / fan, dtype=jnp.float32)
    w = flat[offset:offset + size].reshape(stacked) * jnp.sqrt(variance)
    l = jnp.asarray(l, jnp.float32)
    out.append(w * l.reshape(l.shape + (1,) * len(shape)))
    offset += size
  return out


def make_kernels(module: nn.Module, specs: list[tuple[str, tuple[int, ...],
                                                      Any]],
                 name: str) -> dict[str, Array]:
  """Parameters ``{param name: kernel}`` of ``module`` (inside its compact
  ``__call__``) for ``specs`` = ``(param name, shape, live)`` (see
  :func:`draw_kernels`), drawn from one key when they do not exist yet."""
  drawn = []

  def value(i):
    if not drawn:
      drawn.extend(draw_kernels(module.make_rng('params'),
                                [s for _, s, _ in specs], name,
                                [l for _, _, l in specs]))
    return drawn[i]

  return {n: module.variable('params', n, value, i).value
          for i, (n, _, _) in enumerate(specs)}


def masked_kernel_init(name: str) -> Callable:
  """The initialiser ``name`` for a kernel stored at a padded shape.

  Returns ``init(key, shape, in_mask, out_mask)`` for an HWIO (or IO) kernel
  of which only the input channels where ``in_mask`` is 1 and the output
  channels where ``out_mask`` is 1 are real; the masks (0/1 vectors of length
  ``shape[-2]`` and ``shape[-1]``) may be traced. The fans are the REAL ones
  (receptive field times the masks' sums), so the real block has exactly the
  distribution of the same initialiser at the real shape; every other entry
  is zero.
  """
  scale, mode, distribution = _rule(name)

  def init(key, shape, in_mask, out_mask, dtype=jnp.float32):
    del dtype
    field = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    in_mask = jnp.asarray(in_mask, jnp.float32)
    out_mask = jnp.asarray(out_mask, jnp.float32)
    if mode == 'none':
      variance = scale
    else:
      real = jnp.sum(in_mask if mode == 'fan_in' else out_mask)
      variance = scale / jnp.maximum(field * real, 1.0)  # 0 for dead slots
    w = _draw(key, shape, variance, distribution)
    return w * in_mask[:, None] * out_mask

  return init


def ones(key, shape, dtype=jnp.float32):
  del key, dtype
  return jnp.ones(shape, jnp.float32)


def zeros(key, shape, dtype=jnp.float32):
  del key, dtype
  return jnp.zeros(shape, jnp.float32)


def torch_bias_init(fan_in: int) -> Callable:
  """PyTorch's Linear bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
  bound = 1.0 / float(fan_in)**0.5

  def init(key, shape, dtype=jnp.float32):
    del dtype
    return jax.random.uniform(key, shape, jnp.float32, -bound, bound)

  return init


# --------------------------------------------------------------------------
# Taps.

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


def relu(x: Array, acc: Any, tap: Tap, count: Any = 1,
         mask: Array | None = None) -> tuple[Array, Any]:
  """A ReLU that reports its input to ``tap``; returns (relu(x), acc)."""
  return jax.nn.relu(x), tap.relu(acc, x, count, mask)


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
    _rule(self.weight_init)
    if not 0.0 <= self.bn_momentum < 1.0:
      raise ValueError(f'bn_momentum must be in [0, 1), got '
                       f'{self.bn_momentum}')

  def listens(self, hook: str) -> bool:
    return hook in self.tap.hooks

  def conv(self, x: Array, kernel: Array, stride: int = 1,
           padding: int | str = 'SAME') -> Array:
    """:func:`conv`, or the plain convolution in forward mode."""
    if self.forward_mode:
      return _lax_conv(x, kernel, stride, padding)
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


_DIMS = ('NHWC', 'HWIO', 'NHWC')


def _lax_conv(x: Array, kernel: Array, stride: int, padding) -> Array:
  if isinstance(padding, int):
    padding = ((padding, padding), (padding, padding))
  return jax.lax.conv_general_dilated(x, kernel, (stride, stride), padding,
                                      dimension_numbers=_DIMS)


@jax.custom_vjp
def _same_conv(x: Array, kernel: Array) -> Array:
  """Stride-1 convolution with an odd kernel, padded to keep the size."""
  return _lax_conv(x, kernel, 1, kernel.shape[0] // 2)


def _flip(kernel: Array) -> Array:
  """The kernel of the transposed convolution: rotated 180, I and O
  swapped (for a stride-1 size-keeping convolution)."""
  return kernel[::-1, ::-1].transpose(0, 1, 3, 2)


def _same_conv_fwd(x, kernel):
  return _same_conv(x, kernel), (x, kernel)


def _same_conv_bwd(res, g):
  """Both gradients as ordinary NHWC / HWIO convolutions.

  XLA:CPU runs the convolutions JAX's own transpose rules emit (batch and
  feature dimensions swapped) 40-100x slower inside ``lax.switch`` and
  ``lax.scan`` bodies than outside (measured: one 3x3 conv's weight
  gradient, batch 64 at 32x32x16, 1.2 s in a switch vs 0.03 s); with the
  operands transposed explicitly the same products run at full speed
  everywhere, and the results are bit-identical. Every derivative of these
  is again one of the two functions, so Hessian products stay fast too.
  """
  x, kernel = res
  return _same_conv(g, _flip(kernel)), _filter_grad(x, g, kernel.shape[0])


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _filter_grad(x: Array, g: Array, k: int) -> Array:
  """dW[i, j, c, o] = sum_{b,h,w} xp[b, h+i, w+j, c] g[b, h, w, o] (xp: x
  padded by k // 2): a valid convolution of ``[C, H', W', B]`` by
  ``[H, W, B, O]``, i.e. standard layouts."""
  p = k // 2
  xp = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
  return jax.lax.conv_general_dilated(
      xp.transpose(3, 1, 2, 0), g.transpose(1, 2, 0, 3), (1, 1), 'VALID',
      dimension_numbers=_DIMS).transpose(1, 2, 0, 3)


def _filter_grad_fwd(x, g, k):
  return _filter_grad(x, g, k), (x, g)


def _filter_grad_bwd(k, res, w_bar):
  del k
  x, g = res
  return _same_conv(g, _flip(w_bar)), _same_conv(x, w_bar)


_same_conv.defvjp(_same_conv_fwd, _same_conv_bwd)
_filter_grad.defvjp(_filter_grad_fwd, _filter_grad_bwd)


def conv(x: Array, kernel: Array, stride: int = 1,
         padding: int | str = 'SAME') -> Array:
  """2-D convolution, NHWC input, HWIO kernel, no bias.

  A stride-1 convolution with an odd kernel and the size-keeping padding
  has a custom backward pass (see :func:`_same_conv_bwd`); reverse-mode
  differentiation of it works to any order, forward mode does not (use
  reverse-over-reverse for Hessian products).
  """
  k = kernel.shape[0]
  if (stride == 1 and k % 2 == 1 and kernel.shape[1] == k and
      padding in (k // 2, 'SAME')):
    return _same_conv(x, kernel)
  return _lax_conv(x, kernel, stride, padding)


def depthwise_conv(x: Array, kernel: Array, stride: int = 1,
                   dilation: int = 1) -> Array:
  """Depthwise 2-D convolution (PyTorch's ``groups=C``), NHWC, no bias.

  Args:
    x: ``[B, H, W, C]``.
    kernel: ``[k, k, 1, C]`` (HWIO with one input channel per group; k odd).
    stride: the window stride.
    dilation: the kernel's dilation; the padding is ``dilation * (k - 1) //
      2`` on every side (DARTS's sep / dil convs), so a stride-1 output keeps
      the size and a stride-s one has ``ceil(H / s)`` rows.

  Returns:
    ``[B, ceil(H / stride), ceil(W / stride), C]``.

  Computed as the sum of ``k * k`` shifted (strided) slices of the padded
  input times the kernel's taps, not as ``lax.conv_general_dilated`` with
  ``feature_group_count=C``: XLA:CPU ran the grouped convolution 40x slower
  (batch 32 at 32x32x32, 3x3: 62 ms against 1.5 ms) and its gradient 10x
  slower again inside a ``lax.switch`` (one sep_conv_3x3 gradient: 2.5 s in
  a switch, 0.25 s outside), while this form's gradient (slices, pads and
  products) runs at the same speed in and out of a switch, differentiates
  to any order in either mode, and agrees with the grouped convolution to
  float32 rounding.
  """
  k = kernel.shape[0]
  pad = dilation * (k - 1) // 2
  _, h, w, _ = x.shape
  h_out, w_out = -(-h // stride), -(-w // stride)
  xp = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  out = None
  for i in range(k):
    for j in range(k):
      r, c = i * dilation, j * dilation
      tap = xp[:, r:r + stride * (h_out - 1) + 1:stride,
               c:c + stride * (w_out - 1) + 1:stride] * kernel[i, j, 0]
      out = tap if out is None else out + tap
  return out


def _pool_3x3(x: Array, init: float, op: Callable, stride: int) -> Array:
  return jax.lax.reduce_window(x, init, op, (1, 3, 3, 1),
                               (1, stride, stride, 1),
                               ((0, 0), (1, 1), (1, 1), (0, 0)))


def avg_pool_3x3(x: Array, stride: int = 1) -> Array:
  """3x3 average pool, pad 1, padding not counted in the mean (PyTorch's
  ``count_include_pad=False``)."""
  total = _pool_3x3(x, 0.0, jax.lax.add, stride)
  counts = _pool_3x3(jnp.ones((1,) + x.shape[1:3] + (1,), x.dtype), 0.0,
                     jax.lax.add, stride)
  return total / counts


def max_pool_3x3(x: Array, stride: int = 1) -> Array:
  """3x3 max pool, pad 1 (the padding never wins)."""
  return _pool_3x3(x, -jnp.inf, jax.lax.max, stride)


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
