"""The architecture model: frozen layer dataclasses and the network that holds them.

A network is a sequence of layers on a ``dims``-dimensional input. Every per-axis field
(``kernel``, ``stride``, ``dilation``, ``padding``) may be given as an int (the same on every
axis) or a tuple per axis; :class:`Network` resolves them to tuples of length ``dims`` and
validates them, so the rest of erftheory trusts its frozen objects.

Conventions (cross-correlation, as in framework conv layers)::

    z_l[i] = sum_m w_l[m] * z_(l-1)[s_l * i + d_l * m - p_l]

where ``p_l`` is the padding before the first input element.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Union

import numpy as np

from .errors import ERFError

__all__ = [
    "Conv",
    "AvgPool",
    "MaxPool",
    "ReLU",
    "Tanh",
    "GELU",
    "SiLU",
    "Sigmoid",
    "Dropout",
    "Residual",
    "Block",
    "Branches",
    "Identity",
    "BatchNorm",
    "LayerNorm",
    "ConvTranspose",
    "LocallyConnected",
    "Upsample",
    "GlobalAvgPool",
    "AdaptiveAvgPool",
    "Network",
    "Layer",
]

Axes = Union[int, tuple[int, ...]]
Padding = Union[int, str, tuple]


_MAX_TAPS = 10**8  # a kernel is an array: beyond this, refuse before allocating
PADDING_MODES = ("zeros", "circular", "reflect", "replicate")


def _axes(value, dims: int, name: str, where: str, minimum: int = 1) -> tuple[int, ...]:
    """Resolve an int-or-per-axis value to a tuple of ``dims`` ints >= ``minimum``."""
    values = value if isinstance(value, (tuple, list)) else (value,) * dims
    if len(values) != dims:
        raise ERFError(
            f"{where}: {name}={list(values)} has {len(values)} entries but dims={dims}; "
            f"give one int or a list of {dims}"
        )
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
            kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            given = f"{name}={v!r}" if v is value else f"{name}={value!r}: {v!r}"
            raise ERFError(f"{where}: {given} is not {kind}")
    return tuple(map(int, values))


def _padding(value, dims: int, span: tuple[int, ...], where: str) -> tuple[tuple[int, int], ...]:
    """Resolve padding to ``(before, after)`` per axis; ``span`` is ``d (k - 1)`` per axis."""
    if isinstance(value, str):
        if value == "valid":
            return ((0, 0),) * dims
        if value == "same":
            return tuple((t // 2, t - t // 2) for t in span)
        raise ERFError(f"{where}: padding={value!r} is not 'same', 'valid' or an amount")
    values = value if isinstance(value, (tuple, list)) else (value,) * dims
    if len(values) == 1 and isinstance(values[0], (tuple, list)):
        values = tuple(values) * dims  # one [before, after] pair for every axis
    if len(values) != dims:
        raise ERFError(f"{where}: padding={list(values)} has {len(values)} entries but dims={dims}")
    pairs = []
    for v in values:
        pair = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
        if len(pair) != 2:
            raise ERFError(f"{where}: padding entry {list(pair)} must be [before, after]")
        pairs.append(_axes(pair, 2, "padding", where, minimum=0))
    return tuple(pairs)


@dataclass(frozen=True)
class _Layer:
    """Base of all layers: ``repeat`` copies in sequence, and ``layer * n`` repeats."""

    def __mul__(self, n: int):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ERFError(f"repeat count {n!r} is not a positive integer")
        return replace(self, repeat=self.repeat * n)

    __rmul__ = __mul__

    @property
    def type(self) -> str:
        """The layer's name in the JSON format."""
        return type(self).__name__.lower()

    def _resolve(self, dims: int, where: str, inside_residual: bool) -> _Layer:
        _axes(self.repeat, 1, "repeat", where)
        return self


