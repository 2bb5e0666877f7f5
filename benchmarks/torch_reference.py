"""PyTorch-eager reference of the NAS-Bench-201 TinyNetwork and the NASWOT score.

Used as a baseline for a side-by-side speed (and correctness) comparison with
the JAX implementation in `jaxnas`. Self-contained: depends on torch + numpy.

Usage:
  python benchmarks/torch_reference.py --archs archs.txt \
    --npz /work/shared/data/cifar10_sample.npz --batch_size 128 --threads 2 \
    --limit 20 --output out.jsonl
"""

import argparse
import json
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn

OPS = ('none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3', 'avg_pool_3x3')

CIFAR10_MEAN = np.array([125.3, 123.0, 113.9], dtype=np.float32) / 255.0
CIFAR10_STD = np.array([63.0, 62.1, 66.7], dtype=np.float32) / 255.0


def parse_arch(arch_str):
  """Parses `|op~0|+|op~0|op~1|+...` into a list of (op, src) lists per node."""
  nodes = []
  for node_str in arch_str.strip().split('+'):
    edges = []
    for token in node_str.strip('|').split('|'):
      op, src = token.split('~')
      if op not in OPS:
        raise ValueError(f'unknown op {op!r} in {arch_str!r}')
      edges.append((op, int(src)))
    nodes.append(edges)
  if len(nodes) != 3:
    raise ValueError(f'expected 3 intermediate nodes in {arch_str!r}')
  for j, edges in enumerate(nodes, start=1):
    if sorted(src for _, src in edges) != list(range(j)):
      raise ValueError(f'node {j} must have inputs 0..{j - 1}: {arch_str!r}')
  return nodes


class Zero(nn.Module):

  def forward(self, x):
    return x.mul(0.0)


class ReLUConvBN(nn.Module):

  def __init__(self, c_in, c_out, kernel_size, stride, padding):
    super().__init__()
    self.op = nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding,
                  bias=False),
        nn.BatchNorm2d(c_out, affine=True),
    )

  def forward(self, x):
    return self.op(x)


def make_op(name, channels):
  if name == 'none':
    return Zero()
  if name == 'skip_connect':
    return nn.Identity()
  if name == 'nor_conv_1x1':
    return ReLUConvBN(channels, channels, 1, 1, 0)
  if name == 'nor_conv_3x3':
    return ReLUConvBN(channels, channels, 3, 1, 1)
  if name == 'avg_pool_3x3':
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
  raise ValueError(f'unknown op {name!r}')


class Cell(nn.Module):
  """NB201 search cell: 4 nodes, node j = sum_{i<j} op_ij(node_i)."""

  def __init__(self, nodes, channels):
    super().__init__()
    # Edge modules keyed 'j<-i', in order 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2.
    self.edges = nn.ModuleDict()
    self.node_inputs = []
    for j, edges in enumerate(nodes, start=1):
      srcs = []
      for op, i in sorted(edges, key=lambda e: e[1]):
        key = f'{j}<-{i}'
        self.edges[key] = make_op(op, channels)
        srcs.append((i, key))
      self.node_inputs.append(srcs)

  def forward(self, x):
    states = [x]
    for srcs in self.node_inputs:
      total = None
      for i, key in srcs:
        out = self.edges[key](states[i])
        total = out if total is None else total + out
      states.append(total)
    return states[-1]


class ResidualBlock(nn.Module):
  """Stride-2 basic residual block used between the NB201 stages."""

  def __init__(self, c_in, c_out):
    super().__init__()
    self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
    self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
    self.downsample = nn.Sequential(
        nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
        nn.Conv2d(c_in, c_out, kernel_size=1, stride=1, padding=0, bias=False),
    )

  def forward(self, x):
    return self.conv_b(self.conv_a(x)) + self.downsample(x)


class TinyNetwork(nn.Module):
  """NAS-Bench-201 TinyNetwork: stem, 3 stages of N cells, 2 residual blocks."""

  def __init__(self, arch_str, C=16, N=5, num_classes=1):
    super().__init__()
    nodes = parse_arch(arch_str)
    self.arch_str = arch_str
    self.stem = nn.Sequential(
        nn.Conv2d(3, C, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(C),
    )
    layer_channels = [C] * N + [2 * C] + [2 * C] * N + [4 * C] + [4 * C] * N
    layer_reduction = [False] * N + [True] + [False] * N + [True] + [False] * N
    cells = []
    c_prev = C
    for c_curr, reduction in zip(layer_channels, layer_reduction):
      if reduction:
        cells.append(ResidualBlock(c_prev, c_curr))
      else:
        cells.append(Cell(nodes, c_curr))
      c_prev = c_curr
    self.cells = nn.ModuleList(cells)
    self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=False))
    self.global_pooling = nn.AdaptiveAvgPool2d(1)
    self.classifier = nn.Linear(c_prev, num_classes)

  def forward_before_global_avg_pool(self, x):
    """Features entering the global pooling: after the head BN + ReLU."""
    x = self.stem(x)
    for cell in self.cells:
      x = cell(x)
    return self.lastact(x)

  def forward(self, x):
    x = self.forward_before_global_avg_pool(x)
    x = self.global_pooling(x).flatten(1)
    return self.classifier(x)


