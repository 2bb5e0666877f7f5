"""TE-NAS: NB201 supernet, ntk_cond, linear_regions, scorer, pruning search.

Networks here are tiny (C <= 3, 8x8 inputs, one stage where the full
three-stage shape is not the point) and every check compares against an
independent computation: TinyNetwork, a float64 NumPy forward, jax.jacrev,
NumPy eigenvalues, Python sets, a brute-force crop search, scipy ranks.
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util
from scipy import stats

from jaxnas import workflows
from jaxnas.errors import JaxnasError
from jaxnas.proxies import get_proxy
from jaxnas.proxies import linear_regions as lr
from jaxnas.proxies import ntk
from jaxnas.proxies import supernet_scorer as ss
from jaxnas.search import tenas
from jaxnas.spaces import get_space
from jaxnas.spaces.nb201 import network, spec, supernet
from tests import numpy_nb201 as npn
from tests.conftest import write_npz

ALL_OPS = spec.parse('|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+'
                     '|skip_connect~0|nor_conv_3x3~1|none~2|')
NO_PATH = spec.parse('|nor_conv_3x3~0|+|none~0|none~1|+'
                     '|none~0|none~1|nor_conv_1x1~2|')

# Small stand-ins for TE-NAS's networks (one stage keeps compiles short).
SMALL_NTK = ss.NtkMeasure(supernet.SuperNetwork(
    channels=2, cells_per_stage=1, stages=1, stem=True, num_classes=3,
    weight_init='he_normal'))
SMALL_REGIONS = ss.RegionsMeasure(supernet.regions_network(lr.TAP),
                                  inputs=60, batch=20)


def random_mask(seed):
  """A mask with 0-4 ops per edge, 'none' sometimes on, one empty edge."""
  rng = np.random.default_rng(seed)
  mask = (rng.random((6, 5)) < 0.5).astype(np.float32)
  mask[0] = 0.0
  mask[1, [spec.SKIP, spec.CONV3]] = 1.0
  mask[2, :] = [1, 0, 1, 1, 1]
  return mask


# --------------------------------------------------------------------------
# An independent float64 NumPy forward of a one-stage supernet.


def numpy_supernet(params, x, mask, stem):
  """Returns (logits, every ReLU call's input, the cell node each call
  reads (None for lastact)) of a one-stage supernet."""
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  inputs, sources = [], []

  def relu(v, source=None):
    inputs.append(v)
    sources.append(source)
    return np.maximum(v, 0.0)

  x = np.asarray(x, np.float64)
  if stem:
    x = npn.bn(npn.conv(x, p['stem']['kernel']), p['stem']['scale'],
               p['stem']['bias'])
  cp = p['stage0_cell0']
  nodes = [x]
  for j in range(1, 4):
    total = np.zeros_like(x)
    for i in range(j):
      e = spec.EDGES.index((i, j))
      k = mask[e].sum()
      for op in np.flatnonzero(mask[e]):
        if op == spec.SKIP:
          y = nodes[i]
        elif op == spec.POOL:
          y = npn.avg_pool_3x3(nodes[i])
        elif op in (spec.CONV1, spec.CONV3):
          name = '1x1' if op == spec.CONV1 else '3x3'
          y = npn.bn(npn.conv(relu(nodes[i], i),
                              cp[f'edge{e}_conv{name}']),
                     cp[f'edge{e}_bn{name}_scale'],
                     cp[f'edge{e}_bn{name}_bias'])
        else:  # none
          y = np.zeros_like(x)
        total = total + y / k
    nodes.append(total)
  h = relu(npn.bn(nodes[3], p['lastact_scale'], p['lastact_bias']))
  logits = h.mean(axis=(1, 2)) @ p['classifier']['kernel'] + p[
      'classifier']['bias']
  return logits, inputs, sources


# --------------------------------------------------------------------------
# Supernet.


def test_one_hot_supernet_is_the_nb201_network(tiny_images):
  """A one-hot mask computes NB201's TinyNetwork: the independent NumPy
  forward of tests/numpy_nb201 on the same parameters."""
  sup = supernet.SuperNetwork(channels=2, cells_per_stage=1, num_classes=3)
  shapes = jax.eval_shape(sup.init, jax.random.PRNGKey(0), tiny_images,
                          supernet.full_mask())['params']
  rng = np.random.default_rng(0)  # any parameters, BN affine included
  params = jax.tree.map(lambda a: rng.normal(size=a.shape).astype(
      np.float32), shapes)
  apply = jax.jit(lambda x, mask: sup.apply({'params': params}, x, mask)[0])
  for ops in (ALL_OPS, NO_PATH):
    got = apply(tiny_images, supernet.one_hot(ops))
    # TinyNetwork's layout: one scanned 'stage{s}' with a leading cell axis.
    tiny = {(k[:-len('_cell0')] if k.endswith('_cell0') else k):
            (jax.tree.map(lambda a: np.asarray(a)[None], v)
             if k.endswith('_cell0') else v) for k, v in params.items()}
    want, _ = npn.forward(jax.tree.map(np.asarray, tiny), tiny_images, ops,
                          1)
    np.testing.assert_allclose(np.asarray(got), want, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize('seed', [0, 1])
def test_mixed_edges_and_taps_match_numpy(seed):
  """Mixture weights 1/k, masked ops adding nothing, and the ReLU taps
  (which nodes report) against the NumPy forward."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(7, 6, 6, 2)).astype(np.float32)
  mask = random_mask(seed)
  net = supernet.SuperNetwork(channels=2, stages=1, stem=False,
                              num_classes=2, tap=lr.TAP)
  params = jax.jit(net.init)(jax.random.PRNGKey(seed), x, mask)['params']
  logits, acc = jax.jit(net.apply)({'params': params}, x, mask)
  want, relu_inputs, sources = numpy_supernet(params, x, mask, stem=False)
  np.testing.assert_allclose(np.asarray(logits), want, rtol=2e-4, atol=2e-5)
  # The tap: nodes 0, 1, 2 (zero bits when no conv op reads them) + lastact.
  expected = []
  for i in range(3):
    calls = [v for v, src in zip(relu_inputs, sources) if src == i]
    readers = sum(mask[e, [spec.CONV1, spec.CONV3]].sum()
                  for e, (a, _) in enumerate(spec.EDGES) if a == i)
    assert len(calls) == readers  # a ReLU call per conv op
    expected.append(calls[0].reshape(len(x), -1) > 0 if calls else
                    np.zeros((len(x), 6 * 6 * 2), bool))
  assert sources[-1] is None  # lastact
  expected.append(relu_inputs[-1].reshape(len(x), -1) > 0)
  np.testing.assert_array_equal(np.concatenate(
      [np.asarray(a) for a in acc], 1), np.concatenate(expected, 1))