@dataclass(frozen=True)
class _Spatial(_Layer):
    """A layer with a kernel, stride, dilation and padding (conv and pools)."""

    def _resolve(self, dims, where, inside_residual):
        super()._resolve(dims, where, inside_residual)
        kernel = _axes(self.kernel, dims, "kernel", where)
        if math.prod(kernel) > _MAX_TAPS:
            raise ERFError(
                f"{where}: a kernel of {list(kernel)} has {math.prod(kernel):,} taps, over the "
                f"limit of {_MAX_TAPS:,} (kernels are built as arrays)"
            )
        stride = _axes(kernel if self.stride is None else self.stride, dims, "stride", where)
        dilation = _axes(self.dilation, dims, "dilation", where)
        span = tuple(d * (k - 1) for k, d in zip(kernel, dilation))
        default = "same" if inside_residual else 0
        padding = _padding(default if self.padding is None else self.padding, dims, span, where)
        if self.padding_mode is not None and self.padding_mode not in PADDING_MODES:
            raise ERFError(
                f"{where}: padding_mode={self.padding_mode!r} is not one of "
                "'zeros', 'circular', 'reflect', 'replicate'"
            )
        return replace(self, kernel=kernel, stride=stride, dilation=dilation, padding=padding)


@dataclass(frozen=True)
class Conv(_Spatial):
    """A convolution (cross-correlation) with an optional explicit spatial kernel.

    Without ``weights`` every weight is 1 in ``weights="ones"`` mode and an iid zero-mean,
    unit-variance random variable in ``weights="random"`` mode. Explicit ``weights`` follow
    the framework convention ``out[i] = sum_m w[m] x[i * stride + m * dilation]`` (no flip)
    and are a fixed kernel in both modes. Depthwise, grouped and 1x1 convolutions are
    spatially the same kernel (``groups`` only changes which channels mix), so their
    receptive fields and linear ERFs are those of a plain conv of that kernel.

    Examples
    --------
    >>> (Conv(3, stride=2) * 4).repeat
    4
    """

    kernel: Axes = 3
    stride: Axes = 1
    dilation: Axes = 1
    padding: Padding | None = None
    padding_mode: str | None = None  # None: the network-wide default (zeros)
    weights: tuple | None = field(default=None)
    groups: int = 1
    repeat: int = 1

    def __post_init__(self):
        if self.weights is None:
            return
        try:
            array = np.asarray(self.weights, dtype=float)
        except (TypeError, ValueError):
            raise ERFError(
                f"{type(self).__name__}: weights {self.weights!r} are not a rectangular "
                "array of numbers (nested lists or tuples of equal lengths, or an ndarray)"
            ) from None
        if not _hashable_tuple(self.weights):  # a hashable tuple is kept: cheap to rebuild
            object.__setattr__(self, "weights", _freeze(array))

    @property
    def weight_array(self) -> np.ndarray | None:
        """The explicit weights as a float64 array, or None."""
        return None if self.weights is None else np.array(self.weights, dtype=float)

    def _resolve(self, dims, where, inside_residual):
        layer = super()._resolve(dims, where, inside_residual)
        _axes(layer.groups, 1, "groups", where)
        return _check_weights(layer, dims, where)


def _check_weights(layer, dims: int, where: str):
    """Explicit weights must have the kernel's shape and finite values."""
    if layer.weights is None:
        return layer
    w = layer.weight_array
    if w.shape != layer.kernel:
        raise ERFError(
            f"{where}: weights have shape {list(w.shape)} but the kernel is "
            f"{list(layer.kernel)} (dims={dims})"
        )
    if not np.all(np.isfinite(w)):
        raise ERFError(f"{where}: weights contain NaN or inf")
    return layer


def _hashable_tuple(weights) -> bool:
    """Already a (nested) tuple that hashes: left as given, so rebuilding a layer is cheap."""
    if not isinstance(weights, tuple):
        return False
    try:
        hash(weights)
    except TypeError:  # e.g. a tuple of lists
        return False
    return True


def _freeze(array: np.ndarray):
    """A nested tuple of floats: hashable and comparable, unlike an ndarray."""
    if array.ndim == 0:
        return float(array)
    return tuple(_freeze(a) for a in array)