def build_network(arch_str: str, C: int = 16, N: int = 5,
                  num_classes: int = 1) -> nn.Module:
  return TinyNetwork(arch_str, C=C, N=N, num_classes=num_classes)


def count_parameters(net):
  return sum(p.numel() for p in net.parameters())


def naswot_score(net: nn.Module, x: torch.Tensor) -> float:
  """NASWOT (Mellor et al. 2021, v2): log|det K_H| from ReLU input codes."""
  batch = x.shape[0]
  kernel = torch.zeros((batch, batch), dtype=torch.float64)

  def hook(module, inputs, output):
    del module, output
    codes = (inputs[0].reshape(batch, -1) > 0).to(torch.float32)
    # c c^T + (1-c)(1-c)^T, accumulated in float64 (entries are exact ints).
    agree = codes @ codes.t() + (1.0 - codes) @ (1.0 - codes).t()
    kernel.add_(agree.to(torch.float64))

  handles = [m.register_forward_hook(hook) for m in net.modules()
             if isinstance(m, nn.ReLU)]
  try:
    net.train()
    with torch.no_grad():
      net(x)
  finally:
    for h in handles:
      h.remove()
  _, logabsdet = torch.linalg.slogdet(kernel)
  return float(logabsdet)


def normalize_cifar10(images_uint8_nhwc: np.ndarray) -> torch.Tensor:
  x = np.asarray(images_uint8_nhwc, dtype=np.float32) / 255.0
  x = (x - CIFAR10_MEAN) / CIFAR10_STD
  return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def weights_as_numpy(net: nn.Module) -> dict:
  """Every parameter and buffer, keyed by state_dict name, as numpy arrays."""
  return {k: v.detach().cpu().numpy().copy()
          for k, v in net.state_dict().items()}


def score_archs(arch_strs, images_uint8_nhwc, batch_size=128, threads=2,
                seed=0, C=16, N=5):
  torch.set_num_threads(threads)
  x = normalize_cifar10(images_uint8_nhwc[:batch_size])
  results = []
  for position, arch in enumerate(arch_strs):
    start = time.perf_counter()
    torch.manual_seed(seed + position)
    net = build_network(arch, C=C, N=N, num_classes=1)
    score = naswot_score(net, x)
    seconds = time.perf_counter() - start
    results.append({'arch': arch, 'score': score, 'seconds': seconds})
  return results


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--archs', required=True,
                      help='text file, one NB201 arch string per line')
  parser.add_argument('--npz', required=True,
                      help="npz with key 'images' (uint8 NHWC)")
  parser.add_argument('--batch_size', type=int, default=128)
  parser.add_argument('--threads', type=int, default=2)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--limit', type=int, default=None)
  parser.add_argument('--output', default=None, help='optional jsonl output')
  args = parser.parse_args(argv)

  with open(args.archs) as f:
    archs = [line.strip() for line in f if line.strip()]
  if args.limit is not None:
    archs = archs[:args.limit]
  with np.load(args.npz) as data:
    images = data['images']
  if images.shape[0] < args.batch_size:
    raise ValueError(f'need {args.batch_size} images, have {images.shape[0]}')

  wall_start = time.perf_counter()
  results = score_archs(archs, images, batch_size=args.batch_size,
                        threads=args.threads, seed=args.seed)
  wall = time.perf_counter() - wall_start

  out = open(args.output, 'w') if args.output else None
  try:
    for r in results:
      line = json.dumps(r)
      print(line)
      if out is not None:
        out.write(line + '\n')
  finally:
    if out is not None:
      out.close()
  median = statistics.median(r['seconds'] for r in results)
  summary = {
      'summary': True,
      'torch_version': torch.__version__,
      'n_archs': len(results),
      'batch_size': args.batch_size,
      'threads': args.threads,
      'median_seconds_per_arch': median,
      'archs_per_s_median': 1.0 / median,
      'total_seconds': wall,
      'archs_per_s_total': len(results) / wall,
  }
  print(json.dumps(summary))
  return 0


if __name__ == '__main__':
  sys.exit(main())
