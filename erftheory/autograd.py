"""A small reverse-mode autograd over numpy arrays: enough to run a real CNN and take dy/dx.

In the spirit of micrograd: a :class:`Tensor` holds ``data``, ``grad``, its parents and a
``_backward`` closure; :meth:`Tensor.backward` orders the graph topologically once and walks
it in reverse. Every operation is forward, local gradient, accumulate.

Layout: activations are ``(B, C, *spatial)`` with 1 to 3 spatial axes; ``B`` is a batch of
independent samples. Conv weights are ``(Cout, Cin, *k)`` (shared by the batch) or
``(B, Cout, Cin, *k)`` (one random network per sample: many networks in one pass).
Convolution is the framework cross-correlation ``z[i] = sum_m w[m] x[s i + d m]`` computed
as im2col (a strided window view) and one batched matrix product.

This module is the autograd's one import (``from erftheory import autograd as ag``); the
code lives in three modules, read in this order:

- :mod:`erftheory.autograd_engine`: :class:`Tensor` and its backward pass, and the
  arithmetic of losses and joins (``add``, ``concat``, ``scale``, ``square``, ``select``,
  ``total``);
- :mod:`erftheory.autograd_activations`: the activations and dropout;
- :mod:`erftheory.autograd_conv`: padding, the im2col windows, convolution, locally
  connected layers and pooling.

Examples
--------
>>> import numpy as np
>>> from erftheory import autograd as ag
>>> x = ag.Tensor(np.array([[[0.0, 1.0, 0.0, 0.0]]]), requires_grad=True)
>>> y = ag.relu(ag.conv(x, ag.Tensor(np.array([[[1.0, 2.0]]])), (1,), (1,), ((0, 0),)))
>>> ag.total(ag.select(y, (0,))).backward()
>>> x.grad.tolist()
[[[1.0, 2.0, 0.0, 0.0]]]
"""

from __future__ import annotations

# the private helpers are used elsewhere as ``ag._name``: finite.py (_pointwise,
# _no_backward), tests/test_autograd.py (_pointwise); budget.py's docstrings cite ``ag._pad``
from .autograd_activations import dropout, gelu, identity, relu, sigmoid, silu, tanh
from .autograd_conv import (
    _pad,  # noqa: F401
    avg_pool,
    conv,
    local,
    max_pool,
)
from .autograd_engine import (
    Tensor,
    _no_backward,  # noqa: F401
    _pointwise,  # noqa: F401
    add,
    concat,
    scale,
    select,
    square,
    total,
)

__all__ = [
    "Tensor",
    "conv",
    "avg_pool",
    "max_pool",
    "relu",
    "tanh",
    "local",
    "gelu",
    "silu",
    "sigmoid",
    "identity",
    "dropout",
    "add",
    "concat",
    "scale",
    "square",
    "select",
    "total",
]