def test_mask_validation():
  with pytest.raises(ValueError, match=r'expected shape \(6, 5\)'):
    supernet.check_mask(np.ones((5, 5)))
  with pytest.raises(ValueError, match='must be 0 or 1'):
    supernet.check_mask(np.full((6, 5), 0.5))
  assert supernet.mask_ops(supernet.full_mask()) is None
  np.testing.assert_array_equal(supernet.mask_ops(supernet.one_hot(ALL_OPS)),
                                ALL_OPS)


# --------------------------------------------------------------------------
# ntk_cond.


def test_weights_are_conv_kernels_bn_scales_and_classifier_kernel(
    tiny_images):
  params = jax.eval_shape(SMALL_NTK.network.init, jax.random.PRNGKey(0),
                          tiny_images, supernet.full_mask())['params']
  kept = {'/'.join(k) for k in traverse_util.flatten_dict(params)
          if ntk.is_weight(k)}
  want = {'stem/kernel', 'stem/scale', 'lastact_scale', 'classifier/kernel'}
  for e in range(6):
    want |= {f'stage0_cell0/edge{e}_conv1x1', f'stage0_cell0/edge{e}_conv3x3',
             f'stage0_cell0/edge{e}_bn1x1_scale',
             f'stage0_cell0/edge{e}_bn3x3_scale'}
  assert kept == want


