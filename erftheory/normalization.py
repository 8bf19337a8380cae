"""Named normalisations of an ERF map for display and comparison (a registry).

Published ERF figures differ mostly in how the map was normalised before it was drawn
(RepLKNet's scripts take ``log10(x + 1)``, others divide by the peak or the sum). Every plot in
erftheory takes one of these names and says in its title which one it used.
"""

from __future__ import annotations

import numpy as np

from .errors import ERFError

__all__ = ["NORMALIZATIONS", "normalize_map"]


def _peak(v):
    top = np.max(np.abs(v))
    return v / top if top else v


def _sum(v):
    total = np.sum(v)
    return v / total if total else v


def _minmax(v):
    low, high = np.min(v), np.max(v)
    return (v - low) / (high - low) if high > low else np.zeros_like(v)


NORMALIZATIONS = {
    "raw": (lambda v: v, "raw values"),
    "sum": (_sum, "sum 1"),
    "peak": (_peak, "peak 1"),
    "log": (lambda v: np.log10(np.abs(v) + 1.0), "log10(|x| + 1), scale-dependent (RepLKNet)"),
    "pow0.25": (lambda v: np.sign(v) * np.abs(v) ** 0.25, "x^0.25"),
    "minmax": (_minmax, "min-max to [0, 1]"),
}


def normalize_map(values, name: str = "raw") -> tuple[np.ndarray, str]:
    """Apply a named normalisation; returns the map and the label plots print.

    Examples
    --------
    >>> m, label = normalize_map(np.array([1.0, 3.0]), "peak")
    >>> m.tolist(), label
    ([0.3333333333333333, 1.0], 'peak 1')
    """
    if name not in NORMALIZATIONS:
        raise ERFError(f"normalisation {name!r} is not one of {', '.join(NORMALIZATIONS)}")
    function, label = NORMALIZATIONS[name]
    return function(np.asarray(values, dtype=float)), label
