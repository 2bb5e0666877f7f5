"""PyTorch-eager zero-cost proxies, each as NASLib (Suite-Zero, May 2022) computes it.

Every function takes the network it may modify (the caller hands it a fresh
copy, or the original for `l2_norm`), the normalised batch `x` (float32 NCHW),
the integer labels `y` and a `torch.Generator` for the proxies that draw random
numbers, and returns a Python float. Per-weight measures are summed over the
weights of every `nn.Conv2d` and `nn.Linear` (biases and BN parameters are
never scored), with mean cross-entropy as the loss. See `torch_zero_cost.py`
for the copying, timing and CLI.

Self-contained: torch + numpy.
"""

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

try:
  from benchmarks import torch_reference as tr
except ImportError:  # run as a script from benchmarks/
  import torch_reference as tr  # pylint: disable=g-import-not-at-top

LAYER_TYPES = (nn.Conv2d, nn.Linear)
JACOV_EPS = 1e-5


def weight_layers(net):
  """The layers NASLib scores: every Conv2d and Linear, in `modules()` order."""
  return [m for m in net.modules() if isinstance(m, LAYER_TYPES)]


def _sum_layers(values):
  """NASLib's `sum_arr`: torch.sum of each layer's array, added up."""
  total = 0.0
  for v in values:
    total += float(torch.sum(v))
  return total


def _loss_backward(net, x, y):
  """Zeroes the gradients, then backpropagates mean cross-entropy on (x, y)."""
  net.zero_grad()
  loss = F.cross_entropy(net(x), y)
  loss.backward()


def strip_batchnorm(net):
  """Replaces the forward of every BatchNorm1d/2d by identity (NASLib bn=False)."""
  for m in net.modules():
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
      m.forward = _identity
  return net


def _identity(x):
  return x


# ---------------------------------------------------------------- no data.


def params(net, x, y, gen):
  """Parameter count in millions (tensorwatch: leaf modules' parameters)."""
  del x, y, gen
  total = 0
  for m in net.modules():
    if not any(True for _ in m.children()):
      total += sum(p.numel() for p in m.parameters(recurse=False))
  return total / 1e6


def _module_flops(module, inp, out):
  """tensorwatch 0.9.1 FLOPs of one leaf-module call (MACs for conv/linear)."""
  if isinstance(module, nn.Conv2d):
    k_h, k_w = module.kernel_size
    c_in = module.in_channels // module.groups
    flops = k_h * k_w * c_in * out.shape[1] * out.shape[2] * out.shape[3]
    if module.bias is not None:
      flops += out.shape[1] * out.shape[2] * out.shape[3]
    return flops
  if isinstance(module, nn.Linear):
    return module.in_features * module.out_features
  if isinstance(module, nn.BatchNorm2d):
    return inp.numel() // inp.shape[0] * (2 if module.affine else 1)
  if isinstance(module, nn.ReLU):
    return inp.numel() // inp.shape[0]
  if isinstance(module, (nn.AvgPool2d, nn.MaxPool2d)):
    k = module.kernel_size
    k_h, k_w = (k, k) if isinstance(k, int) else k
    return out.shape[1] * out.shape[2] * out.shape[3] * k_h * k_w
  if isinstance(module, nn.AdaptiveAvgPool2d):
    # tensorwatch's off-by-one for a 1x1 target: C * (H + 1) * (W + 1).
    return inp.shape[1] * (inp.shape[2] + 1) * (inp.shape[3] + 1)
  return 0


def flops(net, x, y, gen):
  """Forward MFLOPs of one input (eval mode, leaf-module hooks, tensorwatch)."""
  del y
  counts = []

  def hook(module, inputs, output):
    counts.append(_module_flops(module, inputs[0], output))

  handles = [m.register_forward_hook(hook) for m in net.modules()
             if not any(True for _ in m.children())]
  try:
    net.eval()
    with torch.no_grad():
      net(torch.rand((1,) + tuple(x.shape[1:]), generator=gen))
  finally:
    for h in handles:
      h.remove()
  return sum(counts) / 1e6


def l2_norm(net, x, y, gen):
  """Sum over layers of the Frobenius norm of the weight (original network)."""
  del x, y, gen
  with torch.no_grad():
    return _sum_layers(m.weight.norm() for m in weight_layers(net))


# ---------------------------------------------------------------- gradients.