def test_condition_number_in_float64():
  rng = np.random.default_rng(0)
  a = rng.normal(size=(6, 6))
  theta = a @ a.T + 0.5 * np.eye(6)
  kappa, note = ntk.condition_number(theta.astype(np.float32))
  ev = np.sort(np.linalg.eigvals(theta.astype(np.float32).astype(
      np.float64)).real)
  assert note is None and kappa == pytest.approx(ev[-1] / ev[0], rel=1e-9)
  nan = theta.copy()
  nan[0, 1] = np.nan
  for bad, why in ((nan, 'non-finite'), (np.zeros((6, 6)), 'no positive'),
                   (np.ones((6, 6)), 'singular'),
                   (np.diag([1.0, 1e-6]), 'singular')):
    kappa, note = ntk.condition_number(bad)
    assert kappa == ntk.NAN_VALUE and why in note


# --------------------------------------------------------------------------
# linear_regions.


def test_sample_patches_are_one_channel_crops():
  rng = np.random.default_rng(0)
  images = rng.normal(size=(4, 5, 6, 3)).astype(np.float32)
  patches = lr.sample_patches(images, 40, np.random.default_rng(1))
  assert patches.shape == (40, 3, 3, 1)
  crops = {images[n, y:y + 3, x:x + 3, c].tobytes(): c
           for n in range(4) for y in range(3) for x in range(4)
           for c in range(3)}
  assert all(p[..., 0].tobytes() in crops for p in patches)
  assert {crops[p[..., 0].tobytes()] for p in patches} == {0, 1, 2}


def test_regions_count_distinct_patterns_brute_force():
  """R from the device (packed bits, np.unique) equals a Python set of the
  NumPy forward's sign patterns over every ReLU output, per BN batch."""
  rng = np.random.default_rng(5)
  patches = rng.normal(size=(60, 3, 3, 1)).astype(np.float32)
  mask = random_mask(4)
  key = jax.random.PRNGKey(3)
  codes = jax.jit(SMALL_REGIONS.device)(key, mask, patches)
  r, note = SMALL_REGIONS.host(codes)
  params = SMALL_REGIONS.network.init(key, patches[:2], mask)['params']
  patterns, ambiguous = [], 0
  for b in range(3):
    x = patches[20 * b:20 * (b + 1)]
    _, pre, _ = numpy_supernet(params, x, mask, stem=False)
    pre = np.concatenate([v.reshape(20, -1) for v in pre], 1)
    out = np.maximum(pre, 0.0)  # every ReLU call's output
    patterns += [tuple(np.sign(row)) for row in out]
    ambiguous += int(np.sum((pre != 0) & (np.abs(pre) < 1e-5)))
  assert ambiguous == 0  # no unit within rounding of the ReLU kink
  assert note is None and r == len(set(patterns)) > 1


def test_count_regions_matches_python_set():
  rng = np.random.default_rng(0)
  bits = rng.integers(0, 2, size=(200, 11)).astype(bool)
  bits[100:] = bits[:100]  # duplicates
  packed = np.packbits(bits, axis=1)
  assert lr.count_regions(packed)[0] == len({tuple(b) for b in bits})


# --------------------------------------------------------------------------
# Scorer: many inits, one trace; degenerate inputs.


MASKS = [supernet.one_hot(ALL_OPS), random_mask(3)]
KEYS = [jax.random.split(jax.random.PRNGKey(i), 3) for i in range(2)]


@pytest.fixture(scope='module')
def scorer():
  return ss.SupernetScorer((SMALL_NTK, SMALL_REGIONS), inits=3, unroll=1,
                           devices=1)


def _data(scorer, images):
  return scorer.prepare([images] * 3,
                        [np.random.default_rng(0) for _ in range(3)])


def test_kappa_and_regions_of_several_inits_in_one_trace(scorer,
                                                         tiny_images):
  data = _data(scorer, tiny_images)
  masks, keys = MASKS, KEYS
  out = list(scorer.run(keys, masks, data))
  assert scorer.traces == 1 and len(out) == 2
  assert len(list(scorer.run(keys[:1], masks[:1], data))) == 1
  assert scorer.traces == 1  # a further call: no retrace
  for values, notes, _ in out:
    assert len(set(values[0])) == 3  # three distinct inits
    assert notes == [[None] * 3] * 2
  # Init i is the measure alone under fold_in(key_i, salt) (regions: exact;
  # kappa: see the jacrev test).
  device = jax.jit(SMALL_REGIONS.device)
  for m, (values, _, _) in enumerate(out):
    for i in range(3):
      raw = device(jax.random.fold_in(keys[m][i], SMALL_REGIONS.salt),
                   masks[m], data[1][i])
      assert SMALL_REGIONS.host(raw)[0] == values[1][i]


