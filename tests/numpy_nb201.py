"""An independent NumPy (float64) forward of NB201's TinyNetwork.

Written edge by edge as the reference PyTorch code runs it: every
ReLU-Conv-BN edge calls its own ReLU, and every ReLU call's input is recorded,
so tests can build the NASWOT kernel by brute force.
"""

import numpy as np

from jaxnas.spaces.nb201 import spec


def conv(x, k, stride=1):
  """NHWC x, HWIO k, zero 'same' padding for odd kernels."""
  kh = k.shape[0]
  p = kh // 2
  xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
  n, h, w, _ = x.shape
  out = np.zeros((n, h, w, k.shape[-1]))
  for dy in range(kh):
    for dx in range(kh):
      out += np.einsum('nhwc,cd->nhwd', xp[:, dy:dy + h, dx:dx + w], k[dy, dx])
  return out[:, ::stride, ::stride]


def bn(x, scale, bias, hook=None):
  """Train-mode BN; ``hook(mean, biased var, count)`` sees its statistics."""
  mean = x.mean(axis=(0, 1, 2))
  var = x.var(axis=(0, 1, 2))
  if hook is not None:
    hook(mean, var, x.size // x.shape[-1])
  return (x - mean) / np.sqrt(var + 1e-5) * scale + bias


def avg_pool_3x3(x):
  n, h, w, c = x.shape
  xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  ones = np.pad(np.ones((1, h, w, 1)), ((0, 0), (1, 1), (1, 1), (0, 0)))
  total = sum(xp[:, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3))
  count = sum(ones[:, dy:dy + h, dx:dx + w] for dy in range(3)
              for dx in range(3))
  return total / count


def forward(params, images, ops, cells_per_stage, bn_on=True,
            conv_hook=None, bn_hook=None, features=None, sites=None,
            replace=None):
  """Returns (logits, list of every ReLU call's input).

  Options (for the zero-cost proxies' tests): ``bn_on=False`` removes every
  BN; ``conv_hook(name, y)`` may replace each conv / dense output ``y``
  (named ``stem``, ``reduce1/conv_a``, ``reduce1/shortcut``,
  ``stage0/cell0/edge3``, ``classifier``...); ``bn_hook`` sees every BN's
  statistics; ``features`` (a dict) receives ``pre_pool`` and, as
  ``sites``, the stem's, every reduction block's and every cell's output in
  forward order (AZ-NAS's features); ``sites`` (a list) receives
  ``(kind, x)`` wherever jaxnas reports a feature (stem, op, cell, block,
  pre_pool); ``replace`` (a dict) maps an index of the AZ-NAS features to
  a value that stands in for that feature from there on.
  """
  p = {k: v for k, v in params.items()}
  relu_inputs = []
  hook = conv_hook or (lambda name, y: y)

  reported = []

  def site(kind, x):
    if replace and kind in ('stem', 'block', 'cell'):
      n = sum(k in ('stem', 'block', 'cell') for k, _ in reported)
      x = replace.get(n, x)
    reported.append((kind, x))
    if sites is not None:
      sites.append((kind, x))
    return x

  def relu(x):
    relu_inputs.append(x)
    return np.maximum(x, 0.0)

  def norm(x, scale, bias):
    return bn(x, scale, bias, bn_hook) if bn_on else x

  x = np.asarray(images, np.float64)
  x = norm(hook('stem', conv(x, p['stem']['kernel'])), p['stem']['scale'],
           p['stem']['bias'])
  x = site('stem', x)
  for stage in range(3):
    if stage:
      r = p[f'reduce{stage}']
      h = relu(x)
      h = norm(hook(f'reduce{stage}/conv_a', conv(h, r['conv_a']['kernel'],
                                                  2)),
               r['conv_a']['scale'], r['conv_a']['bias'])
      h = relu(h)
      h = norm(hook(f'reduce{stage}/conv_b', conv(h, r['conv_b']['kernel'])),
               r['conv_b']['scale'], r['conv_b']['bias'])
      n, hh, ww, c = x.shape
      pooled = x.reshape(n, hh // 2, 2, ww // 2, 2, c).mean(axis=(2, 4))
      x = site('block', h + hook(f'reduce{stage}/shortcut',
                                 conv(pooled, r['shortcut_kernel'])))
    cp = p[f'stage{stage}']
    for cell in range(cells_per_stage):
      nodes = [x]
      for j in range(1, 4):
        total = np.zeros_like(x)
        for i in range(j):
          e = spec.EDGES.index((i, j))
          op = ops[e]
          q = lambda name, e=e: np.asarray(cp[f'edge{e}_{name}'][cell])
          name = f'stage{stage}/cell{cell}/edge{e}'
          if op == spec.SKIP:
            y = nodes[i]
          elif op == spec.POOL:
            y = avg_pool_3x3(nodes[i])
          elif op == spec.CONV1:
            y = norm(hook(name, conv(relu(nodes[i]), q('conv1x1_kernel'))),
                     q('bn1x1_scale'), q('bn1x1_bias'))
          elif op == spec.CONV3:
            y = norm(hook(name, conv(relu(nodes[i]), q('conv3x3_kernel'))),
                     q('bn3x3_scale'), q('bn3x3_bias'))
          else:  # none
            continue
          total = total + site('op', y)
        nodes.append(total)
      x = site('cell', nodes[3])
  x = site('pre_pool', relu(norm(x, p['lastact_scale'], p['lastact_bias'])))
  if features is not None:
    features['pre_pool'] = x
    features['sites'] = [y for kind, y in reported
                         if kind in ('stem', 'block', 'cell')]
  feat = x.mean(axis=(1, 2))
  logits = hook('classifier', feat @ p['classifier']['kernel'] +
                p['classifier']['bias'])
  return logits, relu_inputs


def naswot_kernel_brute_force(relu_inputs):
  """K_ij = N_A - Hamming(c_i, c_j) over explicitly concatenated codes."""
  b = relu_inputs[0].shape[0]
  codes = np.concatenate([(x.reshape(b, -1) > 0) for x in relu_inputs], 1)
  n_a = codes.shape[1]
  k = np.zeros((b, b), np.int64)
  for i in range(b):
    for j in range(b):
      k[i, j] = n_a - np.count_nonzero(codes[i] != codes[j])
  return k
