"""Independent oracles for the tests: a brute-force forward pass of the linear network.

The ERF of the centre unit is read off by pushing every input basis vector through the
network layer by layer (cross-correlation with strides, written with plain slicing here, not
with erftheory's kernel composition).
"""

from __future__ import annotations

import math

import numpy as np

from erftheory.architecture import (
    AvgPool,
    Block,
    Branches,
    Conv,
    Dropout,
    Identity,
    MaxPool,
    ReLU,
    Residual,
)


def _correlate(x, w, stride, dilation):
    """Valid cross-correlation over the trailing axes of x (leading axis = batch)."""
    dims = w.ndim
    n_out = [
        (n - d * (k - 1) - 1) // s + 1 for n, k, s, d in zip(x.shape[1:], w.shape, stride, dilation)
    ]
    assert min(n_out) >= 1, "oracle input too small"
    out = np.zeros((x.shape[0], *n_out))
    for m in np.ndindex(*w.shape):
        window = tuple(
            slice(d * mi, d * mi + s * (no - 1) + 1, s)
            for mi, s, d, no in zip(m, stride, dilation, n_out)
        )
        out += w[m] * x[(slice(None), *window)]
    assert dims == len(n_out)
    return out


def forward(layers, x, inside_residual=False):
    """The linear network with ones/explicit weights; relu = 1/2, maxpool = avgpool."""
    for layer in layers:
        for _ in range(layer.repeat):
            x = _one(layer, x, inside_residual)
    return x


def _one(layer, x, inside_residual):
    if isinstance(layer, Residual):
        return x + forward(layer.layers, x, True)
    if isinstance(layer, Branches):
        return sum(forward(branch, x, True) for branch in layer.branches)
    if isinstance(layer, Block):
        return forward(layer.layers, x, inside_residual)
    if isinstance(layer, (Conv, AvgPool, MaxPool)):
        if isinstance(layer, Conv):
            w = np.ones(layer.kernel) if layer.weights is None else layer.weight_array
        else:
            w = np.full(layer.kernel, 1.0 / math.prod(layer.kernel))
        if inside_residual:
            x = np.pad(x, [(0, 0), *layer.padding])
        return _correlate(x, w, layer.stride, layer.dilation)
    if isinstance(layer, ReLU):
        return 0.5 * x
    if isinstance(layer, (Dropout, Identity)):
        return x
    raise TypeError(layer)


def brute_force_erf(net, size, jump, start):
    """d y / d x of the output unit whose field starts at input M, read off basis vectors.

    ``start`` is where the field of unit 0 starts (top-level layers run unpadded here).
    """
    units = [(r - s) // j + 2 for r, s, j in zip(size, start, jump)]
    margin = [u * j + s for u, j, s in zip(units, jump, start)]
    n_in = [r + 2 * m for r, m in zip(size, margin)]
    positions = list(np.ndindex(*size))
    x = np.zeros((len(positions), *n_in))
    for b, p in enumerate(positions):
        x[(b, *[m + pi for m, pi in zip(margin, p)])] = 1.0
    out = forward(net.layers, x)
    return out[(slice(None), *units)].reshape(size)
