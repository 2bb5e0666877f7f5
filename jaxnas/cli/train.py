"""``--mode=train``: train cells with their benchmark's recipe.

Writes ``train.jsonl`` (per network and step), ``scores.jsonl`` (with
``--score_steps``), ``loss_curve.png``, ``train_summary.json`` and
``checkpoints/``; rerunning the same command resumes from the newest
checkpoint.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax
import numpy as np

from jaxnas import data as data_lib
from jaxnas.train import splits as splits_lib
from jaxnas.cli import common
from jaxnas.config import RunConfig
from jaxnas.errors import JaxnasError
from jaxnas.proxies import get_proxies
from jaxnas.train import loop, recipes, records
from jaxnas.train.checkpoint import Checkpointer
from jaxnas.train.population import Population
from jaxnas.train.scoring import Scorer
from jaxnas.train.step import Trainer


def _check(cfg: RunConfig) -> tuple[int, ...]:
  """Validates the training options; returns the score steps."""
  for name in ('batch_size', 'epochs', 'seeds', 'seed_chunk',
               'checkpoint_every', 'log_every', 'eval_every',
               'eval_batch_size', 'score_batch_size'):
    if getattr(cfg, name) < 1:
      raise JaxnasError(f'--{name} must be >= 1, got {getattr(cfg, name)}')
  if cfg.steps is not None and cfg.steps < 0:
    raise JaxnasError(f'--steps must be >= 0, got {cfg.steps}')
  try:
    steps = tuple(sorted({int(s) for s in cfg.score_steps}))
  except ValueError:
    raise JaxnasError(f'--score_steps must be integers, got '
                      f'{",".join(cfg.score_steps)}') from None
  if steps and steps[0] < 0:
    raise JaxnasError(f'--score_steps must be >= 0, got {steps[0]}')
  return steps


def run(cfg: RunConfig) -> dict[str, Any]:
  score_steps = _check(cfg)
  space = common.make_space(cfg)
  archs = common.select_archs(cfg, space, common.load_benchmark(cfg, space),
                              np.random.default_rng(cfg.seed))
  names = [space.format(a) for a in archs]
  splits = splits_lib.load_splits(cfg.data or 'cifar10', cfg.norm,
                                cfg.data_dir, cfg.seed)
  classes = cfg.num_classes or splits.num_classes
  recipe = dataclasses.replace(recipes.recipe_for(cfg.space, splits.norm),
                               batch_size=cfg.batch_size, epochs=cfg.epochs,
                               weight_init=cfg.weight_init)
  if recipe.epoch_budgets and cfg.epochs not in recipe.epoch_budgets:
    common.log(f'note: {cfg.space} trained for {recipe.epoch_budgets} '
               f'epochs; --epochs={cfg.epochs} is a schedule of its own')
  n_train = splits.train_images.shape[0]
  total = recipes.total_steps(n_train, recipe.batch_size, recipe.epochs)
  stop = total if cfg.steps is None else min(cfg.steps, total)
  trainer = Trainer.from_recipe(space, recipe, total, classes, splits.norm,
                                splits.train_images.shape[1:])
  population = Population(trainer, space, archs, cfg.seeds, cfg.devices,
                          cfg.seed_chunk)
  lay = population.layout
  common.log(f'training {len(archs)} cell(s) x {cfg.seeds} seed(s) on '
             f'{lay.arch_devices}x{lay.seed_devices} device(s) '
             f'({len(lay.order) - lay.real} cell and '
             f'{lay.seeds_pad - lay.seeds} seed padding slot(s)); '
             f'{n_train} training images, {stop} of {total} steps of '
             f'batch {recipe.batch_size}')
  identity = {'space': cfg.space, 'archs': [names[i] for i in lay.order],
              'seeds': cfg.seeds, 'seed': cfg.seed,
              'recipe': dataclasses.asdict(recipe), 'total_steps': total,
              'data_fingerprint': splits.fingerprint, 'num_classes': classes,
              'network': repr(space), 'mesh': [lay.arch_devices,
                                               lay.seed_devices]}
  ckpt = Checkpointer(os.path.join(cfg.output, 'checkpoints'), identity)
  scorer = None
  if score_steps:
    proxies = get_proxies(list(cfg.proxies), cfg.proxy_option_dict())
    n = min(cfg.score_batch_size, n_train)
    images = data_lib.normalize(splits.train_images[:n], splits.norm)
    try:
      scorer = Scorer(population, proxies, images, splits.train_labels[:n],
                      names, cfg.seed, classes)
    except ValueError as e:
      raise JaxnasError(str(e)) from None
  common.write_config(cfg, {**splits.info(), 'recipe': identity['recipe'],
                            'total_steps': total, 'stop_step': stop,
                            'mesh': identity['mesh']})
  plan = loop.Plan(recipe.epochs, n_train, recipe.batch_size, stop,
                   cfg.checkpoint_every, cfg.log_every, cfg.eval_every,
                   score_steps)
  try:
    loop.train(population, splits, jax.random.PRNGKey(cfg.seed), plan,
               cfg.output, names, cfg.seed, ckpt, scorer,
               cfg.progress_seconds, cfg.eval_batch_size, common.log)
  finally:
    ckpt.close()
  summary = summarize(os.path.join(cfg.output, 'train.jsonl'))
  summary.update(compilations=population.compilations,
                 compile_seconds=round(population.compile_seconds, 2))
  common.write_json(os.path.join(cfg.output, 'train_summary.json'), summary)
  return summary


def summarize(path: str) -> dict[str, Any]:
  """The last record of every network, and its last test accuracy."""
  last: dict[tuple, dict[str, Any]] = {}
  for r in records.read_jsonl(path):
    net = last.setdefault((r['arch'], r['replica']), {})
    net.update({k: r[k] for k in ('arch', 'replica', 'step', 'loss', 'lr')})
    for k in ('train_loss', 'train_accuracy', 'test_loss', 'test_accuracy'):
      if k in r:
        net[k] = r[k]
  return {'networks': list(last.values())}
