"""The padded one-program NB101 network equals the exact-shape network.

For each cell, the padded network's weights are transplanted (real blocks
sliced out) into an independent float64 NumPy forward pass at the real
channel counts, which records the input of every ReLU; logits must agree and
the NASWOT kernel of the padded network's tap must equal the brute-force
kernel over those recorded ReLU inputs, exactly.

Compile budget: one jitted function per network config (two configs), shared
by all cells through module-scoped fixtures, plus one engine program.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import engine
from jaxnas import nn as jnn
from jaxnas.proxies import get_proxy
from jaxnas.proxies import naswot
from jaxnas.spaces import get_space
from jaxnas.spaces.nb101 import network as net_lib
from jaxnas.spaces.nb101 import params
from jaxnas.spaces.nb101 import sampling
from jaxnas.spaces.nb101 import spec


def _cell(rows: str, ops: str) -> spec.Cell:
  matrix = np.array([[int(c) for c in row] for row in rows.split('/')])
  return spec.Cell(matrix, ops.split('-'))


CELLS = {
    # input -> output only: the cell is one projection.
    'io_only': _cell('01/00', 'in-out'),
    'chain3': _cell('010/001/000', 'in-c3-out'),
    # Three feeders split the width unevenly (W=4: 2,1,1; W=8: 3,3,2), so
    # 1->2 (at W=4) and 2->3 (at W=8) truncate; maxpool feeds the output.
    'truncate_pool_out': _cell('01000/00101/00011/00001/00000',
                               'in-c1-c3-mp-out'),
    # Maxpool fed by a projection only, plus an input->output projection.
    'pool_and_io': _cell('0111/0001/0001/0000', 'in-mp-c3-out'),
    # A non-feeder vertex (2) and truncation 1->3 (W=4: 2 -> 1).
    'six_nonfeeder': _cell('011000/000101/000110/000001/000001/000000',
                           'in-c1-c3-mp-c3-out'),
    # 7 vertices, 9 edges, four feeders.
    'seven_wide': _cell('0111010/0000001/0000001/0000100/0000001/0000001/'
                        '0000000', 'in-c3-mp-c1-mp-c3-out'),
    # 7-vertex chain plus input->output: one feeder at full width.
    'seven_chain': _cell('0100001/0010000/0001000/0000100/0000010/0000001/'
                         '0000000', 'in-c3-c1-mp-c3-c1-out'),
}
_RNG = np.random.default_rng(3)
for _i in range(2):
  CELLS[f'sampled{_i}'] = sampling.sample(_RNG)

# Two tiny configs: 2 stacks x 1 cell (width change, max-pool), he_normal;
# 1 stack x 2 cells (scan over cells), torch.
CONFIGS = {
    'stacks': dict(stem_channels=4, num_stacks=2, cells_per_stack=1,
                   num_classes=3, weight_init='he_normal'),
    'cells': dict(stem_channels=4, num_stacks=1, cells_per_stack=2,
                  num_classes=2, weight_init='torch'),
}


@pytest.fixture(scope='module')
def images():
  rng = np.random.default_rng(0)
  return rng.normal(size=(6, 8, 8, 3)).astype(np.float32)


class _Runner:
  """One jitted init+apply per config, with a trace counter and a cache."""

  def __init__(self, config):
    config = dict(config)
    self.weight_init = config.pop('weight_init')
    classes = config.pop('num_classes')
    self.space = get_space('nb101', **config)
    net = self.space.network(jnn.NetOptions(self.weight_init,
                                            tap=naswot.TAP), classes)
    self.traces = 0

    def run(key, arch, x):
      self.traces += 1
      variables = net.init(key, x[:2], arch)
      logits, kernel = net.apply(variables, x, arch)
      return variables['params'], logits, kernel

    self.fn = jax.jit(run)
    self.cache = {}

  def __call__(self, name, x):
    if name not in self.cache:
      arch = self.space.arch_arrays(CELLS[name])
      out = self.fn(jax.random.PRNGKey(7), arch, x)
      self.cache[name] = jax.tree.map(np.asarray, out)
    return self.cache[name]


@pytest.fixture(scope='module')
def runners():
  return {name: _Runner(config) for name, config in CONFIGS.items()}


# --------------------------------------------------------------------------
# Exact-shape float64 reference.


def _conv(x, kernel):
  """SAME conv, stride 1, NHWC x HWIO."""
  k = kernel.shape[0]
  p = k // 2
  h, w = x.shape[1:3]
  xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
  out = 0.0
  for dy in range(k):
    for dx in range(k):
      out = out + np.einsum('bhwc,co->bhwo', xp[:, dy:dy + h, dx:dx + w],
                            kernel[dy, dx])
  return out


def _bn(x, scale, bias):
  mean = x.mean(axis=(0, 1, 2))
  var = x.var(axis=(0, 1, 2))
  return (x - mean) / np.sqrt(var + 1e-5) * scale + bias


def _max_pool_3x3(x):
  h, w = x.shape[1:3]
  xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
  return np.max([xp[:, dy:dy + h, dx:dx + w] for dy in range(3)
                 for dx in range(3)], axis=0)


def _max_pool_2x2(x):
  b, h, w, c = x.shape
  return x.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def _block(full, c_in, c_out):
  """The real block of a padded kernel; checks the rest is zero."""
  full = np.asarray(full, np.float64)
  rest = full.copy()
  rest[..., :c_in, :c_out] = 0.0
  assert not rest.any(), 'padded kernel entries must be zero'
  block = full[..., :c_in, :c_out]
  assert block.all(), 'real kernel entries must be drawn'
  return block


def exact_params(padded, cell, cfg):
  """Real-shape weights of the network, sliced out of the padded tree."""
  m = cell.matrix
  out_v = cell.num_vertices - 1
  stem = padded['stem']
  exact = {'stem': (stem['kernel'], stem['scale'], stem['bias']),
           'classifier': (padded['classifier']['kernel'],
                          padded['classifier']['bias'])}
  widths = net_lib.stack_widths(cfg['stem_channels'], cfg['num_stacks'])
  for s, width in enumerate(widths):
    tree = padded[f'stack{s}']
    for i in range(cfg['cells_per_stack']):
      c_in = width // 2 if s and i == 0 else width
      ch = params.vertex_channels(c_in, width, m)
      get = lambda name, i=i, tree=tree: tree[name][i]

      def conv_bn(name, ci, co, get=get):
        return (_block(get(f'{name}_kernel'), ci, co),
                get(f'{name}_scale')[:co], get(f'{name}_bias')[:co])

      for t in range(1, out_v):
        if m[0, t]:
          exact[s, i, 'proj', t] = conv_bn(f'proj{t}', c_in, ch[t])
        if cell.ops[t] == spec.CONV3X3:
          exact[s, i, 'op', t] = conv_bn(f'vertex{t}_conv3x3', ch[t], ch[t])
        elif cell.ops[t] == spec.CONV1X1:
          exact[s, i, 'op', t] = conv_bn(f'vertex{t}_conv1x1', ch[t], ch[t])
      if m[0, out_v]:
        exact[s, i, 'proj', out_v] = conv_bn('proj6', c_in, width)
  return {k: tuple(np.asarray(a, np.float64) for a in v)
          for k, v in exact.items()}


def reference_forward(x, cell, exact, cfg):
  """Exact-shape forward; returns logits and every ReLU's input."""
  relu_inputs = []

  def conv_bn_relu(h, p):
    kernel, scale, bias = p
    y = _bn(_conv(h, kernel), scale, bias)
    relu_inputs.append(y)
    return np.maximum(y, 0.0)

  m = cell.matrix
  out_v = cell.num_vertices - 1
  x = conv_bn_relu(np.asarray(x, np.float64), exact['stem'])
  widths = net_lib.stack_widths(cfg['stem_channels'], cfg['num_stacks'])
  for s, width in enumerate(widths):
    if s:
      x = _max_pool_2x2(x)
    for i in range(cfg['cells_per_stack']):
      ch = params.vertex_channels(x.shape[-1], width, m)
      tensors, concat = [x], []
      for t in range(1, out_v):
        fan_in = [tensors[u][..., :ch[t]] for u in range(1, t) if m[u, t]]
        if m[0, t]:
          fan_in.append(conv_bn_relu(x, exact[s, i, 'proj', t]))
        h = sum(fan_in)
        if cell.ops[t] == spec.MAXPOOL3X3:
          y = _max_pool_3x3(h)
        else:
          y = conv_bn_relu(h, exact[s, i, 'op', t])
        assert y.shape[-1] == ch[t]
        tensors.append(y)
        if m[t, out_v]:
          concat.append(y)
      if concat:
        out = np.concatenate(concat, axis=-1)
        if m[0, out_v]:
          out = out + conv_bn_relu(x, exact[s, i, 'proj', out_v])
      else:
        out = conv_bn_relu(x, exact[s, i, 'proj', out_v])
      assert out.shape[-1] == width
      x = out
  kernel, bias = exact['classifier']
  return x.mean(axis=(1, 2)) @ kernel + bias, relu_inputs


