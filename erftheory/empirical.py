"""Empirical ERF maps measured elsewhere: loading, aggregation and alignment.

Users measure an ERF in their own framework as the gradient of one output unit with respect
to the input, usually averaged over images (Luo et al. 2016; the RepLKNet ``erf/`` scripts,
Ding et al. 2022). This module reads such maps without importing that framework.

Array layout: the ``dims`` spatial axes and up to two stack axes, images first. With
``layout="channels_first"`` (the PyTorch ``N, C, H, W`` order) the stack is ``(*spatial)``,
``(images, *spatial)`` or ``(images, channels, *spatial)``; with ``layout="channels_last"``
(JAX/Flax and TensorFlow's ``N, H, W, C``) it is ``(images, *spatial, channels)``. One extra
axis is always images: pass a single channels-last image as ``g[None]``.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ERFError

__all__ = ["load_map", "aggregate", "align", "AlignedMap", "AGGREGATIONS", "LAYOUTS"]

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


def load_map(path, key: str | None = None) -> np.ndarray:
    """Read an empirical map or stack from ``.npy``, ``.npz``, ``.csv`` or a grayscale ``.png``.

    A PNG is read as grey levels in [0, 1], alpha dropped; an RGB(A) PNG is accepted only
    where its three colour channels are equal: a colour-mapped picture of a heat map is not
    its values, so prefer ``.npy``.

    Parameters
    ----------
    path : str or path-like
        The file; its extension picks the reader.
    key : str, optional
        The array to read from an ``.npz`` that holds more than one.

    Returns
    -------
    numpy.ndarray
        The map as float64.

    Raises
    ------
    ERFError
        An unreadable file, an unknown extension, an ambiguous ``.npz``, an array that is not
        real numbers (strings, objects, complex), a colour PNG, an empty map, non-finite values.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "m.csv")
    >>> np.savetxt(path, np.eye(3), delimiter=",")
    >>> load_map(path).shape
    (3, 3)
    """
    return _real_map(_read(path, key), str(path))


def _read(path, key: str | None = None) -> np.ndarray:
    """The array stored in ``path`` as read, in its own dtype (see :func:`load_map`)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if key is not None and suffix != ".npz":
        raise ERFError(f"--key {key!r} names an array inside an .npz file; {path} is not one")
    try:
        if suffix == ".npy":
            array = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                names = list(archive.keys())
                if not names:
                    raise ERFError(f"{path} holds no arrays")
                if key is None and len(names) != 1:
                    raise ERFError(f"{path} holds arrays {names}; name one with --key")
                name = key if key is not None else names[0]
                if name not in names:
                    raise ERFError(f"{path} has no array {name!r}; it holds {names}")
                array = archive[name]
        elif suffix == ".csv":
            import warnings

            with warnings.catch_warnings():  # an empty file is reported below, not warned
                warnings.simplefilter("ignore")
                array = np.loadtxt(path, delimiter=",", ndmin=1)
        elif suffix == ".png":
            from matplotlib.image import imread

            array = _grey(imread(path), path)
        else:
            raise ERFError(f"{path}: unknown map format {suffix!r}; use .npy, .npz, .csv or .png")
    except ERFError:
        raise
    except (OSError, ValueError, EOFError, SyntaxError, zipfile.BadZipFile) as err:  # (PIL: Syntax)
        reason = str(err) or type(err).__name__
        if "pickled" in reason:  # numpy's guess for any file without a .npy header
            reason = "not a .npy array file (no .npy header; pickles are not read)"
        raise ERFError(f"cannot read the map {str(path)!r}: {reason}") from None
    return array


