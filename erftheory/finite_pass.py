"""The finite-input network as a linear map: one pass of the NumPy autograd, and its cost.

On a finite input every padded position is a zero (zero padding) or a copy of an image pixel
(circular, reflect, replicate), so the network is still a linear map ``y = A x`` of the image,
with all-ones weights (or explicit ones), average kernels for pools,
ReLU gates at 1/2 and dropout at 1 as in :func:`erftheory.erf`. :func:`_forward` runs that
map on one single-channel image; :func:`_prepare` checks the input and refuses, before
allocating, a pass whose working memory (:func:`_working_bytes`) is over the budget.
Used by :func:`erftheory.finite.finite_erf` (one backward pass) and
:func:`erftheory.borders.border_maps` (forward passes only).
"""

from __future__ import annotations

import math

import numpy as np

from . import autograd as ag
from .architecture import Network, with_padding_mode
from .blocks import Block, Branches, Residual, _all_layers
from .budget import _check_budget, _estimated_bytes, _refuse_over_budget, _Tally
from .errors import ERFError
from .layers import AvgPool, Conv, LocallyConnected, MaxPool
from .pointwise import BatchNorm, Dropout, Identity, LayerNorm, ReLU, Smooth
from .resolution import _indices


def _forward(layers, x: ag.Tensor) -> ag.Tensor:
    for layer in layers:
        for _ in range(layer.repeat):
            x = _layer(layer, x)
    return x


def _layer(layer, x: ag.Tensor) -> ag.Tensor:
    if isinstance(layer, Branches):
        outs = [_forward(path, x) for path in layer.branches]
        for o in outs[1:]:
            outs[0] = ag.add(outs[0], o)
        return outs[0]
    if isinstance(layer, Residual):
        return ag.add(x, _forward(layer.layers, x))
    if isinstance(layer, Block):
        return _forward(layer.layers, x)
    if type(layer) is Conv:
        w = np.ones(layer.kernel) if layer.weights is None else layer.weight_array
        return ag.conv(
            x,
            ag.Tensor(w[None, None]),
            layer.stride,
            layer.dilation,
            layer.padding,
            layer.padding_mode or "zeros",
        )
    if isinstance(layer, (AvgPool, MaxPool)):  # max pooling: its expectation, the average
        w = ag.Tensor(np.full(layer.kernel, 1.0 / math.prod(layer.kernel))[None, None])
        mode = layer.padding_mode or "zeros"
        args = (layer.stride, layer.dilation, layer.padding, mode)
        y = ag.conv(x, w, *args)
        if isinstance(layer, MaxPool) and mode == "zeros" and np.any(layer.padding):
            # frameworks pad a max pool with -inf: over iid inputs each input inside the
            # window is its max with equal probability, and the padding never is
            inside = _inside_share(x.shape[2:], layer)
            factor = np.divide(1.0, inside, out=np.zeros_like(inside), where=inside > 0)
            y = ag._pointwise(y, y.data * factor, factor)
        return y
    if isinstance(layer, LocallyConnected):
        mode = layer.padding_mode or "zeros"
        w = layer.weight_array
        return ag.local(x, w, layer.stride, layer.dilation, layer.padding, mode)
    if isinstance(layer, ReLU):
        return ag.scale(x, 0.5)
    if isinstance(layer, (Dropout, Identity, BatchNorm, LayerNorm)):
        return x
    raise ERFError(
        f"finite-image ERFs cover conv, pooling, locally connected, residual and branch "
        f"layers; {layer.type} is not modelled on finite inputs yet"
    )


def _inside_share(shape, layer) -> np.ndarray:
    """Per output position of a pool, the share of its window's taps inside the input.

    A product over axes (a window is a box): on each, the taps ``s i + d m - before`` that
    land in ``[0, n)``, counted in integers.
    """
    from .resolution import _out

    share = np.ones(())
    for n, m_out, k, d, s, (before, _) in zip(
        shape, _out(shape, layer), layer.kernel, layer.dilation, layer.stride, layer.padding
    ):
        taps = s * np.arange(m_out)[:, None] + d * np.arange(k)[None, :] - before
        share = np.multiply.outer(share, ((taps >= 0) & (taps < n)).sum(axis=1) / k)
    return share


def _released(y: ag.Tensor) -> np.ndarray:
    """The values of a forward pass's output, its graph freed at once (no backward pass).

    Each step's backward closure refers to its output tensor, a reference cycle that would
    keep every im2col matrix of the pass alive until a garbage collection, so the next pass
    would run beside it: break the cycles as ``Tensor.backward`` does when it ends.
    """
    values, stack = y.data[0, 0], [y]
    while stack:
        t = stack.pop()
        stack.extend(t._parents)
        t._backward, t._parents = ag._no_backward, ()
    return values