def brute_kernel(relu_inputs):
  total = 0
  for y in relu_inputs:
    c = (y.reshape(y.shape[0], -1) > 0).astype(np.int64)
    total = total + c @ c.T + (1 - c) @ (1 - c).T
  return total


# --------------------------------------------------------------------------
# Tests.


@pytest.mark.parametrize('config', list(CONFIGS))
@pytest.mark.parametrize('name', list(CELLS))
def test_padded_network_equals_exact_network(runners, images, config, name):
  cfg = CONFIGS[config]
  cell = CELLS[name]
  padded, logits, kernel = runners[config](name, images)
  exact = exact_params(padded, cell, cfg)
  # The real blocks are exactly the real network's parameters.
  count = sum(a.size for v in exact.values() for a in v)
  assert count == params.param_count(cell, cfg['stem_channels'],
                                     cfg['num_stacks'],
                                     cfg['cells_per_stack'],
                                     cfg['num_classes'])
  ref_logits, relu_inputs = reference_forward(images, cell, exact, cfg)
  np.testing.assert_allclose(logits, ref_logits, rtol=1e-4, atol=1e-5)
  assert kernel.dtype == np.int32
  np.testing.assert_array_equal(kernel, brute_kernel(relu_inputs))
  # Diagonal = number of real ReLU units (padding never counts).
  assert (np.diag(kernel) ==
          sum(y[0].size for y in relu_inputs)).all()


