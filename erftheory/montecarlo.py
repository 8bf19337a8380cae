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
ending in a concatenation is refused (its channel 0 would belong to one branch only).
Statistics are summed over input channels.
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
    _Spatial,
)
from .errors import ERFError

__all__ = ["INITS", "ACTIVATIONS", "MonteCarlo", "Check", "monte_carlo", "check", "with_activation"]

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
        if isinstance(layer, Block) and not isinstance(layer, Residual):
            return replace(layer, layers=tuple(strip(x) for x in layer.layers))
        return layer

    return Network(tuple(strip(x) for x in net.layers), net.dims)


class _Sampler:
    """Draws per-sample conv weights ``(B, C, C_in, *k)`` for an initialisation scheme.

    ``C`` is ``channels`` (every conv's output), ``C_in`` the channels the conv reads
    (``channels``, or more after a concatenation).
    """

    def __init__(self, init: str, channels: int, rng, variance_map=None):
        if init not in INITS:
            raise ERFError(f"init={init!r} is not one of {', '.join(INITS)}")
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
        """``batch`` draws of the weights of ``layer`` reading ``fan_in`` channels."""
        c, k = self.channels, layer.kernel
        shape = (batch, c, c if fan_in is None else fan_in, *k)
        if layer.weights is not None:  # a fixed kernel, the same for every channel pair
            return np.broadcast_to(layer.weight_array, shape)
        if self.init == "ones":
            return np.ones(shape)
        if self.init == "uniform":  # unit variance, scaled below like the normal draws
            w = self.rng.uniform(-math.sqrt(3), math.sqrt(3), size=shape)
        else:
            w = self.rng.normal(0.0, 1.0, size=shape)
        return w * np.sqrt(self.variance(layer, fan_in))


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

    Returns
    -------
    MonteCarlo

    Raises
    ------
    ERFError
        For fewer than 2 samples, a bad seed, channel count, batch, initialisation,
        activation or input, a layer the network cannot run, an add join or residual block
        adding different channel counts, or (random weights) an output that is a
        concatenation.

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


