"""ntk_cond: condition number of the empirical NTK (TE-NAS, Chen et al. 2021).

For one batch X of n examples, in train mode (BatchNorm with the batch's
statistics), TE-NAS takes for each example i the gradient of the *sum of its
logits* with respect to every weight tensor,

  g_i = d/dW  sum_c F(W; X)[i, c],

forms Theta = G G^T (n x n) and scores kappa = lambda_max / lambda_min
(Chen, Gong & Wang, ICLR 2021, Eq. 3-4; VITA-Group/TENAS
``procedures/ntk.py``). Lower is better.

The per-example Jacobian with batch statistics: F(W; X)[i] depends on the
whole batch through the BN moments, so g_i is the gradient of row i of the
*batched* forward pass, the other examples present (what the reference gets
by back-propagating ``logit[i]`` after one forward of the whole batch). Here
that is the Jacobian of ``W -> sum(logits(W; X), -1)`` (output ``[n]``)
computed by ``neural_tangents.empirical_ntk_fn`` with ``vmap_axes=None``
(the function is not vmapped over examples, which would give each example a
batch of one) and ``trace_axes=()``. The sum over logits is taken before
differentiating: ``trace_axes=(-1,)`` on the ``[n, classes]`` logits would
give (1/classes) sum_c J_c J_c^T, the mean of per-logit kernels, not
(sum_c J_c)(sum_c J_c)^T.

Weights are the parameters the reference's ``'weight' in name`` filter keeps:
conv kernels, BN scales (gamma) and the classifier's kernel. BN shifts (beta)
and the classifier bias are held fixed (closed over, not differentiated).

Host side, in float64: eigenvalues of the symmetrised Theta. Undefined cases
get the reference's value for NaN, 1e5 (``np.nan_to_num(..., nan=1e5)``),
plus a note, never an exception:
  * Theta with NaN/inf entries;
  * Theta without a positive eigenvalue (no weight gradient reaches the
    output, e.g. a cell with no input->output path: the reference computes
    0/0 = NaN there);
  * lambda_min <= lambda_max / 1e5, which includes singular and (by
    rounding) indefinite kernels, e.g. a batch of identical images. The
    reference would return a huge number of arbitrary sign there; here
    kappa is capped at 1e5, which keeps the order of all smaller values.
    (Theta is float32: relative eigenvalue errors of order n * 2^-23, about
    1e-5 for n = 72, make larger kappas rounding noise anyway.)
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from jaxnas.proxies import base

Array = jax.Array
NAN_VALUE = 1e5  # the reference's np.nan_to_num(kappa, nan=1e5)


def is_weight(path: tuple[str, ...]) -> bool:
  """Whether a parameter is differentiated: everything but biases / BN
  shifts (leaf names ending in 'bias')."""
  return not path[-1].endswith('bias')


def empirical_ntk(apply_fn: Callable[..., Array], params: Any, images: Array,
                  implementation: str = 'jacobian_contraction') -> Array:
  """Theta ``[n, n]`` of x -> sum(logits) with respect to the weights.

  Args:
    apply_fn: ``apply_fn(params, images) -> logits [n, classes]`` (train-mode
      BN: the logits of one example depend on the batch).
    params: the parameter tree; leaves accepted by :func:`is_weight` are
      differentiated, the rest held fixed.
    images: ``[n, height, width, channels]``, the whole batch.
    implementation: ``'jacobian_contraction'`` or ``'ntk_vector_products'``
      (neural-tangents' ``STRUCTURED_DERIVATIVES`` fails on jax 0.5.3).

  Returns:
    float32 ``[n, n]``.
  """
  import neural_tangents as nt  # pylint: disable=g-import-not-at-top
  impl = {'jacobian_contraction': nt.NtkImplementation.JACOBIAN_CONTRACTION,
          'ntk_vector_products': nt.NtkImplementation.NTK_VECTOR_PRODUCTS}
  if implementation not in impl:
    raise ValueError(f'unknown NTK implementation {implementation!r}; choose '
                     f'one of {", ".join(impl)}')
  flat = traverse_util.flatten_dict(params)
  weights = {'/'.join(k): v for k, v in flat.items() if is_weight(k)}
  fixed = {k: v for k, v in flat.items() if not is_weight(k)}

  def summed_logits(w, x):
    tree = dict(fixed)
    tree.update({tuple(k.split('/')): v for k, v in w.items()})
    return jnp.sum(apply_fn(traverse_util.unflatten_dict(tree), x), axis=-1)

  kernel_fn = nt.empirical_ntk_fn(summed_logits, trace_axes=(),
                                  vmap_axes=None,
                                  implementation=impl[implementation])
  return kernel_fn(images, None, weights)


def make(batch_size: int = 32,
         implementation: str = 'jacobian_contraction') -> base.Proxy:
  """ntk_cond on TE-NAS's C=3 supernet (lower is better) over the first
  ``batch_size`` images (32, the TE-NAS paper's NTK batch; its code uses
  72)."""

  def device(ctx):
    apply = lambda params, x: ctx.apply({'params': params}, x)[0]
    return empirical_ntk(apply, ctx.params, ctx.images, implementation)

  return base.Proxy(
      'ntk_cond', host=condition_number, device=device,
      higher_is_better=False,
      needs=base.Needs(form='tenas_kappa', batch_size=batch_size, salt=0,
                       backward=True,
                       init_loop='unroll'),
      options=(('batch_size', batch_size),
               ('implementation', implementation)))


def condition_number(theta) -> tuple[float, str | None]:
  """kappa = lambda_max / lambda_min of Theta, in float64 on the host.

  Returns:
    (kappa, note): ``note`` is None for an ordinary value; otherwise kappa
    is :data:`NAN_VALUE` and the note says why (see the module docstring).
  """
  t = np.asarray(theta, np.float64)
  if not np.all(np.isfinite(t)):
    bad = int(np.sum(~np.isfinite(t)))
    return NAN_VALUE, (f'NTK has {bad} non-finite entries; kappa set to '
                       f'{NAN_VALUE:g} (the reference\'s NaN value)')
  eig = np.linalg.eigvalsh((t + t.T) / 2)
  lo, hi = float(eig[0]), float(eig[-1])
  if hi <= 0:
    return NAN_VALUE, (f'NTK has no positive eigenvalue (lambda_max={hi:.3g}:'
                       ' no weight gradient reaches the output); kappa set to '
                       f'{NAN_VALUE:g} (the reference\'s NaN value)')
  if lo * NAN_VALUE <= hi:
    return NAN_VALUE, (f'NTK singular or ill-conditioned (lambda_min={lo:.3g}'
                       f', lambda_max={hi:.3g}); kappa capped at '
                       f'{NAN_VALUE:g}')
  return hi / lo, None
