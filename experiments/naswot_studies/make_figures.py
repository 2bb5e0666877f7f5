"""Figures and RESULTS.md of the NASWOT robustness studies, from the
committed scores.jsonl of the runs (run_studies.sh).

  python experiments/naswot_studies/make_figures.py

Writes fig_a_batches.png, fig_b_inits.png, fig_c_batch_size.png,
fig_d_inits_tau.png and RESULTS.md (a study whose runs are missing is said
to be missing). Accuracy is cifar10_test of the NB201 ground truth.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Sequence

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)
import cells as cells_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

BATCHES = range(20)
BATCH_SIZES = (32, 64, 128, 256)
KS = (1, 3, 10, 30, 100)


# --- reading -------------------------------------------------------------


def read_scores(run: str) -> dict[str, dict[str, Any]] | None:
  """arch -> record of a run's scores.jsonl (None if the run is absent)."""
  path = os.path.join(HERE, run, 'scores.jsonl')
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return {r['arch']: r for r in map(json.loads, f) if r}


def read_cells(name: str) -> list[str]:
  with open(os.path.join(HERE, name)) as f:
    return f.read().split()


# --- statistics (tested in tests/experiments) ------------------------------


def mean_defined(values: Sequence[float | None]) -> float | None:
  """Mean of the values that are not None (None if there are none)."""
  ok = [v for v in values if v is not None]
  return float(np.mean(ok)) if ok else None


def block_means(each: Sequence[float | None], k: int) -> list[float | None]:
  """Means of the disjoint blocks each[0:k], each[k:2k], ... (a partial
  last block is dropped); block 0 is 'the first k inits'."""
  return [mean_defined(each[i:i + k]) for i in range(0, len(each) - k + 1, k)]


def kendall(scores, accuracies) -> float:
  from jaxnas import metrics  # pylint: disable=g-import-not-at-top
  return metrics.correlation(scores, accuracies)['kendall_tau']


# --- studies ---------------------------------------------------------------


def cell_label(acc: float) -> str:
  return f'{acc:.1f}'