@dataclass(frozen=True, eq=False)
class Check:
    """The Monte-Carlo estimate of one statistic against the theory's prediction.

    Maps are compared as shapes: ``l1`` is ``sum |p - q|`` of both normalised to sum 1
    (twice the total variation); ``noise_l1`` the L1 distance expected from the Monte-Carlo
    error alone (``sqrt(2/pi) sum se / total``); ``z`` the per-pixel z-scores of the estimate
    against the theory scaled to the estimate's total; ``std_ratio`` the per-axis ratio of the
    standard deviations (empirical / theory), NaN (``None`` in JSON) where the theory's map
    has no spread. ``verdict`` is ``"agree"`` (L1 within 3 noise levels and, from 500
    samples, no |z| beyond the Bonferroni 0.1% level plus 1), ``"disagree"`` (a linear
    network outside them: a failed check) or ``"gap"`` (a nonlinear network, or E|g| against
    the Gaussian-g theory: the gap is reported, not hidden). ``basis`` says which tests the
    verdict rests on and ``z_tested`` whether the z-scores were among them (below 500
    samples they are not); ``notes`` explain undefined values and untested large z-scores.
    ``seed`` is the seed of the random generator.
    """

    statistic: str
    theory: str
    empirical: np.ndarray
    standard_error: np.ndarray
    predicted: np.ndarray
    z: np.ndarray
    l1: float
    noise_l1: float
    std_ratio: tuple[float, ...]
    linear: bool
    verdict: str
    samples: int
    seed: int
    basis: str
    z_tested: bool
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """A JSON-ready summary of the comparison (undefined values are ``None``)."""
        finite = self.z[np.isfinite(self.z)]
        return {
            "statistic": self.statistic,
            "theory": self.theory,
            "samples": self.samples,
            "seed": self.seed,
            "l1": _finite_or_none(self.l1),
            "noise_l1": _finite_or_none(self.noise_l1),
            "gap": _finite_or_none(max(self.l1 - self.noise_l1, 0.0)),
            "std_ratio": [_finite_or_none(v) for v in self.std_ratio],
            "max_abs_z": float(np.max(np.abs(finite))) if finite.size else 0.0,
            "mean_z2": float(np.mean(finite**2)) if finite.size else 0.0,
            "z_tested": self.z_tested,
            "linear": self.linear,
            "verdict": self.verdict,
            "verdict_basis": self.basis,
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        d = self.to_dict()
        ratio = d["std_ratio"]
        lines = [
            f"Monte-Carlo check of {self.statistic} over {self.samples} samples "
            f"(seed {self.seed}) against {self.theory}",
            f"  normalised L1     {_text(self.l1)}   (Monte-Carlo noise alone: "
            f"{_text(self.noise_l1)})",
            "  std ratio         "
            + (
                "undefined"
                if all(v is None for v in ratio)
                else " x ".join(_text(v) for v in self.std_ratio)
            ),
            f"  max |z|           {d['max_abs_z']:.3g}   mean z^2 {d['mean_z2']:.3g}"
            + ("" if self.z_tested else "   (not tested)"),
            f"  verdict           {self.verdict}"
            + (
                ""
                if self.verdict != "gap"
                else " (nonlinear network or approximate theory: the gap is reported)"
            ),
            f"  based on          {self.basis}",
        ]
        return "\n".join(lines + [f"  note              {note}" for note in self.notes])


def _text(value: float) -> str:
    return "undefined" if math.isnan(value) else f"{value:.4g}"


def _variance_kernels(sampler: _Sampler, net: Network):
    """Each random conv's variance kernel as the Monte-Carlo network draws it, with its gain.

    Summed over channels, E[g^2] passes a random conv with the factor ``C_in Var(w)`` per
    tap, while identities and fixed kernels pass it unchanged: in residual and branching
    networks the theory must carry that gain, or the identity is misweighted against the
    body (for plain stacks it is a global factor and cancels). After a concatenation the conv
    reads ``channels`` channels per branch, each group through its own weights: the analytic
    model adds the branches with unit weight, so the gain per group is ``C Var(w)``, with
    ``Var(w)`` the variance at the conv's own fan-in (Xavier and He scale it).

    Returns
    -------
    tuple of (Network, callable)
        ``net``, its repeats written out where a conv runs at different fan-ins (see
        :func:`_unrolled`), and the variance function to give the theory for it.
    """
    fan_ins: dict = {}
    _channels(net.layers, sampler.channels, sampler.channels, True, fan_ins)
    if sampler.init in ("xavier", "he") and any(len(f) > 1 for f in fan_ins.values()):
        net = _unrolled(net)
        fan_ins = {}
        _channels(net.layers, sampler.channels, sampler.channels, True, fan_ins)
    fan = {key: max(counts) for key, counts in fan_ins.items()}
    return net, lambda layer: sampler.channels * sampler.variance(layer, fan[id(layer)])


def _finite_or_none(value: float) -> float | None:
    """NaN (undefined for E[g] = 0) becomes null in JSON."""
    return None if math.isnan(value) else float(value)


def _is_linear(net: Network) -> bool:
    from .architecture import _all_layers

    return not any(isinstance(x, (ReLU, Smooth, MaxPool)) for x in _all_layers(net.layers))


def _shape_std(p: np.ndarray) -> np.ndarray:
    from .result import _moments

    return np.array(_moments(p)[1])


def check(
    arch,
    samples: int = 1000,
    seed: int = 0,
    channels: int = 1,
    init: str = "normal",
    activation: str | None = None,
    statistic: str = "sq",
    input=None,
    variance_map=None,
    batch: int = 64,
    show_progress: bool | None = None,
) -> Check:
    """Cross-check the analytic ERF against the real network by Monte Carlo.

    The prediction for each statistic: with ``init="ones"`` the weights are fixed, so E[g]
    is the ``weights="ones"`` ERF (ReLU gates at 1/2), E[g^2] and E|g| its square and absolute
    value for a linear network; with random zero-mean weights E[g] = 0, E[g^2] is the
    ``weights="random"`` ERF and E|g| is compared with sqrt(E[g^2]) (equal in shape when g
    is Gaussian). tanh and sigmoid have no closed form: the linear network's map is the
    reference, and the gap is reported. Parameters are those of :func:`monte_carlo`, plus
    ``statistic`` ("sq", "abs" or "mean": E[g^2], E|g| or E[g]).

    Below 500 samples the per-pixel z-scores are not tested (their standard errors are too
    rough): the verdict then rests on the normalised L1 alone, and ``basis``, ``z_tested``
    and ``notes`` of the result say so.

    Returns
    -------
    Check

    Raises
    ------
    ERFError
        For an unknown statistic, the errors of :func:`monte_carlo` (fewer than 2 samples,
        ...), or an estimate that is identically zero.

    Examples
    --------
    >>> c = check("1d: conv3*3", samples=2000, seed=1)
    >>> c.verdict, c.seed, c.z_tested
    ('agree', 1, True)
    >>> check("1d: conv3*3", samples=200).z_tested  # too few samples for the z test
    False
    """
    from .erf import erf

    if statistic not in _STATISTICS:
        raise ERFError(f"statistic={statistic!r} is not one of {', '.join(_STATISTICS)}")
    mc = monte_carlo(
        arch, samples, seed, channels, init, activation, input, variance_map, batch, show_progress
    )
    net = mc.network
    linear = _is_linear(net)
    reference = (
        net
        if not any(isinstance(x, Smooth) for x in _layers(net))
        else (with_activation(net, "linear"))
    )
    label = (
        ""
        if reference is net
        else " of the linear network (no closed form for tanh, sigmoid, GELU, SiLU)"
    )
    random = init != "ones"
    if statistic == "mean":
        predicted = np.zeros(mc.mean.shape) if random else erf(reference).values
        theory = ("E[g] = 0 (zero-mean weights)" if random else "E[g], ones weights") + label
    elif random:
        sampler = _Sampler(init, channels, None, variance_map)
        unrolled, gain = _variance_kernels(sampler, reference)
        var = erf(unrolled, weights="random", normalize="sum", variance=gain).values
        predicted = var if statistic == "sq" else np.sqrt(var)
        theory = (
            "E[g^2], random weights" if statistic == "sq" else "sqrt(E[g^2]), random weights"
        ) + label
    else:
        g = erf(reference).values
        predicted = g * g if statistic == "sq" else np.abs(g)
        theory = ("E[g]^2" if statistic == "sq" else "|E[g]|") + ", ones weights" + label
    empirical, se = getattr(mc, statistic), getattr(mc, f"{statistic}_se")
    if statistic == "mean" and random:
        return _zero_mean_check(mc, theory, linear)
    total = float(empirical.sum())
    if total == 0:
        raise ERFError("the Monte-Carlo estimate is identically zero: nothing to compare")
    p = empirical / total
    q = predicted / predicted.sum()
    scaled = q * total
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (empirical - scaled) / se, np.where(empirical == scaled, 0.0, np.inf))
    l1 = float(np.abs(p - q).sum())
    noise = float(math.sqrt(2 / math.pi) * se.sum() / abs(total))
    # E|g| against sqrt(E[g^2]) is exact only for Gaussian g: report its gap, do not fail
    approximate = random and statistic == "abs"
    verdict_within, basis, z_tested, notes = _judge(
        empirical, se, scaled, z, l1, noise, samples, linear and not approximate
    )
    verdict = "agree" if verdict_within else ("disagree" if linear and not approximate else "gap")
    if approximate:
        theory += " (equal in shape only where g is Gaussian)"
    ratio, ratio_note = _std_ratio(p, q)
    return Check(
        statistic,
        theory,
        empirical,
        se,
        scaled,
        z,
        l1,
        noise,
        ratio,
        linear,
        verdict,
        samples,
        seed=mc.seed,
        basis=basis,
        z_tested=z_tested,
        notes=notes + ratio_note,
    )


