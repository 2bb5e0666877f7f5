"""params and flops: NASLib's cost proxies, from the architecture alone.

``params`` is the real network's trainable parameter count in millions,
``flops`` its forward FLOPs of one input image in millions, both counted as
NASLib's published columns count them (each space's cost model; checked
against every row of NASLib's NB201 and NB101 files). Higher is better, as
NASLib ranks them. Nothing is compiled.
"""

from __future__ import annotations

from jaxnas.proxies import base


def make_params() -> base.Proxy:
  return base.Proxy(
      'params', static=lambda space, arch, classes, size: space.param_count(
          arch, classes) / 1e6)


def make_flops() -> base.Proxy:
  return base.Proxy(
      'flops', static=lambda space, arch, classes, size: space.flops(
          arch, classes, size) / 1e6)