def synflow(net, x, y, gen):
  """log sum |W * dR/dW|, R = sum of outputs of |net| in float64 on ones.

  `net` must come from `strip_batchnorm` (NASLib's bn=False copy). Every
  state-dict entry is replaced by its absolute value. NASLib's log: ln(s),
  -ln(-s) for a negative sum, 0 for exactly 0 (NaN stays NaN here).
  """
  del y, gen
  net.double()
  with torch.no_grad():
    for value in net.state_dict().values():
      value.abs_()
  net.zero_grad()
  ones = torch.ones((1,) + tuple(x.shape[1:]), dtype=torch.float64)
  torch.sum(net(ones)).backward()
  with torch.no_grad():
    score = _sum_layers(torch.abs(m.weight * m.weight.grad)
                        for m in weight_layers(net))
  if math.isnan(score) or score == 0.0:
    return score
  return math.log(score) if score > 0 else -math.log(-score)


def snip(net, x, y, gen):
  """sum |W * dL/dW| (= |dL/dmask| of NASLib's all-ones weight mask)."""
  del gen
  _loss_backward(net, x, y)
  with torch.no_grad():
    return _sum_layers(torch.abs(m.weight * m.weight.grad)
                       for m in weight_layers(net))


def grad_norm(net, x, y, gen):
  """Sum over layers of the Frobenius norm of dL/dW (norms added)."""
  del gen
  _loss_backward(net, x, y)
  with torch.no_grad():
    return _sum_layers(m.weight.grad.norm() for m in weight_layers(net))


def plain(net, x, y, gen):
  """sum (dL/dW * W), signed."""
  del gen
  _loss_backward(net, x, y)
  with torch.no_grad():
    return _sum_layers(m.weight.grad * m.weight for m in weight_layers(net))


def grasp(net, x, y, gen):
  """sum(-W * Hg): g from a first pass, Hg via create_graph on a second one."""
  del gen
  layers = weight_layers(net)
  weights = [m.weight for m in layers]
  net.zero_grad()
  loss = F.cross_entropy(net(x), y)
  grad_w = _autograd_grad(loss, weights, create_graph=False)
  loss = F.cross_entropy(net(x), y)
  grad_f = _autograd_grad(loss, weights, create_graph=True)
  z = 0
  for g_w, g_f in zip(grad_w, grad_f):
    if g_w is not None and g_f is not None:
      z = z + (g_w.detach() * g_f).sum()
  z.backward()
  with torch.no_grad():
    return _sum_layers(-m.weight * m.weight.grad if m.weight.grad is not None
                       else torch.zeros(()) for m in layers)


def _autograd_grad(loss, weights, create_graph):
  """torch.autograd.grad with allow_unused (an unused weight gives None)."""
  return torch.autograd.grad(loss, weights, create_graph=create_graph,
                             allow_unused=True)


def fisher(net, x, y, gen):
  """sum_layers fan_in * sum_k 0.5 * mean_n (sum_hw a * dL/da)^2.

  a is each Conv2d/Linear output (before any BN); its gradient is read with a
  tensor hook, which sees what NASLib's backward hook on an identity after the
  layer sees.
  """
  del gen
  net.train()
  layers = weight_layers(net)
  deltas = {}

  def forward_hook(module, inputs, output):
    del inputs
    act = output.detach()

    def grad_hook(grad):
      g = grad.detach()
      g_nk = (act * g).sum(dim=tuple(range(2, act.dim()))) if act.dim() > 2 \
          else act * g
      delta = g_nk.pow(2).mean(0).mul(0.5)
      deltas[module] = deltas[module] + delta if module in deltas else delta

    output.register_hook(grad_hook)

  handles = [m.register_forward_hook(forward_hook) for m in layers]
  try:
    _loss_backward(net, x, y)
  finally:
    for h in handles:
      h.remove()
  total = 0.0
  for m in layers:
    fan_in = m.weight[0].numel()
    delta = deltas.get(m, torch.zeros(m.weight.shape[0]))
    total += float(torch.sum(torch.abs(delta)) * fan_in)
  return total


# ---------------------------------------------------------------- Jacobians.


def input_jacobian(net, x):
  """d(sum of outputs)/dx per sample, flattened to [B, C*H*W] (numpy)."""
  net.zero_grad()
  x = x.clone().requires_grad_(True)
  out = net(x)
  out.backward(torch.ones_like(out))
  return x.grad.reshape(x.shape[0], -1).numpy(), out.shape[-1]