@dataclass(frozen=True)
class _Pool(_Spatial):
    """The fields of a pooling layer; the stride defaults to the kernel."""

    kernel: Axes = 2
    stride: Axes | None = None
    dilation: Axes = 1
    padding: Padding | None = None
    padding_mode: str | None = None  # None: the network-wide default (zeros)
    repeat: int = 1


@dataclass(frozen=True)
class AvgPool(_Pool):
    """Average pooling: a fixed kernel of value ``1 / prod(kernel)``; stride defaults to kernel."""


@dataclass(frozen=True)
class MaxPool(_Pool):
    """Max pooling: in expectation over iid continuous inputs it routes the gradient uniformly.

    Its mean kernel is the average-pool kernel; in ``weights="random"`` mode it is a random
    routing whose squared-gradient kernel is ``1 / prod(kernel)`` per tap.
    """


@dataclass(frozen=True)
class ConvTranspose(_Spatial):
    """A transposed convolution: ``z[s i + d m - p] += w[m] x[i]`` (a fractional stride 1/s).

    Its ERF depends on the output unit's phase; erftheory computes it exactly for the unit
    asked for (by default unit 0) by backpropagating through the layers' adjoints, in
    ``weights="ones"`` mode. ``padding`` is the framework's ``padding`` (cropped from the
    output's start). ``stride`` defaults to 1, as in PyTorch and TensorFlow.
    """

    kernel: Axes = 2
    stride: Axes = 1
    dilation: Axes = 1
    padding: Padding | None = None
    padding_mode: str | None = None  # None: the network-wide default (zeros)
    weights: tuple | None = field(default=None)
    repeat: int = 1

    __post_init__ = Conv.__post_init__
    weight_array = Conv.weight_array

    def _resolve(self, dims, where, inside_residual):
        return _check_weights(_Spatial._resolve(self, dims, where, False), dims, where)


@dataclass(frozen=True)
class LocallyConnected(_Spatial):
    """A locally connected layer: its own kernel at every output position (no sharing).

    ``weights`` has shape ``(*positions, *kernel)``: the output positions (index 0 = output
    unit 0) lead. The linearised ERF is still a sum over paths; erftheory computes it by
    backpropagation (``weights="ones"`` mode) for units whose paths stay on the weight grid.
    """

    kernel: Axes = 3
    stride: Axes = 1
    dilation: Axes = 1
    padding: Padding | None = None
    padding_mode: str | None = None  # None: the network-wide default (zeros)
    weights: tuple | None = field(default=None)
    repeat: int = 1

    __post_init__ = Conv.__post_init__
    weight_array = Conv.weight_array

    @property
    def type(self) -> str:
        """The layer's name in the JSON format."""
        return "local"

    @property
    def positions(self) -> tuple[int, ...]:
        """The output grid the weights cover."""
        return self.weight_array.shape[: len(self.kernel)]

    def _resolve(self, dims, where, inside_residual):
        layer = _Spatial._resolve(self, dims, where, inside_residual)
        if inside_residual:
            raise ERFError(f"{where}: a locally connected layer inside a residual or branch")
        if layer.weights is None:
            raise ERFError(f"{where}: a locally connected layer needs its weights")
        w = layer.weight_array
        if w.ndim != 2 * dims or w.shape[dims:] != layer.kernel:
            raise ERFError(
                f"{where}: locally connected weights have shape {list(w.shape)}; expected "
                f"[*output positions ({dims} axes), *kernel {list(layer.kernel)}]"
            )
        if not np.all(np.isfinite(w)):
            raise ERFError(f"{where}: weights contain NaN or inf")
        return layer


@dataclass(frozen=True)
class Upsample(_Layer):
    """Upsampling by an integer factor, ``nearest`` or ``bilinear`` (align_corners=False).

    Nearest: ``z[i] = x[floor(i / u)]``; bilinear interpolates at ``(i + 1/2) / u - 1/2``.
    A fractional stride: see :class:`ConvTranspose` for how its ERF is computed.
    """

    factor: Axes = 2
    mode: str = "nearest"
    repeat: int = 1

    def _resolve(self, dims, where, inside_residual):
        super()._resolve(dims, where, inside_residual)
        if self.mode not in ("nearest", "bilinear"):
            raise ERFError(f"{where}: upsample mode={self.mode!r} is not 'nearest' or 'bilinear'")
        return replace(self, factor=_axes(self.factor, dims, "factor", where))