def test_cells_share_one_program(runners, images):
  runner = runners['stacks']
  for name in ('io_only', 'seven_wide', 'truncate_pool_out'):
    runner(name, images)
  assert len(runner.cache) >= 3
  assert runner.traces == 1


def test_arch_arrays_layout():
  space = get_space('nb101', channels=16, num_stacks=3)
  arrays = space.arch_arrays(CELLS['truncate_pool_out'])
  assert {k: (v.shape, v.dtype) for k, v in arrays.items()} == {
      'adjacency': ((7, 7), np.int32), 'ops': ((7,), np.int32),
      'channels': ((3, 7), np.int32)}
  # Output vertex 4 -> slot 6; slots 4, 5 inactive.
  assert arrays['adjacency'][:, 6].tolist() == [0, 1, 1, 1, 0, 0, 0]
  assert not arrays['adjacency'][4:6].any()
  assert not arrays['adjacency'][:, 4:6].any()
  assert arrays['ops'].tolist() == [3, 1, 0, 2, 3, 3, 3]
  assert arrays['channels'].tolist() == [
      [16, 6, 5, 5, 0, 0, 16], [32, 11, 11, 10, 0, 0, 32],
      [64, 22, 21, 21, 0, 0, 64]]
  io = space.arch_arrays(CELLS['io_only'])
  assert io['adjacency'].sum() == 1 and io['adjacency'][0, 6] == 1
  assert (io['ops'] == net_lib.INACTIVE).all()


def test_param_count_unchanged_by_padding():
  space = get_space('nb101')  # the benchmark's size
  for cell in CELLS.values():
    assert space.param_count(cell, num_classes=10) == params.param_count(
        cell, 128, 3, 3, 10)


def test_masked_code_kernel_ignores_masked_channels():
  rng = np.random.default_rng(2)
  x = rng.normal(size=(5, 3, 3, 6)).astype(np.float32)
  x[..., 4:] = 0.0  # padding: all 'off', would agree everywhere
  mask = jnp.asarray([1, 1, 1, 1, 0, 0], jnp.float32)
  got = np.asarray(naswot.TAP.relu(naswot.TAP.init(5), jnp.asarray(x), 1,
                                   mask))
  want = brute_kernel([x[..., :4]])
  np.testing.assert_array_equal(got, want)


def test_engine_scores_nb101(images):
  space = get_space('nb101', channels=4, num_stacks=1, cells_per_stack=1)
  scorer = engine.Engine(space, [get_proxy('naswot')], inits=1,
                         weight_init='he_normal', devices=1)
  cells = [CELLS['seven_wide'], CELLS['pool_and_io']]
  results = list(scorer.score(jax.random.PRNGKey(0), cells, images))
  assert scorer.compilations == 1
  assert [r.arch for r in results] == cells
  assert all(r['naswot'].mean is not None and np.isfinite(r['naswot'].mean)
             for r in results)


def test_weights_of_absent_ops_and_edges_are_zero(images):
  """Padded slots, ops not chosen and projections of absent edges hold
  zeros, so per-layer measures see only the real network."""
  space = get_space('nb101', channels=4, num_stacks=1, cells_per_stack=1)
  cell = CELLS['truncate_pool_out']
  net = space.network()
  arch = space.arch_arrays(cell)
  p = net.init(jax.random.PRNGKey(0), images[:2], arch)['params']['stack0']
  ops = arch['ops']
  for v in range(1, 6):
    for name, op in (('conv3x3', net_lib.CONV3X3), ('conv1x1',
                                                    net_lib.CONV1X1)):
      kernel = np.asarray(p[f'vertex{v}_{name}_kernel'])
      assert kernel.any() == (ops[v] == op), (v, name)
  for v in range(1, 7):
    kernel = np.asarray(p[f'proj{v}_kernel'])
    assert kernel.any() == bool(arch['adjacency'][0, v]), v
