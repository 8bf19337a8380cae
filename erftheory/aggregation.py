"""Aggregation of per-image gradient stacks into one empirical ERF map, by a named protocol.

Users measure an ERF as the gradient of one output unit with respect to the input, usually
averaged over images (Luo et al. 2016; the RepLKNet ``erf/`` scripts, Ding et al. 2022): a
per-sample transform (``|g|``, ``g^2``, ``max(g, 0)``, ``g``), a mean over images and a sum
over channels, optionally RepLKNet's ``log10(x + 1)`` step (:data:`AGGREGATIONS`).

Array layout: the ``dims`` spatial axes and up to two stack axes, images first. With
``layout="channels_first"`` (the PyTorch ``N, C, H, W`` order) the stack is ``(*spatial)``,
``(images, *spatial)`` or ``(images, channels, *spatial)``; with ``layout="channels_last"``
(JAX/Flax and TensorFlow's ``N, H, W, C``) it is ``(images, *spatial, channels)``. One extra
axis is always images: pass a single channels-last image as ``g[None]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import ERFError
from .map_files import _real_map

__all__ = ["aggregate", "AGGREGATIONS", "LAYOUTS"]

LAYOUTS = ("channels_first", "channels_last")

AGGREGATIONS = {
    "abs": ("mean over images of |g|, summed over channels", np.abs),
    "sq": ("mean over images of g^2, summed over channels", np.square),
    "relu": (
        "mean over images of max(g, 0), summed over channels (RepLKNet)",
        lambda g: np.maximum(g, 0.0),
    ),
    "raw": ("mean over images of g (signed), summed over channels", lambda g: g),
    "none": ("used as given (already aggregated)", lambda g: g),
}


def aggregate(
    stack: np.ndarray,
    dims: int,
    method: str = "abs",
    log_scale: bool = False,
    layout: str = "channels_first",
):
    """Reduce a stack to one map the way the common protocols do; returns ``(map, protocol)``.

    Parameters
    ----------
    stack : numpy.ndarray
        ``(*spatial)``, ``(images, *spatial)``, or with channels ``(images, channels,
        *spatial)`` (``layout="channels_first"``) or ``(images, *spatial, channels)``
        (``layout="channels_last"``).
    dims : int
        Number of spatial axes.
    method : {"abs", "sq", "relu", "raw", "none"}
        Per-sample transform before averaging over images and summing over channels;
        ``"none"`` takes a map that is already aggregated.
    log_scale : bool
        Apply ``log10(x + 1)`` afterwards, as the RepLKNet scripts do (this makes the
        result depend on the map's absolute scale).
    layout : {"channels_first", "channels_last"}
        Where a stack's channel axis is (module docstring).

    Returns
    -------
    tuple of (numpy.ndarray, str)
        The map over the spatial axes, and the protocol in words, with the stack's axes as
        they were read (``"300 images x 3 channels of 64 x 64"``).

    Raises
    ------
    ERFError
        An unknown ``method`` or ``layout``, a stack whose axes do not fit ``dims``, an
        array that is not real finite numbers, a result beyond float64 (``sq`` of values
        near 1e160), ``log_scale`` with a negative map.

    Examples
    --------
    >>> m, protocol = aggregate(np.array([[1.0, -3.0], [-1.0, 1.0]]), dims=1, method="abs")
    >>> m.tolist(), protocol
    ([1.0, 2.0], 'mean over images of |g|; 2 images of 2 (a 2-D array read as a stack of 1-D maps)')
    """  # noqa: E501
    _, values, text = _aggregate(stack, dims, method, layout)
    return _log_scaled(values, text) if log_scale else (values, text)


@dataclass(frozen=True, eq=False)
class _Stack:
    """A stack as given (own dtype) and how its axes were read.

    ``images`` and ``channels`` are 0 where the array has no such axis; ``exponent`` the
    power of two the values are divided by before any arithmetic (``2**exponent`` is at
    least their largest magnitude), so that squares and sums cannot overflow.
    """

    array: np.ndarray
    images: int
    channels: int
    spatial: tuple[int, ...]
    layout: str
    exponent: int
    peak: float

    @property
    def text(self) -> str:
        """The axes as read, in words."""
        shape = " x ".join(map(str, self.spatial))
        if not self.images:
            return f"one {shape} map"
        images = f"{self.images} image{'s' if self.images != 1 else ''}"
        if self.channels:
            where = self.layout.replace("_", " ")
            channels = f"{self.channels} channel{'s' if self.channels != 1 else ''}"
            return f"{images} x {channels} of {shape} ({where})"
        dims = len(self.spatial)
        return f"{images} of {shape} (a {dims + 1}-D array read as a stack of {dims}-D maps)"

    def chunk(self, index: slice, window: tuple = ()) -> np.ndarray:
        """Images ``index`` (all channels) over ``window`` of the spatial axes, float64, scaled."""
        window = window or (slice(None),) * len(self.spatial)
        if not self.images:
            part = self.array[window][None]
        elif self.layout == "channels_last" and self.channels:
            part = self.array[(index, *window, slice(None))]
        else:
            part = self.array[(index, slice(None), *window) if self.channels else (index, *window)]
        return np.ldexp(part.astype(float), -self.exponent)


def _read_stack(stack, dims: int, layout: str, method: str, field=None) -> _Stack:
    """The stack checked and its axes read (module docstring), without converting it.

    ``field`` (the receptive field's shape) lets a channels-last stack read as channels
    first be recognised: a last spatial axis of at most 4 entries, across a wider field.
    """
    if layout not in LAYOUTS:
        raise ERFError(f"layout={layout!r} is not one of {', '.join(map(repr, LAYOUTS))}")
    stack = _real_map(stack, convert=False)
    extra = stack.ndim - dims
    if extra < 0 or extra > 2:
        raise ERFError(
            f"a map of shape {list(stack.shape)} does not fit a {dims}-D architecture: expected "
            f"{dims} spatial axes, with up to two (images, channels) axes"
        )
    if method == "none" and extra:
        raise ERFError(
            f"aggregate='none' takes one {dims}-D map, not a stack of shape {list(stack.shape)}"
        )
    spatial = stack.shape[1:-1] if extra == 2 and layout == "channels_last" else stack.shape[extra:]
    if extra and field is not None and spatial[-1] <= 4 < field[-1]:
        fix = (
            "layout='channels_last' (--layout channels-last) for an (images, *spatial, "
            "channels) stack"
            if extra == 2 and layout == "channels_first"
            else "a single channels-last image needs a leading images axis (g[None]) and "
            "layout='channels_last' (--layout channels-last)"
        )
        raise ERFError(
            f"the stack of shape {list(stack.shape)} read {layout.replace('_', ' ')} has a last "
            f"spatial axis of {spatial[-1]} across a receptive field of {field[-1]}: it looks "
            f"like channels; use {fix}"
        )
    channels = 0
    if extra == 2:
        channels = stack.shape[-1] if layout == "channels_last" else stack.shape[1]
    if stack.dtype.kind == "b":
        peak = 1.0
    else:
        peak = max(abs(float(stack.max())), abs(float(stack.min())))
    exponent = math.frexp(peak)[1] if peak > 0 else 0
    images = stack.shape[0] if extra else 0
    return _Stack(stack, images, channels, spatial, layout, exponent, peak)


# images per chunk: about 32 MiB of float64 at a time, whatever the stack's size
_CHUNK_VALUES = 2**22


def _aggregate(stack, dims: int, method: str, layout: str = "channels_first", field=None):
    """``aggregate`` without the log step: ``(_Stack, map, protocol)``.

    The stack is reduced a chunk of images at a time (never copied whole to float64), each
    chunk divided by ``2**exponent`` before the transform; the map is scaled back at the
    end, and refused if it leaves float64 (a one-line error, never an overflow).
    """
    if method not in AGGREGATIONS:
        raise ERFError(f"aggregate={method!r} is not one of {', '.join(AGGREGATIONS)}")
    read = _read_stack(stack, dims, layout, method, field)
    total = np.zeros(read.spatial)
    for values in _transformed(read, method):
        total += values.sum(axis=0)
    with np.errstate(under="ignore"):
        total /= max(read.images, 1)
    power = 2 if method == "sq" else 1
    with np.errstate(over="ignore", under="ignore"):
        values = np.ldexp(total, power * read.exponent)
    if not np.all(np.isfinite(values)):
        raise ERFError(
            f"aggregate={method!r} of values up to {read.peak:.3g} gives a map beyond float64 "
            "(largest 1.8e+308); multiply the stack by a small power of ten first (the "
            "comparison is scale free; only the log step and its area ratio read the scale)"
        )
    if np.any(total) and float(np.abs(values).max()) < _TINY:
        raise ERFError(
            f"aggregate={method!r} of values up to {read.peak:.3g} gives a map below float64's "
            "normal range (2.2e-308); multiply the stack by a large power of ten first (the "
            "comparison is scale free; only the log step and its area ratio read the scale)"
        )
    return read, values, _protocol(method, read)


# the per-sample transform of each protocol, for the text that says what was done
_SYMBOL = {"abs": "|g|", "sq": "g^2", "relu": "max(g, 0)", "raw": "g (signed)"}


def _protocol(method: str, read: _Stack) -> str:
    """The protocol in words, as applied to the axes actually present.

    Examples
    --------
    >>> read = _read_stack(np.ones((300, 3, 8, 8)), 2, "channels_first", "sq")
    >>> _protocol("sq", read)
    'mean over images of g^2, summed over channels; 300 images x 3 channels of 8 x 8 (channels first)'
    """  # noqa: E501
    if method == "none":
        return f"{AGGREGATIONS['none'][0]}; {read.text}"
    steps = ["mean over images of " + _SYMBOL[method] if read.images else _SYMBOL[method]]
    if read.channels:
        steps.append("summed over channels")
    text = ", ".join(steps) + (" (RepLKNet)" if method == "relu" else "")
    return f"{text}; {read.text}"


_TINY = np.finfo(float).tiny


def _per_image(read: _Stack, method: str, window: tuple) -> np.ndarray:
    """Each image's transformed map over ``window`` (input slices), summed over channels.

    Shape ``(images, *window)``, scaled by ``2**-exponent`` (``**-2`` for ``sq``): the
    standard errors and resamples that read it are scale free.
    """
    return np.concatenate(list(_transformed(read, method, window)))


def _transformed(read: _Stack, method: str, window: tuple = ()):
    """The protocol's transform of the stack, summed over channels, a chunk of images at once.

    Yields arrays of shape ``(images in the chunk, *window)`` (the whole map without a
    window), scaled by ``2**-exponent`` (:meth:`_Stack.chunk`): never the stack whole in
    float64.
    """
    transform = AGGREGATIONS[method][1]
    spatial = [s.stop - s.start for s in window] if window else read.spatial
    step = max(1, _CHUNK_VALUES // max(1, math.prod(spatial) * max(read.channels, 1)))
    for first in range(0, max(read.images, 1), step):
        with np.errstate(under="ignore"):
            values = transform(read.chunk(slice(first, first + step), window))
            if read.channels:
                values = values.sum(axis=1 if read.layout == "channels_first" else -1)
        yield values


def _log_scaled(values: np.ndarray, protocol: str) -> tuple[np.ndarray, str]:
    """RepLKNet's ``log10(x + 1)`` step, and ``protocol`` with a note that it was applied.

    The step is defined for a map of magnitudes (``abs``, ``sq`` or ``relu``): below zero it
    turns the sign into a size (and below -1 it is undefined), so a negative value is refused.

    Raises
    ------
    ERFError
        A map with negative values.

    Examples
    --------
    >>> m, protocol = _log_scaled(np.array([0.0, 9.0, 99.0]), "used as given")
    >>> m.tolist(), protocol
    ([0.0, 1.0, 2.0], 'used as given, then log10(x + 1)')
    """
    lowest = float(values.min())
    if lowest < 0:
        raise ERFError(
            f"the log step log10(x + 1) takes a map of magnitudes, but this one has values down "
            f"to {lowest:.4g}: aggregate with abs, sq or relu, or drop --log-scale (log_scale)"
        )
    return np.log10(values + 1.0), protocol + ", then log10(x + 1)"