def test_ntk_is_jacobian_contraction_of_summed_logits(scorer, tiny_images):
  """Theta from neural-tangents equals an independent jacrev contraction of
  row i of the batched forward (BN couples the examples), and the scorer's
  kappa of that init is its condition number; the logit-averaged kernel of
  trace_axes=(-1,) is a different thing."""
  (values, _, _), = scorer.run(KEYS[1:], MASKS[1:],
                               _data(scorer, tiny_images))
  net, mask, x = SMALL_NTK.network, MASKS[1], jnp.asarray(tiny_images)
  key = jax.random.fold_in(KEYS[1][1], SMALL_NTK.salt)  # init 1
  params = jax.jit(net.init)(key, x[:2, :8, :8], mask)['params']
  apply = lambda p, xx: net.apply({'params': p}, xx, mask)[0]
  theta = np.asarray(jax.jit(lambda p: ntk.empirical_ntk(apply, p, x))(
      params))
  flat = traverse_util.flatten_dict(params)
  names = [k for k in flat if not k[-1].endswith('bias')]

  def logits_of(ws):
    tree = dict(flat)
    tree.update(zip(names, ws))
    return apply(traverse_util.unflatten_dict(tree), x)  # [n, classes]

  jac = jax.jacrev(logits_of)([flat[k] for k in names])
  per_logit = np.concatenate(
      [np.asarray(j).reshape(x.shape[0], 3, -1) for j in jac], -1)
  g = per_logit.sum(1).astype(np.float64)  # d sum_c logit_c / dW
  np.testing.assert_allclose(theta, g @ g.T, rtol=2e-4,
                             atol=2e-5 * np.abs(g @ g.T).max())
  assert ntk.condition_number(g @ g.T)[0] == pytest.approx(values[0][1],
                                                           rel=1e-3)
  mean_kernel = np.einsum('icp,jcp->ij', per_logit, per_logit) / 3
  assert not np.allclose(mean_kernel, g @ g.T, rtol=0.05)


def test_unrolled_and_looped_inits_agree(scorer, tiny_images):
  """unroll=2 of 3 inits (a lax.map step, then one unrolled init) gives the
  values of the fixture's unroll=1 (a lax.map over inits); the workflow
  test runs the unrolled search scorer."""
  rngs = lambda: [np.random.default_rng(i) for i in range(3)]
  sc = ss.SupernetScorer((SMALL_REGIONS,), inits=3, unroll=2, devices=1)
  got = next(sc.run(KEYS[:1], MASKS[1:], sc.prepare([tiny_images] * 3,
                                                    rngs())))[0]
  want = next(scorer.run(KEYS[:1], MASKS[1:], scorer.prepare(
      [tiny_images] * 3, rngs())))[0]
  assert got[0] == want[1]


def test_constant_images_and_no_path_cell_are_defined(scorer, tiny_images):
  const = np.full_like(tiny_images, 0.7)
  (values, notes, _), = scorer.run([jax.random.split(
      jax.random.PRNGKey(0), 3)], [supernet.full_mask()],
                                   _data(scorer, const))
  assert values[0] == [ntk.NAN_VALUE] * 3
  assert all('singular' in n for n in notes[0])
  assert values[1] == [1.0] * 3  # every patch in one region
  (values, notes, _), = scorer.run([jax.random.split(
      jax.random.PRNGKey(0), 3)], [supernet.one_hot(NO_PATH)],
                                   _data(scorer, tiny_images))
  assert values[0] == [ntk.NAN_VALUE] * 3
  assert all('no positive eigenvalue' in n for n in notes[0])
  assert all(v >= 1 for v in values[1]) and notes[1] == [None] * 3