def box_figure(values: list[list[float]], accs: list[float], title: str,
               what: str, path: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(7, 4))
  ax.boxplot(values, tick_labels=[cell_label(a) for a in accs])
  ax.set_xlabel('NB201 cell (CIFAR-10 test accuracy, %), by accuracy')
  ax.set_ylabel(f'NASWOT score ({what})')
  ax.set_title(title, fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def spread_numbers(values: list[list[float]], accs: list[float]
                   ) -> dict[str, Any]:
  """Within-cell vs between-cell spread, and tau per repetition."""
  arr = np.array(values)  # [cells, repetitions]
  within = arr.std(axis=1, ddof=1)
  between = arr.mean(axis=1).std(ddof=1)
  taus = [kendall(arr[:, j], accs) for j in range(arr.shape[1])]
  # Does each repetition rank the cells as their mean scores do?
  agree = [kendall(arr[:, j], arr.mean(axis=1)) for j in range(arr.shape[1])]
  order = np.argsort(arr.mean(axis=1))
  # Adjacent cells (by mean score) whose score ranges overlap.
  overlaps = sum(arr[order[i]].max() >= arr[order[i + 1]].min()
                 for i in range(len(order) - 1))
  return {'within_median': float(np.median(within)),
          'within_max': float(within.max()), 'between': float(between),
          'tau_mean': float(np.mean(taus)), 'tau_min': float(min(taus)),
          'tau_max': float(max(taus)), 'tau_of_means': kendall(
              arr.mean(axis=1), accs),
          'agree_min': float(min(agree)),
          'agree_same': int(sum(a > 1 - 1e-9 for a in agree)),
          'reps': arr.shape[1], 'overlaps': int(overlaps),
          'pairs': len(order) - 1}


def spread_sentence(n: dict[str, Any], varied: str, one: str) -> str:
  return (f'Over {n["reps"]} {varied}, the std of a cell\'s score is '
          f'{n["within_median"]:.1f} (median of the 10 cells; largest '
          f'{n["within_max"]:.1f}) against a std of {n["between"]:.1f} '
          f'between the 10 cells\' mean scores; the ranges of '
          f'{n["overlaps"]} of the {n["pairs"]} pairs of neighbouring cells '
          f'(by mean score) overlap, {n["agree_same"]} of the {n["reps"]} '
          f'{varied} rank the 10 cells exactly as the mean score does (Kendall '
          f'tau with it at least {n["agree_min"]:.2f}), and Kendall tau of '
          f'score vs accuracy over the 10 cells is {n["tau_mean"]:.2f} on '
          f'average ({n["tau_min"]:.2f} to {n["tau_max"]:.2f}) per {one}, '
          f'{n["tau_of_means"]:.2f} for the mean score.')


def study_a(gt, cells) -> str:
  runs = [read_scores(f'a_batches/data_seed_{s}') for s in BATCHES]
  missing = [s for s, r in zip(BATCHES, runs) if r is None or
             any(c not in r for c in cells)]
  if missing:
    return f'Not run yet (batches {missing} missing).'
  values = [[runs[s][c]['naswot'] for s in BATCHES] for c in cells]
  accs = [float(gt[c][cells_lib.METRIC]) for c in cells]
  box_figure(values, accs, '(a) 20 CIFAR-10 mini-batches of 128, one init',
             'batch of 128', os.path.join(HERE, 'fig_a_batches.png'))
  return ('![](fig_a_batches.png)\n\n' +
          spread_sentence(spread_numbers(values, accs), 'batches', 'batch'))


def study_b(gt, cells) -> str:
  run = read_scores('b_inits')
  if run is None or any(c not in run for c in cells):
    return 'Not run yet.'
  values = [run[c]['naswot_each'] for c in cells]
  if any(v is None for vs in values for v in vs):
    return 'Some inits are undefined (singular kernel): see scores.jsonl.'
  accs = [float(gt[c][cells_lib.METRIC]) for c in cells]
  box_figure(values, accs, '(b) 20 initialisations, one batch of 128',
             'init', os.path.join(HERE, 'fig_b_inits.png'))
  return ('![](fig_b_inits.png)\n\n' +
          spread_sentence(spread_numbers(values, accs), 'inits', 'init'))


def study_c(gt, pct_cells, uniform) -> str:
  runs = {b: read_scores(f'c_batch_{b}') for b in BATCH_SIZES}
  cells = pct_cells + uniform
  missing = [b for b, r in runs.items() if r is None or
             any(c not in r for c in cells)]
  if missing:
    return f'Not run yet (batch sizes {missing} missing).'
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, len(BATCH_SIZES), figsize=(13, 3.6))
  taus, taus_pct = {}, {}
  for ax, b in zip(axes, BATCH_SIZES):
    s_u = [runs[b][c]['naswot'] for c in uniform]
    a_u = [float(gt[c][cells_lib.METRIC]) for c in uniform]
    s_p = [runs[b][c]['naswot'] for c in pct_cells]
    a_p = [float(gt[c][cells_lib.METRIC]) for c in pct_cells]
    taus[b], taus_pct[b] = kendall(s_u, a_u), kendall(s_p, a_p)
    ok = [i for i, s in enumerate(s_u) if s is not None]
    ax.scatter([a_u[i] for i in ok], [s_u[i] for i in ok], s=10,
               color='tab:blue', label='60 uniform cells')
    ax.scatter(a_p, s_p, s=22, marker='x', color='tab:red',
               label='10 percentile cells')
    ax.set_title(f'batch {b}: tau {taus[b]:.2f} (60), {taus_pct[b]:.2f} (10)',
                 fontsize=9)
    ax.set_xlabel('CIFAR-10 test accuracy (%)')
  axes[0].set_ylabel('NASWOT score')
  axes[0].legend(fontsize=7)
  fig.suptitle('(c) mini-batch size (first B images, one init)', fontsize=10)
  fig.tight_layout()
  fig.savefig(os.path.join(HERE, 'fig_c_batch_size.png'), dpi=120)
  plt.close(fig)
  # Do the batch sizes rank the 70 cells alike?
  lo, hi = BATCH_SIZES[0], BATCH_SIZES[-1]
  agree = kendall([runs[lo][c]['naswot'] for c in cells],
                  [runs[hi][c]['naswot'] for c in cells])
  med = {b: float(np.median([runs[b][c]['naswot'] for c in cells
                             if runs[b][c]['naswot'] is not None]))
         for b in BATCH_SIZES}
  dropped = sum(runs[128][c]['naswot'] is None for c in uniform)
  # B=128 is the batch of experiments/nb201_naswot/all_cells (same seed).
  with open(os.path.join(ROOT, 'experiments', 'nb201_naswot', 'all_cells',
                         'scores.jsonl')) as f:
    all_cells = {r['arch']: r['naswot'] for r in map(json.loads, f)}
  same = [(runs[128][c]['naswot'], all_cells[c]) for c in cells]
  diff = max(abs(a - b) for a, b in same if a is not None and b is not None)
  tau_text = ', '.join(f'{taus[b]:.3f} (B={b})' for b in BATCH_SIZES)
  med_text = ', '.join(f'{med[b]:.0f}' for b in BATCH_SIZES)
  return ('![](fig_c_batch_size.png)\n\n'
          f'The score grows with the batch (median over the 70 cells '
          f'{med_text} for B = {", ".join(map(str, BATCH_SIZES))}) but ranks '
          f'the cells alike (Kendall tau {agree:.3f} between B={lo} and '
          f'B={hi} scores of the 70 cells), and Kendall tau vs accuracy over '
          f'the 60 uniform cells ({dropped} undefined, left out) is '
          f'{tau_text}; over the 10 percentile cells '
          + ', '.join(f'{taus_pct[b]:.2f}' for b in BATCH_SIZES) + '.'
          f'\n\n(Check: the B=128 scores differ from those of '
          f'experiments/nb201_naswot/all_cells, the same batch and seed, by at '
          f'most {diff:.3g}.)')


