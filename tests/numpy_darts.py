"""An independent NumPy (float64) forward of NASLib's NB301 (DARTS) network.

Written op by op for one genotype, as the reference PyTorch modules run it:
every ReLU module call records its input (so tests can build the NASWOT
kernel by brute force), strided ops are computed at stride 1 and then
subsampled, and pools and convolutions use explicit windows. Parameters
are read by name from the Flax network's ``params`` (as NumPy arrays).
"""

import numpy as np

from jaxnas.spaces.darts import spec


def _pad(x, p, value=0.0):
  return np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), constant_values=value)


def conv(x, k):
  """Dense NHWC convolution, HWIO kernel, stride 1, zero 'same' padding."""
  kh = k.shape[0]
  xp = _pad(x, kh // 2)
  n, h, w, _ = x.shape
  out = np.zeros((n, h, w, k.shape[-1]))
  for dy in range(kh):
    for dx in range(kh):
      out += np.einsum('nhwc,cd->nhwd', xp[:, dy:dy + h, dx:dx + w], k[dy, dx])
  return out


def depthwise(x, k, stride, dilation):
  """Depthwise conv (kernel ``[k, k, 1, C]``) with PyTorch's padding
  ``dilation * (k - 1) / 2``: the stride-1 result, subsampled."""
  kh = k.shape[0]
  xp = _pad(x, dilation * (kh - 1) // 2)
  n, h, w, c = x.shape
  out = np.zeros((n, h, w, c))
  for y in range(h):
    for z in range(w):
      window = xp[:, y:y + dilation * (kh - 1) + 1:dilation,
                  z:z + dilation * (kh - 1) + 1:dilation]  # n, kh, kh, c
      out[:, y, z] = np.einsum('nabc,abc->nc', window, k[:, :, 0])
  return out[:, ::stride, ::stride]


def pool(x, stride, kind):
  """3x3 max / average pool (pad 1; the average over real pixels only)."""
  n, h, w, c = x.shape
  xp = _pad(x, 1, -np.inf if kind == 'max' else np.nan)
  out = np.zeros_like(x)
  for y in range(h):
    for z in range(w):
      window = xp[:, y:y + 3, z:z + 3]
      out[:, y, z] = (window.max(axis=(1, 2)) if kind == 'max' else
                      np.nanmean(window, axis=(1, 2)))
  return out[:, ::stride, ::stride]


def bn(x, scale=1.0, bias=0.0):
  mean = x.mean(axis=(0, 1, 2))
  var = x.var(axis=(0, 1, 2))
  return (x - mean) / np.sqrt(var + 1e-5) * scale + bias


class Recorder:
  """ReLU calls (inputs recorded) and every op output, in call order."""

  def __init__(self):
    self.relu_inputs = []

  def relu(self, x):
    self.relu_inputs.append(x)
    return np.maximum(x, 0.0)


def factorized_reduce(rec, x, k1, k2):
  """ReLU, 1x1 convs of x (stride 2) and x[1:, 1:] (stride 2), concat."""
  r = rec.relu(x)
  return np.concatenate([conv(r, k1)[:, ::2, ::2],
                         conv(r[:, 1:, 1:], k2)[:, ::2, ::2]], axis=-1)


def op_forward(rec, name, x, stride, q):
  """One cell op; ``q(part)`` returns the edge's kernel of that part."""
  if name in ('max_pool_3x3', 'avg_pool_3x3'):
    return bn(pool(x, stride, name[:3]))
  if name == 'skip_connect':
    if stride == 1:
      return x
    return bn(factorized_reduce(rec, x, q('fr1'), q('fr2')))
  k = int(name[-1])
  if name.startswith('sep'):
    y = depthwise(rec.relu(x), q('dw1'), stride, 1)
    y = bn(conv(y, q('pw1')))
    y = depthwise(rec.relu(y), q('dw2'), 1, 1)
    return bn(conv(y, q('pw2')))
  assert name.startswith('dil') and k in (3, 5)
  y = depthwise(rec.relu(x), q('dw'), stride, 2)
  return bn(conv(y, q('pw')))


def forward(params, images, genotype, layers):
  """Returns (logits, list of every ReLU call's input).

  Args:
    params: the Flax network's ``params`` as NumPy float64 arrays.
    images: ``[batch, height, width, 3]``.
    genotype: a :class:`spec.Genotype` (or its array).
    layers: number of cells.
  """
  g = spec.as_genotype(genotype)
  rec = Recorder()
  x = np.asarray(images, np.float64)
  st = params['stem']
  stem = bn(conv(x, st['kernel']), st['scale'], st['bias'])
  prev_prev, prev = stem, stem
  reduce_prev = False
  for i in range(layers):
    reduce = i in (layers // 3, 2 * layers // 3)
    cp = params[f'cell{i}']
    if reduce_prev:
      s0 = factorized_reduce(rec, prev_prev, cp['pre0_fr1_kernel'],
                             cp['pre0_fr2_kernel'])
    else:
      s0 = conv(rec.relu(prev_prev), cp['pre0_kernel'])
    s0 = bn(s0, cp['pre0_scale'], cp['pre0_bias'])
    s1 = bn(conv(rec.relu(prev), cp['pre1_kernel']), cp['pre1_scale'],
            cp['pre1_bias'])
    states = [s0, s1]
    pairs = g.reduce if reduce else g.normal
    for j in range(spec.NUM_NODES):
      node = 0.0
      for p in (2 * j, 2 * j + 1):
        name, src = pairs[p]
        stride = 2 if reduce and src < 2 else 1
        q = (lambda part, p=p, name=name:
             cp[f'edge_{name}_{part}_kernel'][p])  # stacked per pair
        node = node + op_forward(rec, name, states[src], stride, q)
      states.append(node)
    prev_prev, prev = prev, np.concatenate(states[2:], axis=-1)
    reduce_prev = reduce
  cl = params['classifier']
  logits = prev.mean(axis=(1, 2)) @ cl['kernel'] + cl['bias']
  return logits, rec.relu_inputs
