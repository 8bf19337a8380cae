"""Spatial layers: frozen dataclasses with a kernel, a stride or a resampling factor.

Every per-axis field (``kernel``, ``stride``, ``dilation``, ``padding``) may be given as an
int (the same on every axis) or a tuple per axis; a layer's ``_resolve`` turns them into
tuples of length ``dims`` and validates them (the network calls it), so the rest of
erftheory trusts its frozen objects. :class:`_Layer` is the base of every layer, spatial,
pointwise (:mod:`erftheory.pointwise`) or container (:mod:`erftheory.blocks`).

Conventions (cross-correlation, as in framework conv layers)::

    z_l[i] = sum_m w_l[m] * z_(l-1)[s_l * i + d_l * m - p_l]

where ``p_l`` is the padding before the first input element.
"""

from __future__ import annotations

import math
import reprlib
from dataclasses import dataclass, field, replace
from typing import Union

import numpy as np

from .errors import ERFError

__all__ = [
    "Conv",
    "AvgPool",
    "MaxPool",
    "ConvTranspose",
    "LocallyConnected",
    "Upsample",
    "PixelShuffle",
    "GlobalAvgPool",
    "AdaptiveAvgPool",
    "PADDING_MODES",
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


def _entries(value, name: str, where: str, minimum: int = 1) -> None:
    """Refuse an int-or-per-axis value with an entry that is not an integer >= ``minimum``."""
    n = len(value) if isinstance(value, (tuple, list)) else 1
    _axes(value, n, name, where, minimum)


def _count(value, name: str, where: str) -> int:
    """Refuse a count (``repeat``, ``groups``) that is not one positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ERFError(f"{where}: {name}={value!r} is not a positive integer")
    return int(value)


def _check_mode(mode, where: str) -> None:
    """Refuse a padding mode that is not None (the network's default) or one of the modes."""
    if mode is not None and (not isinstance(mode, str) or mode not in PADDING_MODES):
        raise ERFError(
            f"{where}: padding_mode={mode!r} is not one of 'zeros', 'circular', 'reflect', "
            "'replicate'"
        )


@dataclass(frozen=True)
class _Layer:
    """Base of all layers: ``repeat`` copies in sequence, and ``layer * n`` repeats.

    A layer refuses at construction the values no network could take (``Conv(0)``,
    ``Dropout(1)``): :meth:`_check`, with the class for its place (a parser puts its own
    place, ``layers[3]``, instead). What depends on the network's dims (a per-axis value's
    length, a kernel's shape against its weights) waits for :meth:`_resolve`.
    """

    def __post_init__(self):
        self._check(type(self).__name__)

    def _check(self, where: str) -> None:
        _count(self.repeat, "repeat", where)

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
        _count(self.repeat, "repeat", where)
        return self


@dataclass(frozen=True)
class _Spatial(_Layer):
    """A layer with a kernel, stride, dilation and padding (conv and pools)."""

    def _check(self, where):
        super()._check(where)
        _entries(self.kernel, "kernel", where)
        if self.stride is not None:
            _entries(self.stride, "stride", where)
        _entries(self.dilation, "dilation", where)
        if self.padding is not None:
            n = len(self.padding) if isinstance(self.padding, (tuple, list)) else 1
            _padding(self.padding, n, (0,) * n, where)
        _check_mode(self.padding_mode, where)

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
        _check_mode(self.padding_mode, where)
        return replace(self, kernel=kernel, stride=stride, dilation=dilation, padding=padding)


@dataclass(frozen=True)
class _Weighted(_Spatial):
    """A spatial layer that may carry explicit weights: conv, transposed, locally connected.

    The weights are frozen into a nested tuple of floats (hashable, comparable) and refused
    where they are no array of finite numbers; their shape is checked against the kernel
    when the network is built.
    """

    def __post_init__(self):
        if self.weights is None:
            return super().__post_init__()
        try:
            array = np.asarray(self.weights, dtype=float)
        except (TypeError, ValueError):
            raise ERFError(
                f"{type(self).__name__}: weights {_shown(self.weights)} are not a rectangular "
                "array of numbers (nested lists or tuples of equal lengths, or an ndarray)"
            ) from None
        except OverflowError:
            raise ERFError(
                f"{type(self).__name__}: weights {_shown(self.weights)} hold a number beyond "
                "float64's range"
            ) from None
        if not _hashable_tuple(self.weights):  # a hashable tuple is kept: cheap to rebuild
            object.__setattr__(self, "weights", _freeze(array))
        super().__post_init__()

    def _check(self, where):
        super()._check(where)
        if self.weights is not None and not np.all(np.isfinite(self.weight_array)):
            raise ERFError(f"{where}: weights contain NaN or inf")

    @property
    def weight_array(self) -> np.ndarray | None:
        """The explicit weights as a float64 array, or None."""
        return None if self.weights is None else np.array(self.weights, dtype=float)


@dataclass(frozen=True)
class Conv(_Weighted):
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

    def _check(self, where):
        super()._check(where)
        _count(self.groups, "groups", where)

    def _resolve(self, dims, where, inside_residual):
        layer = super()._resolve(dims, where, inside_residual)
        _count(layer.groups, "groups", where)
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


_SHORT_REPR = reprlib.Repr()
_SHORT_REPR.maxlong = _SHORT_REPR.maxstring = 40


def _shown(value) -> str:
    """``repr(value)`` cut short (a message names a value, it does not print a whole array)."""
    return _SHORT_REPR.repr(value)


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
class ConvTranspose(_Weighted):
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

    def _resolve(self, dims, where, inside_residual):
        return _check_weights(_Spatial._resolve(self, dims, where, False), dims, where)


@dataclass(frozen=True)
class LocallyConnected(_Weighted):
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

    def _check(self, where):
        super()._check(where)
        _entries(self.factor, "factor", where)
        if not isinstance(self.mode, str) or self.mode not in ("nearest", "bilinear"):
            raise ERFError(f"{where}: upsample mode={self.mode!r} is not 'nearest' or 'bilinear'")

    def _resolve(self, dims, where, inside_residual):
        super()._resolve(dims, where, inside_residual)
        self._check(where)
        return replace(self, factor=_axes(self.factor, dims, "factor", where))


@dataclass(frozen=True)
class PixelShuffle(Upsample):
    """Pixel shuffle (depth to space) by ``factor``: ``z[c, u i + a] = x[c u + a, i]`` per axis.

    Every output position reads one input position, ``floor(i / u)``, through the channel of
    its phase. In ``weights="ones"`` mode every channel of the layer below carries the same
    map and the layer above sums its channels, so the ERF is that of nearest upsampling by
    ``factor``, phase-dependent and computed as :class:`Upsample`'s. In ``weights="random"``
    mode the phases reach different channels of the layer below, and so independent weights,
    where nearest upsampling repeats one channel: like every fractional stride it is refused
    there (measure it). Its receptive field is nearest upsampling's.

    Examples
    --------
    >>> from erftheory import Conv, Network, erf
    >>> net = Network([Conv(3), PixelShuffle(2), Conv(3)], dims=1)
    >>> erf(net, unit=0).values.tolist() == erf("1d: conv3, up2, conv3", unit=0).values.tolist()
    True
    """

    mode: str = "nearest"

    @property
    def type(self) -> str:
        """The layer's name in the JSON format."""
        return "pixelshuffle"

    def _check(self, where):
        super()._check(where)
        if not isinstance(self.mode, str) or self.mode != "nearest":
            raise ERFError(
                f"{where}: a pixel shuffle reads one input position per output (mode "
                f"'nearest'), not {self.mode!r}"
            )


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

    def _check(self, where):
        super()._check(where)
        _entries(self.output, "output", where)

    def _resolve(self, dims, where, inside_residual):
        super()._resolve(dims, where, inside_residual)
        if inside_residual:
            raise ERFError(f"{where}: adaptive pooling inside a residual block or branch")
        return replace(self, output=_axes(self.output, dims, "output", where))
