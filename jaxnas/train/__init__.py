"""Training with optax: the benchmarks' recipes as pure train steps.

* :mod:`~jaxnas.train.recipes`: NB201's and NB101's recipes as optax chains;
* :mod:`~jaxnas.train.step`: one network's state and pure train / eval steps;
* :mod:`~jaxnas.train.population`: A cells x K seeds in one compiled step on
  a device mesh;
* :mod:`~jaxnas.train.input`: the batch stream, augmentation, prefetching;
* :mod:`~jaxnas.train.checkpoint`: orbax checkpoints and the run identity;
* :mod:`~jaxnas.train.loop`: the loop (records, evaluation, resume);
* :mod:`~jaxnas.train.records`: JSON lines, progress bar, loss curve;
* :mod:`~jaxnas.train.scoring`: zero-cost scores of the networks in
  training.

Import the submodules you need; this package imports nothing.
"""