def tau_by_k(run: dict[str, Any], cells: list[str], gt, ks: Sequence[int]
             ) -> dict[int, dict[str, Any]]:
  accs = [float(gt[c][cells_lib.METRIC]) for c in cells]
  out = {}
  for k in ks:
    blocks = [block_means(run[c]['naswot_each'], k) for c in cells]
    taus = [kendall([b[j] for b in blocks], accs)
            for j in range(len(blocks[0]))]
    n_ok = sum(b[0] is not None for b in blocks)
    out[k] = {'first': taus[0], 'mean': float(np.mean(taus)),
              'min': float(min(taus)), 'max': float(max(taus)),
              'blocks': len(taus), 'n': n_ok}
  return out


def study_d(gt) -> str:
  full, reduced = read_scores('d_inits100'), read_scores('d_inits30_reduced')
  cells300, cells60 = read_cells('cells_300.txt'), read_cells('cells_60.txt')
  results, text = {}, []
  if full is not None and all(c in full for c in cells300):
    results['full: 300 cells x 100 inits'] = tau_by_k(full, cells300, gt, KS)
  else:
    done = 0 if full is None else sum(c in full for c in cells300)
    text.append(f'**The full study (300 cells x 100 inits, d_inits100.flags) '
                f'is not run yet** ({done}/300 cells scored).')
  if reduced is not None and all(c in reduced for c in cells60):
    results['REDUCED: 60 cells x 30 inits'] = tau_by_k(
        reduced, cells60, gt, [k for k in KS if k <= 30])
  else:
    done = 0 if reduced is None else sum(c in reduced for c in cells60)
    text.append(f'**The reduced study (60 cells x 30 inits, '
                f'd_inits30_reduced.flags) is not finished either** '
                f'({done}/60 cells scored; rerunning its command resumes).')
  if not results:
    return ' '.join(text) + STATUS_D
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(5.5, 3.8))
  for label, res in results.items():
    ks = sorted(res)
    mean = np.array([res[k]['mean'] for k in ks])
    ax.errorbar(ks, mean, yerr=[mean - [res[k]['min'] for k in ks],
                                [res[k]['max'] for k in ks] - mean],
                marker='o', capsize=3,
                label=f'{label}: mean (min-max) over disjoint blocks of k')
    ax.plot(ks, [res[k]['first'] for k in ks], 'k--', marker='x',
            label=f'{label}: first k inits')
  ax.set_xscale('log')
  ax.set_xticks(KS)
  ax.set_xticklabels([str(k) for k in KS])
  ax.set_xlabel('inits averaged (k)')
  ax.set_ylabel('Kendall tau vs CIFAR-10 test accuracy')
  ax.set_title('(d) score averaged over k inits', fontsize=10)
  ax.legend(fontsize=6)
  fig.tight_layout()
  fig.savefig(os.path.join(HERE, 'fig_d_inits_tau.png'), dpi=120)
  plt.close(fig)
  text.insert(0, '![](fig_d_inits_tau.png)\n')
  for label, res in results.items():
    n = res[min(res)]['n']
    parts = '; '.join(
        f'k={k}: {res[k]["first"]:.3f} (first k), {res[k]["mean"]:.3f} mean '
        f'of {res[k]["blocks"]} disjoint blocks ({res[k]["min"]:.3f} to '
        f'{res[k]["max"]:.3f})' for k in sorted(res))
    text.append(f'{label} ({n} cells with a defined score): Kendall tau vs '
                f'accuracy {parts}.')
  return '\n\n'.join(text)