@dataclass(frozen=True)
class GlobalAvgPool(_Layer):
    """Global average pooling: an average over the whole feature map.

    Its kernel is the feature map, whose size depends on the input: give the input
    resolution (``input_shape=``, ``--input H,W``) and it becomes an :class:`AvgPool`.
    """

    repeat: int = 1

    def _resolve(self, dims, where, inside_residual):
        super()._resolve(dims, where, inside_residual)
        if inside_residual:
            raise ERFError(f"{where}: global pooling inside a residual block or branch")
        return self


@dataclass(frozen=True)
class AdaptiveAvgPool(_Layer):
    """Adaptive average pooling to ``output`` positions per axis (needs the input resolution).

    At a resolution where the feature map ``n`` is a multiple of ``output`` it is an
    :class:`AvgPool` of kernel and stride ``n / output``; otherwise its windows differ in
    size from unit to unit and it is refused with the sizes.
    """

    output: Axes = 1
    repeat: int = 1

    def _resolve(self, dims, where, inside_residual):
        super()._resolve(dims, where, inside_residual)
        if inside_residual:
            raise ERFError(f"{where}: adaptive pooling inside a residual block or branch")
        return replace(self, output=_axes(self.output, dims, "output", where))


@dataclass(frozen=True)
class _Activation(_Layer):
    repeat: int = 1


@dataclass(frozen=True)
class ReLU(_Activation):
    """ReLU; its gate is modelled as an independent Bernoulli(1/2) switch (factor 1/2)."""


@dataclass(frozen=True)
class Smooth(_Activation):
    """An activation without a closed-form gate (tanh, sigmoid, GELU, SiLU).

    Pass-through for the TRF; the analytic ERF refuses it (no closed form exists),
    and ``erftheory check`` measures it.
    """


@dataclass(frozen=True)
class Tanh(Smooth):
    """tanh: no closed-form gate; the analytic ERF refuses it, Monte Carlo measures it."""


@dataclass(frozen=True)
class Sigmoid(Smooth):
    """Sigmoid: no closed-form gate; the analytic ERF refuses it, Monte Carlo measures it."""


@dataclass(frozen=True)
class GELU(Smooth):
    """GELU ``x Phi(x)`` (the exact, erf-based form): no closed-form gate, like tanh."""


@dataclass(frozen=True)
class SiLU(Smooth):
    """SiLU / swish ``x sigmoid(x)``: no closed-form gate, like tanh."""


@dataclass(frozen=True)
class Identity(_Activation):
    """A pass-through layer (also the identity branch of a multi-branch join).

    ``origin`` names the layer type a user asked to treat as identity (an opt-in for layers
    erftheory does not model); reports list those.
    """

    origin: str = ""


@dataclass(frozen=True)
class BatchNorm(_Activation):
    """Batch normalisation: a per-channel affine map, so a pass-through for the spatial ERF."""


@dataclass(frozen=True)
class LayerNorm(_Activation):
    """Layer/group normalisation, taken as a pass-through in the linear model.

    At inference it rescales by statistics of the input (which couples positions); the
    linear model ignores that coupling, as it ignores the data dependence of every gate.
    """


@dataclass(frozen=True)
class Dropout(_Layer):
    """Dropout as frameworks do it: keep with probability ``1 - p``, scale by ``1 / (1 - p)``."""

    p: float = 0.5
    repeat: int = 1

    def _resolve(self, dims, where, inside_residual):
        super()._resolve(dims, where, inside_residual)
        p = self.p
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
            raise ERFError(f"{where}: dropout p={p!r} is outside [0, 1)")
        return replace(self, p=float(p))


