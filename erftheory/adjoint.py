"""The ERF by backpropagating a delta through the layers' adjoints, on an unbounded grid.

Kernel composition (:mod:`erftheory.compose`) needs every layer to be a kernel at an integer
scale. Upsampling and transposed convolutions have fractional strides: the ERF then depends
on the output unit's phase, and the layers are linear maps but not convolutions of the input.
This engine handles every layer exactly: it starts from a delta at one output unit and applies
each layer's adjoint (transpose), tracking where the array sits (its offset in the layer's
coordinates). It costs one pass per layer, so it is used only when a network needs it.

Layer conventions (per axis, framework style):

* conv / pool: ``z[i] = sum_m w[m] x[s i + d m - p]``;
* transposed conv: ``z[s i + d m - p] += w[m] x[i]``;
* nearest upsampling by ``u``: ``z[i] = x[floor(i / u)]``;
* bilinear upsampling by ``u`` (``align_corners=False``): ``z[i]`` interpolates ``x`` at
  ``(i + 1/2) / u - 1/2``.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import ERFError

__all__ = ["backpropagate"]


def _conv_adjoint(g, offset, kernel, stride, dilation, pad_before):
    """Adjoint of a strided dilated correlation: scatter each tap back."""
    shape = tuple(
        (n - 1) * s + d * (k - 1) + 1 for n, k, s, d in zip(g.shape, kernel.shape, stride, dilation)
    )
    out = np.zeros(shape)
    for tap in np.ndindex(*kernel.shape):
        w = kernel[tap]
        if w == 0:
            continue
        where = tuple(
            slice(d * m, d * m + s * (n - 1) + 1, s)
            for m, s, d, n in zip(tap, stride, dilation, g.shape)
        )
        out[where] += w * g
    return out, tuple(s * o - p for s, o, p in zip(stride, offset, pad_before))


def _local_adjoint(g, offset, layer, absolute=False):
    """Adjoint of a locally connected layer: each output position scatters its own kernel."""
    weights = np.abs(layer.weight_array) if absolute else layer.weight_array
    positions = layer.positions
    stride, dilation = layer.stride, layer.dilation
    kernel = weights.shape[len(positions) :]
    shape = tuple(
        (n - 1) * s + d * (k - 1) + 1 for n, k, s, d in zip(g.shape, kernel, stride, dilation)
    )
    out = np.zeros(shape)
    for index in zip(*np.nonzero(g)):
        position = tuple(o + i for o, i in zip(offset, index))
        if any(p < 0 or p >= n for p, n in zip(position, positions)):
            raise ERFError(
                f"a path reaches output position {list(position)} of a locally connected layer "
                f"whose weights cover {list(positions)} positions; pick a unit inside the grid"
            )
        w = weights[position]
        region = tuple(
            slice(s * i, s * i + d * (k - 1) + 1, d)
            for i, s, d, k in zip(index, stride, dilation, kernel)
        )
        out[region] += g[index] * w
    before = tuple(p[0] for p in layer.padding)
    return out, tuple(s * o - p for s, o, p in zip(stride, offset, before))


def _transposed_adjoint(g, offset, kernel, stride, dilation, pad_before):
    """Adjoint of a transposed conv: x_grad[i] = sum_m w[m] g[s i + d m - p] (a correlation)."""
    lo = [
        -(-(o + p - d * (k - 1)) // s)  # (ceil in integers: exact for any index)
        for o, p, d, k, s in zip(offset, pad_before, dilation, kernel.shape, stride)
    ]
    hi = [(o + n - 1 + p) // s for o, n, p, s in zip(offset, g.shape, pad_before, stride)]
    out = np.zeros([max(h - lw + 1, 0) for lw, h in zip(lo, hi)])
    for tap in np.ndindex(*kernel.shape):
        w = kernel[tap]
        if w == 0:
            continue
        # positions in g read by output index i: s (lo + i) + d m - p - offset
        src, dst = [], []
        for axis in range(g.ndim):
            s, d, m, p = stride[axis], dilation[axis], tap[axis], pad_before[axis]
            first = s * lo[axis] + d * m - p - offset[axis]
            idx = first + s * np.arange(out.shape[axis])
            ok = (idx >= 0) & (idx < g.shape[axis])
            dst.append(np.flatnonzero(ok))
            src.append(idx[ok])
        out[np.ix_(*dst)] += w * g[np.ix_(*src)]
    return out, tuple(lo)


def _upsample_axis(g, offset, axis, factor, mode):
    """Adjoint of upsampling along one axis: sum the output positions each input feeds."""
    n = g.shape[axis]
    positions = offset + np.arange(n)
    if mode == "nearest":
        targets = [(positions // factor, np.ones(n))]
    else:  # bilinear, align_corners=False: x = (position + 1/2) / factor - 1/2, in integers
        twice = 2 * positions + 1 - factor  # 2 factor x, exact for any index
        left = twice // (2 * factor)
        frac = (twice - 2 * factor * left) / (2 * factor)
        targets = [(left, 1 - frac), (left + 1, frac)]
    lo = min(int(t.min()) for t, _ in targets)
    hi = max(int(t.max()) for t, _ in targets)
    moved = np.moveaxis(g, axis, 0)
    out = np.zeros((hi - lo + 1,) + moved.shape[1:])
    for t, w in targets:
        np.add.at(out, t - lo, moved * w.reshape((-1,) + (1,) * (moved.ndim - 1)))
    return np.moveaxis(out, 0, axis), lo


def _add(a, a_off, b, b_off):
    lo = [min(x, y) for x, y in zip(a_off, b_off)]
    hi = [max(x + n, y + m) for x, n, y, m in zip(a_off, a.shape, b_off, b.shape)]
    out = np.zeros([h - low for low, h in zip(lo, hi)])
    for arr, off in ((a, a_off), (b, b_off)):
        out[tuple(slice(o - low, o - low + n) for o, low, n in zip(off, lo, arr.shape))] += arr
    return out, tuple(lo)


def _backward(layers, g, offset, absolute=False):
    for layer in reversed(layers):
        for _ in range(layer.repeat):
            if g.size == 0:  # no input reaches this unit (a transposed conv's empty phase)
                return g, offset
            g, offset = _layer(layer, g, offset, absolute)
    return g, offset


def _layer(layer, g, offset, absolute=False):
    from .blocks import Block, Branches, Residual
    from .layers import AvgPool, Conv, ConvTranspose, LocallyConnected, MaxPool, Upsample
    from .pointwise import Dropout, ReLU

    if isinstance(layer, (Residual, Branches)):
        out = None
        for path in layer.paths():
            h, h_off = _backward(path, g, offset, absolute)
            out = (h, h_off) if out is None else _add(*out, h, h_off)
        return out
    if isinstance(layer, Block):
        return _backward(layer.layers, g, offset, absolute)
    if isinstance(layer, Upsample):
        for axis, factor in enumerate(layer.factor):
            g, lo = _upsample_axis(g, offset[axis], axis, factor, layer.mode)
            offset = offset[:axis] + (lo,) + offset[axis + 1 :]
        return g, offset
    if isinstance(layer, LocallyConnected):
        return _local_adjoint(g, offset, layer, absolute)
    if isinstance(layer, (Conv, ConvTranspose, AvgPool, MaxPool)):
        if isinstance(layer, (Conv, ConvTranspose)) and layer.weights is not None:
            kernel = np.abs(layer.weight_array) if absolute else layer.weight_array
        elif isinstance(layer, (Conv, ConvTranspose)):
            kernel = np.ones(layer.kernel)
        else:
            kernel = np.full(layer.kernel, 1.0 / math.prod(layer.kernel))
        before = tuple(p[0] for p in layer.padding)
        adjoint = _transposed_adjoint if isinstance(layer, ConvTranspose) else _conv_adjoint
        return adjoint(g, offset, kernel, layer.stride, layer.dilation, before)
    if isinstance(layer, ReLU):
        return 0.5 * g, offset
    if isinstance(layer, Dropout) or layer.type in ("identity", "batchnorm", "layernorm"):
        return g, offset
    raise ERFError(
        f"the analytic ERF has no closed form for {layer.type}; measure it with `erftheory check`"
    )


def backpropagate(net, unit=None, absolute=False) -> tuple[np.ndarray, tuple[int, ...]]:
    """E[dy/dx] (all-ones weights) of output ``unit`` and the input position of its index 0.

    The array spans every input the unit's paths reach (its theoretical field, whatever the
    weights' values); the offset is the input coordinate of its first entry. With
    ``absolute``, every explicit weight counts as its absolute value: the sum over paths of
    the absolute products, the scale of the rounding errors where signed paths cancel.

    Examples
    --------
    >>> from erftheory import as_network
    >>> g, start = backpropagate(as_network("1d: conv3/s2, up2, conv3"))
    >>> g.tolist(), start  # y = 2 x0 + 2 x1 + 3 x2 + x3 + x4, worked out in the tests
    ([2.0, 2.0, 3.0, 1.0, 1.0], (0,))
    """
    dims = net.dims
    unit = (0,) * dims if unit is None else tuple(unit)
    g, offset = _backward(net.layers, np.ones((1,) * dims), unit, absolute)
    if g.size == 0:  # the unit sees no input at all: an all-zero one-pixel field
        return np.zeros((1,) * dims), tuple(offset)
    return g, tuple(offset)
