"""The benchmarks' training recipes as optax chains.

A :class:`Recipe` is data: optimiser, learning rate and its cosine schedule,
weight decay, epochs, batch size, augmentation and the BatchNorm momentum a
benchmark trained its cells with. :func:`optimizer` turns it into one
``optax.chain`` (decay, then the optimiser's scaling, then the schedule);
:func:`recipe_for` picks the recipe of a space and dataset.

* NAS-Bench-201 (Dong & Yang 2020; xautodl's 200-epoch config): SGD with
  Nesterov momentum 0.9, lr 0.1 cosine-annealed to 0 per iteration, weight
  decay 5e-4 (coupled L2, as ``torch.optim.SGD(weight_decay=...)``, on every
  parameter), batch 256, 200 epochs, random crop (zero padding 4; 2 on
  ImageNet16-120) and horizontal flip, BN momentum 0.1 (PyTorch's), PyTorch's
  default initialisation.
* NAS-Bench-101 (Ying et al. 2019; ``nasbench/lib``): RMSProp (decay 0.9,
  momentum 0.9, epsilon 1.0 inside the square root, mean square initialised
  to 1 as TF1's ``RMSPropOptimizer``), lr 0.2 (0.1 times the 2 TPU shards)
  cosine by step to 0 and 0 at step 0, L2 weight decay 1e-4 on every
  trainable variable, batch 256, 108 epochs (the benchmark also has 4, 12
  and 36, each a schedule of its own), the same crop and flip, BN momentum
  0.997, TF's ``variance_scaling_initializer()`` (LeCun normal).

Where these depart from the reference code is in ``BUILD_NOTES.md``
("Training").
"""

from __future__ import annotations

import dataclasses
import math
import types
from typing import Any

import jax.numpy as jnp
import optax

OPTIMIZERS = ('sgd_nesterov', 'rmsprop')


@dataclasses.dataclass(frozen=True)
class Recipe:
  """A benchmark's training recipe.

  Attributes:
    name: the benchmark ('nb201', 'nb101').
    optimizer: 'sgd_nesterov' or 'rmsprop' (see :func:`optimizer`).
    learning_rate: peak learning rate, cosine-annealed to 0 over training.
    momentum: SGD / RMSProp momentum.
    weight_decay: coupled L2 decay (``g + wd * w``) on every parameter.
    epochs: training epochs.
    batch_size: images per step.
    crop_padding: random crop after zero-padding by this many pixels per
      side (0: no crop).
    flip: random horizontal flips.
    bn_momentum: decay of BN running statistics (flax's convention).
    weight_init: initialiser name (:data:`jaxnas.nn.INIT_NAMES`).
    rms_decay, rms_epsilon, rms_initial_scale: RMSProp's mean-square decay,
      epsilon (inside the square root) and initial mean square.
    zero_first_lr: the learning rate of step 0 is 0 (NB101).
    epoch_budgets: the epoch counts the benchmark itself trained.
  """
  name: str
  optimizer: str
  learning_rate: float
  momentum: float
  weight_decay: float
  epochs: int
  batch_size: int
  crop_padding: int
  flip: bool
  bn_momentum: float
  weight_init: str
  rms_decay: float = 0.9
  rms_epsilon: float = 1.0
  rms_initial_scale: float = 1.0
  zero_first_lr: bool = False
  epoch_budgets: tuple[int, ...] = ()

  def __post_init__(self):
    if self.optimizer not in OPTIMIZERS:
      raise ValueError(f'recipe optimizer {self.optimizer!r}; choose one of '
                       f'{", ".join(OPTIMIZERS)}')