@dataclass(frozen=True)
class Block(_Layer):
    """A group of layers in sequence, repeated as a whole (``(conv3, relu) * 10``)."""

    layers: tuple = ()
    repeat: int = 1

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))

    def _resolve(self, dims, where, inside_residual):
        super()._resolve(dims, where, inside_residual)
        if not self.layers:
            raise ERFError(f"{where}: a {self.type} needs at least one layer")
        layers = tuple(
            _resolve_layer(layer, dims, f"{where}.layers[{i}]", inside_residual)
            for i, layer in enumerate(self.layers)
        )
        return replace(self, layers=layers)


@dataclass(frozen=True)
class Residual(Block):
    """A residual block ``y = x + F(x)``; F has total stride 1 and is centred ('same').

    Padding inside the body defaults to 'same'. The body's receptive field must be odd on
    every axis and centred on its output unit, otherwise the identity and the body would
    not be aligned.
    """

    def paths(self) -> tuple:
        """The branches joined by addition: the body and the identity."""
        return (self.layers, (Identity(),))

    def _resolve(self, dims, where, inside_residual):
        resolved = Block._resolve(self, dims, where, True)
        _check_alignment(resolved.paths(), dims, where, ("the residual body", "the identity"))
        return resolved


@dataclass(frozen=True)
class Branches(_Layer):
    """Parallel branches joined by addition or concatenation (Inception, ResNet shortcuts).

    Every branch reads the same input; their outputs must be aligned: the same effective
    stride and the same centre for every output unit (Araujo et al., Distill 2019), which
    the model checks. Padding inside a branch defaults to 'same'. In the linear model a
    concatenation feeding a conv is a sum over the channels it reads, so ``join="concat"``
    has the same spatial kernel as ``join="add"``.

    Examples
    --------
    >>> b = Branches([[Conv(3, stride=2)], [Conv(1, stride=2)]], join="add")
    >>> Network([b], dims=1).layers[0].branches[0][0].padding
    ((1, 1),)
    """

    branches: tuple = ()
    join: str = "add"
    repeat: int = 1

    def __post_init__(self):
        object.__setattr__(self, "branches", tuple(tuple(b) for b in self.branches))

    def paths(self) -> tuple:
        """The branches, each a tuple of layers."""
        return self.branches

    def _resolve(self, dims, where, inside_residual):
        super()._resolve(dims, where, inside_residual)
        if self.join not in ("add", "concat"):
            raise ERFError(f"{where}: join={self.join!r} is not 'add' or 'concat'")
        if len(self.branches) < 2 or any(not b for b in self.branches):
            raise ERFError(
                f"{where}: a join needs at least two non-empty branches (use an identity "
                "layer for a shortcut)"
            )
        branches = tuple(
            tuple(
                _resolve_layer(layer, dims, f"{where}.branches[{b}][{i}]", True)
                for i, layer in enumerate(branch)
            )
            for b, branch in enumerate(self.branches)
        )
        names = tuple(f"branch {b}" for b in range(len(branches)))
        _check_alignment(branches, dims, where, names)
        return replace(self, branches=branches)


def _check_alignment(paths, dims: int, where: str, names) -> None:
    """Refuse branches whose output units do not share one stride and one centre.

    Paths with upsampling or transposed convs are joined by index, as frameworks do; their
    fields come from backpropagation (exact whatever the alignment), so only the stride, a
    fraction, must agree: branches at different resolutions cannot be joined.
    """
    from .receptive_field import _walk  # the TRF recurrence, shared with rf tables

    if any(isinstance(x, (Upsample, ConvTranspose)) for path in paths for x in _all_layers(path)):
        jumps = [_fractional_jump(path, dims) for path in paths]
        for name, jump in zip(names[1:], jumps[1:]):
            if jump != jumps[0]:
                raise ERFError(
                    f"{where}: {name} has effective stride {[str(j) for j in jump]} but "
                    f"{names[0]} has {[str(j) for j in jumps[0]]}; joined branches must keep "
                    "the same resolution"
                )
        return
    states = [_walk(path, dims) for path in paths]
    first = states[0]
    for name, state in zip(names[1:], states[1:]):
        if state.jump != first.jump:
            raise ERFError(
                f"{where}: {name} has effective stride {list(state.jump)} but {names[0]} has "
                f"{list(first.jump)}; joined branches must keep the same resolution"
            )
        for axis in range(dims):
            twice = [2 * s.start[axis] + s.size[axis] - 1 for s in (first, state)]
            if twice[0] != twice[1]:
                raise ERFError(
                    f"{where}: misaligned branches on axis {axis}: {names[0]} is centred at "
                    f"{twice[0] / 2:g} (field {first.size[axis]}, start {first.start[axis]}) "
                    f"but {name} at {twice[1] / 2:g} (field {state.size[axis]}, start "
                    f"{state.start[axis]}); " + _alignment_hint(twice)
                )


