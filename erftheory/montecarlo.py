"""The real network, run by the NumPy autograd, and the Monte-Carlo cross-check of the theory.

The analytic ERF rests on assumptions (linearity, independent ReLU gates, independent
weights). Here the network itself runs forward and backward on random inputs with freshly
drawn weights per sample, the way Figure 1 of Luo et al. (2016) was made, and the estimates of
E[dy/dx], E[(dy/dx)^2] and E|dy/dx| (with per-pixel standard errors) are compared with the
theory.

The network reads ``channels`` input channels; every conv outputs ``channels`` channels and
reads however many its input has. With random weights a concatenation joins its branches'
channels (the next conv reads ``channels`` of them per branch, through independent weights);
with ``init="ones"`` it runs as the sum of its branches, which is what a concatenation
feeding an all-ones conv computes. Added branches and residual blocks need equal channel
counts, as in a real framework. The output unit is channel 0 of the unit whose field starts
at the input's first pixel (top-level layers run unpadded, residual bodies and branches with
their own padding, so no padding ever reaches the unit's cone); with random weights a network
ending in a concatenation is refused (its channel 0 would belong to one branch only). A
grouped conv runs grouped (block-diagonal weights); one with more groups than ``channels``,
a depthwise conv of the wider real network, runs depthwise. Statistics are summed over input
channels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from . import autograd as ag
from .architecture import (
    GELU,
    AvgPool,
    BatchNorm,
    Block,
    Branches,
    Conv,
    Dropout,
    Identity,
    LayerNorm,
    MaxPool,
    Network,
    ReLU,
    Residual,
    Sigmoid,
    SiLU,
    Smooth,
    Tanh,
    _map_layers,
    _Spatial,
)
from .budget import _check_budget, _estimated_bytes, _refuse_over_budget, _Tally
from .erf import DEFAULT_MAX_BYTES
from .errors import ERFError

__all__ = ["INITS", "ACTIVATIONS", "MonteCarlo", "monte_carlo", "with_activation"]

INITS = ("ones", "normal", "uniform", "xavier", "he")
ACTIVATIONS = {
    "relu": ReLU,
    "tanh": Tanh,
    "sigmoid": Sigmoid,
    "gelu": GELU,
    "silu": SiLU,
    "linear": None,
}
_GATES = {ReLU: ag.relu, Tanh: ag.tanh, Sigmoid: ag.sigmoid, GELU: ag.gelu, SiLU: ag.silu}
_STATISTICS = ("sq", "abs", "mean")
# below this many samples the per-pixel standard errors of heavy-tailed gradients are too
# rough for a z test (a pixel whose rare large draws were not seen gets a tiny error)
_Z_TEST_SAMPLES = 500


def with_activation(net: Network, activation: str) -> Network:
    """The network with its activations replaced: one ``activation`` after every conv.

    ``"linear"`` removes them all. Examples: ``conv3, relu, conv3`` with ``"tanh"`` becomes
    ``conv3, tanh, conv3, tanh``.
    """
    if activation not in ACTIVATIONS:
        raise ERFError(f"activation={activation!r} is not one of {', '.join(ACTIVATIONS)}")
    gate = ACTIVATIONS[activation]

    def rebuild(layers):
        out = []
        for layer in layers:
            if isinstance(layer, (ReLU, Smooth)):
                continue
            if isinstance(layer, Branches):
                out.append(
                    replace(
                        layer, branches=tuple(rebuild(b) or (Identity(),) for b in layer.branches)
                    )
                )
            elif isinstance(layer, Block):
                out.append(replace(layer, layers=rebuild(layer.layers) or (Identity(),)))
            elif isinstance(layer, Conv) and gate is not None:
                unit = (replace(layer, repeat=1), gate())
                out.append(Block(unit, repeat=layer.repeat) if layer.repeat > 1 else unit[0])
                if layer.repeat == 1:
                    out.append(gate())
            else:
                out.append(layer)
        return tuple(out)

    return Network(rebuild(net.layers), net.dims)


def _unpadded(net: Network) -> Network:
    """Top-level conv/pool layers without padding (the ERF's shape does not depend on it)."""

    def strip(layer):
        if isinstance(layer, _Spatial):
            return replace(layer, padding=((0, 0),) * net.dims)
        return layer

    def plain_block(layer):  # a residual body and the branches keep their padding
        return isinstance(layer, Block) and not isinstance(layer, Residual)

    return Network(_map_layers(net.layers, strip, plain_block), net.dims)


class _Sampler:
    """Draws per-sample conv weights ``(B, C, C_in, *k)`` for an initialisation scheme.

    ``C`` is ``channels`` (every conv's output), ``C_in`` the channels the conv reads
    (``channels``, or more after a concatenation).
    """

    def __init__(self, init: str, channels: int, rng, variance_map=None):
        if init not in INITS:
            raise ERFError(f"init={init!r} is not one of {', '.join(INITS)}")
        if variance_map is not None:
            vmap = np.asarray(variance_map, dtype=float)
            bad = vmap[~(np.isfinite(vmap) & (vmap >= 0))]
            if bad.size:
                raise ERFError(
                    f"the variance map holds {float(bad[0])!r}: variances are finite and "
                    "non-negative (a multiplier per kernel offset)"
                )
        self.init, self.channels, self.rng, self.variance_map = init, channels, rng, variance_map

    def variance(self, layer: Conv, fan_in: int | None = None) -> np.ndarray:
        """Per-tap variance of the weights this scheme draws for ``layer`` (one channel pair).

        Parameters
        ----------
        layer : Conv
        fan_in : int, optional
            The channels the conv reads (default ``channels``). Xavier draws variance
            ``2 / (fan_in + fan_out)``, He ``2 / fan_in``, with the fans counted as channels
            times taps (PyTorch's ``fan_in`` mode).
        """
        k = layer.kernel
        taps = math.prod(k)
        fan = (self.channels if fan_in is None else fan_in) * taps
        fan_out = self.channels * taps
        var = {"normal": 1.0, "uniform": 1.0, "xavier": 2 / (fan + fan_out), "he": 2 / fan}
        out = np.full(k, var[self.init])
        if self.variance_map is not None:
            vmap = np.asarray(self.variance_map, dtype=float)
            if vmap.shape != tuple(k):
                raise ERFError(
                    f"the variance map has shape {list(vmap.shape)} but a conv kernel is {list(k)}"
                )
            out = out * vmap
        return out

    def __call__(self, layer: Conv, batch: int, fan_in: int | None = None) -> np.ndarray:
        """``batch`` draws of the weights of ``layer`` reading ``fan_in`` channels.

        A grouped conv (:func:`_groups`) gets block-diagonal weights: each output channel
        reads the input channels of its group only, at that fan-in.
        """
        c, k = self.channels, layer.kernel
        c_in = c if fan_in is None else fan_in
        g = _groups(layer, c_in, c)
        shape = (batch, c, c_in // g, *k)
        if layer.weights is not None:  # a fixed kernel, the same for every channel pair
            w = np.broadcast_to(layer.weight_array, shape)
        elif self.init == "ones":
            w = np.ones(shape)
        elif self.init == "uniform":  # unit variance, scaled below like the normal draws
            w = self.rng.uniform(-math.sqrt(3), math.sqrt(3), size=shape)
        else:
            w = self.rng.normal(0.0, 1.0, size=shape)
        if layer.weights is None and self.init != "ones":
            w = w * np.sqrt(self.variance(layer, c_in // g))
        if g == 1:
            return w
        full = np.zeros((batch, c, c_in, *k))
        out, read = c // g, c_in // g
        for j in range(g):
            rows = slice(j * out, (j + 1) * out)
            full[:, rows, j * read : (j + 1) * read] = w[:, rows]
        return full


def _groups(layer: Conv, c_in: int, channels: int) -> int:
    """The groups a conv runs with on ``channels`` channels (the Monte-Carlo network's width).

    Its own count where that divides the channels; one group per channel (depthwise) where
    the count is a multiple of them, as a depthwise conv of a wider network is.

    Raises
    ------
    ERFError
        A count that is neither, or a grouped conv reading a concatenation (each group would
        read some of its branches only, which the analytic ERF does not model).
    """
    g = layer.groups
    if g == 1:
        return 1
    if c_in != channels:
        raise ERFError(
            f"a grouped conv (groups={g}) reads a concatenation of {c_in} channels: each group "
            "would read some of its branches only, which the analytic ERF does not model"
        )
    if channels % g == 0:
        return g
    if g % channels == 0:
        return channels  # depthwise, as the wider network's conv is
    raise ERFError(
        f"a conv with groups={g} cannot run on channels={channels}: use channels that are a "
        f"multiple of {g} or divide it (channels=1 runs every grouped conv depthwise)"
    )


def _channels(layers, c: int, channels: int, concat: bool, fan_ins=None, where="layers") -> int:
    """The channels out of ``layers`` fed ``c`` channels, as the Monte-Carlo network runs them.

    Every conv outputs ``channels``; a concatenation (with ``concat``, i.e. random weights)
    gives the sum of its branches' channels, an add join its branches' common count; pools,
    gates and normalisations keep theirs.

    Parameters
    ----------
    layers : sequence of layers
    c : int
        Channels into the first layer.
    channels : int
        Channels out of every conv.
    concat : bool
        Whether concatenations join channels (random weights) or run as sums (``"ones"``).
    fan_ins : dict, optional
        Filled with the channels each conv reads: ``id(layer)`` to a set of counts (one per
        count it is run with; a repeated conv after a concatenation reads two).
    where : str
        The layers' position in the network, for error messages.

    Raises
    ------
    ERFError
        Where an add join or a residual block adds different channel counts (a real network
        cannot either).
    """
    for i, layer in enumerate(layers):
        here = f"{where}[{i}]"
        for _ in range(layer.repeat):
            if isinstance(layer, Branches):
                outs = [
                    _channels(path, c, channels, concat, fan_ins, f"{here}.branches[{b}]")
                    for b, path in enumerate(layer.branches)
                ]
                if concat and layer.join == "concat":
                    c = sum(outs)
                    continue
                for b, n in enumerate(outs[1:], 1):
                    if n != outs[0]:
                        raise ERFError(
                            f"{here}: an add join cannot sum branch 0 ({_count(outs[0])}) and "
                            f"branch {b} ({_count(n)}); added branches need equal channel "
                            f"counts, as in a real network (a conv outputs channels={channels}, "
                            "a concatenation the sum of its branches' channels): end the "
                            "branches with a conv, or join them with cat(...)"
                        )
                c = outs[0]
            elif isinstance(layer, Residual):
                body = _channels(layer.layers, c, channels, concat, fan_ins, f"{here}.layers")
                if body != c:
                    raise ERFError(
                        f"{here}: a residual block cannot add its input ({_count(c)}) to its "
                        f"body's output ({_count(body)}); they need equal channel counts, as "
                        f"in a real network (a conv outputs channels={channels}, a "
                        "concatenation the sum of its branches' channels)"
                    )
            elif isinstance(layer, Block):
                c = _channels(layer.layers, c, channels, concat, fan_ins, f"{here}.layers")
            elif isinstance(layer, Conv):
                if fan_ins is not None:
                    fan_ins.setdefault(id(layer), set()).add(c)
                c = channels
    return c


def _count(n: int) -> str:
    return f"{n} channel" + ("" if n == 1 else "s")


def _unrolled(net: Network) -> Network:
    """The network with every repeat written out: each conv run is a layer object of its own.

    A conv repeated after a concatenation reads more channels the first time than the next
    (``cat(conv1 | id), conv3*2``): its weights' variance under Xavier or He differs per run,
    which a variance function of the layer object can only tell apart once they are distinct.
    """

    def unroll(layers) -> tuple:
        out = []
        for layer in layers:
            for _ in range(layer.repeat):
                one = replace(layer, repeat=1)
                if isinstance(layer, Branches):
                    one = replace(one, branches=tuple(unroll(b) for b in layer.branches))
                elif isinstance(layer, Block):
                    one = replace(one, layers=unroll(layer.layers))
                out.append(one)
        return tuple(out)

    return replace(net, layers=unroll(net.layers))


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


@dataclass(frozen=True, eq=False)
class MonteCarlo:
    """Monte-Carlo estimates over ``samples`` random networks/inputs, RF-shaped.

    ``mean``, ``sq``, ``abs`` estimate E[g], E[g^2], E|g| (summed over input channels), each
    with its per-pixel standard error ``*_se`` (sample std / sqrt(samples)); ``seed`` is
    the seed of the random generator that drew them.
    """

    mean: np.ndarray
    mean_se: np.ndarray
    sq: np.ndarray
    sq_se: np.ndarray
    abs: np.ndarray
    abs_se: np.ndarray
    samples: int
    seed: int
    network: Network


def _input_geometry(net: Network):
    from .receptive_field import receptive_field

    rf = receptive_field(net)
    unit = tuple(-(s // j) for s, j in zip(rf.start, rf.effective_stride))  # ceil(-s / j)
    first = tuple(i * j + s for i, j, s in zip(unit, rf.effective_stride, rf.start))
    size = tuple(f + r for f, r in zip(first, rf.size))
    return rf.size, unit, first, size


def monte_carlo(
    arch,
    samples: int = 1000,
    seed: int = 0,
    channels: int = 1,
    init: str = "normal",
    activation: str | None = None,
    input=None,
    variance_map=None,
    batch: int = 64,
    show_progress: bool | None = None,
    max_bytes: float = DEFAULT_MAX_BYTES,
):
    """Run the real network ``samples`` times and estimate E[g], E[g^2], E|g| per pixel.

    Parameters
    ----------
    arch : Network, dict, str or path
    samples : int
        Number of (network, input) draws, at least 2 (the standard errors need two).
    seed : int
        Seed of the random generator (weights, inputs, dropout masks); recorded in the
        result.
    channels : int
        Channels of the input and out of every conv (a conv reads all its input's channels:
        with random weights, ``channels`` per branch of a concatenation before it).
    init : {"ones", "normal", "uniform", "xavier", "he"}
        Weight initialisation; conv layers with explicit weights keep them.
    activation : {"relu", "tanh", "sigmoid", "gelu", "silu", "linear"}, optional
        Replace the architecture's activations by one after every conv.
    input : numpy.ndarray, optional
        A fixed input ``(*spatial)`` or ``(channels, *spatial)`` of the size the unit needs
        (see the error message); default a fresh standard normal input per sample.
    variance_map : array, optional
        Per-offset variance multiplier of random conv weights (kernel-shaped), e.g. a
        centre-light initialisation.
    batch : int
        Samples per forward/backward pass.
    show_progress : bool, optional
        Show a progress bar (None: on an interactive terminal, outside CI).
    max_bytes : float
        Refuse, before allocating, a run whose estimated working memory exceeds this many
        bytes (default 4 GiB). The estimate walks one forward and backward pass of
        ``min(batch, samples)`` samples: per conv, the weights drawn per sample
        (``batch x channels x C_in x taps`` values, twice), the im2col matrix
        (``batch x positions x taps x C_in``) and its gradient; see the error message for
        how to proceed.

    Returns
    -------
    MonteCarlo

    Raises
    ------
    ERFError
        For fewer than 2 samples, a bad seed, channel count, batch, initialisation,
        activation or input, a layer the network cannot run, an add join or residual block
        adding different channel counts, (random weights) an output that is a
        concatenation, a ``max_bytes`` that is not a positive number, or a run whose
        working memory would exceed it.

    Examples
    --------
    >>> mc = monte_carlo("1d: conv3*2", samples=64, init="ones", batch=32)
    >>> mc.mean.tolist()
    [1.0, 2.0, 3.0, 2.0, 1.0]
    """
    from .parse import as_network
    from .progress import progress

    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 2:
        raise ERFError(
            f"samples={samples!r} is not an integer of at least 2 (the per-pixel standard "
            "errors need two samples or more)"
        )
    for name, value in (("channels", channels), ("batch", batch)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ERFError(f"{name}={value!r} is not a positive integer")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ERFError(f"seed={seed!r} is not a non-negative integer")
    _check_budget(max_bytes)
    net = as_network(arch)
    if net.fractional:
        raise ERFError(
            "the Monte-Carlo network runs conv, pooling, activation, dropout, normalisation, "
            "residual and branch layers; upsampling, transposed and locally connected layers "
            "are computed exactly by `erftheory erf` (ones weights) but not run here yet"
        )
    if activation is not None:
        net = with_activation(net, activation)
    run = _unpadded(net)
    out = _channels(run.layers, channels, channels, concat=init != "ones")
    if out != channels:
        raise ERFError(
            f"the network's output is a concatenation: it has {out} channels, not "
            f"channels={channels}. With random weights the output unit (channel 0) belongs to "
            "its first branch only, while the analytic ERF adds the second moments of all its "
            "branches, as a conv reading them would: end the network with a conv after the "
            "concatenation (e.g. append conv1), or use init='ones' (a concatenation run as the "
            "sum of its branches)"
        )
    shape, unit, first, size = _input_geometry(run)
    per_pass = min(batch, samples)
    _refuse_over_budget(
        f"a Monte-Carlo pass of {per_pass} samples (batch={batch}) with channels={channels} on "
        f"a {' x '.join(map(str, size))} input",
        _monte_carlo_bytes(run, size, channels, per_pass, init != "ones"),
        max_bytes,
        "use fewer channels or a smaller batch (the samples then run in more passes)",
    )
    if input is not None:
        input = np.asarray(input, dtype=float)
        if input.shape == size:
            input = np.broadcast_to(input, (channels, *size))
        if input.shape != (channels, *size):
            raise ERFError(
                f"the input has shape {list(input.shape)}; this unit needs {list(size)} "
                f"(or {[channels, *size]} with channels)"
            )
    rng = np.random.default_rng(seed)
    sampler = _Sampler(init, channels, rng, variance_map)
    crop = (slice(None), slice(None), *(slice(f, f + r) for f, r in zip(first, shape)))
    sums = {k: np.zeros(shape) for k in ("mean", "sq", "abs")}
    squares = {k: np.zeros(shape) for k in ("mean", "sq", "abs")}
    chunks = [min(batch, samples - i) for i in range(0, samples, batch)]
    for n in progress(chunks, label="monte carlo", enabled=show_progress):
        data = (
            rng.normal(size=(n, channels, *size))
            if input is None
            else np.broadcast_to(input, (n, channels, *size))
        )
        x = ag.Tensor(np.array(data), requires_grad=True)
        y = ag.select(_forward(run.layers, x, sampler, rng, n), unit, channel=0)
        ag.total(y).backward()
        g = x.grad[crop]
        for key, value in (
            ("mean", g.sum(axis=1)),
            ("sq", (g * g).sum(axis=1)),
            ("abs", np.abs(g).sum(axis=1)),
        ):
            sums[key] += value.sum(axis=0)
            squares[key] += (value * value).sum(axis=0)
    out = {}
    for key in sums:
        mean = sums[key] / samples
        var = np.maximum(squares[key] / samples - mean * mean, 0.0)
        out[key] = mean
        out[f"{key}_se"] = np.sqrt(var / (samples - 1))
    return MonteCarlo(samples=int(samples), seed=int(seed), network=net, **out)
