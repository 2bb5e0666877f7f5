"""The figure of the score-during-training study: each proxy's score of the
10 cells against training steps (one line per cell, coloured by its
benchmark CIFAR-10 test accuracy), as the NASWOT paper's study 4, and the
numbers behind the finding (summary.json).

  python experiments/score_during_training/make_figure.py [--run=DIR]
"""

import argparse
import collections
import csv
import json
import os

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
from scipy import stats

HERE = os.path.dirname(os.path.abspath(__file__))
PROXIES = ('naswot', 'snip', 'grad_norm')


def load(run):
  with open(os.path.join(HERE, 'cells.csv')) as f:
    acc = {r['arch_str']: float(r['cifar10_test']) for r in csv.DictReader(f)}
  scores = collections.defaultdict(dict)  # (proxy, arch) -> step -> value
  with open(os.path.join(run, 'scores.jsonl')) as f:
    for line in f:
      r = json.loads(line)
      for p in PROXIES:
        if r.get(p) is not None:
          scores[p, r['arch']][r['step']] = r[p]
  return acc, scores


def summarize(acc, scores):
  archs = sorted(acc, key=acc.get)
  out = {}
  for p in PROXIES:
    steps = sorted({s for (q, _), v in scores.items() if q == p for s in v})
    per = {}
    for s in steps:
      have = [a for a in archs if s in scores[p, a]]
      tau = (stats.kendalltau([acc[a] for a in have],
                              [scores[p, a][s] for a in have]).statistic
             if len(have) > 2 else None)
      up = (sum(scores[p, a][s] > scores[p, a][0] for a in have
                if 0 in scores[p, a]) if s else None)
      per[s] = {'cells': len(have), 'kendall_tau_with_accuracy': tau,
                'cells_above_step0': up}
    out[p] = per
  return out


def plot(acc, scores, path):
  archs = sorted(acc, key=acc.get)
  lo, hi = min(acc.values()), max(acc.values())
  cmap = plt.get_cmap('viridis')
  fig, axes = plt.subplots(1, len(PROXIES), figsize=(4.2 * len(PROXIES), 3.6))
  for ax, p in zip(axes, PROXIES):
    for a in archs:
      pts = sorted(scores.get((p, a), {}).items())
      if pts:
        ax.plot([s for s, _ in pts], [v for _, v in pts], marker='o', ms=3,
                lw=1, color=cmap((acc[a] - lo) / (hi - lo)))
    ax.set_xscale('symlog', linthresh=10)
    ax.set_xlabel('training step')
    ax.set_title(p)
  axes[0].set_ylabel('score')
  sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(lo, hi))
  fig.colorbar(sm, ax=axes, label='NB201 CIFAR-10 test accuracy (%)')
  fig.savefig(path, dpi=130, bbox_inches='tight')
  plt.close(fig)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--run', default=os.path.join(HERE, 'run'))
  args = parser.parse_args()
  acc, scores = load(args.run)
  summary = summarize(acc, scores)
  with open(os.path.join(HERE, 'summary.json'), 'w') as f:
    json.dump(summary, f, indent=1, sort_keys=True)
  plot(acc, scores, os.path.join(HERE, 'score_during_training.png'))
  print(json.dumps(summary, indent=1, sort_keys=True))


if __name__ == '__main__':
  main()
