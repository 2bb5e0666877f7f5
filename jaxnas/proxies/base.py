"""The proxy interface: what a score needs, computes, and how it reads.

A :class:`Proxy` is data plus pure functions, in the style of optax's
``GradientTransformation``:

* ``needs`` (:class:`Needs`): the network it runs on (the space's ``form``,
  BatchNorm on or off, weight initialiser, head size), its input (the batch,
  its first ``batch_size`` images, all-ones, Gaussian noise, or data its own
  ``prepare`` makes on the host), the labels, a ReLU / feature / BN
  :class:`~jaxnas.nn.Tap`, gates, and how the engine should loop over
  initialisations;
* ``device(ctx) -> pytree``: runs inside the one compiled program, once per
  initialisation, given a :class:`Context` (the apply function, the
  variables, the inputs, the init key, the architecture arrays, and the
  forward and backward passes it shares with the other proxies of its
  group);
* ``host(out) -> (score, note)``: on the host, in float64; ``score`` is None
  (never 0) when it is not defined, and ``note`` says why;
* ``higher_is_better``: the direction every search and every "best" uses;
* or ``static(space, arch, num_classes, image_size) -> score`` for
  measures of the architecture alone (params, flops), which need no
  program;
* ``host_static`` (same signature as ``static``, optional with a device
  function): a value of the architecture alone that the host function gets
  as its second argument, ``host(out, value)`` (e.g. swap_reg's parameter
  count).

The engine (:mod:`jaxnas.engine`) groups proxies whose networks and inputs
are the same (:meth:`Needs.group_key`): a group initialises its network once
per init key, runs one forward pass for all its taps, and one backward pass
for all its gradient users. A new proxy is one module and one line in the
registry (:mod:`jaxnas.proxies`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnas import nn as jnn

Array = jax.Array
PyTree = Any
HostResult = tuple[float | None, str | None]

INPUTS = ('batch', 'ones', 'gaussian', 'prepared')
INIT_LOOPS = ('map', 'unroll')


@dataclasses.dataclass(frozen=True)
class Needs:
  """What a proxy asks of the engine.

  Attributes:
    form: the space's network form ('cell'; NB201 also has TE-NAS's
      'tenas_kappa' and 'tenas_regions' supernets).
    bn: False replaces every BatchNorm by the identity.
    weight_init: the initialiser (None: the run's ``--weight_init``).
    num_classes: head size (None: the data's number of classes).
    inputs: 'batch' (the data), 'ones' (one all-ones image), 'gaussian'
      (N(0, 1) noise of the batch's shape, drawn from the init key), or
      'prepared' (``Proxy.prepare`` of the batch, on the host).
    batch_size: use the first this-many images (None: the whole batch).
    labels: the batch's labels are needed.
    tap: listens to the forward pass (see :mod:`jaxnas.nn`).
    grads: the gradient of the mean cross-entropy (real labels) w.r.t. the
      parameters (:meth:`Context.loss_grads`; implies ``labels``).
    gates: that gradient also w.r.t. the conv / dense gates.
    input_grads: the gradient of the summed logits w.r.t. the input
      (:meth:`Context.input_grads`).
    backward: the device function differentiates the network itself (implied
      by ``grads`` and ``input_grads``); the engine then builds a network
      that is fast to differentiate (see ``NetOptions.unroll``).
    salt: the group's init key is ``fold_in(init key, salt)`` (None: the
      init key itself), so networks that must not share weights do not.
    init_loop: 'map' (``lax.map`` over inits, chunked by the engine) or
      'unroll' (no loop: a while loop made the NTK's weight-gradient
      convolutions 4x slower on XLA:CPU).
  """
  form: str = 'cell'
  bn: bool = True
  weight_init: str | None = None
  num_classes: int | None = None
  inputs: str = 'batch'
  batch_size: int | None = None
  labels: bool = False
  tap: jnn.Tap = jnn.NO_TAP
  grads: bool = False
  gates: bool = False
  input_grads: bool = False
  backward: bool = False
  salt: int | None = None
  init_loop: str = 'map'

  def __post_init__(self):
    if self.inputs not in INPUTS:
      raise ValueError(f'Needs.inputs={self.inputs!r}; choose one of '
                       f'{", ".join(INPUTS)}')
    if self.init_loop not in INIT_LOOPS:
      raise ValueError(f'Needs.init_loop={self.init_loop!r}; choose one of '
                       f'{", ".join(INIT_LOOPS)}')

  def group_key(self, proxy_name: str) -> tuple:
    """Proxies with equal keys share network, variables and passes."""
    own = proxy_name if self.inputs == 'prepared' else None
    return (self.form, self.bn, self.weight_init, self.num_classes,
            self.inputs, self.batch_size, self.salt, own)


@dataclasses.dataclass(frozen=True)
class Proxy:
  """A zero-cost proxy (see the module docstring).

  ``options`` are the settings that change its value (recorded with every
  stored score and in ``config.json``).
  """
  name: str
  host: Callable[..., HostResult] | None = None
  device: Callable[['Context'], PyTree] | None = None
  needs: Needs = Needs()
  higher_is_better: bool = True
  static: Callable[[Any, Any, int, int], float] | None = None
  prepare: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = (
      None)
  options: tuple[tuple[str, Any], ...] = ()
  host_static: Callable[[Any, Any, int, int], float] | None = None

  def __post_init__(self):
    if (self.static is None) == (self.device is None):
      raise ValueError(f'proxy {self.name}: give exactly one of device (with '
                       'host) and static')
    if self.device is not None and self.host is None:
      raise ValueError(f'proxy {self.name}: a device function needs a host '
                       'function')
    if self.host_static is not None and self.device is None:
      raise ValueError(f'proxy {self.name}: host_static goes with a device '
                       'function')
    if (self.needs.inputs == 'prepared') != (self.prepare is not None):
      raise ValueError(f'proxy {self.name}: inputs="prepared" goes with a '
                       'prepare function')

  @property
  def key(self) -> str:
    """The proxy and its options, e.g. ``ntk_cond(batch_size=32)``."""
    opts = ','.join(f'{k}={v}' for k, v in self.options)
    return f'{self.name}({opts})' if opts else self.name

  def sign(self) -> float:
    """+1 if higher is better, else -1 (multiply to make higher better)."""
    return 1.0 if self.higher_is_better else -1.0


def cross_entropy(logits: Array, labels: Array) -> Array:
  """Mean softmax cross-entropy (PyTorch's ``F.cross_entropy``)."""
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
      logits, labels))


class Context:
  """One initialisation of one architecture, as a proxy's device function
  sees it. Shared passes are computed once per group and init.

  Attributes:
    network: the group's Flax module (``apply(variables, images, arch)``).
    arch: the architecture's arrays (not batched).
    variables: ``{'params': ...}`` of this init.
    images: the group's input ``[batch, height, width, channels]``.
    labels: int ``[batch]`` (None unless some proxy of the group asks).
    key: this init's key for the proxy's own randomness (distinct from the
      key the variables came from).
    num_classes: the head size.
  """

  def __init__(self, network, arch, variables, images, labels, key,
               taps: jnn.Taps, num_classes: int, grads: bool,
               gates: bool, input_grads: bool):
    self.network, self.arch = network, arch
    self.variables, self.images, self.labels = variables, images, labels
    self.key, self.num_classes = key, num_classes
    self._taps = taps
    self._want = dict(grads=grads, gates=gates, input_grads=input_grads)
    self._memo: dict[str, Any] = {}

  @property
  def params(self) -> PyTree:
    return self.variables['params']

  def apply(self, variables: PyTree, images: Array, **kwargs
            ) -> tuple[Array, Any]:
    """The network on any variables / images: ``(logits, tap acc)``."""
    return self.network.apply(variables, images, self.arch, **kwargs)

  def apply_tapped(self, variables: PyTree, images: Array, tap: jnn.Tap
                   ) -> tuple[Array, Any]:
    """``(logits, acc)`` of this network with ``tap`` alone listening (a
    tap of the proxy's own, e.g. one that changes features through the
    ``gradient`` hook; not shared with the group)."""
    net = self.network.clone(opts=dataclasses.replace(self.network.opts,
                                                      tap=tap))
    return net.apply(variables, images, self.arch)

  def run_tap(self, images: Array, tap: jnn.Tap,
              variables: PyTree | None = None) -> Any:
    """``tap``'s accumulator on a forward pass of its own (other images or
    variables than the shared pass)."""
    acc = self.apply(self.variables if variables is None else variables,
                     images)[1]
    return acc[self._taps.taps.index(tap)]

  def apply_forward_mode(self, variables: PyTree, images: Array) -> Array:
    """The logits of this network built for forward-mode differentiation
    (``jax.jvp``; see ``NetOptions.forward_mode``), no tap."""
    net = self.network.clone(opts=dataclasses.replace(
        self.network.opts, forward_mode=True, tap=jnn.NO_TAP))
    return net.apply(variables, images, self.arch)[0]

  def init(self, key: Array) -> PyTree:
    """Fresh ``{'params'}`` of this group's network under ``key``."""
    return init_variables(self.network, key, self.images, self.arch)

  def zero_gates(self) -> PyTree:
    """The zero gates of this network at this input's batch size."""
    if 'gates' not in self._memo:
      shapes = jax.eval_shape(lambda: self.apply(
          self.variables, self.images, mutable=[jnn.GATES])[1])
      self._memo['gates'] = jax.tree.map(
          lambda s: jnp.zeros(s.shape, s.dtype), shapes[jnn.GATES])
    return self._memo['gates']

  def _pass(self) -> dict[str, Any]:
    """One forward pass (and its pullback when gradients are wanted)."""
    if 'pass' in self._memo:
      return self._memo['pass']
    if not (self._want['grads'] or self._want['input_grads']):
      logits, acc = self.apply(self.variables, self.images)
      out = dict(logits=logits, acc=acc)
    else:
      gates = self.zero_gates() if self._want['gates'] else {}

      def f(params, gates, images):
        variables = {'params': params}
        if gates:
          variables[jnn.GATES] = gates
        return self.apply(variables, images)

      logits, pullback, acc = jax.vjp(f, self.params, gates, self.images,
                                      has_aux=True)
      out = dict(logits=logits, acc=acc, pullback=pullback)
    self._memo['pass'] = out
    return out

  def logits(self) -> Array:
    return self._pass()['logits']

  def tap(self, tap: jnn.Tap) -> Any:
    """``tap``'s accumulator after the shared forward pass."""
    return self._pass()['acc'][self._taps.taps.index(tap)]

  def loss_grads(self) -> tuple[PyTree, PyTree]:
    """d(mean cross-entropy)/d(params, gates) of the shared pass (gates
    ``{}`` unless the group asked for them)."""
    if 'loss_grads' not in self._memo:
      p = self._pass()
      if 'pullback' not in p or self.labels is None:
        raise ValueError('loss gradients need Needs(labels=True) on a '
                         'proxy of the group')
      d_logits = jax.grad(cross_entropy)(p['logits'], self.labels)
      g_params, g_gates, _ = p['pullback'](d_logits)
      self._memo['loss_grads'] = (g_params, g_gates)
    return self._memo['loss_grads']

  def input_grads(self) -> Array:
    """d(sum of all logits)/d(images), per image: NASLib's jacov /
    epe_nas Jacobian (``y.backward(ones)``)."""
    if 'input_grads' not in self._memo:
      p = self._pass()
      if 'pullback' not in p:
        raise ValueError('input gradients need a proxy of the group to '
                         'declare them')
      self._memo['input_grads'] = p['pullback'](jnp.ones_like(
          p['logits']))[2]
    return self._memo['input_grads']


def init_variables(network, key: Array, images: Array, arch) -> PyTree:
  """``{'params'}`` of ``network`` under ``key`` (parameter shapes do not
  depend on the batch, so a tiny slice of the input is enough)."""
  return network.init(key, images[:2, :8, :8], arch, mutable=['params'])


def finite(name: str, transform: Callable[[float], float] = float
           ) -> Callable[[Any], HostResult]:
  """A host function for a scalar device output: ``transform(value)`` in
  float64, or None with a note when it is not finite."""

  def host(out) -> HostResult:
    value = float(np.asarray(out, np.float64))
    if np.isfinite(value):
      result = transform(value)
      if np.isfinite(result):
        return float(result), None
      return None, f'{name} is {result} (from {value:.6g})'
    return None, f'{name} is {value}'

  return host
