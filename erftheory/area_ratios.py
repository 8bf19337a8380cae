"""RepLKNet's high-contribution area ratio: the least centred box holding a share of the ERF.

`area_ratio` (squares, with RepLKNet's ``log10(x + 1)`` step or scale free),
`area_ratio_rectangle` (its centred-rectangle variant for anisotropic maps) and
`replknet_area_ratio` (their ``get_rectangle`` exactly), all read from the centred box sums of
the map, computed once per map (`_prepare_boxes`) and shared across thresholds.

References
----------
X. Ding, X. Zhang, J. Han, G. Ding, "Scaling Up Your Kernels to 31x31: Revisiting Large Kernel
Design in CNNs", CVPR 2022 (and erf/analyze_erf.py in DingXiaoH/RepLKNet-pytorch).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from .distribution import _prepare, _PreparedMap
from .sizes import _fraction

__all__ = [
    "REPLKNET_THRESHOLDS",
    "AreaRatio",
    "area_ratio",
    "area_ratio_rectangle",
    "replknet_area_ratio",
]

REPLKNET_THRESHOLDS = (0.2, 0.3, 0.5, 0.99)


@dataclass(frozen=True)
class AreaRatio:
    """The smallest centred box whose sum exceeds ``threshold`` of the map's total.

    ``sides`` are the box's odd side lengths per axis; ``ratio`` its size over the map's size;
    ``held`` the share of the total inside it. ``reached_border`` means no box that fits in
    the map exceeded the threshold and the whole map is returned (``ratio = 1``).
    """

    threshold: float
    log_scale: bool
    sides: tuple[int, ...]
    ratio: float
    held: float
    reached_border: bool

    @property
    def side(self) -> int | None:
        """The side of a square (cube) region, or None for a rectangle."""
        return self.sides[0] if len(set(self.sides)) == 1 else None

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return {**asdict(self), "sides": list(self.sides), "side": self.side}


def _contribution(prepared: _PreparedMap, log_scale: bool) -> np.ndarray:
    if not log_scale:
        return prepared.p
    a = np.log1p(prepared.absolute)
    a /= math.log(10)  # log10(x + 1)
    a /= a.max()
    return a


def _box_sums(a: np.ndarray) -> np.ndarray:
    """``B[i_0, ..., i_(d-1)]`` = sum of ``a`` over ``|x_k - shape_k // 2| <= i_k``."""
    centre = [n // 2 for n in a.shape]
    half = [min(c, n - 1 - c) for c, n in zip(centre, a.shape)]
    box = a[tuple(slice(c - h, c + h + 1) for c, h in zip(centre, half))]
    for axis, h in enumerate(half):
        # fold the box onto its centre along the axis (x_c, x_c+1 + x_c-1, ...), then sum up
        folded = np.empty(box.shape[:axis] + (h + 1,) + box.shape[axis + 1 :])
        folded[_on(axis, 0)] = box[_on(axis, h)]
        below = np.flip(box[_on(axis, slice(None, h))], axis)
        np.add(box[_on(axis, slice(h + 1, None))], below, out=folded[_on(axis, slice(1, None))])
        box = np.cumsum(folded, axis=axis, out=folded)
    return box


def _on(axis: int, index) -> tuple:
    """The index that picks ``index`` on ``axis`` (and everything on the axes before it)."""
    return (slice(None),) * axis + (index,)


class _Boxes(NamedTuple):
    """The map an area ratio reads, its centred box sums (`_box_sums`) and its total."""

    contribution: np.ndarray
    sums: np.ndarray
    total: float


def _prepare_boxes(prepared: _PreparedMap, log_scale: bool) -> _Boxes:
    a = _contribution(prepared, log_scale)
    return _Boxes(a, _box_sums(a), a.sum())


def _held(sums: np.ndarray, total: float) -> np.ndarray:
    return np.minimum(sums / total, 1.0)  # rounding must not let a box beat the whole map


def _region(erf, threshold, log_scale, square: bool, boxes: _Boxes | None = None) -> AreaRatio:
    """The box for one threshold; ``boxes`` (`_prepare_boxes`) shares the sums across them."""
    threshold = _fraction(threshold, "threshold")
    a, sums, total = boxes if boxes is not None else _prepare_boxes(_prepare(erf), log_scale)
    best, held = (_square if square else _rectangle)(sums, total, threshold)
    if best is None:
        return AreaRatio(threshold, log_scale, a.shape, 1.0, 1.0, True)
    sides = tuple(2 * i + 1 for i in best)
    return AreaRatio(threshold, log_scale, sides, math.prod(sides) / a.size, held, False)


def _square(sums: np.ndarray, total: float, threshold: float) -> tuple[tuple | None, float]:
    """Half-widths and share of the least centred square above ``threshold``, or None."""
    i = np.arange(1, min(sums.shape))
    held = _held(sums[(i,) * sums.ndim], total)  # the diagonal: squares only
    inside = held > threshold
    if not np.any(inside):
        return None, 1.0
    j = int(np.argmax(inside))
    return (int(i[j]),) * sums.ndim, float(held[j])


def _rectangle(sums: np.ndarray, total: float, threshold: float) -> tuple[tuple | None, float]:
    """Half-widths and share of the least centred box above ``threshold``, or None."""
    held = _held(sums, total)
    lows = [min(1, h - 1) for h in sums.shape]  # half-width i >= 1 wherever the axis allows
    held_ok = held[tuple(slice(lo, None) for lo in lows)]
    grids = np.indices(held_ok.shape) + np.reshape(lows, [-1] + [1] * sums.ndim)
    area = np.prod(2 * grids + 1, axis=0).astype(float)
    area[held_ok <= threshold] = np.inf
    if not np.isfinite(area.min()):
        return None, 1.0
    ties = area == area.min()
    flat = np.argmax(np.where(ties, held_ok, -1.0))
    best = tuple(int(g.flat[flat]) for g in grids)
    return best, float(held[best])


def area_ratio(erf, threshold: float, log_scale: bool = True) -> AreaRatio:
    """RepLKNet's high-contribution area ratio: the smallest centred square holding ``t``.

    Exactly as in RepLKNet's ``erf/analyze_erf.py``: the map ``x = |erf|`` is log-scaled as
    ``log10(x + 1)`` (here via ``log1p``, equal up to rounding) and divided by its maximum;
    then for ``i = 1, 2, ...`` the centred square of side ``2i + 1`` (centre ``shape // 2``
    per axis) is grown until its sum exceeds (strictly) ``threshold`` times the total. The
    result is its side and its area over the map's area. RepLKNet's map is the positive part
    of an input gradient, so ``|erf|`` is the same there (pass ``np.maximum(erf, 0)`` to mimic
    it on a signed map). 1-d and 3-d maps use a centred interval or cube.

    Warning: the ``log10(x + 1)`` step makes the answer depend on the map's absolute scale
    (multiply the map by 1000 and the ratio changes): it is linear for ``x << 1`` (a map
    normalised to sum 1 behaves like the raw variant) and flattens large values (raw path
    counts look much wider). ``log_scale=False`` is the scale-free variant, on the map
    normalised to sum 1. Unlike RepLKNet (whose loop stops two pixels short of the border
    and then returns None), squares grow to the largest that fits; if none exceeds the
    threshold (always for ``threshold = 1``, or when mass sits off-centre) the whole map is
    returned with ``reached_border=True``.

    Parameters
    ----------
    erf : array_like or _PreparedMap
    threshold : float
        In (0, 1]; RepLKNet reports 0.2, 0.3, 0.5 and 0.99.
    log_scale : bool

    Returns
    -------
    AreaRatio

    Raises
    ------
    ERFError
        For a threshold outside (0, 1] or a map that is not a distribution.

    Examples
    --------
    >>> spike = np.zeros((9, 9)); spike[4, 4] = 1.0
    >>> r = area_ratio(spike, 0.5)  # all mass at the centre: the smallest square, side 3
    >>> r.side, round(r.ratio, 6)
    (3, 0.111111)

    References
    ----------
    Ding et al., CVPR 2022.
    """
    return _region(erf, threshold, log_scale, square=True)


def area_ratio_rectangle(erf, threshold: float, log_scale: bool = False) -> AreaRatio:
    """The smallest centred box of odd sides whose sum exceeds ``threshold`` of the total.

    The rectangle (box) variant of `area_ratio` for anisotropic maps: over all half-widths
    ``i_k >= 1`` per axis (0 on an axis too short for 1), the box ``|x_k - shape_k // 2| <=
    i_k`` of least area whose sum exceeds ``threshold`` of the total; ties go to the box
    holding more. Scale free by default (``log_scale=False``: the map normalised to sum 1);
    ``log_scale=True`` applies RepLKNet's ``log10(x + 1)`` and max scaling first.

    Parameters
    ----------
    erf : array_like or _PreparedMap
    threshold : float
        In (0, 1].
    log_scale : bool

    Returns
    -------
    AreaRatio

    Raises
    ------
    ERFError
        For a threshold outside (0, 1] or a map that is not a distribution.

    Examples
    --------
    >>> line = np.zeros((9, 9)); line[4, 1:8] = 1.0
    >>> area_ratio_rectangle(line, 0.9).sides
    (3, 7)

    References
    ----------
    Ding et al., CVPR 2022 (the square version).
    """
    return _region(erf, threshold, log_scale, square=False)


def replknet_area_ratio(erf, threshold: float, log_scale: bool = True) -> AreaRatio | None:
    """RepLKNet's ``get_rectangle`` exactly, as their ``erf/analyze_erf.py`` runs it.

    On the map as given (the whole input-sized map, not a crop): ``x = |erf|``, with
    ``log_scale`` log-scaled as ``log10(x + 1)`` and divided by its maximum (scale
    dependent); for ``i`` in ``1 .. h // 2 - 1`` the square of side ``2i + 1`` centred at
    ``shape // 2`` per axis, the first whose sum exceeds (strictly) ``threshold`` of the
    total. Its ``ratio`` is its area over the map's area, ``(2i + 1)^2 / (h w)``. None where
    no square does, as their function returns. ``i`` stops where it does for a square map
    (``h // 2 - 1``; for a non-square map at the shorter axis's, where their slices would
    wrap). 1-d and 3-d maps use an interval or cube.

    Examples
    --------
    >>> spike = np.zeros((64, 64)); spike[32, 32] = 1.0
    >>> r = replknet_area_ratio(spike, 0.5)
    >>> r.side, r.ratio == 9 / 4096, replknet_area_ratio(np.ones((8, 8)), 0.99)
    (3, True, None)
    """
    threshold = _fraction(threshold, "threshold")
    prepared = _prepare(erf)
    a, sums, total = _prepare_boxes(prepared, log_scale)
    last = min(min(a.shape) // 2 - 1, min(sums.shape) - 1)
    for i in range(1, last + 1):
        held = float(_held(sums[(i,) * a.ndim], total))
        if held > threshold:
            sides = (2 * i + 1,) * a.ndim
            return AreaRatio(threshold, log_scale, sides, math.prod(sides) / a.size, held, False)
    return None
