"""``--mode=correlate``: Kendall tau and Spearman of proxy scores against a
benchmark's accuracies, with a scatter plot."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from jaxnas import metrics
from jaxnas import ranking
from jaxnas.cli import common
from jaxnas.cli.results import score_source
from jaxnas.config import RunConfig
from jaxnas.errors import JaxnasError


def run(cfg: RunConfig) -> list[dict[str, Any]]:
  space = common.make_space(cfg)
  table = common.load_benchmark(cfg, space)
  if table is None:
    raise JaxnasError('--mode=correlate needs --benchmark=csv:PATH')
  rng = np.random.default_rng(cfg.seed)
  archs = common.select_archs(cfg, space, table, rng)
  src = score_source(cfg, space)
  common.write_config(cfg, src.data_info())
  records = src.records(archs, os.path.join(cfg.output, 'scores.jsonl'))
  if not common.is_main(cfg):
    return []  # process 0 correlates every architecture
  keys = [space.bench_key(space.parse(r['arch'])) for r in records]
  out = []
  for proxy in [p.name for p in src.proxies]:
    out += correlations(cfg, table, keys, proxy, [r[proxy] for r in records],
                        src.proxy(proxy).higher_is_better)
  if cfg.combine is not None:
    name, proxies = ranking.parse(cfg.combine)
    combined = ranking.log_rank_sum(
        [[r[p] for r in records] for p in proxies],
        [src.proxy(p).higher_is_better for p in proxies])
    for r, value in zip(records, combined):
      r[ranking.ROW_NAME] = float(value)
    rows = correlations(cfg, table, keys, ranking.ROW_NAME, list(combined),
                        True)
    out += [{**row, 'combination': name, 'proxies': list(proxies)}
            for row in rows]
  common.write_json(os.path.join(cfg.output, 'correlation.json'), out)
  scatter(os.path.join(cfg.output, 'correlation.png'), cfg, records, keys,
          table, out)
  return out


def correlations(cfg: RunConfig, table, keys, proxy: str, scores,
                 higher_is_better: bool) -> list[dict[str, Any]]:
  """One correlation.json row per ``--metric`` (and a log line each)."""
  rows = []
  for metric in cfg.metric.split(','):
    acc = [table.value(k, metric) for k in keys]
    try:
      corr = metrics.correlation(scores, acc)
    except ValueError as e:
      raise JaxnasError(f'correlate {proxy} vs {metric}: {e}') from None
    rows.append({'proxy': proxy, 'metric': metric,
                 'higher_is_better': higher_is_better, **corr})
    common.log(f'{proxy} vs {metric}: n={corr["n"]} kendall_tau='
               f'{corr["kendall_tau"]:.3f} spearman={corr["spearman"]:.3f}')
  return rows


def scatter(path: str, cfg: RunConfig, records, keys, table, corr) -> None:
  """One panel per proxy: score vs the first metric."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  metric = cfg.metric.split(',')[0]
  proxies = [c['proxy'] for c in corr if c['metric'] == metric]
  n = len(proxies)
  fig, axes = plt.subplots(1, n, figsize=(5 * n, 4), squeeze=False)
  for ax, proxy in zip(axes[0], proxies):
    pts = [(r[proxy], table.value(k, metric)) for r, k in zip(records, keys)]
    pts = [(s, a) for s, a in pts if s is not None and a is not None]
    if pts:
      s, a = zip(*pts)
      ax.scatter(s, a, s=3, alpha=0.4)
    c = next(c for c in corr if c['proxy'] == proxy and c['metric'] == metric)
    ax.set_title(f'{cfg.space} {proxy}: tau={c["kendall_tau"]:.3f}, '
                 f'rho={c["spearman"]:.3f}, n={c["n"]}')
    ax.set_xlabel(f'{proxy} score')
    ax.set_ylabel(metric)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