def test_proxy_scorer_keys_follow_the_engine(monkeypatch, tiny_images):
  """Registry path: init i of a cell uses split(fold_in(seed, id), K)[i],
  a one-hot mask and patches drawn once per call."""
  monkeypatch.setattr(ss, 'make_measure',
                      lambda name, *a, **k: SMALL_REGIONS)
  space = get_space('nb201')
  proxy = get_proxy('linear_regions')
  scorer = proxy.scorer(space, proxy, inits=2, map_batch=2, devices=1)
  key = jax.random.PRNGKey(4)
  res = list(scorer.score(key, [ALL_OPS, NO_PATH], tiny_images))
  assert scorer.traces == 1
  patches = lr.sample_patches(tiny_images, 60, np.random.default_rng(
      np.asarray(jax.random.key_data(key)).tolist()))
  device = jax.jit(SMALL_REGIONS.device)
  for arch, r in zip((ALL_OPS, NO_PATH), res):
    keys = jax.random.split(jax.random.fold_in(key, spec.to_id(arch)), 2)
    for i in range(2):
      raw = device(jax.random.fold_in(keys[i], SMALL_REGIONS.salt),
                   supernet.one_hot(arch), patches)
      assert lr.count_regions(raw)[0] == r.values[i]
  assert get_proxy('linear_regions').higher_is_better
  assert not get_proxy('ntk_cond').higher_is_better
  with pytest.raises(JaxnasError, match='NB201 supernet'):
    proxy.scorer(get_space('nb101'), proxy)


def test_noted_values_are_counted_in_the_note():
  res = ss.SupernetResult('a', [1e5, 3.0], ['singular NTK'], 1.0)
  assert res.note == '1/2 inits: singular NTK' and res.mean == 50001.5
  assert ss.SupernetResult('a', [2.0], [], 1.0).note is None


# --------------------------------------------------------------------------
# Pruning by rank.


def test_dense_ranks_against_scipy():
  rng = np.random.default_rng(0)
  for _ in range(20):
    # 3-decimal values in (0.1, 1): the 3-significant-figure sort key is
    # exact, so the reference ranking is scipy's dense ranking.
    values = list(rng.integers(100, 1000, 12) / 1000)
    for descending in (True, False):
      ranks, _ = tenas.dense_ranks(values, descending, 3)
      signed = -np.asarray(values) if descending else np.asarray(values)
      want = stats.rankdata(signed, method='dense') - 1
      np.testing.assert_array_equal(ranks, want)


def test_dense_ranks_reference_quirk():
  """Equal sort keys (3 significant figures) but unequal values keep their
  input order and get consecutive ranks, as the reference's loop does."""
  assert tenas.dense_ranks([0.1231, 0.1234, 0.5], True, 3)[0] == [1, 2, 0]
  assert tenas.dense_ranks([0.1234, 0.1231, 0.5], True, 3)[0] == [1, 2, 0]


def test_relative_change_rounds_each_repeat_then_averages():
  base, pruned = [10.0, 20.0, 30.0], [9.99, 19.0, 31.0]
  want = np.mean([round(0.01 / 10.0, 3), round(1 / 20.0, 3),
                  round(-1 / 30.0, 3)])
  assert tenas.relative_change(base, pruned, 3) == pytest.approx(want)


def _fake_measure(seed):
  """kappa, R as fixed random functions of the mask (3 repeats).

  Removing one op changes either by under 7%, so every |dK|, |dR| < 0.1 and
  means of 3-decimal values (multiples of 1/3000) differ at 3 significant
  figures: the reference's ranking is then scipy's dense ranking.
  """
  w = np.random.default_rng(seed).random((2, 3, 6, 5)) + 0.5
  calls = []

  def measure(round_index, masks):
    calls.append((round_index, [m.copy() for m in masks]))
    return [([float(1 + (w[0, r] * m).sum()) for r in range(3)],
             [float(np.floor(50 * (w[1, r] * m).sum())) for r in range(3)],
             []) for m in masks]

  return measure, calls