def _judge(empirical, se, scaled, z, l1: float, noise: float, samples: int, linear: bool):
    """Whether the estimate agrees with the theory, on what basis, and notes on the z test.

    Agreement needs a small L1 and no pixel far outside its own noise: the largest |z| of
    ``npix`` standard normals stays below the Bonferroni 0.1% level, plus 1 for standard
    errors estimated from heavy-tailed samples (mean z^2 is not robust to those). For a
    linear network, whose theory is exact, the test is one-sided: where the rare large draws
    of a heavy-tailed g^2 were not seen, a pixel's estimate and its standard error are both
    too small, so a pixel far *below* the theory is expected of undersampling (a note says
    so), while the theory is scaled to the estimate's total, so a wrong shape always puts
    pixels above it too. For a nonlinear network both sides count (a gap is reported). Below
    ``_Z_TEST_SAMPLES`` samples those standard errors are too rough for any z test: L1 alone
    decides, and the result says so. Pixels with no spread (deterministic gradients) must
    match to rounding.
    """
    from scipy.special import ndtri

    noisy = se > 0
    total = float(empirical.sum())
    l1_ok = l1 <= 3 * noise + 1e-9
    exact_ok = np.allclose(empirical[~noisy], scaled[~noisy], rtol=1e-9, atol=1e-12 * abs(total))
    basis = [f"normalised L1 within 3 Monte-Carlo noise levels ({3 * noise:.3g})"]
    if not noisy.all():
        basis.append(f"{int((~noisy).sum())} pixel(s) without spread matching to rounding")
    if not noisy.any():
        return l1_ok and exact_ok, " and ".join(basis), False, ()
    limit = float(ndtri(1 - 0.0005 / int(noisy.sum()))) + 1
    max_z = float(np.max(np.abs(z[noisy])))
    if samples >= _Z_TEST_SAMPLES:
        above, below = float(np.max(z[noisy])), float(-np.min(z[noisy]))
        if not linear:
            basis.append(f"max |z| within {limit:.3g} (Bonferroni 0.1% level + 1)")
            return l1_ok and exact_ok and max_z <= limit, " and ".join(basis), True, ()
        basis.append(f"max z above the theory within {limit:.3g} (Bonferroni 0.1% level + 1)")
        notes = ()
        if below > limit:
            notes = (
                f"a pixel lies {below:.3g} standard errors below the theory: expected where "
                "rare large draws of a heavy-tailed g^2 were not seen (its estimate and its "
                "error are both too small); more samples resolve it",
            )
        return l1_ok and exact_ok and above <= limit, " and ".join(basis), True, notes
    skipped = f"z test skipped below {_Z_TEST_SAMPLES} samples"
    notes = ()
    if max_z > limit:
        notes = (
            f"max |z| {max_z:.3g} is beyond the {limit:.3g} level but was not tested (too few "
            f"samples for reliable standard errors): rerun with at least {_Z_TEST_SAMPLES} "
            "samples to test it",
        )
    return l1_ok and exact_ok, " and ".join(basis) + f" only; {skipped}", False, notes


