"""PyTorch-eager reference of NASLib's zero-cost proxy suite on NAS-Bench-201 cells.

The speed baseline (and a rough correctness cross-check) for jaxnas's proxies.
Each proxy runs as NASLib runs it: on its own `copy.deepcopy` of the cell's
network (BatchNorm bypassed for synflow, the original network for l2_norm), in
train mode, with mean cross-entropy on real labels and a 10-class head. Its
seconds are the wall time of that proxy alone, the network copy and the batch
preparation (normalising the uint8 images) included. The proxy definitions are
in `torch_zc_measures.py`.

Usage:
  python benchmarks/torch_zero_cost.py --naslib_cells \
    --npz /work/shared/data/cifar10_sample.npz --batch_size 64 --threads 2 \
    --limit 10 --proxies all --output out.jsonl
  python benchmarks/torch_zero_cost.py --archs archs.txt --npz ... \
    --proxies synflow,snip,nwot

API:
  score_cell(arch_str, images_u8_nhwc, labels, proxies) ->
      {name: (value, seconds)}

Where this differs from NASLib's published runs (so compare by rank):
- One fixed batch (the first `batch_size` images, no crop/flip) for every cell;
  NASLib drew a fresh augmented random batch per cell, of 32 in the May 2022
  runs (nwot, jacov, epe_nas and fisher scale with the batch size).
- The whole network is initialised per cell from torch.manual_seed(seed);
  NASLib shared the stem, residual blocks and head weights across the cells of
  a job. zen and the flops input use a generator seeded with the same seed.
- snip reads |W * dL/dW| from an ordinary backward (equal to NASLib's
  |dL/dmask| for an all-ones mask); fisher reads dL/da with a tensor hook.
- NaN / inf scores are returned as they are (NASLib stored NaN as -1e8, and
  took synflow's log after that mapping).
"""

import argparse
import copy
import csv
import json
import statistics
import sys
import time
import types

import numpy as np
import torch

try:
  from benchmarks import torch_reference as tr
  from benchmarks import torch_zc_measures as zc
except ImportError:  # run as a script from benchmarks/
  import torch_reference as tr  # pylint: disable=g-import-not-at-top
  import torch_zc_measures as zc  # pylint: disable=g-import-not-at-top

NASLIB_CSV = '/work/shared/data/nb201_zc_naslib_subset.csv'

# name -> (function, how the network is handed over): 'copy' = deepcopy,
# 'copy_nobn' = deepcopy with BatchNorm bypassed, 'orig' = the original net.
PROXY_TABLE = types.MappingProxyType({
    'params': (zc.params, 'copy'),
    'flops': (zc.flops, 'copy'),
    'l2_norm': (zc.l2_norm, 'orig'),
    'synflow': (zc.synflow, 'copy_nobn'),
    'snip': (zc.snip, 'copy'),
    'grad_norm': (zc.grad_norm, 'copy'),
    'plain': (zc.plain, 'copy'),
    'grasp': (zc.grasp, 'copy'),
    'fisher': (zc.fisher, 'copy'),
    'jacov': (zc.jacov, 'copy'),
    'epe_nas': (zc.epe_nas, 'copy'),
    'nwot': (zc.nwot, 'copy'),
    'zen': (zc.zen, 'copy'),
})
ALL_PROXIES = tuple(PROXY_TABLE)


def parse_proxies(spec):
  """'all' or a comma-separated list of names -> tuple of proxy names."""
  if spec == 'all':
    return ALL_PROXIES
  names = tuple(s.strip() for s in spec.split(',') if s.strip())
  unknown = [n for n in names if n not in PROXY_TABLE]
  if unknown:
    raise ValueError(f'unknown proxies {unknown}; known: {list(ALL_PROXIES)}')
  return names


def prepare_batch(images_u8_nhwc, labels):
  """uint8 NHWC images + int labels -> normalised float32 NCHW, int64 labels."""
  x = tr.normalize_cifar10(images_u8_nhwc)
  y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
  return x, y


def run_proxy(name, net, images_u8_nhwc, labels, seed=0):
  """One proxy on `net` (never modified) as NASLib pays it -> (value, seconds).

  The timed region covers the network copy, the batch preparation and the
  proxy itself. `seed` seeds the proxy's own generator (zen's init and inputs,
  the flops input), so a score does not depend on which proxies ran before.
  """
  fn, handover = PROXY_TABLE[name]
  start = time.perf_counter()
  if handover == 'orig':
    target = net
  else:
    target = copy.deepcopy(net)
    if handover == 'copy_nobn':
      zc.strip_batchnorm(target)
  x, y = prepare_batch(images_u8_nhwc, labels)
  gen = torch.Generator().manual_seed(seed)
  value = fn(target, x, y, gen)
  seconds = time.perf_counter() - start
  return float(value), seconds


