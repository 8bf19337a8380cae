"""The real network, run by the NumPy autograd, and the Monte-Carlo cross-check of the theory.

The analytic ERF rests on assumptions (linearity, independent ReLU gates, independent
weights). Here the network itself runs forward and backward on random inputs with freshly
drawn weights per sample, the way Figure 1 of Luo et al. (2016) was made, and the estimates of
E[dy/dx], E[(dy/dx)^2] and E|dy/dx| (with per-pixel standard errors) are compared with the
theory.

The network reads ``channels`` input channels; every conv outputs ``channels`` channels. A
random-weight conv reads every channel its input has, through independent weights (with random
weights a concatenation joins its branches' channels: the next conv reads ``channels`` of them
per branch). A fixed conv (explicit weights, or every conv under ``init="ones"``) runs
depthwise: output channel ``o`` reads the input channels ``i`` with ``i % channels == o``
through the described kernel, so on ``C`` channels it is ``C`` independent copies of the
one-channel conv, and after a concatenation it sums its branches' channel ``o`` (with
``init="ones"`` a concatenation runs as the sum of its branches, which is the same). A
network of fixed convs on ``C`` channels is therefore ``C`` copies of the one-channel network
and the one-channel theory holds per channel. Added branches and residual blocks need equal
channel counts, as in a real framework. The output unit is channel 0 of the unit whose field
starts at the input's first pixel (top-level layers run unpadded, residual bodies and branches
with their own padding, so no padding ever reaches the unit's cone); with random weights a
network ending in a concatenation is refused (its channel 0 would belong to one branch only).
A grouped random conv runs grouped (block-diagonal weights); one with more groups than
``channels``, a depthwise conv of the wider real network, runs depthwise. For a fixed conv the
depthwise rule supersedes its groups. Statistics are summed over input channels.

The estimates are accumulated in units of a power of two chosen from each batch's largest
gradient (exact rescaling), so E[g^2] and the standard errors (fourth powers of g) do not
overflow where the estimates themselves fit in float64; gradients that overflow float64
themselves are refused with an :class:`~erftheory.errors.ERFError`.
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
_GLOBAL_POOLS = ("globalavgpool", "adaptiveavgpool")
# below this many samples the per-pixel standard errors of heavy-tailed gradients are too
# rough for a z test (a pixel whose rare large draws were not seen gets a tiny error)
_Z_TEST_SAMPLES = 500


def with_activation(net: Network, activation: str) -> Network:
    """The network with its activations replaced: one ``activation`` after every conv.

    ``"linear"`` removes them all.

    Examples
    --------
    >>> from erftheory.parse import as_network, to_compact
    >>> to_compact(with_activation(as_network("1d: conv3, relu, conv3"), "tanh"))
    '1d: conv3, tanh, conv3, tanh'
    >>> to_compact(with_activation(as_network("1d: conv3, relu, conv3"), "linear"))
    '1d: conv3, conv3'
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
            vmap = _float_array(variance_map, "the variance map")
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

        A fixed kernel (explicit weights, or any conv under ``init="ones"``) runs depthwise
        (:func:`_fixed_weights`), whatever its groups. A grouped random conv (:func:`_groups`)
        gets block-diagonal weights: each output channel reads the input channels of its group
        only, at that fan-in.
        """
        c, k = self.channels, layer.kernel
        c_in = c if fan_in is None else fan_in
        if layer.weights is not None or self.init == "ones":
            kernel = layer.weight_array if layer.weights is not None else np.ones(k)
            return np.broadcast_to(_fixed_weights(kernel, c, c_in), (batch, c, c_in, *k))
        g = _groups(layer, c_in, c)
        shape = (batch, c, c_in // g, *k)
        if self.init == "uniform":  # unit variance, scaled below like the normal draws
            w = self.rng.uniform(-math.sqrt(3), math.sqrt(3), size=shape)
        else:
            w = self.rng.normal(0.0, 1.0, size=shape)
        w = w * np.sqrt(self.variance(layer, c_in // g))
        if g == 1:
            return w
        full = np.zeros((batch, c, c_in, *k))
        out, read = c // g, c_in // g
        for j in range(g):
            rows = slice(j * out, (j + 1) * out)
            full[:, rows, j * read : (j + 1) * read] = w[:, rows]
        return full


def _fixed_weights(kernel: np.ndarray, channels: int, c_in: int) -> np.ndarray:
    """A fixed kernel as dense ``(channels, c_in, *k)`` weights, run depthwise.

    Output channel ``o`` reads the input channels ``i`` with ``i % channels == o`` through
    ``kernel``: ``channels`` copies of the one-channel conv, and after a concatenation of
    ``m`` blocks of ``channels`` the sum of the blocks' channel ``o``.
    """
    dense = np.zeros((channels, c_in, *kernel.shape))
    for o in range(channels):
        dense[o, o::channels] = kernel
    return dense


def _float_array(value, what: str) -> np.ndarray:
    """``value`` as a float array, or a one-line ERFError naming it."""
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        text = repr(value)
        text = text if len(text) <= 40 else text[:37] + "..."
        raise ERFError(f"{what} {text} is not an array of numbers") from None


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
    the seed of the random generator that drew them and ``batch`` the samples per pass (the
    draws are made per pass: the same seed with another batch gives another run).
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
    batch: int = 64


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
    if init == "ones" and variance_map is not None:
        raise ERFError(
            "variance_map scales random conv weights, but init='ones' draws none: drop the "
            "variance map or use a random init (normal, uniform, xavier, he)"
        )
    net = as_network(arch)
    if net.needs_resolution:
        pools = sorted({x.type for x in net.layers if x.type in _GLOBAL_POOLS})
        raise ERFError(
            f"the Monte-Carlo network does not run {' or '.join(pools)} (its window is the "
            "whole feature map, while the run feeds only one unit's field; an input array "
            "does not change that): check the network up to the layer before it (the ERF of "
            "a global average is the average of those units' ERFs)"
        )
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
        input = _float_array(input, "the input")
        if not np.isfinite(input).all():
            bad = float(input[~np.isfinite(input)].flat[0])
            raise ERFError(
                f"the input holds {bad!r}: a fixed input must be finite (a non-finite value "
                "makes the gradients NaN, or zero behind a ReLU)"
            )
        if input.shape == size:
            input = np.broadcast_to(input, (channels, *size))
        if input.shape != (channels, *size):
            raise ERFError(
                f"the input has shape {list(input.shape)}; this unit needs {list(size)} "
                f"(or {[channels, *size]} with channels)"
            )
    runner = _Runner(run, channels, init, variance_map, input, unit, first, shape, size)
    out = runner(seed, samples, batch, show_progress)
    return MonteCarlo(samples=int(samples), seed=int(seed), network=net, batch=int(batch), **out)


_LOG10_2 = math.log10(2)
# the backward pass is linear in its seed: seeding it with 2^-SHIFT (or 2^+SHIFT) rescales
# every gradient exactly, which sizes gradients that overflow (or underflow) float64
_SHIFT = 1000


class _Runner:
    """The sampling loop of :func:`monte_carlo`: forward, backward and the running sums.

    Each batch's gradients are scaled by ``2^-e``, ``e`` the exponent of their largest
    magnitude (a power of two: exact), and the sums are kept in units of the largest such
    power seen so far (``2^E`` for E[g] and E|g|, ``2^2E`` for E[g^2], twice that for the
    squares behind the standard errors), rescaled when a larger one appears. The results are
    bit-identical to unscaled sums where those do not overflow.
    """

    def __init__(self, run, channels, init, variance_map, input, unit, first, shape, size):
        self.run, self.channels, self.init, self.variance_map = run, channels, init, variance_map
        self.input, self.unit, self.shape, self.size = input, unit, shape, size
        self.crop = (slice(None), slice(None), *(slice(f, f + r) for f, r in zip(first, shape)))
        self.gated = any(isinstance(x, (ReLU, Smooth, MaxPool)) for x in _all_layers_of(run.layers))

    def _gradient(self, rng, sampler, n: int, exponent: int = 0):
        """One pass of ``n`` samples: the cropped input gradients and the output unit."""
        data = (
            rng.normal(size=(n, self.channels, *self.size))
            if self.input is None
            else np.broadcast_to(self.input, (n, self.channels, *self.size))
        )
        x = ag.Tensor(np.array(data), requires_grad=True)
        with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
            y = ag.select(_forward(self.run.layers, x, sampler, rng, n), self.unit, channel=0)
            ag.total(ag.scale(y, 2.0**exponent) if exponent else y).backward()
        return x.grad[self.crop], y.data

    def _magnitude(self, seed: int, n: int, exponent: int) -> float | None:
        """log10 of the largest gradient of the first pass, its backward seeded by 2^exponent."""
        rng = np.random.default_rng(seed)
        g, _ = self._gradient(
            rng, _Sampler(self.init, self.channels, rng, self.variance_map), n, exponent
        )
        finite = np.abs(g[np.isfinite(g)])
        if not finite.size or not finite.max() > 0:
            return None
        return math.log10(float(finite.max())) - exponent * _LOG10_2

    def __call__(self, seed: int, samples: int, batch: int, show_progress) -> dict:
        from .progress import progress

        rng = np.random.default_rng(seed)
        sampler = _Sampler(self.init, self.channels, rng, self.variance_map)
        keys = {"mean": 1, "sq": 2, "abs": 1}  # the power of g in each statistic
        sums = {k: np.zeros(self.shape) for k in keys}
        squares = {k: np.zeros(self.shape) for k in keys}
        top = None  # the exponent E of the units the sums are kept in
        chunks = [min(batch, samples - i) for i in range(0, samples, batch)]
        for n in progress(chunks, label="monte carlo", enabled=show_progress):
            g, y = self._gradient(rng, sampler, n)
            if not np.isfinite(g).all():
                self._overflow(seed, chunks[0])
            if self.gated and not np.isfinite(y).all():
                raise ERFError(
                    "the network's activations overflow float64, which corrupts its gates' "
                    "gradients: use smaller weights, init='he', or fewer layers"
                )
            largest = float(np.max(np.abs(g))) if g.size else 0.0
            if largest == 0:
                continue  # zero gradients add nothing at any scale
            e = math.frexp(largest)[1]
            if top is None or e > top:
                if top is not None:
                    for k, power in keys.items():
                        sums[k] = np.ldexp(sums[k], power * (top - e))
                        squares[k] = np.ldexp(squares[k], 2 * power * (top - e))
                top = e
            gs = np.ldexp(g, -top)
            for key, value in (
                ("mean", gs.sum(axis=1)),
                ("sq", (gs * gs).sum(axis=1)),
                ("abs", np.abs(gs).sum(axis=1)),
            ):
                sums[key] += value.sum(axis=0)
                squares[key] += (value * value).sum(axis=0)
        if top is None:
            self._underflow(seed, chunks[0])
            top = 0
        out = {}
        names = {"mean": "E[g]", "sq": "E[g^2]", "abs": "E|g|"}
        for key, power in keys.items():
            mean = sums[key] / samples
            var = np.maximum(squares[key] / samples - mean * mean, 0.0)
            with np.errstate(over="ignore"):
                out[key] = np.ldexp(mean, power * top)
                out[f"{key}_se"] = np.ldexp(np.sqrt(var / (samples - 1)), power * top)
            if not (np.isfinite(out[key]).all() and np.isfinite(out[f"{key}_se"]).all()):
                peak = float(np.max(np.abs(mean[np.isfinite(mean)]), initial=1.0))
                size = power * top * _LOG10_2 + math.log10(peak)
                raise ERFError(
                    f"{names[key]} of the network's gradients overflows float64 (about "
                    f"10^{size:.0f}; the largest float64 is about 10^308): use smaller "
                    "weights, init='he', or fewer layers"
                )
        return out

    def _overflow(self, seed: int, n: int):
        size = self._magnitude(seed, n, -_SHIFT)
        about = (
            f"beyond 10^{308 + _SHIFT * _LOG10_2:.0f}" if size is None else f"about 10^{size:.0f}"
        )
        raise ERFError(
            f"the network's gradients overflow float64 ({about}; the largest float64 is about "
            "10^308): use smaller weights, init='he', or fewer layers"
        )

    def _underflow(self, seed: int, n: int):
        """Every gradient was zero: refuse it if they only underflowed (a zero that is not)."""
        size = self._magnitude(seed, n, _SHIFT)
        if size is not None:
            raise ERFError(
                f"the network's gradients underflow float64 (about 10^{size:.0f}; the smallest "
                "float64 is about 10^-324) and read as zero: use larger weights or fewer layers"
            )


def _all_layers_of(layers):
    from .architecture import _all_layers

    return _all_layers(layers)
