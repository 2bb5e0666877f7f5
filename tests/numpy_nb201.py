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


def bn(x, scale, bias):
  mean = x.mean(axis=(0, 1, 2))
  var = x.var(axis=(0, 1, 2))
  return (x - mean) / np.sqrt(var + 1e-5) * scale + bias


def avg_pool_3x3(x):
  n, h, w, c = x.shape
  xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  ones = np.pad(np.ones((1, h, w, 1)), ((0, 0), (1, 1), (1, 1), (0, 0)))
  total = sum(xp[:, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3))
  count = sum(ones[:, dy:dy + h, dx:dx + w] for dy in range(3)
              for dx in range(3))
  return total / count


def forward(params, images, ops, cells_per_stage):
  """Returns (logits, list of every ReLU call's input)."""
  p = {k: v for k, v in params.items()}
  relu_inputs = []

  def relu(x):
    relu_inputs.append(x)
    return np.maximum(x, 0.0)

  x = np.asarray(images, np.float64)
  x = bn(conv(x, p['stem']['kernel']), p['stem']['scale'], p['stem']['bias'])
  for stage in range(3):
    if stage:
      r = p[f'reduce{stage}']
      h = relu(x)
      h = bn(conv(h, r['conv_a']['kernel'], 2), r['conv_a']['scale'],
             r['conv_a']['bias'])
      h = relu(h)
      h = bn(conv(h, r['conv_b']['kernel']), r['conv_b']['scale'],
             r['conv_b']['bias'])
      n, hh, ww, c = x.shape
      pooled = x.reshape(n, hh // 2, 2, ww // 2, 2, c).mean(axis=(2, 4))
      x = h + conv(pooled, r['shortcut'])
    cp = p[f'stage{stage}']
    for cell in range(cells_per_stage):
      nodes = [x]
      for j in range(1, 4):
        total = np.zeros_like(x)
        for i in range(j):
          e = spec.EDGES.index((i, j))
          op = ops[e]
          q = lambda name, e=e: np.asarray(cp[f'edge{e}_{name}'][cell])
          if op == spec.SKIP:
            total = total + nodes[i]
          elif op == spec.POOL:
            total = total + avg_pool_3x3(nodes[i])
          elif op == spec.CONV1:
            total = total + bn(conv(relu(nodes[i]), q('conv1x1')),
                               q('bn1x1_scale'), q('bn1x1_bias'))
          elif op == spec.CONV3:
            total = total + bn(conv(relu(nodes[i]), q('conv3x3')),
                               q('bn3x3_scale'), q('bn3x3_bias'))
        nodes.append(total)
      x = nodes[3]
  x = relu(bn(x, p['lastact_scale'], p['lastact_bias']))
  feat = x.mean(axis=(1, 2))
  logits = feat @ p['classifier']['kernel'] + p['classifier']['bias']
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
