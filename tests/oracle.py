"""Independent oracles for the tests: a brute-force forward pass of the linear network.

The ERF of the centre unit is read off by pushing every input basis vector through the
network layer by layer (cross-correlation with strides, written with plain slicing here, not
with erftheory's kernel composition). :func:`assert_within_relative_bound` checks a float
result entry by entry against exact mode's rationals.
"""

from __future__ import annotations

import math
from fractions import Fraction

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


def assert_within_relative_bound(result, exact_values) -> None:
    """Every entry of a float ERF within its ``rel_error`` of the exact one, above the floor.

    Exact zeros must be zeros; entries below twice the underflow floor are not covered by the
    relative bound (the result counts them instead).
    """
    floor = Fraction(result.underflow_floor)
    bound = Fraction(result.rel_error)
    for got, want in zip(result.values.flat, exact_values.flat):
        want = Fraction(want)
        if want == 0:
            assert got == 0
        elif want >= floor * 2:
            assert abs(Fraction(float(got)) - want) <= bound * want


def get_rectangle(data, thresh):
    """RepLKNet's erf/analyze_erf.py get_rectangle, as published (log step done by the caller)."""
    h, w = data.shape
    all_sum = np.sum(data)
    for i in range(1, h // 2):
        sel = data[h // 2 - i : h // 2 + 1 + i, w // 2 - i : w // 2 + 1 + i]
        if sel.sum() / all_sum > thresh:
            return i * 2 + 1, (i * 2 + 1) / h * (i * 2 + 1) / w
    return None
