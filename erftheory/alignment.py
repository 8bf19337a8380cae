"""Alignment of an empirical map with the receptive field: where the field lies on the input.

The window of the receptive field's shape is placed on the measured map by the declared unit
position, by the map's centre of mass, or by fitting the position to the theory (one
nuisance parameter per axis, least total variation), and the map is cut to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import ERFError

__all__ = ["align", "AlignedMap"]


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
