"""Zero-cost scores of networks being trained (the score during training).

:class:`Scorer` hands a population's current parameters to the scoring
engine (:meth:`jaxnas.engine.Engine.score` with ``variables``): each cell's
K trained seeds are the engine's K inits, scored on a fixed batch (the first
training images, not augmented) in train-mode BatchNorm, as the proxies
define their scores. One engine program serves every step.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import numpy as np

from jaxnas import engine as engine_lib
from jaxnas.train.population import Population


class Scorer:
  """``scorer(step, state) -> records`` for :func:`jaxnas.train.loop.train`.

  Args:
    population: the networks being trained.
    proxies: the proxies (each must accept given variables).
    images: normalised float32 ``[batch, height, width, 3]``.
    labels: int ``[batch]``.
    names: the architectures' names (caller's order).
    seed: the run's seed (the proxies' own keys come from it).
    num_classes: the head size.
  """

  def __init__(self, population: Population, proxies: Sequence[Any],
               images: np.ndarray, labels: np.ndarray, names: Sequence[str],
               seed: int, num_classes: int):
    self.population, self.names, self.seed = population, list(names), seed
    self.images, self.labels = images, labels
    self.engine = engine_lib.Engine(
        population.space, proxies, inits=population.layout.seeds,
        weight_init=population.trainer.network.opts.weight_init,
        num_classes=num_classes)
    self.engine.check_given()

  def __call__(self, step: int, state) -> list[dict[str, Any]]:
    lay = self.population.layout
    params = jax.device_get(state.params)
    variables = [{'params': jax.tree.map(lambda x, s=slot: x[s, :lay.seeds],
                                         params)} for slot in lay.slots]
    archs = self.population.archs
    rows = self.engine.score(jax.random.PRNGKey(self.seed), archs,
                             self.images, self.labels, variables=variables)
    out = []
    for a, row in enumerate(rows):  # input order: the engine does not balance
      for j in range(lay.seeds):
        r = {'arch': self.names[a], 'replica': j, 'seed': self.seed,
             'step': step}
        for name, result in row.results.items():
          r[name] = result.values[j]
          if result.notes[j]:
            r[f'{name}_note'] = result.notes[j]
        out.append(r)
    return out
