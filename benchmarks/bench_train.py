"""Training populations: jaxnas vs separate runs and vs PyTorch eager.

Needs the bench extra (torch) for ``--what=throughput`` and the reference
sample (``--npz``, default ../shared/data/cifar10_sample.npz).

  # 8 seeds of one cell in one run.py call vs 8 separate run.py calls
  # (whole processes, persistent compilation cache off):
  python benchmarks/bench_train.py --what=population --steps=300 \
      --output=benchmarks/results/train_population_cpu.json
  # images/s summed over 8 networks (batch 256) of the largest NB201 cell:
  # jaxnas (8 seeds in one compiled step, 2 CPU devices) vs a PyTorch-eager
  # loop training the same 8 one after another (2 threads), same process;
  # and one network alone on each side:
  python benchmarks/bench_train.py --what=throughput --steps=5 \
      --output=benchmarks/results/train_throughput_cpu.json

Both take ``--channels`` / ``--cells_per_stage`` to shrink the network
(default: the benchmark's C=16, N=5); results say what they ran.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LARGEST = ('|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|'
           '+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|')


def population(args) -> dict:
  """Whole-process seconds: one run.py with --seeds=8 vs 8 run.py runs."""
  tmp = tempfile.mkdtemp(prefix='bench-train-')
  archs = os.path.join(tmp, 'archs.txt')
  with open(archs, 'w') as f:
    f.write(args.cell + '\n')
  common = ['--mode=train', '--space=nb201', f'--archs={archs}',
            f'--data=npz:{args.npz}', f'--epochs={args.epochs}',
            f'--steps={args.steps}', f'--batch_size={args.batch_size}',
            f'--channels={args.channels}',
            f'--cells_per_stage={args.cells_per_stage}',
            f'--checkpoint_every={args.steps}', '--compilation_cache=',
            f'--seed_chunk={args.seed_chunk}',
            '--progress_seconds=600', f'--cpu_devices={args.cpu_devices}']

  def call(out, *extra):
    t0 = time.perf_counter()
    subprocess.run([sys.executable, os.path.join(ROOT, 'run.py'), *common,
                    f'--output={out}', *extra], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - t0
    with open(os.path.join(out, 'train_summary.json')) as f:
      return seconds, json.load(f)['compilations']

  together, compiles = call(os.path.join(tmp, 'pop'), '--seeds=8',
                            '--seed=0')
  separate = [call(os.path.join(tmp, f's{s}'), '--seeds=1', f'--seed={s}')
              for s in range(8)]
  total = sum(s for s, _ in separate)
  return {'one_call_seconds': round(together, 2),
          'one_call_compilations': compiles,
          'separate_seconds': [round(s, 2) for s, _ in separate],
          'separate_total_seconds': round(total, 2),
          'separate_compilations': sum(c for _, c in separate),
          'ratio_one_call_over_separate': round(together / total, 3)}


def _jax_images_per_second(args, seeds: int) -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from jaxnas.train import splits as splits_lib  # pylint: disable=g-import-not-at-top
  from jaxnas.spaces import get_space  # pylint: disable=g-import-not-at-top
  from jaxnas.train import input as input_lib  # pylint: disable=g-import-not-at-top
  from jaxnas.train import recipes  # pylint: disable=g-import-not-at-top
  from jaxnas.train.population import Population  # pylint: disable=g-import-not-at-top
  from jaxnas.train.step import Trainer  # pylint: disable=g-import-not-at-top
  splits = splits_lib.load_splits(f'npz:{args.npz}')
  space = get_space('nb201', channels=args.channels,
                    cells_per_stage=args.cells_per_stage)
  trainer = Trainer.from_recipe(space, recipes.recipe_for('nb201'), 1000, 10,
                                'cifar10', splits.train_images.shape[1:])
  pop = Population(trainer, space, [space.parse(args.cell)], seeds,
                   seed_chunk=args.seed_chunk)
  stream = input_lib.Stream(splits.train_images, splits.train_labels,
                            args.batch_size, 0, pop.seed_index)
  init_keys, data_keys = pop.keys(jax.random.PRNGKey(0))
  state = pop.init(init_keys)
  t0 = time.perf_counter()
  state, m = pop.step(state, pop.put_batch(stream.batch(0)), data_keys)
  jax.block_until_ready(m)
  first = time.perf_counter() - t0
  batches = [pop.put_batch(stream.batch(t)) for t in range(1, args.steps + 1)]
  t0 = time.perf_counter()
  for b in batches:
    state, m = pop.step(state, b, data_keys)
  jax.block_until_ready(m)
  seconds = time.perf_counter() - t0
  return {'networks': seeds, 'steps': args.steps,
          'first_step_seconds_with_compile': round(first, 2),
          'seconds': round(seconds, 3), 'compilations': pop.compilations,
          'images_per_second': round(seeds * args.batch_size * args.steps /
                                     seconds, 2),
          'final_loss_mean': float(np.mean(np.asarray(m.loss)[0, :seeds]))}


def _torch_images_per_second(args, networks: int) -> dict:
  import numpy as np  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  sys.path.insert(0, os.path.join(ROOT, 'benchmarks'))
  import torch_reference  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(args.cpu_devices)
  with np.load(args.npz) as f:
    images, labels = f['images'], f['labels']
  x_all = torch_reference.normalize_cifar10(images)
  y_all = torch.as_tensor(labels.astype(np.int64))
  rng = np.random.default_rng(0)
  seconds = 0.0
  for n in range(networks):
    torch.manual_seed(n)
    net = torch_reference.build_network(args.cell, args.channels,
                                        args.cells_per_stage, 10).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9,
                          nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 1000)
    steps = []
    for t in range(args.steps + 1):  # step 0 warms up, untimed
      idx = rng.choice(len(y_all), args.batch_size)
      x = x_all[idx]
      # crop (pad 4) + flip, as torchvision's transforms would
      x = torch.nn.functional.pad(x, (4, 4, 4, 4))
      dy, dx = rng.integers(0, 9, 2)
      x = x[:, :, dy:dy + 32, dx:dx + 32]
      if rng.random() < 0.5:
        x = torch.flip(x, (3,))
      t0 = time.perf_counter()
      opt.zero_grad()
      loss = torch.nn.functional.cross_entropy(net(x), y_all[idx])
      loss.backward()
      opt.step()
      sched.step()
      if t:
        steps.append(time.perf_counter() - t0)
    seconds += sum(steps)
  return {'networks': networks, 'steps': args.steps,
          'seconds': round(seconds, 3),
          'images_per_second': round(networks * args.batch_size *
                                     args.steps / seconds, 2),
          'final_loss_last_network': float(loss)}


def throughput(args) -> dict:
  from jaxnas import runtime  # pylint: disable=g-import-not-at-top
  runtime.setup(cpu_devices=args.cpu_devices)
  out = {'jaxnas_8': _jax_images_per_second(args, 8),
         'torch_8': _torch_images_per_second(args, 8),
         'jaxnas_1': _jax_images_per_second(args, 1),
         'torch_1': _torch_images_per_second(args, 1)}
  out['ratio_8'] = round(out['jaxnas_8']['images_per_second'] /
                         out['torch_8']['images_per_second'], 3)
  out['ratio_1'] = round(out['jaxnas_1']['images_per_second'] /
                         out['torch_1']['images_per_second'], 3)
  return out


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--what', choices=('population', 'throughput'),
                 required=True)
  p.add_argument('--npz', default=os.path.join(
      ROOT, '..', 'shared', 'data', 'cifar10_sample.npz'))
  p.add_argument('--cell', default=LARGEST)
  p.add_argument('--steps', type=int, default=300)
  p.add_argument('--epochs', type=int, default=200)
  p.add_argument('--batch_size', type=int, default=256)
  p.add_argument('--channels', type=int, default=16)
  p.add_argument('--cells_per_stage', type=int, default=5)
  p.add_argument('--cpu_devices', type=int, default=2)
  p.add_argument('--seed_chunk', type=int, default=1,
                 help='seeds vmapped together per step (run.py --seed_chunk)')
  p.add_argument('--output', default=None)
  args = p.parse_args()
  from jaxnas.cli import common  # pylint: disable=g-import-not-at-top
  result = {'what': args.what, 'config': vars(args),
            'git_revision': common.git_revision(),
            'versions': common.versions(),
            'machine': {'cpus': os.cpu_count(),
                        'platform': platform.platform()},
            'load_average_at_start': os.getloadavg(),
            **(population(args) if args.what == 'population'
               else throughput(args))}
  text = json.dumps(result, indent=1)
  print(text)
  if args.output:
    with open(args.output, 'w') as f:
      f.write(text + '\n')


if __name__ == '__main__':
  main()
