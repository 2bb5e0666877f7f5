"""epe_nas (Lopes et al. 2021, as NASLib computes it): the input Jacobians J
of jacov, one correlation matrix per class present in the batch; per class
s_c = sum(log(|corr| + 1e-5)) (a class with one image: its 1x1 correlation,
1). With at most 100 classes the score is sum_c |s_c|; with more, s_c is
divided by the class's image count (one-image classes are skipped, as
NASLib's error handling skips them) and the score is the mean over classes
of sum_c' |s_c - s_c'|."""

from __future__ import annotations

import numpy as np

from jaxnas.proxies import base

EPS = 1e-5


def host(out) -> base.HostResult:
  jacobian, labels, logits = out
  j = np.asarray(jacobian, np.float64)
  labels = np.asarray(labels)
  many = np.asarray(logits).shape[-1] > 100
  per_class = []
  for c in dict.fromkeys(labels.tolist()):  # classes in order of appearance
    rows = j[labels == c]
    if rows.shape[0] == 1:
      if many:
        continue
      per_class.append(float(np.log(1.0 + EPS)))
      continue
    with np.errstate(invalid='ignore', divide='ignore'):
      s = float(np.sum(np.log(np.abs(np.corrcoef(rows)) + EPS)))
    per_class.append(s / rows.shape[0] if many else s)
  s = np.asarray(per_class)
  if many:
    score = (float(np.sum(np.abs(s[:, None] - s[None, :]))) / len(s)
             if len(s) else 0.0)
  else:
    score = float(np.sum(np.abs(s)))
  if not np.isfinite(score):
    return None, ('epe_nas: an input Jacobian is constant (no path from '
                  'input to output), its correlation is undefined')
  return score, None


def make() -> base.Proxy:

  def device(ctx):
    j = ctx.input_grads().reshape(ctx.images.shape[0], -1)
    return j, ctx.labels, ctx.logits()[:1]

  return base.Proxy('epe_nas', host=host, device=device,
                    needs=base.Needs(input_grads=True, labels=True))