def _working_bytes(net: Network, shape, backward: bool) -> int:
    """Peak working memory of one pass of :func:`_forward` on a ``shape`` image, in bytes.

    Walks the layers at that resolution (one channel, batch 1): per conv or pool the im2col
    matrix (positions x taps), the padded copy and the output, kept for the backward pass;
    with ``backward`` also every tensor's gradient and the largest backward temporary (the
    im2col matrix's gradient), see :class:`erftheory.budget._Tally`. Beside the pass:
    the image and its gradient (or its copy). After a backward pass
    :func:`~erftheory.finite.finite_erf` holds the gradient, the coordinate grids (int64) and
    their angles or products: at most ``2 + 3 dims`` images. The margin is
    :func:`erftheory.budget._estimated_bytes`'s.
    """
    tally = _Tally(backward)
    units = math.prod(_walk_bytes(net.layers, list(shape), tally))
    pixels, dims = math.prod(shape), len(shape)
    if backward:
        return _estimated_bytes(max(tally.values(2 * pixels), (2 + 3 * dims) * pixels))
    # border_maps: during a pass the image, its copy and the maps so far (the mass, a centre
    # and a pull per axis); at the end those maps, stacked, and the lost fraction
    during = tally.values(2 * pixels + (1 + 2 * dims) * units)
    return _estimated_bytes(max(during, pixels + (4 + 4 * dims) * units))


def _walk_bytes(layers, n, tally: _Tally):
    """:func:`_forward`'s arrays into ``tally``; returns the shape out."""
    for layer in layers:
        for _ in range(layer.repeat):
            n = _layer_bytes(layer, n, tally)
    return n


def _layer_bytes(layer, n, tally: _Tally):
    from .resolution import _out

    if isinstance(layer, Branches):
        outs = [_walk_bytes(path, n, tally) for path in layer.branches]
        values = math.prod(outs[0])
        tally.add((len(outs) - 1) * values, (len(outs) - 1) * values, 0, values)
        return outs[0]
    if isinstance(layer, Residual):
        out = _walk_bytes(layer.layers, n, tally)
        values = math.prod(out)
        tally.add(values, values, 0, values)  # the sum, its gradient, the input's two summed
        return out
    if isinstance(layer, Block):
        return _walk_bytes(layer.layers, n, tally)
    if type(layer) is Conv or isinstance(layer, (AvgPool, MaxPool)):
        return tally.conv(n, layer)
    if isinstance(layer, LocallyConnected):  # a strided view times its weights (a new array)
        padded = tally.pad(n, layer, 1)
        out = _out(n, layer)
        values, taps = math.prod(out), math.prod(layer.kernel)
        tally.add(values * (taps + 1), values, values * taps, values * taps + padded)
        return out
    if isinstance(layer, ReLU):  # a scale: the value and its slope array
        values = math.prod(n)
        tally.add(2 * values, values)
    return n  # other layers run as the identity, or are refused by _forward


_MAX_INPUT_BYTES = 2**30  # one float64 image; every forward pass holds a few of them


def _prepare(arch, input_shape, padding_mode, max_bytes, backward: bool):
    from .parse import as_network
    from .resolution import at_resolution, output_shape

    _check_budget(max_bytes)
    net = as_network(arch)
    shape = _indices(input_shape, "input shape", net.dims, 1)
    if math.prod(shape) * 8 > _MAX_INPUT_BYTES:
        raise ERFError(
            f"input shape {list(shape)} is {math.prod(shape) * 8 / 2**30:.3g} GiB as float64, "
            "over the 1 GiB a finite-image ERF allows"
        )
    net = with_padding_mode(at_resolution(net, shape), padding_mode)
    if any(isinstance(x, Smooth) for x in _all_layers(net.layers)):
        raise ERFError(
            "the analytic ERF has no closed form for tanh, sigmoid, GELU or SiLU; measure it "
            "with `erftheory check`"
        )
    out = output_shape(net.layers, shape, f"input {list(shape)}")
    what = "a finite-image ERF" if backward else "computing the border maps"
    _refuse_over_budget(
        f"{what} of a {' x '.join(map(str, shape))} input",
        _working_bytes(net, shape, backward),
        max_bytes,
        "use a smaller input",
    )
    return net, shape, out