def _stored_shape(path, key: str | None = None) -> tuple[tuple[int, ...], int] | None:
    """Shape and bytes per value of the array in ``path``, from its header alone.

    ``.npy`` and ``.npz`` headers give shape and dtype; a ``.csv`` holds at most one value
    per two characters and a ``.png`` four per pixel (its header gives width and height),
    read as float64. Nothing is loaded; None where the header says nothing (the reader
    reports an unreadable file).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            with open(path, "rb") as stream:
                return _npy_header(stream)
        if suffix == ".npz":
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.endswith(".npy")]
                name = f"{key}.npy" if key is not None else (names[0] if len(names) == 1 else None)
                if name not in names:
                    return None
                with archive.open(name) as stream:
                    return _npy_header(stream)
        if suffix == ".csv":
            return (path.stat().st_size // 2 + 1,), 8
        if suffix == ".png":
            with open(path, "rb") as stream:
                header = stream.read(24)
            width, height = (int.from_bytes(header[k : k + 4], "big") for k in (16, 20))
            return (height, width, 4), 8
    except (OSError, ValueError, zipfile.BadZipFile):
        return None
    return None


def _npy_header(stream) -> tuple[tuple[int, ...], int]:
    """Shape and itemsize of the ``.npy`` array whose header starts ``stream``."""
    version = np.lib.format.read_magic(stream)
    read = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, _, dtype = read(stream)
    return tuple(shape), dtype.itemsize


# what a dtype kind holds, for the error that refuses it
_NOT_NUMBERS = {
    "U": "strings",
    "S": "bytes",
    "O": "Python objects",
    "M": "dates",
    "m": "time spans",
    "V": "structured records",
}


def _real_map(array, where: str = "the empirical map", convert: bool = True) -> np.ndarray:
    """``array`` as a float64 array, refused unless it is non-empty, real and finite.

    With ``convert=False`` the array keeps its own (bool, integer or float) dtype: a large
    float32 stack is then checked without a float64 copy of it.

    Booleans, integers and floats are accepted; strings, objects, dates and records are not
    numbers, and a complex array is not an ERF (a gradient is real), so its imaginary part
    is never dropped in silence.

    Raises
    ------
    ERFError
        Naming ``where``, the dtype and what is accepted.

    Examples
    --------
    >>> _real_map([[1, 2], [3, 4]]).dtype
    dtype('float64')
    >>> try:
    ...     _real_map([["a", "b"]])
    ... except ERFError as err:
    ...     print(str(err)[:48])
    the empirical map holds strings (dtype <U1), not
    """
    try:
        array = np.asarray(array)
    except (TypeError, ValueError) as err:  # a ragged nested list
        raise ERFError(f"{where} is not a rectangular array of numbers: {err}") from None
    kind = array.dtype.kind
    if kind == "c":
        raise ERFError(
            f"{where} is complex (dtype {array.dtype}); an ERF map is real: pass its real part "
            "(numpy.real) if the imaginary part is rounding noise, or its magnitude (numpy.abs)"
        )
    if kind not in "biuf":
        what = _NOT_NUMBERS.get(kind, "values")
        raise ERFError(
            f"{where} holds {what} (dtype {array.dtype}), not numbers; a map must hold real "
            "numbers (bool, integer or float)"
        )
    if convert:
        array = array.astype(float)
    if array.size == 0:
        raise ERFError(f"{where}: the map is empty (shape {list(array.shape)})")
    if kind == "f" and not (np.isfinite(array.min()) and np.isfinite(array.max())):  # no copy
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise ERFError(f"{where}: the map contains {bad} NaN or inf values; a map must be finite")
    return array


def _grey(image: np.ndarray, path) -> np.ndarray:
    """The grey levels of a PNG read by ``imread``, alpha dropped.

    ``(H, W)`` is grey, ``(H, W, 2)`` grey and alpha, ``(H, W, 3 | 4)`` RGB(A), accepted only
    where R, G and B are equal.

    Raises
    ------
    ERFError
        A colour PNG: its colours encode the map through a colormap, not as values.

    Examples
    --------
    >>> rgb = np.stack([np.eye(2)] * 3, axis=-1)
    >>> _grey(rgb, "m.png").tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    if image.ndim == 2:
        return image
    if image.shape[-1] < 3:  # grey, or grey and alpha
        return image[..., 0]
    red, green, blue = image[..., 0], image[..., 1], image[..., 2]
    differ = (red != green) | (red != blue)
    if np.any(differ):
        spread = float(np.max(image[..., :3].max(axis=-1) - image[..., :3].min(axis=-1)))
        raise ERFError(
            f"{path} is a colour PNG ({int(differ.sum())} of {differ.size} pixels have "
            f"unequal R, G, B, by up to {spread:.3g}): a colour-mapped picture is not the "
            "map's values; convert it to grey, or better save the raw array as .npy "
            "(numpy.save)"
        )
    return red


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
    transform = AGGREGATIONS[method][1]
    count = max(read.images, 1)
    per_image = max(1, math.prod(read.spatial) * max(read.channels, 1))
    step = max(1, _CHUNK_VALUES // per_image)
    total = np.zeros(read.spatial)
    with np.errstate(under="ignore"):
        for first in range(0, count, step):
            values = transform(read.chunk(slice(first, first + step)))
            if read.channels:
                values = values.sum(axis=1 if layout == "channels_first" else -1)
            total += values.sum(axis=0)
        total /= count
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
    transform = AGGREGATIONS[method][1]
    count = max(read.images, 1)
    size = math.prod(s.stop - s.start for s in window) * max(read.channels, 1)
    step = max(1, _CHUNK_VALUES // max(size, 1))
    parts = []
    with np.errstate(under="ignore"):
        for first in range(0, count, step):
            values = transform(read.chunk(slice(first, first + step), window))
            if read.channels:
                values = values.sum(axis=1 if read.layout == "channels_first" else -1)
            parts.append(values)
    return np.concatenate(parts)


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


@dataclass(frozen=True)
class AlignedMap:
    """An empirical map cut to the receptive field of the analytic ERF.

    ``start`` is the input position of the field's first pixel per axis: the same window
    can be cut from another map of the input's shape. ``centre`` is the estimate the window
    was placed by (the centre of mass, the declared unit), in field coordinates;
    ``centre_of_mass`` the map's, in input coordinates; ``fitted`` whether the position
    was fitted to a template (:func:`align`).
    """

    values: np.ndarray
    centre: tuple[float, ...]
    how: str
    mass_outside: float
    start: tuple[int, ...] = ()
    centre_of_mass: tuple[float, ...] = ()
    fitted: bool = False

    @property
    def field_centre(self) -> tuple[float, ...]:
        """The input position of the field's centre, ``start + (r - 1) / 2`` per axis."""
        return tuple(s + (r - 1) / 2 for s, r in zip(self.start, self.values.shape))


def align(values: np.ndarray, shape, unit=None, template=None) -> AlignedMap:
    """Cut ``values`` to ``shape`` (the receptive field) around the unit's field centre.

    Parameters
    ----------
    values : numpy.ndarray
        The aggregated empirical map (input-sized).
    shape : tuple of int
        The analytic ERF's shape (the TRF size per axis).
    unit : sequence of float, optional
        The input position of the centre of the unit's field. Without it the position is
        estimated: from the centre of mass of ``|values|``, or, given a ``template``, fitted.
    template : numpy.ndarray, optional
        The theory over the field (``shape``). Without ``unit``, the field's position is
        fitted (one nuisance parameter per axis): of the placements within ``2 std + 2``
        pixels (the theory's std per axis) of the centre-of-mass estimate, the one that
        minimises the total variation between ``|values|`` normalised over the pixels of
        the field it covers and ``|template|`` restricted to those pixels (renormalised
        there), plus the share of the map's mass left outside the field. A skewed map, or
        one cut by the map's edge, has its centre of mass off the field's centre; the fit
        is not misled by either. It searches each axis on the marginals, then refines on
        the whole map (steps to a neighbouring placement while that lowers the objective).

    Raises
    ------
    ERFError
        An all-zero map, a map whose mass lies partly outside the receptive field (the
        architecture or the alignment is wrong), a unit outside the map.

    Examples
    --------
    >>> m = np.zeros(9); m[3:6] = 1.0
    >>> align(m, (3,)).values.tolist()
    [1.0, 1.0, 1.0]
    """
    values = np.asarray(values, dtype=float)
    shape = tuple(int(r) for r in shape)
    if len(shape) != values.ndim:
        raise ERFError(f"the map has {values.ndim} axes but the architecture has {len(shape)}")
    magnitude = np.abs(values)
    peak = float(magnitude.max())
    if peak == 0:
        raise ERFError("the empirical map is all zero")
    magnitude /= peak  # its sums cannot overflow after this
    total = float(magnitude.sum())
    grids = [np.arange(n, dtype=float) for n in values.shape]
    com = tuple(float(_marginal(magnitude, a) @ grids[a]) / total for a in range(values.ndim))
    fitted = False
    if unit is None:
        centre = np.array(com)
        how = "centre of mass"
        if template is None:
            starts = tuple(int(np.floor(c - (r - 1) / 2 + 0.5)) for c, r in zip(centre, shape))
            # a skewed map's centre of mass is off its field's centre: of the windows that
            # hold the whole support, the one nearest the centre of mass
            starts = tuple(
                _nearest_holding(magnitude, a, r, s) for a, (r, s) in enumerate(zip(shape, starts))
            )
        else:
            starts = _fit_start(magnitude, np.abs(np.asarray(template, dtype=float)), centre)
            how, fitted = "position fitted (least total variation)", True
    else:
        centre = _unit_position(unit, values.shape)
        how = "declared unit position"
        starts = tuple(int(np.floor(c - (r - 1) / 2 + 0.5)) for c, r in zip(centre, shape))
    out = _cut(values, shape, starts)
    inside = float(_cut(magnitude, shape, starts).sum())
    outside = max((total - inside) / total, 0.0)
    if outside > 1e-6:
        raise ERFError(
            f"{_percent(outside)} of the map's mass lies outside the receptive field "
            f"{' x '.join(map(str, shape))} placed at {list(starts)} ({how}"
            + (f", around {[round(float(c), 2) for c in centre]}" if not fitted else "")
            + f"); the map's support spans {_extent(magnitude)}: the architecture is not the "
            "one measured, or the alignment is wrong (try --unit)"
        )
    centre_out = tuple(float(c - s) for c, s in zip(centre, starts))
    return AlignedMap(out, centre_out, how, outside, starts, com, fitted)


def _percent(share: float) -> str:
    """A share as a percentage with two significant digits, however small: '2.1e-05%'.

    Examples
    --------
    >>> _percent(0.25), _percent(2.1e-7)
    ('25%', '2.1e-05%')
    """
    return f"{100 * share:.2g}%"


def _extent(magnitude: np.ndarray) -> str:
    """The extent of the map's non-zero support per axis, ``'9 x 17'``."""
    sizes = []
    for axis in range(magnitude.ndim):
        nonzero = np.flatnonzero(_marginal(magnitude, axis))
        sizes.append(str(int(nonzero[-1] - nonzero[0] + 1)))
    return " x ".join(sizes)


def _unit_position(unit, map_shape) -> np.ndarray:
    """``unit`` as a position inside a map of ``map_shape``, refused unless it is one."""
    dims = len(map_shape)
    try:
        shown = list(unit)
    except TypeError:
        shown = unit
    try:
        centre = np.asarray(unit, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise ERFError(
            f"unit {shown} is not a position inside the map of shape {list(map_shape)}: "
            f"it needs {dims} numbers, one per axis"
        ) from None
    if centre.size != dims:
        raise ERFError(
            f"unit {shown} has {centre.size} coordinate{'s' if centre.size != 1 else ''}; the "
            f"{dims}-D map of shape {list(map_shape)} needs {dims}, one per axis"
        )
    if (
        not np.all(np.isfinite(centre))
        or np.any(centre < 0)
        or np.any(centre > np.array(map_shape) - 1)
    ):
        raise ERFError(f"unit {shown} is not a position inside the map of shape {list(map_shape)}")
    return centre


def _marginal(a: np.ndarray, axis: int) -> np.ndarray:
    """The sums of ``a`` over every axis but ``axis``."""
    return a.sum(axis=tuple(k for k in range(a.ndim) if k != axis)) if a.ndim > 1 else a


def _fit_start(magnitude: np.ndarray, template: np.ndarray, com) -> tuple[int, ...]:
    """The field's placement of least objective (see :func:`align`), near the estimate.

    The estimate puts the template's own centre of mass on the map's; the search spans
    ``2 std + 2`` pixels either side per axis (``std`` the template's) and every placement
    that holds the map's support (a field cut deep by the map's edge has its centre of mass
    far off), within placements that overlap the map. Ties go to the placement nearest the
    estimate.
    """
    shape = template.shape
    t_total = float(template.sum())
    if t_total == 0:  # (a zero theory: nothing to fit; the caller refuses the window)
        return tuple(int(np.floor(c - (r - 1) / 2 + 0.5)) for c, r in zip(com, shape))
    template = template / template.max()
    bounds, best = [], []
    for axis, (n, r) in enumerate(zip(magnitude.shape, shape)):
        line = _marginal(template, axis)
        mean = float(line @ np.arange(r)) / float(line.sum())
        std = math.sqrt(max(float(line @ (np.arange(r) - mean) ** 2) / float(line.sum()), 0.0))
        estimate = int(np.floor(com[axis] - mean + 0.5))
        reach = int(math.ceil(2 * std + 2))
        lo, hi = estimate - reach, estimate + reach
        nonzero = np.flatnonzero(_marginal(magnitude, axis))
        first, last = int(nonzero[0]), int(nonzero[-1])
        if last - r + 1 <= first:  # and every placement holding the support (a deep cut)
            lo, hi = min(lo, last - r + 1), max(hi, first)
        lo, hi = max(lo, -(r - 1)), min(hi, n - 1)
        estimate = min(max(estimate, lo), hi)
        bounds.append((lo, hi))
        best.append(_fit_axis(_marginal(magnitude, axis), line, lo, hi, estimate))
    return _descend(magnitude, template, tuple(best), bounds)


def _objective(m: np.ndarray, t: np.ndarray, m_total: float) -> float:
    """TV of ``m`` and ``t`` each normalised over the pixels given, plus the mass left out."""
    held, t_held = float(m.sum()), float(t.sum())
    if held == 0 or t_held == 0:
        return math.inf
    tv = 0.5 * float(np.abs(m / held - t / t_held).sum())
    return tv + max(1.0 - held / m_total, 0.0)


def _fit_axis(m: np.ndarray, t: np.ndarray, lo: int, hi: int, estimate: int) -> int:
    """The placement ``lo..hi`` of the 1-d template ``t`` on the 1-d map ``m`` of least objective.

    All placements at once: row ``k`` holds the map under the template placed at ``lo + k``
    (zero off the map, and the template zeroed there too: those positions were not measured).
    """
    n, r = m.size, t.size
    starts = np.arange(lo, hi + 1)
    index = starts[:, None] + np.arange(r)
    on_map = (index >= 0) & (index < n)
    under = np.where(on_map, m[np.clip(index, 0, n - 1)], 0.0)
    theory = np.where(on_map, t, 0.0)
    held, t_held = under.sum(axis=1), theory.sum(axis=1)
    usable = (held > 0) & (t_held > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        tv = 0.5 * np.abs(under / held[:, None] - theory / t_held[:, None]).sum(axis=1)
    score = np.where(usable, tv + np.maximum(1.0 - held / m.sum(), 0.0), np.inf)
    order = np.argsort(np.abs(starts - estimate), kind="stable")  # ties: nearest the estimate
    return int(starts[order[np.argmin(score[order])]])


def _descend(magnitude, template, start, bounds, steps: int = 1000) -> tuple[int, ...]:
    """From ``start``, step to the best neighbouring placement while it lowers the objective."""
    total = float(magnitude.sum())
    seen: dict = {}

    def score(s):
        if s not in seen:
            window = tuple(
                slice(max(a, 0), min(a + r, n))
                for a, r, n in zip(s, template.shape, magnitude.shape)
            )
            inner = tuple(slice(w.start - a, w.stop - a) for w, a in zip(window, s))
            seen[s] = _objective(magnitude[window], template[inner], total)
        return seen[s]

    moves = [m for m in np.ndindex(*(3,) * len(start)) if any(k != 1 for k in m)]
    for _ in range(steps):
        here = score(start)
        options = [
            tuple(s + k - 1 for s, k in zip(start, move))
            for move in moves
            if all(lo <= s + k - 1 <= hi for s, k, (lo, hi) in zip(start, move, bounds))
        ]
        scored = [(score(o), o) for o in options]
        if not scored or min(scored)[0] >= here:
            return start
        start = min(scored)[1]
    return start


def _nearest_holding(values: np.ndarray, axis: int, r: int, start: int) -> int:
    """``start`` moved (least) so that a window of ``r`` on ``axis`` holds the map's support.

    Unchanged where the support is longer than ``r`` (no window holds it: the caller
    reports the mass left outside).
    """
    line = np.abs(values).sum(axis=tuple(a for a in range(values.ndim) if a != axis))
    nonzero = np.flatnonzero(line)
    first, last = int(nonzero[0]), int(nonzero[-1])
    if last - first + 1 > r:
        return start
    return min(max(start, last - r + 1), first)


def _cut(values: np.ndarray, shape, start) -> np.ndarray:
    """The window of ``shape`` starting at input position ``start``, zero outside the map.

    Raises
    ------
    ERFError
        A window that misses the map on some axis.

    Examples
    --------
    >>> _cut(np.arange(5.0), (3,), (3,)).tolist()
    [3.0, 4.0, 0.0]
    """
    out = np.zeros(shape)
    src, dst = [], []
    for s, r, n in zip(start, shape, np.shape(values)):
        lo, hi = max(s, 0), min(s + r, n)
        if lo >= hi:
            raise ERFError("the receptive field window lies outside the map")
        src.append(slice(lo, hi))
        dst.append(slice(lo - s, hi - s))
    out[tuple(dst)] = values[tuple(src)]
    return out
