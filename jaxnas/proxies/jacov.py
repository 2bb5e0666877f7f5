"""jacov (NASWOT v1, as NASLib computes it): J = d(sum of all logits)/dx
per input image (one backward pass of the batch), C = corrcoef of the rows
of J, eigenvalues v of C; score = -sum(log(v + 1e-5) + 1 / (v + 1e-5)).
Eigenvalues in float64 on the host (``eigvalsh``: C is symmetric; NASLib's
general ``eig`` gives the same values)."""

from __future__ import annotations

import numpy as np

from jaxnas.proxies import base

EPS = 1e-5


def host(jacobian) -> base.HostResult:
  j = np.asarray(jacobian, np.float64)
  with np.errstate(invalid='ignore', divide='ignore'):
    corr = np.corrcoef(j)
  if not np.all(np.isfinite(corr)):
    return None, ('jacov: an input Jacobian is constant (no path from input '
                  'to output), its correlation is undefined')
  v = np.linalg.eigvalsh(corr)
  with np.errstate(invalid='ignore', divide='ignore'):
    score = -np.sum(np.log(v + EPS) + 1.0 / (v + EPS))
  if not np.isfinite(score):
    return None, f'jacov is {score} (smallest eigenvalue {v[0]:.3g})'
  return float(score), None


def make() -> base.Proxy:
  return base.Proxy(
      'jacov', host=host,
      device=lambda ctx: ctx.input_grads().reshape(ctx.images.shape[0], -1),
      needs=base.Needs(input_grads=True))