RECIPES = types.MappingProxyType({
    'nb201': Recipe('nb201', 'sgd_nesterov', learning_rate=0.1, momentum=0.9,
                    weight_decay=5e-4, epochs=200, batch_size=256,
                    crop_padding=4, flip=True, bn_momentum=0.9,
                    weight_init='torch', epoch_budgets=(200,)),
    'nb101': Recipe('nb101', 'rmsprop', learning_rate=0.2, momentum=0.9,
                    weight_decay=1e-4, epochs=108, batch_size=256,
                    crop_padding=4, flip=True, bn_momentum=0.997,
                    weight_init='lecun_normal', zero_first_lr=True,
                    epoch_budgets=(4, 12, 36, 108)),
})
# ImageNet16-120's 16x16 images are cropped after padding by 2 (NB201).
SMALL_IMAGE_PADDING = {'imagenet16-120': 2}


def recipe_for(space: str, dataset: str | None = None) -> Recipe:
  """The recipe of ``space`` on ``dataset`` (a normalisation name:
  'cifar10', 'cifar100', 'imagenet16-120'; ImageNet16-120 crops with padding
  2)."""
  if space not in RECIPES:
    raise ValueError(f'no training recipe for space {space!r}; available: '
                     f'{", ".join(RECIPES)}')
  recipe = RECIPES[space]
  if dataset in SMALL_IMAGE_PADDING:
    recipe = dataclasses.replace(recipe,
                                 crop_padding=SMALL_IMAGE_PADDING[dataset])
  return recipe


def config_defaults(space: str) -> dict[str, Any]:
  """The run options a recipe sets when the command line leaves them unset
  (:meth:`jaxnas.config.RunConfig.resolve`)."""
  recipe = recipe_for(space)
  return {'batch_size': recipe.batch_size, 'epochs': recipe.epochs,
          'weight_init': recipe.weight_init}


def total_steps(num_images: int, batch_size: int, epochs: int) -> int:
  """Steps of a training run: ``ceil(epochs * images / batch)`` (the data is
  a stream of epoch permutations, so an epoch is ``images / batch``
  steps)."""
  return max(1, math.ceil(epochs * num_images / batch_size))


def epoch_end(epoch: int, num_images: int, batch_size: int) -> int:
  """The step count at which epoch ``epoch`` (1-based) is complete."""
  return math.ceil(epoch * num_images / batch_size)


def schedule(recipe: Recipe, steps: int) -> optax.Schedule:
  """Cosine decay of the learning rate from its peak to 0 over ``steps``
  (per step); 0 at step 0 when ``recipe.zero_first_lr``."""
  cosine = optax.cosine_decay_schedule(recipe.learning_rate, steps)
  if not recipe.zero_first_lr:
    return cosine
  return lambda count: jnp.where(count == 0, 0.0, cosine(count))


def optimizer(recipe: Recipe, steps: int) -> optax.GradientTransformation:
  """The recipe's optimiser as one ``optax.chain`` over ``steps`` steps.

  * ``sgd_nesterov``: ``add_decayed_weights(wd)`` (PyTorch's coupled
    decay), ``trace(momentum, nesterov=True)`` (PyTorch's buffer:
    b = m b + g; step g + m b), ``scale_by_learning_rate(schedule)``.
  * ``rmsprop``: ``add_decayed_weights(wd)`` (the gradient of TF's
    ``wd * l2_loss``), ``scale_by_rms`` (decay, eps in the root, mean square
    from ``rms_initial_scale``), ``scale_by_learning_rate(schedule)``, then
    ``trace(momentum)``: TF's momentum accumulates ``lr * g / rms``, so the
    learning rate is applied before the trace.

  Zero parameters with zero gradients stay exactly zero under both (the
  kernels of NB201 ops a cell does not use).
  """
  lr = schedule(recipe, steps)
  decay = optax.add_decayed_weights(recipe.weight_decay)
  if recipe.optimizer == 'sgd_nesterov':
    return optax.chain(decay, optax.trace(recipe.momentum, nesterov=True),
                       optax.scale_by_learning_rate(lr))
  return optax.chain(
      decay,
      optax.scale_by_rms(recipe.rms_decay, recipe.rms_epsilon,
                         recipe.rms_initial_scale, eps_in_sqrt=True),
      optax.scale_by_learning_rate(lr),
      optax.trace(recipe.momentum))
