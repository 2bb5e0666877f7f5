"""TE-NAS's DARTS pruning loop on synthetic measures (no JAX)."""

import numpy as np

from jaxnas.search import tenas_darts
from jaxnas.spaces.darts import spec, supernet as sn


def _measure_preferring(score):
  """kappa constant (every dK 0: one rank); regions = exp(sum of score over
  the ops on / 10), so removing an op of score s gives dR = 1 - exp(-s /
  10): the lowest-score ops are pruned first."""
  def measure(step, masks):
    del step
    out = []
    for m in masks:
      total = float((m * score).sum())
      out.append(([1.0], [float(np.exp(total / 10))], []))
    return out
  return measure


def test_prunes_to_two_single_op_edges_per_node():
  rng = np.random.default_rng(0)
  score = rng.uniform(size=sn.MASK_SHAPE)
  mask, logs, _, measured = tenas_darts.search(_measure_preferring(score),
                                                 precision=10)
  g = sn.mask_genotype(mask)
  assert g is not None
  # 2 op rounds (7 -> 4 -> 1) then one step per node with > 2 edges, per
  # cell.
  assert [r['phase'] for r in logs] == ['ops'] * 2 + ['edges'] * 6
  assert measured == (1 + 28 * 7) + (1 + 28 * 4) + 2 * ((1 + 3) + (1 + 4) +
                                                        (1 + 5))
  # Each edge keeps its highest-score op,
  # each node its two highest-score edges.
  for c in range(2):
    for j, (lo, hi) in enumerate(sn.EDGE_GROUPS):
      best_op = {e: 1 + int(np.argmax(score[c, e, 1:])) for e in
                 range(lo, hi)}
      kept = [e for e in range(lo, hi) if mask[c, e].any()]
      assert all(mask[c, e, best_op[e]] == 1 for e in kept)
      values = {e: score[c, e, best_op[e]] for e in range(lo, hi)}
      assert sorted(kept) == sorted(sorted(values, key=values.get)[-2:])
  assert len(spec.format(g).split()) == 2