def _alignment_hint(twice: list[int]) -> str:
    """How to align two branch centres (given doubled), or why padding cannot."""
    if twice[0] % 2 == twice[1] % 2:
        return "pad them so that their centres agree"
    return (
        "padding cannot align them: one centre is at a half-integer (an even field, as of "
        "an even kernel) and padding, even asymmetric, moves a centre by whole pixels; make "
        "both fields odd (an odd kernel such as conv3 for conv2, or two even layers), then pad"
    )


Layer = Union[
    Conv,
    AvgPool,
    MaxPool,
    ReLU,
    Tanh,
    Sigmoid,
    GELU,
    SiLU,
    Identity,
    BatchNorm,
    LayerNorm,
    Dropout,
    Block,
    Residual,
    Branches,
]


def _resolve_layer(layer, dims: int, where: str, inside_residual: bool):
    if not isinstance(layer, _Layer):
        raise ERFError(f"{where}: {layer!r} is not a layer (Conv, AvgPool, MaxPool, ...)")
    return layer._resolve(dims, where, inside_residual)


@dataclass(frozen=True)
class Network:
    """An immutable network: ``dims`` spatial axes and a sequence of layers.

    Parameters
    ----------
    layers : sequence of layers
        Conv, AvgPool, MaxPool, ReLU, Tanh, Sigmoid, Dropout, Block, Residual.
    dims : int
        Number of spatial axes, 1, 2 or 3.

    Examples
    --------
    >>> net = Network([Conv(3) * 10], dims=2)
    >>> net.layers[0].kernel
    (3, 3)
    """

    layers: tuple = ()
    dims: int = 2

    def __post_init__(self):
        if (
            isinstance(self.dims, bool)
            or not isinstance(self.dims, int)
            or self.dims not in (1, 2, 3)
        ):
            raise ERFError(f"dims={self.dims!r} is not 1, 2 or 3")
        layers = tuple(self.layers)
        if not layers:
            raise ERFError("the network has no layers")
        resolved = tuple(
            _resolve_layer(layer, self.dims, f"layers[{i}]", False)
            for i, layer in enumerate(layers)
        )
        object.__setattr__(self, "layers", resolved)

    def __hash__(self) -> int:  # hashed once: networks key the memo caches of every call
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash((self.layers, self.dims))
            object.__setattr__(self, "_hash", h)
        return h

    def __getstate__(self) -> dict:  # the hash memo stays behind: str hashes vary by process
        state = dict(self.__dict__)
        state.pop("_hash", None)
        return state

    def __add__(self, other: Network) -> Network:
        if not isinstance(other, Network) or other.dims != self.dims:
            raise ERFError("only networks with the same dims can be concatenated")
        return Network(self.layers + other.layers, self.dims)

    def repeated(self, n: int) -> Network:
        """The whole network repeated ``n`` times in sequence (for depth sweeps)."""
        return Network((Block(self.layers, repeat=1) * n,), self.dims)

    @property
    def needs_resolution(self) -> bool:
        """Whether the network has global or adaptive pooling (sized by the input)."""
        return any(isinstance(x, (GlobalAvgPool, AdaptiveAvgPool)) for x in self.layers)

    @functools.cached_property
    def fractional(self) -> bool:
        """Whether the ERF needs backpropagation: fractional strides or position-dependent kernels.

        Upsampling and transposed convs (the ERF depends on the unit's phase) and locally
        connected layers (a kernel per position) are not kernel compositions.
        """
        kinds = (Upsample, ConvTranspose, LocallyConnected)
        return any(isinstance(x, kinds) for x in _all_layers(self.layers))

    @property
    def treated_as_identity(self) -> tuple[str, ...]:
        """Layer types the user opted to treat as identity (sorted, unique)."""
        return tuple(
            sorted(
                {x.origin for x in _all_layers(self.layers) if isinstance(x, Identity) and x.origin}
            )
        )

    @property
    def depth(self) -> int:
        """The number of conv and pooling layers, counting repeats (activations excluded)."""
        return _depth(self.layers)