def _std_ratio(p: np.ndarray, q: np.ndarray) -> tuple[tuple[float, ...], tuple[str, ...]]:
    """Per-axis std of ``p`` over std of ``q``; NaN, with a note, where ``q`` has no spread."""
    empirical, theory = _shape_std(np.abs(p)), _shape_std(np.abs(q))
    flat = [axis for axis, t in enumerate(theory) if not t > 0]
    ratio = tuple(math.nan if not t > 0 else float(e / t) for e, t in zip(empirical, theory))
    if not flat:
        return ratio, ()
    axes = ", ".join(str(a) for a in flat)
    return ratio, (
        f"std ratio undefined along {'axes' if len(flat) > 1 else 'axis'} {axes}: the "
        f"theory's map (shape {list(q.shape)}) has no spread there to divide by",
    )


def _layers(net):
    from .architecture import _all_layers

    return list(_all_layers(net.layers))


def _zero_mean_check(mc: MonteCarlo, theory: str, linear: bool) -> Check:
    """E[g] = 0 for zero-mean weights: the z-scores must look like standard normal noise."""
    se = mc.mean_se
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, mc.mean / se, 0.0)
    npix = z.size
    mean_z2 = float(np.mean(z**2))
    limit = 1 + 5 * math.sqrt(2 / npix) + 5 / math.sqrt(mc.samples)
    tested = mc.samples >= _Z_TEST_SAMPLES  # z is Student-t: E[z^2] is infinite below 3 dof
    within = mean_z2 <= limit or not tested
    verdict = "agree" if within else ("disagree" if linear else "gap")
    basis = f"mean z^2 of the estimate against 0 within {limit:.3g} (standard normal noise)"
    notes = ["L1 and std ratio undefined: the predicted E[g] = 0 has no shape to compare"]
    if not tested:
        basis = f"nothing: the z test of E[g] = 0 needs {_Z_TEST_SAMPLES} samples"
        notes.append(
            f"mean z^2 {mean_z2:.3g} was not tested: with {mc.samples} samples the z-scores "
            "follow a Student t distribution too heavy-tailed to judge"
        )
    return Check(
        "mean",
        theory,
        mc.mean,
        se,
        np.zeros(se.shape),
        z,
        float("nan"),
        float("nan"),
        (float("nan"),) * mc.mean.ndim,
        linear,
        verdict,
        mc.samples,
        seed=mc.seed,
        basis=basis,
        z_tested=tested,
        notes=tuple(notes),
    )