def main() -> None:
  gt = cells_lib.read_ground_truth()
  pct = read_cells('cells_percentiles.txt')
  uniform60 = read_cells('cells_60.txt')
  sections = [
      ('(a) How important are the images used to compute the score?',
       study_a(gt, pct)),
      ('(b) Does the initialisation influence the score?', study_b(gt, pct)),
      ('(c) Does the size of the mini-batch matter?',
       study_c(gt, pct, uniform60)),
      ('(d) Averaging the score over k inits', study_d(gt)),
  ]
  with open(os.path.join(HERE, 'RESULTS.md'), 'w') as f:
    f.write(HEADER)
    for title, body in sections:
      f.write(f'## {title}\n\n{body}\n\n')
  print(open(os.path.join(HERE, 'RESULTS.md')).read())


STATUS_D = """

Why not run: in the session that built these studies the 2 cores were taken
by other runs at nice 0, and this one at nice 15 got about 16% of a core:
about 100 s per cell of 30 inits (in (b), a few minutes earlier, 20 inits
took about 7 s per cell). What remains, from the repository root (each
resumable; then rerun this script):

    python run.py --flagfile=experiments/naswot_studies/d_inits30_reduced.flags   # 1,800 inits
    python run.py --flagfile=experiments/naswot_studies/d_inits100.flags          # 30,000 inits
    python experiments/naswot_studies/make_figures.py"""


HEADER = """# NASWOT robustness studies on NB201 (Mellor et al. 2021, section 4)

Written by `make_figures.py` from the committed `scores.jsonl` of the runs
(`run_studies.sh`; flagfiles beside it; `config.json` of each run has the
git revision). NASWOT on NB201 (C=16, N=5), PyTorch-default init, real
CIFAR-10 images of `../shared/data/cifar10_sample.npz` (670 images),
accuracy = `cifar10_test` of `../shared/data/nb201_ground_truth.csv`.
Cells (`cells.py`, from the ground truth only): the 10 cells nearest the
5th, 15th, ..., 95th accuracy percentile of all 15,625 cells (ties: seeded
permutation, seed 0), and a uniform sample of 300 (seed 0; its first 60 are
the "60 uniform cells").

The runs' `config.json` name revisions from b47277a (the commit of the
flagfiles) on; the later ones differ from it only in
`experiments/naswot_studies/` (this script, its outputs) and
`tests/experiments/`, not in `jaxnas/` or `run.py`. `a_batches/data_seed_1`
is `b47277a+dirty`: this script (tracked) was being edited while it ran.

"""


if __name__ == '__main__':
  main()
