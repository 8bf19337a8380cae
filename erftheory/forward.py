"""The Monte-Carlo network's forward pass on the NumPy autograd, and its working memory.

:func:`_forward` runs the layers on a batch of inputs, drawing each conv's weights per
sample from a :class:`~erftheory.sampler._Sampler`; :func:`_monte_carlo_bytes` walks the same
layers beforehand and counts the arrays that pass allocates (see
:class:`~erftheory.budget._Tally`), so a run over the memory budget is refused before it starts.
"""

from __future__ import annotations

import math

from . import autograd as ag
from .architecture import Network
from .blocks import Block, Branches, Residual
from .budget import _estimated_bytes, _Tally
from .errors import ERFError
from .layers import AvgPool, Conv, MaxPool
from .pointwise import GELU, BatchNorm, Dropout, Identity, LayerNorm, ReLU, Sigmoid, SiLU, Tanh
from .sampler import _Sampler

_GATES = {ReLU: ag.relu, Tanh: ag.tanh, Sigmoid: ag.sigmoid, GELU: ag.gelu, SiLU: ag.silu}


def _forward(layers, x: ag.Tensor, sampler: _Sampler, rng, batch: int) -> ag.Tensor:
    for layer in layers:
        for _ in range(layer.repeat):
            x = _layer(layer, x, sampler, rng, batch)
    return x


def _layer(layer, x, sampler, rng, batch):
    if isinstance(layer, Branches):
        outs = [_forward(path, x, sampler, rng, batch) for path in layer.branches]
        if layer.join == "concat" and sampler.init != "ones":
            # the next conv reads every branch's channels through independent weights (an
            # all-ones conv would sum them: the branches' sum, at C channels, as run below)
            return ag.concat(outs, axis=1)
        out = outs[0]
        for o in outs[1:]:
            out = ag.add(out, o)
        return out
    if isinstance(layer, Residual):
        return ag.add(x, _forward(layer.layers, x, sampler, rng, batch))
    if isinstance(layer, Block):
        return _forward(layer.layers, x, sampler, rng, batch)
    if isinstance(layer, Conv):
        w = ag.Tensor(sampler(layer, batch, x.shape[1]))
        mode = layer.padding_mode or "zeros"
        return ag.conv(x, w, layer.stride, layer.dilation, layer.padding, mode)
    if isinstance(layer, AvgPool):
        if layer.dilation != (1,) * len(layer.kernel):
            raise ERFError("the Monte-Carlo network does not run dilated pooling")
        mode = layer.padding_mode or "zeros"
        return ag.avg_pool(x, layer.kernel, layer.stride, layer.padding, mode)
    if isinstance(layer, MaxPool):
        if layer.dilation != (1,) * len(layer.kernel):
            raise ERFError("the Monte-Carlo network does not run dilated pooling")
        return ag.max_pool(x, layer.kernel, layer.stride, layer.padding)
    if type(layer) in _GATES:
        return _GATES[type(layer)](x)
    if isinstance(layer, Dropout):
        return ag.dropout(x, layer.p, rng)
    if isinstance(layer, (Identity, BatchNorm, LayerNorm)):
        return x
    raise ERFError(
        f"the Monte-Carlo network cannot run {layer.type} layers (it runs conv, pooling, "
        "activation, dropout, normalisation, residual and branch layers)"
    )


def _monte_carlo_bytes(run: Network, size, channels: int, batch: int, concat: bool) -> int:
    """Peak working memory of one forward and backward pass of ``batch`` samples, in bytes.

    Walks the layers as :func:`_forward` runs them on inputs of ``channels`` x ``size``
    (see :class:`_Tally` for what is counted). Each conv draws weights per sample, shaped
    ``(batch, channels, C_in, *k)``: they are kept twice (the drawn array and the matmul's
    reshaped copy), with one more draw passing. Beside the pass: the input draw, its copy
    in the tensor and its gradient, ``3 batch channels prod(size)`` values.
    """
    tally = _Tally()
    _walk_bytes(run.layers, channels, list(size), tally, channels, batch, concat)
    return _estimated_bytes(
        tally.values(3 * batch * channels * math.prod(size) + 6 * math.prod(size))
    )


def _walk_bytes(layers, c: int, n, tally: _Tally, channels: int, batch: int, concat: bool):
    """:func:`_forward`'s arrays into ``tally``; returns the channels and shape out."""
    for layer in layers:
        for _ in range(layer.repeat):
            c, n = _layer_bytes(layer, c, n, tally, channels, batch, concat)
    return c, n


def _layer_bytes(layer, c, n, tally, channels, batch, concat):
    from .resolution import _out

    if isinstance(layer, Branches):
        outs = [_walk_bytes(path, c, n, tally, channels, batch, concat) for path in layer.branches]
        n = outs[0][1]
        joined = [cb for cb, _ in outs]
        values = batch * math.prod(n)
        if layer.join == "concat" and concat:
            tally.add(sum(joined) * values, sum(joined) * values)
            return sum(joined), n
        tally.add((len(outs) - 1) * c * values, (len(outs) - 1) * c * values, 0, c * values)
        return joined[0], n
    if isinstance(layer, Residual):
        body, n = _walk_bytes(layer.layers, c, n, tally, channels, batch, concat)
        values = batch * body * math.prod(n)
        tally.add(values, values, 0, values)  # the sum, its gradient, the input's two summed
        return body, n
    if isinstance(layer, Block):
        return _walk_bytes(layer.layers, c, n, tally, channels, batch, concat)
    if isinstance(layer, Conv):
        weights = batch * channels * c * math.prod(layer.kernel)
        tally.add(forward_temp=weights)
        return channels, tally.conv(n, layer, batch, c, channels, 2 * weights)
    out = _out(n, layer) if isinstance(layer, (AvgPool, MaxPool)) else n
    values = batch * c * math.prod(out)
    if isinstance(layer, AvgPool):  # a strided view, summed: the output and its gradient
        padded = tally.pad(n, layer, batch * c)
        tally.add(values, values, 0, values + batch * c * padded)
    elif isinstance(layer, MaxPool):  # np.pad always copies; the windows flattened (a copy)
        padded = tally.pad(n, layer, batch * c, always=True)
        taps = math.prod(layer.kernel)
        tally.add(values * (taps + 2), values, 0, values * taps + batch * c * padded)
    elif type(layer) in _GATES or isinstance(layer, Dropout):  # value and slope (or mask)
        tally.add(2 * values, values, 3 * values)
    return c, out
