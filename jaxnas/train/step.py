"""One network's training state and its pure train and eval steps.

:class:`Trainer` closes over a space network, an optax transformation and
the augmentation of a recipe, and gives three pure functions of one network
(jit, vmap or shard them as you like; :mod:`jaxnas.train.population` does):

* ``init(key, arch) -> TrainState``: flax variables (``params`` and the BN
  running statistics in ``batch_stats``) and the optimiser state;
* ``step(state, arch, images, labels, key) -> (TrainState, Metrics)``:
  augment and normalise the uint8 batch, one gradient of the mean
  cross-entropy in train mode (BN on batch statistics, running statistics
  updated), one optax update;
* ``evaluate(state, arch, images, labels, mask) -> (loss_sum, correct)``:
  the network in eval mode (BN on running statistics), no augmentation.

The architecture is data (the space's arrays), so one compiled step serves
every cell of the space.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxnas import nn as jnn
from jaxnas.train import input as input_lib
from jaxnas.train import recipes

Array = jax.Array
PyTree = Any


class TrainState(NamedTuple):
  """One network's training state.

  Attributes:
    step: int32 scalar, updates done.
    params: the flax ``params`` collection.
    batch_stats: the BN running statistics (``batch_stats`` collection).
    opt_state: the optax state.
  """
  step: Array
  params: PyTree
  batch_stats: PyTree
  opt_state: PyTree

  @property
  def variables(self) -> dict[str, PyTree]:
    return {'params': self.params, jnn.BATCH_STATS: self.batch_stats}


class Metrics(NamedTuple):
  """What one train step reports (scalars): mean cross-entropy of the
  batch, correct train-mode predictions, the learning rate it used."""
  loss: Array
  correct: Array
  lr: Array


def cross_entropy(logits: Array, labels: Array) -> Array:
  """Per-example softmax cross-entropy ``[batch]``."""
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


@dataclasses.dataclass(frozen=True)
class Trainer:
  """The pure train / eval functions of one recipe (see the module doc).

  Attributes:
    network: the space's network in train mode (its ``opts`` carry the
      recipe's BN momentum and initialiser).
    tx: the optax transformation.
    lr: the learning-rate schedule (reported per step).
    norm: normalisation constants (a :data:`jaxnas.data.NORMS` key).
    image_shape: ``(height, width, channels)`` of the images.
    crop_padding: random-crop padding (0: none).
    flip: random horizontal flips.
  """
  network: nn.Module
  tx: optax.GradientTransformation
  lr: optax.Schedule
  norm: str
  image_shape: tuple[int, int, int]
  crop_padding: int = 4
  flip: bool = True

  @classmethod
  def from_recipe(cls, space, recipe: recipes.Recipe, steps: int,
                  num_classes: int, norm: str,
                  image_shape: tuple[int, int, int],
                  weight_init: str | None = None) -> 'Trainer':
    """The trainer of ``recipe`` for ``space``'s network, its schedule
    spanning ``steps`` steps."""
    opts = jnn.NetOptions(weight_init or recipe.weight_init,
                          bn_momentum=recipe.bn_momentum, unroll=True)
    return cls(space.network(opts, num_classes),
               recipes.optimizer(recipe, steps),
               recipes.schedule(recipe, steps), norm, tuple(image_shape),
               recipe.crop_padding, recipe.flip)

  @property
  def eval_network(self) -> nn.Module:
    """The network in eval mode (BN on running statistics), forward only
    (scans rolled)."""
    opts = dataclasses.replace(self.network.opts, use_running_average=True,
                               unroll=False)
    return self.network.clone(opts=opts)

  def init(self, key: Array, arch: Any) -> TrainState:
    """A fresh network (``network.init`` under ``key``) and optimiser."""
    x = jnp.zeros((2,) + self.image_shape, jnp.float32)
    variables = self.network.init(key, x, arch)
    params = variables['params']
    return TrainState(jnp.zeros((), jnp.int32), params,
                      variables[jnn.BATCH_STATS], self.tx.init(params))

  def preprocess(self, key: Array, images: Array) -> Array:
    """Augmented, normalised float32 batch from uint8 ``images``."""
    images = input_lib.augment(key, images, self.crop_padding, self.flip)
    return input_lib.normalize(images, self.norm)

  def step(self, state: TrainState, arch: Any, images: Array, labels: Array,
           key: Array) -> tuple[TrainState, Metrics]:
    """One update.

    Args:
      state: the network's state.
      arch: the architecture's arrays (unbatched).
      images: uint8 ``[batch, height, width, channels]``.
      labels: int ``[batch]``.
      key: this network's data key; the augmentation key is
        ``fold_in(key, state.step)``.

    Returns:
      The new state and the step's :class:`Metrics`.
    """
    x = self.preprocess(jax.random.fold_in(key, state.step), images)

    def loss_fn(params):
      (logits, _), new = self.network.apply(
          {'params': params, jnn.BATCH_STATS: state.batch_stats}, x, arch,
          mutable=[jnn.BATCH_STATS])
      return jnp.mean(cross_entropy(logits, labels)), (logits,
                                                       new[jnn.BATCH_STATS])

    (loss, (logits, stats)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(state.params)
    updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    correct = jnp.sum(jnp.argmax(logits, -1) == labels)
    metrics = Metrics(loss, correct.astype(jnp.int32),
                      jnp.asarray(self.lr(state.step), jnp.float32))
    return TrainState(state.step + 1, params, stats, opt_state), metrics

  def evaluate(self, state: TrainState, arch: Any, images: Array,
               labels: Array, mask: Array) -> tuple[Array, Array]:
    """Summed cross-entropy and correct predictions over the images where
    ``mask`` is 1, in eval mode.

    Args:
      state: the network's state.
      arch: the architecture's arrays (unbatched).
      images: uint8 ``[batch, height, width, channels]`` (not augmented).
      labels: int ``[batch]``.
      mask: float ``[batch]``, 1 for real images, 0 for padding.
    """
    x = input_lib.normalize(images, self.norm)
    logits = self.eval_network.apply(state.variables, x, arch)[0]
    loss = jnp.sum(cross_entropy(logits, labels) * mask)
    correct = jnp.sum((jnp.argmax(logits, -1) == labels) * mask)
    return loss, correct
