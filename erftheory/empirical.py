"""Empirical ERF maps measured elsewhere: loading, aggregation and alignment.

Users measure an ERF in their own framework as the gradient of one output unit with respect
to the input, usually averaged over images (Luo et al. 2016; the RepLKNet ``erf/`` scripts,
Ding et al. 2022). This module reads such maps without importing that framework.

Array layout: the trailing ``dims`` axes are spatial; leading axes form a stack, either
``(images, *spatial)`` or ``(images, channels, *spatial)`` (the PyTorch ``N, C, H, W`` order).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ERFError

__all__ = ["load_map", "aggregate", "align", "AlignedMap", "AGGREGATIONS"]

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
    return _real_map(array, str(path))


# what a dtype kind holds, for the error that refuses it
_NOT_NUMBERS = {
    "U": "strings",
    "S": "bytes",
    "O": "Python objects",
    "M": "dates",
    "m": "time spans",
    "V": "structured records",
}


def _real_map(array, where: str = "the empirical map") -> np.ndarray:
    """``array`` as a float64 array, refused unless it is non-empty, real and finite.

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
    array = array.astype(float)
    if array.size == 0:
        raise ERFError(f"{where}: the map is empty (shape {list(array.shape)})")
    if not np.all(np.isfinite(array)):
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


def aggregate(stack: np.ndarray, dims: int, method: str = "abs", log_scale: bool = False):
    """Reduce a stack to one map the way the common protocols do; returns ``(map, protocol)``.

    Parameters
    ----------
    stack : numpy.ndarray
        ``(*spatial)``, ``(images, *spatial)`` or ``(images, channels, *spatial)``.
    dims : int
        Number of spatial axes.
    method : {"abs", "sq", "relu", "raw", "none"}
        Per-sample transform before averaging over images and summing over channels;
        ``"none"`` takes a map that is already aggregated.
    log_scale : bool
        Apply ``log10(x + 1)`` afterwards, as the RepLKNet scripts do (this makes the
        result depend on the map's absolute scale).

    Returns
    -------
    tuple of (numpy.ndarray, str)
        The map over the spatial axes, and the protocol in words.

    Raises
    ------
    ERFError
        An unknown ``method``, a stack whose axes do not fit ``dims``, an array that is not
        real finite numbers, ``log_scale`` with a negative map.

    Examples
    --------
    >>> m, protocol = aggregate(np.array([[1.0, -3.0], [-1.0, 1.0]]), dims=1, method="abs")
    >>> m.tolist(), protocol
    ([1.0, 2.0], 'mean over images of |g|, summed over channels')
    """
    if method not in AGGREGATIONS:
        raise ERFError(f"aggregate={method!r} is not one of {', '.join(AGGREGATIONS)}")
    stack = _real_map(stack)
    extra = stack.ndim - dims
    if extra < 0 or extra > 2:
        raise ERFError(
            f"a map of shape {list(stack.shape)} does not fit a {dims}-D architecture: expected "
            f"{dims} spatial axes, with up to two leading (images, channels) axes"
        )
    text, transform = AGGREGATIONS[method]
    if method == "none" and extra:
        raise ERFError(
            f"aggregate='none' takes one {dims}-D map, not a stack of shape {list(stack.shape)}"
        )
    values = transform(stack)
    if extra == 2:
        values = values.sum(axis=1)
    if extra >= 1:
        values = values.mean(axis=0)
    return _log_scaled(values, text) if log_scale else (values, text)


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
    can be cut from another map of the input's shape.
    """

    values: np.ndarray
    centre: tuple[float, ...]
    how: str
    mass_outside: float
    start: tuple[int, ...] = ()


def align(values: np.ndarray, shape, unit=None) -> AlignedMap:
    """Cut ``values`` to ``shape`` (the receptive field) around the unit's field centre.

    Parameters
    ----------
    values : numpy.ndarray
        The aggregated empirical map (input-sized).
    shape : tuple of int
        The analytic ERF's shape (the TRF size per axis).
    unit : sequence of float, optional
        The input position of the centre of the unit's field; by default the centre of mass
        of ``|values|``, rounded to the lattice of the field's centre.

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
    if len(shape) != values.ndim:
        raise ERFError(f"the map has {values.ndim} axes but the architecture has {len(shape)}")
    total = float(np.abs(values).sum())
    if total == 0:
        raise ERFError("the empirical map is all zero")
    if unit is None:
        weights = np.abs(values) / total
        grids = np.indices(values.shape, dtype=float).reshape(values.ndim, -1)
        centre = grids @ weights.reshape(-1)
        how = "centre of mass"
    else:
        try:
            centre = np.asarray(unit, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            centre = np.array([np.nan])
        if (
            centre.size != values.ndim
            or not np.all(np.isfinite(centre))
            or np.any(centre < 0)
            or np.any(centre > np.array(values.shape) - 1)
        ):
            raise ERFError(
                f"unit {list(unit)} is not a position inside the map of shape {list(values.shape)}"
            )
        how = "declared unit position"
    # the field of a unit covers start..start+r-1 with its centre at start + (r - 1) / 2
    starts = tuple(int(np.floor(c - (r - 1) / 2 + 0.5)) for c, r in zip(centre, shape))
    if unit is None:
        # a skewed map's centre of mass is off its field's centre: of the windows that hold
        # the whole support, the one nearest the centre of mass (the rounding may miss it)
        starts = tuple(
            _nearest_holding(values, axis, r, s) for axis, (r, s) in enumerate(zip(shape, starts))
        )
    out = _cut(values, shape, starts)
    inside = float(np.abs(out).sum())
    outside = (total - inside) / total
    if outside > 1e-6:
        raise ERFError(
            f"{outside:.2%} of the map's mass lies outside the receptive field "
            f"{list(shape)} around {[round(float(c), 2) for c in centre]} ({how}): the "
            "architecture is not the one measured, or the alignment is wrong (try --unit)"
        )
    centre_out = tuple(float(c - s) for c, s in zip(centre, starts))
    return AlignedMap(out, centre_out, how, outside, starts)


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
