"""Reading empirical ERF maps from files: ``.npy``, ``.npz``, ``.csv`` and grayscale ``.png``.

A map measured in another framework arrives as a file; this module reads it (or, for the
memory budget, only its header) without importing that framework, and refuses an array
that is not a map of real, finite numbers.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .errors import ERFError

__all__ = ["load_map"]


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
    if not str(path).strip():  # (Path("") is ".", which the messages would name)
        raise ERFError("an empty file name: give the map's file (.npy, .npz, .csv or .png)")
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
