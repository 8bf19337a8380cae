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

This module validates the arguments and runs the sampling loop; the network is prepared
in :mod:`erftheory.rewrites`, its weights drawn in :mod:`erftheory.sampler`, and its
forward pass (with the memory it needs) run in :mod:`erftheory.forward`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import autograd as ag
from .architecture import Network
from .budget import _check_budget, _refuse_over_budget
from .erf import DEFAULT_MAX_BYTES
from .errors import ERFError
from .forward import _forward, _monte_carlo_bytes
from .rewrites import ACTIVATIONS, _gated, _unpadded, with_activation
from .sampler import INITS, _channels, _float_array, _Sampler

__all__ = ["INITS", "ACTIVATIONS", "MonteCarlo", "monte_carlo", "with_activation"]

_STATISTICS = ("sq", "abs", "mean")
_GLOBAL_POOLS = ("globalavgpool", "adaptiveavgpool")


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

    _check_arguments(samples, seed, channels, batch, init, variance_map, max_bytes)
    net = as_network(arch)
    _check_runnable(net)
    if activation is not None:
        net = with_activation(net, activation)
    run = _unpadded(net)
    _check_output_channels(run, channels, init)
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
        input = _fixed_input(input, channels, size)
    runner = _Runner(run, channels, init, variance_map, input, unit, first, shape, size)
    out = runner(seed, samples, batch, show_progress)
    return MonteCarlo(samples=int(samples), seed=int(seed), network=net, batch=int(batch), **out)


def _check_arguments(samples, seed, channels, batch, init, variance_map, max_bytes) -> None:
    """Refuse the arguments of :func:`monte_carlo` that no network could run with."""
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


def _check_runnable(net: Network) -> None:
    """Refuse the layers the Monte-Carlo network does not run (global and fractional ones)."""
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


def _check_output_channels(run: Network, channels: int, init: str) -> None:
    """Refuse an output that is a concatenation (random weights): its unit is one branch's."""
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


def _fixed_input(input, channels: int, size: tuple) -> np.ndarray:
    """A user's fixed input as ``(channels, *size)`` floats, or an ERFError saying why not."""
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
    return input


_LOG10_2 = math.log10(2)
# the backward pass is linear in its seed: seeding it with 2^-SHIFT (or 2^+SHIFT) rescales
# every gradient exactly, which sizes gradients that overflow (or underflow) float64
_SHIFT = 1000
_POWERS = {"mean": 1, "sq": 2, "abs": 1}  # the power of g in each statistic


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
        self.gated = _gated(run)

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
        sums = {k: np.zeros(self.shape) for k in _POWERS}
        squares = {k: np.zeros(self.shape) for k in _POWERS}
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
                    for k, power in _POWERS.items():
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
        return _estimates(sums, squares, samples, top)

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


def _estimates(sums: dict, squares: dict, samples: int, top: int) -> dict:
    """The estimates and their standard errors from the running sums, kept in units of 2^top.

    Raises
    ------
    ERFError
        Where an estimate or its standard error overflows float64 back in its own units.
    """
    out = {}
    names = {"mean": "E[g]", "sq": "E[g^2]", "abs": "E|g|"}
    for key, power in _POWERS.items():
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