def _fractional_jump(layers, dims: int) -> tuple[Fraction, ...]:
    """Input pixels per output unit of a path, as fractions (upsampling divides)."""
    jump = (Fraction(1),) * dims
    for layer in layers:
        if isinstance(layer, Branches):
            step = _fractional_jump(layer.branches[0], dims)  # aligned when resolved
        elif isinstance(layer, Residual):
            step = (Fraction(1),) * dims
        elif isinstance(layer, Block):
            step = _fractional_jump(layer.layers, dims)
        elif isinstance(layer, Upsample):
            step = tuple(Fraction(1, u) for u in layer.factor)
        elif isinstance(layer, ConvTranspose):
            step = tuple(Fraction(1, s) for s in layer.stride)
        elif isinstance(layer, _Spatial):
            step = tuple(Fraction(s) for s in layer.stride)
        else:
            continue
        jump = tuple(j * t**layer.repeat for j, t in zip(jump, step))
    return jump


def with_padding_mode(net: Network, mode: str | None) -> Network:
    """The network with ``mode`` for every conv/pool that declares no padding mode.

    The network-wide default of the JSON format's top-level ``"padding"``, the compact
    string's ``circular:`` prefix and ``--padding``; a layer's own mode overrides it (so a
    prefix in the architecture, stored on its layers, wins over ``--padding``). ``None``
    changes nothing.
    """
    if mode is None:
        return net
    if mode not in PADDING_MODES:
        raise ERFError(f"padding mode {mode!r} is not one of {', '.join(PADDING_MODES)}")

    def set_mode(layer):
        if isinstance(layer, _Spatial) and not isinstance(layer, ConvTranspose):  # pads no input
            return replace(layer, padding_mode=layer.padding_mode or mode)
        return layer

    return Network(_map_layers(net.layers, set_mode), net.dims)


def _map_layers(layers, change, descend=lambda layer: True) -> tuple:
    """``layers`` with ``change`` applied to every layer that is not a container.

    Branches and blocks (residual ones included) are rebuilt around their changed layers,
    where ``descend(container)`` says so; other containers go to ``change`` whole.
    """

    def one(layer):
        if isinstance(layer, Branches) and descend(layer):
            return replace(layer, branches=tuple(tuple(map(one, b)) for b in layer.branches))
        if isinstance(layer, Block) and descend(layer):
            return replace(layer, layers=tuple(map(one, layer.layers)))
        return change(layer)

    return tuple(map(one, layers))


def _all_layers(layers):
    """Every layer, nested ones included (branches, residual bodies, blocks)."""
    for layer in layers:
        yield layer
        if isinstance(layer, Branches):
            for path in layer.branches:
                yield from _all_layers(path)
        elif isinstance(layer, Block):
            yield from _all_layers(layer.layers)


def _depth(layers) -> int:
    total = 0
    for layer in layers:
        if isinstance(layer, Branches):
            total += layer.repeat * max(_depth(b) for b in layer.branches)
        elif isinstance(layer, Block):
            total += layer.repeat * _depth(layer.layers)
        elif isinstance(layer, _Spatial):
            total += layer.repeat
    return total