def score_cell(arch_str, images, labels, proxies=ALL_PROXIES, seed=0,
               num_classes=10):
  """Scores one NB201 cell with each proxy -> {name: (value, seconds)}.

  Args:
    arch_str: NB201 string, e.g. '|nor_conv_3x3~0|+|...|+|...|'.
    images: uint8 NHWC array (the whole batch; CIFAR-10 normalisation).
    labels: int array of the batch's labels.
    proxies: names from `ALL_PROXIES` (or 'all').
    seed: torch.manual_seed before building the network; also seeds the
      proxies' own generators.
    num_classes: width of the classifier head.
  Adds '_build' (None, seconds) for the network construction.
  """
  if isinstance(proxies, str):
    proxies = parse_proxies(proxies)
  start = time.perf_counter()
  torch.manual_seed(seed)
  net = tr.build_network(arch_str, num_classes=num_classes)
  net.train()
  results = {'_build': (None, time.perf_counter() - start)}
  for name in proxies:
    results[name] = run_proxy(name, net, images, labels, seed=seed)
  return results


def load_naslib_cells(path=NASLIB_CSV, dataset='cifar10'):
  """Rows of the NASLib subset CSV for `dataset`: list of dicts (str values)."""
  with open(path, newline='') as f:
    return [row for row in csv.DictReader(f) if row['dataset'] == dataset]


def _json_value(v):
  """Finite floats as numbers; NaN / +-inf as the strings 'nan', '-inf'..."""
  if v is None or np.isfinite(v):
    return v
  return str(v)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  source = parser.add_mutually_exclusive_group(required=True)
  source.add_argument('--archs', help='text file, one NB201 arch string a line')
  source.add_argument('--naslib_cells', action='store_true',
                      help='the CIFAR-10 rows of --naslib_csv')
  parser.add_argument('--naslib_csv', default=NASLIB_CSV)
  parser.add_argument('--npz', required=True,
                      help="npz with 'images' (uint8 NHWC) and 'labels'")
  parser.add_argument('--batch_size', type=int, default=64)
  parser.add_argument('--threads', type=int, default=2)
  parser.add_argument('--seed', type=int, default=0,
                      help='cell i is seeded with seed + i')
  parser.add_argument('--limit', type=int, default=None)
  parser.add_argument('--proxies', default='all',
                      help="'all' or a comma list of " + ','.join(ALL_PROXIES))
  parser.add_argument('--output', default=None, help='optional jsonl output')
  args = parser.parse_args(argv)

  proxies = parse_proxies(args.proxies)
  if args.naslib_cells:
    cells = [{'arch': r['arch_str'], 'nb201_index': int(r['index'])}
             for r in load_naslib_cells(args.naslib_csv)]
  else:
    with open(args.archs) as f:
      cells = [{'arch': line.strip()} for line in f if line.strip()]
  if args.limit is not None:
    cells = cells[:args.limit]
  with np.load(args.npz) as data:
    images, labels = data['images'], data['labels']
  if images.shape[0] < args.batch_size:
    raise ValueError(f'need {args.batch_size} images, have {images.shape[0]}')
  images = images[:args.batch_size]
  labels = labels[:args.batch_size]
  torch.set_num_threads(args.threads)

  out = open(args.output, 'w') if args.output else None
  per_proxy = {name: [] for name in proxies}
  totals = []
  wall_start = time.perf_counter()
  try:
    for position, cell in enumerate(cells):
      start = time.perf_counter()
      res = score_cell(cell['arch'], images, labels, proxies,
                       seed=args.seed + position)
      total = time.perf_counter() - start
      totals.append(total)
      for name in proxies:
        per_proxy[name].append(res[name][1])
      record = dict(cell, position=position,
                    scores={n: _json_value(res[n][0]) for n in proxies},
                    seconds={n: res[n][1] for n in proxies},
                    build_seconds=res['_build'][1], total_seconds=total)
      line = json.dumps(record)
      print(line, flush=True)
      if out is not None:
        out.write(line + '\n')
        out.flush()
  finally:
    if out is not None:
      out.close()
  summary = {
      'summary': True,
      'torch_version': torch.__version__,
      'n_cells': len(totals),
      'batch_size': args.batch_size,
      'threads': args.threads,
      'median_seconds': {n: statistics.median(v) for n, v in per_proxy.items()},
      'median_total_seconds': statistics.median(totals),
      'wall_seconds': time.perf_counter() - wall_start,
  }
  print(json.dumps(summary))
  return 0


if __name__ == '__main__':
  sys.exit(main())
