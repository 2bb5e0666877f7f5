"""TE-NAS on the DARTS supernet (VITA-Group/TENAS ``prune_tenas.py`` with
``--search_space_name darts``).

1. Op pruning (``prune_func_rank``): start with the 7 real ops on each of
   the 2 x 14 edges ('none' forced off). Each round, every (cell, edge, op)
   still on of an edge with more than one op is removed in turn and
   measured (dK, dR over the repeats, as on NB201:
   :func:`jaxnas.search.tenas.prune_round`'s measures); all candidates of
   both cells are ranked together and each edge prunes ``prune_number``
   ops by rank sum (TE-NAS CIFAR-10: 3, so 7 -> 4 -> 1 in two rounds),
   never below one op (the count left on the normal cell's first edge sets
   it, as in the reference).
2. Edge pruning (``prune_func_rank_group``): per cell (normal, then
   reduce) and per node with more than 2 incoming edges (nodes 1..3), each
   incoming edge is removed in turn (its last op off, the edge gives
   zeros) and measured; the node keeps the 2 edges with the largest rank
   sums (the reference prunes ``rankings_sum[:-2]``).

The reference measures the group phase's NTK base on the supernet as it was
before edge pruning started while its candidates include the earlier
groups' pruning; here base and candidates are the current mask (dK's order
within a group is the same either way, only its rounding granularity
differs).

Determinism as on NB201: measurement step t, repeat r initialises from
``fold_in(fold_in(seed key, t), r)``, t counting op rounds then groups.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from jaxnas.search import tenas
from jaxnas.search import tenas_runs
from jaxnas.spaces.darts import spec
from jaxnas.spaces.darts import supernet as sn


def _name(cell: int, edge: int, op: int | None = None) -> str:
  j, s = sn.EDGES[edge]
  out = f'{spec.CELLS[cell]} {j}<-{s}'
  return out if op is None else f'{out} -{sn.OPS[op]}'


def _measure_candidates(mask, removals, step, measure, precision):
  """Measures ``mask`` and each ``removals[i]`` (list of (cell, edge, op)
  turned off); returns the candidates with dk / dr and the seconds."""
  masks = [mask]
  for offs in removals:
    m = mask.copy()
    for c, e, o in offs:
      m[c, e, o] = 0
    masks.append(m)
  t0 = time.perf_counter()
  results = measure(step, masks)
  seconds = time.perf_counter() - t0
  base_k, base_r, _ = results[0]
  cands = []
  for offs, (k, r, notes) in zip(removals, results[1:]):
    c, e, o = offs[0]
    cand = tenas.Candidate(c * sn.NUM_EDGES + e, o, list(k), list(r),
                           notes=list(notes))
    cand.dk = tenas.relative_change(base_k, k, precision)
    cand.dr = tenas.relative_change(base_r, r, precision)
    cands.append(cand)
  return cands, seconds, (list(base_k), list(base_r))


def _cand_json(cand) -> dict[str, Any]:
  c, e = divmod(cand.edge, sn.NUM_EDGES)
  return {'candidate': _name(c, e, cand.op), 'kappa': cand.kappa,
          'regions': cand.regions, 'dk': cand.dk, 'dr': cand.dr,
          'rank_k': cand.rank_k, 'rank_r': cand.rank_r,
          'rank_sum': cand.rank_sum}


def search(measure: tenas.Measure, precision: int = 3, prune_number: int = 3,
           on_step: Callable[[dict[str, Any]], None] | None = None
           ) -> tuple[np.ndarray, list[dict[str, Any]], float, int]:
  """Runs both phases; returns (final mask, step logs, measuring seconds,
  masks measured)."""
  mask = sn.full_mask()
  logs, step, seconds, measured = [], 0, 0.0, 0

  def finish(kind, before, cands, pruned, secs, base):
    nonlocal step, seconds, measured
    rec = {'step': step, 'phase': kind, 'mask': sn.format_mask(before),
           'base': {'kappa': base[0], 'regions': base[1]},
           'candidates': [_cand_json(c) for c in cands],
           'pruned': pruned, 'seconds': secs}
    logs.append(rec)
    seconds += secs
    measured += 1 + len(cands)
    step += 1
    if on_step is not None:
      on_step(rec)

  while np.any(mask.sum(-1) > 1):
    number = int(max(1, min(prune_number, mask[0, 0].sum() - 1)))
    removals = [[(c, e, int(o))] for c in range(len(spec.CELLS))
                for e in range(sn.NUM_EDGES) if mask[c, e].sum() > 1
                for o in np.flatnonzero(mask[c, e])]
    before = mask.copy()
    cands, secs, base = _measure_candidates(mask, removals, step, measure,
                                            precision)
    chosen = tenas.rank_and_choose(cands, precision, number)
    pruned = []
    for edge, ops in sorted(chosen.items()):
      c, e = divmod(edge, sn.NUM_EDGES)
      mask[c, e, ops] = 0
      pruned += [_name(c, e, o) for o in ops]
    finish('ops', before, cands, pruned, secs, base)

  for c in range(len(spec.CELLS)):
    for lo, hi in sn.EDGE_GROUPS:
      if hi - lo <= 2:
        continue
      removals = [[(c, e, int(o)) for o in np.flatnonzero(mask[c, e])]
                  for e in range(lo, hi)]
      before = mask.copy()
      cands, secs, base = _measure_candidates(mask, removals, step, measure,
                                              precision)
      rank_k, order_k = tenas.dense_ranks([x.dk for x in cands], True,
                                          precision)
      rank_r, _ = tenas.dense_ranks([x.dr for x in cands], False, precision)
      for x, rk, rr in zip(cands, rank_k, rank_r):
        x.rank_k, x.rank_r = rk, rr
      by_sum = sorted(order_k, key=lambda i: cands[i].rank_sum)
      pruned = []
      for i in by_sum[:-2]:
        for cc, e, o in removals[i]:
          mask[cc, e, o] = 0
        pruned.append(_name(c, removals[i][0][1]))
      finish('edges', before, cands, pruned, secs, base)
  return mask, logs, seconds, measured


def run_searches(cfg, space, log: Callable[[str], None]):
  """``--algorithm=tenas --space=darts``: ``cfg.runs`` searches, run r
  with seed ``cfg.seed + r``; same data and proxies as on NB201
  (:func:`jaxnas.search.tenas_runs.run_searches`). Writes
  ``DIR/tenas_rounds.jsonl`` (one line per step). Returns (results,
  seconds, data info)."""
  import json  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  from jaxnas import search as search_lib  # pylint: disable=g-import-not-at-top
  from jaxnas.errors import JaxnasError  # pylint: disable=g-import-not-at-top
  proxies = tenas_runs.tenas_proxies(cfg)
  repeats = cfg.tenas_repeats
  path = os.path.join(cfg.output, 'tenas_rounds.jsonl')
  results, seconds, info, engine = [], [], {}, None
  for run in range(cfg.runs):
    seed, pool, engine, measure = tenas_runs.run_setup(
        cfg, space, proxies, run, engine,
        lambda msg, run=run: log(f'tenas darts run {run} {msg}'))
    info = {'data': pool.source, 'norm': pool.norm, 'data_note': pool.note}
    compile0 = engine.compile_seconds

    def on_step(rec, run=run, seed=seed, fp=pool.fingerprint):
      log(f'tenas darts run {run} step {rec["step"]} ({rec["phase"]}): '
          f'pruned {", ".join(rec["pruned"])} ({rec["seconds"]:.1f} s)')
      with open(path, 'a') as f:
        f.write(json.dumps({'run': run, 'seed': seed, 'data_fingerprint': fp,
                            **rec}) + '\n')

    log(f'tenas darts run {run} (seed {seed}): data {pool.source} '
        f'fingerprint {pool.fingerprint}, {repeats} repeats x '
        f'{cfg.batch_size} images, prune_number {cfg.tenas_prune_number}')
    mask, logs, secs, measured = search(measure, cfg.tenas_precision,
                                        cfg.tenas_prune_number, on_step)
    secs -= engine.compile_seconds - compile0
    arch = sn.mask_genotype(mask)
    if arch is None:
      raise JaxnasError(f'TE-NAS on DARTS ended without a genotype: '
                        f'{sn.format_mask(mask)}')
    seconds.append(secs)
    log(f'tenas darts run {run}: {spec.format(arch)} after {len(logs)} '
        f'steps, {secs:.1f} s (compile {engine.compile_seconds:.1f} s so '
        f'far, {engine.compilations} compilation(s))')
    results.append(search_lib.RunResult(run, arch, None, measured))
  info['compile_seconds'] = engine.compile_seconds if engine else 0.0
  info['compilations'] = engine.compilations if engine else 0
  return results, seconds, info
