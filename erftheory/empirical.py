"""Empirical ERF maps measured elsewhere: loading, aggregation and alignment.

Users measure an ERF in their own framework as the gradient of one output unit with respect
to the input, usually averaged over images (Luo et al. 2016; the RepLKNet ``erf/`` scripts,
Ding et al. 2022). This module is the public face of the three steps that prepare such a map
for :func:`erftheory.validate.validate`, each in its own module:

- :mod:`erftheory.map_files`: :func:`load_map` reads a map or stack from ``.npy``, ``.npz``,
  ``.csv`` or a grayscale ``.png`` without importing that framework;
- :mod:`erftheory.aggregation`: :func:`aggregate` reduces a stack of per-image gradients to
  one map by a named protocol (:data:`AGGREGATIONS`);
- :mod:`erftheory.alignment`: :func:`align` cuts the map to the receptive field
  (:class:`AlignedMap`).

Array layout: the ``dims`` spatial axes and up to two stack axes, images first. With
``layout="channels_first"`` (the PyTorch ``N, C, H, W`` order) the stack is ``(*spatial)``,
``(images, *spatial)`` or ``(images, channels, *spatial)``; with ``layout="channels_last"``
(JAX/Flax and TensorFlow's ``N, H, W, C``) it is ``(images, *spatial, channels)``. One extra
axis is always images: pass a single channels-last image as ``g[None]``.
"""

from __future__ import annotations

from .aggregation import AGGREGATIONS, LAYOUTS, aggregate
from .alignment import AlignedMap, align
from .map_files import load_map

__all__ = ["load_map", "aggregate", "align", "AlignedMap", "AGGREGATIONS", "LAYOUTS"]