def jacov(net, x, y, gen):
  """-sum(ln(v + 1e-5) + 1/(v + 1e-5)), v = eig(corrcoef(J)); NaN on failure."""
  del y, gen
  jac, _ = input_jacobian(net, x)
  try:
    with np.errstate(all='ignore'):
      eigvals, _ = np.linalg.eig(np.corrcoef(jac))
      score = -np.sum(np.log(eigvals + JACOV_EPS) + 1.0 / (eigvals + JACOV_EPS))
  except (np.linalg.LinAlgError, ValueError):  # NaN/inf in C: NASLib's NaN
    return float('nan')
  return float(np.real(score))


def epe_nas(net, x, y, gen):
  """EPE-NAS on the same Jacobian, one correlation matrix per label present."""
  del gen
  jac, n_classes = input_jacobian(net, x)
  labels = y.numpy()
  per_class = {}
  with np.errstate(all='ignore'):
    for c in dict.fromkeys(labels.tolist()):
      rows = jac[labels == c]
      corrs = np.corrcoef(rows[0] if rows.shape[0] == 1 else rows)
      s = np.sum(np.log(np.abs(corrs) + JACOV_EPS))
      if n_classes > 100:
        if corrs.ndim == 0:  # NASLib's len() of a 0-d array raises: skipped
          continue
        s /= len(corrs)
      per_class[c] = s
  scores = list(per_class.values())
  if n_classes <= 100:
    return float(sum(np.abs(s) for s in scores))
  total = sum(np.abs(a - b) for a in scores for b in scores)
  return float(total / len(scores)) if scores else 0.0


# ---------------------------------------------------------------- forward-only.


def nwot_modules(net):
  """Modules whose input codes NASLib's NB201 nwot counts.

  Every `nn.ReLU`, plus the ReLUConvBN wrappers of the residual blocks: NASLib
  hooks every module whose type name contains "ReLU", and the residual block
  calls its ReLUConvBN through `__call__` (cell edges use `.forward`), so those
  four ReLU inputs are counted twice.
  """
  mods = [m for m in net.modules() if isinstance(m, nn.ReLU)]
  for m in net.modules():
    if isinstance(m, tr.ResidualBlock):
      mods.extend([m.conv_a, m.conv_b])
  return mods


def nwot(net, x, y, gen):
  """NASWOT: ln|det K|, K = sum over hooked inputs of c c^T + (1-c)(1-c)^T."""
  del y, gen
  batch = x.shape[0]
  kernel = np.zeros((batch, batch))

  def hook(module, inputs, output):
    del module, output
    nonlocal kernel
    codes = (inputs[0].reshape(batch, -1) > 0).float()
    agree = codes @ codes.t() + (1.0 - codes) @ (1.0 - codes).t()
    kernel = kernel + agree.numpy()

  handles = [m.register_forward_hook(hook) for m in nwot_modules(net)]
  try:
    with torch.no_grad():
      net(x.clone())
  finally:
    for h in handles:
      h.remove()
  _, logabsdet = np.linalg.slogdet(kernel)
  return float(logabsdet)


def zen(net, x, y, gen):
  """Zen-score with NASLib's own Gaussian init and Gaussian inputs (train mode).

  ln(mean_n sum |f(x) - f(x + 0.01 eps)|) + sum over BatchNorm2d of
  ln sqrt(mean running_var), the running variance being the buffer after the
  two forwards (so the network's BNs must still hold their initial stats).
  """
  del y
  net.train()
  with torch.no_grad():
    for m in net.modules():
      if isinstance(m, LAYER_TYPES):
        m.weight.normal_(generator=gen)
        if m.bias is not None:
          m.bias.zero_()
      elif isinstance(m, nn.BatchNorm2d) and m.weight is not None:
        m.weight.fill_(1.0)
        m.bias.zero_()
    x1 = torch.randn(x.shape, generator=gen)
    x2 = torch.randn(x.shape, generator=gen)
    f1 = net.forward_before_global_avg_pool(x1)
    f2 = net.forward_before_global_avg_pool(x1 + 1e-2 * x2)
    score = torch.log(torch.mean(torch.sum(torch.abs(f1 - f2), dim=[1, 2, 3])))
    for m in net.modules():
      if isinstance(m, nn.BatchNorm2d):
        score = score + torch.log(torch.sqrt(torch.mean(m.running_var)))
  return float(score)