@pytest.mark.parametrize('seed', range(4))
def test_search_prunes_one_op_per_edge_per_round(seed):
  measure, calls = _fake_measure(seed)
  out = tenas.search(measure)
  assert len(out.rounds) == 3 and len(calls) == 3
  assert out.ops.shape == (6,) and spec.NONE not in set(out.ops.tolist())
  mask = supernet.full_mask()
  for t, ((round_index, masks), log) in enumerate(zip(calls, out.rounds)):
    assert round_index == t
    np.testing.assert_array_equal(masks[0], mask)
    assert all(m[:, spec.NONE].sum() == 0 for m in masks)  # never measured
    # Independently: dK, dR, scipy dense ranks, argmin rank sum per edge
    # (ties: the dK order, i.e. the larger dK).
    res = measure(t, masks)
    dk = [tenas.relative_change(res[0][0], k, 3) for k, _, _ in res[1:]]
    dr = [tenas.relative_change(res[0][1], r, 3) for _, r, _ in res[1:]]
    rk = stats.rankdata(-np.asarray(dk), method='dense')
    rr = stats.rankdata(dr, method='dense')
    cands = [(int(np.flatnonzero(mask != m)[0] // 5),
              int(np.flatnonzero(mask != m)[0] % 5)) for m in masks[1:]]
    for e in range(6):
      idx = [i for i, c in enumerate(cands) if c[0] == e]
      best = min(idx, key=lambda i: (rk[i] + rr[i], -dk[i], i))
      assert log.pruned[e] == [cands[best][1]]
      mask[e, cands[best][1]] = 0
    assert mask.sum() == 6 * (3 - t)
  np.testing.assert_array_equal(out.ops, mask.argmax(1))


def test_tenas_workflow_writes_rounds_and_resumes(scorer, tmp_path,
                                                  monkeypatch):
  """--algorithm=tenas end to end on a tiny table (small networks): one
  trace, rounds logged, the benchmark accuracy reported, and a rerun reads
  every round from the store."""
  monkeypatch.setattr(ss, 'make_measure', lambda name, *a, **k: {
      'ntk_cond': SMALL_NTK, 'linear_regions': SMALL_REGIONS}[name])
  # The fixture's program (unroll=1, same shapes): a compilation cache hit.
  scorer_class = ss.SupernetScorer
  monkeypatch.setattr(ss, 'SupernetScorer', lambda m, k, unroll, devices:
                      scorer_class(m, k, unroll=1, devices=devices))
  npz = write_npz(tmp_path / 'd.npz', n=18, size=8)
  bench = tmp_path / 'bench.csv'
  rows = [spec.format(spec.from_id(i)) for i in range(spec.NUM_CELLS)]
  bench.write_text('arch_str,cifar10_test\n' + ''.join(
      f'{a},{i % 97}\n' for i, a in enumerate(rows)))
  cfg = workflows.RunConfig(
      mode='search', algorithm='tenas', runs=1, batch_size=6,
      data=f'npz:{npz}', benchmark=f'csv:{bench}', output=str(tmp_path / 'o'),
      weight_init='he_normal')
  summary = workflows.run(cfg)
  out = tmp_path / 'o'
  run = json.loads((out / 'search.jsonl').read_text())
  rounds = [json.loads(l) for l in open(out / 'tenas_rounds.jsonl')]
  assert len(rounds) == 3 and [r['round'] for r in rounds] == [0, 1, 2]
  ops = spec.parse(run['arch'])
  assert run['accuracy'] == spec.to_id(ops) % 97
  assert summary['metrics']['cifar10_test']['n'] == 1
  assert run['evaluated'] == 25 + 19 + 13
  config = json.loads((out / 'config.json').read_text())
  assert config['traces'] == 1
  for r, nxt in zip(rounds, rounds[1:]):  # each prune shapes the next mask
    for edge, before, after in zip(r['mask'].split('|'), r['mask'].split('|'),
                                   nxt['mask'].split('|')):
      name = edge.split(':')[0]
      kept = set(before.split(':')[1].split(',')) - set(r['pruned'][name])
      assert set(after.split(':')[1].split(',')) == kept
  workflows.run(cfg)
  config = json.loads((out / 'config.json').read_text())
  assert config['traces'] == 0  # every round read back from the store
  assert json.loads((out / 'search.jsonl').read_text())['arch'] == run['arch']
  assert len(open(out / 'tenas_rounds.jsonl').readlines()) == 3


def test_tenas_rejects_other_spaces(tmp_path):
  cfg = workflows.RunConfig(mode='search', algorithm='tenas', space='nb101',
                            data='synthetic', output=str(tmp_path))
  with pytest.raises(JaxnasError, match='NB201 supernet'):
    workflows.run(cfg)
