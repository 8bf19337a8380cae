"""The comparison of an aligned empirical map with the theory, over the window the map covers.

Both maps are taken as magnitudes normalised to sum 1 over the compared window (the part of
the receptive field the map covers); the result carries the distances, the size metrics on
both sides, and notes on signs and coverage.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import ERFError


def _compare(values, analytic, unit, log_scale: bool) -> dict:
    """Align ``values`` with ``analytic`` and compare them over the window the map covers."""
    from .aggregation import _log_scaled
    from .alignment import _cut, align
    from .distribution import _prepare

    aligned = align(values, analytic.shape, unit, template=None if unit is not None else analytic)
    window, coverage = _covered(values.shape, analytic, aligned.start)
    own = aligned.values[window]  # at the map's own scale, before any log step
    compared = (
        _cut(_log_scaled(values, "")[0], analytic.shape, aligned.start)[window]
        if (log_scale)
        else own
    )
    p = _prepare(compared)  # normalised once for every measure below
    part = np.abs(analytic[window])
    q = _prepare(part / part.sum())
    return {
        "aligned": aligned,
        "window": window,
        "coverage": coverage,
        "signed": compared,
        "own": own,
        "p": p,
        "q": q,
        "tv": float(0.5 * np.abs(p.p - q.p).sum()),
    }


def _covered(map_shape, analytic: np.ndarray, start) -> tuple[tuple[slice, ...], str]:
    """The part of the receptive field the map covers, as slices of it, and a note if partial.

    ``start`` is the input position of the field's first pixel (see
    :class:`erftheory.empirical.AlignedMap`). Positions outside the map were not measured:
    the comparison is restricted to the window rather than reading them as zeros.

    Raises
    ------
    ERFError
        A window where the theory is zero (nothing to compare with).
    """
    field_shape = analytic.shape
    window = tuple(
        slice(max(s, 0) - s, min(s + r, n) - s) for s, r, n in zip(start, field_shape, map_shape)
    )
    covered = tuple(w.stop - w.start for w in window)
    if covered == field_shape:
        return window, ""
    fmt = " x ".join
    held = float(np.abs(analytic[window]).sum() / np.abs(analytic).sum())
    if held == 0:
        raise ERFError(
            f"the map ({fmt(map(str, map_shape))}) covers only a {fmt(map(str, covered))} part "
            f"of the {fmt(map(str, field_shape))} receptive field where the theory is zero: "
            "nothing to compare (check --unit)"
        )
    return window, (
        f"The map ({fmt(map(str, map_shape))}) covers only {fmt(map(str, covered))} of the "
        f"{fmt(map(str, field_shape))} receptive field, where the theory holds {held:.1%} of "
        "its mass: both maps are cut to that window and normalised there (positions outside "
        "the map were not measured), so std, tv, correlation, fit and metrics describe the "
        "window, not the whole field; positions are indices into the window."
    )


def _all_metrics(values, analytic, start, window, comparison) -> tuple[dict, str]:
    """The size metrics on both sides, and a note on the area ratios' denominator.

    Every measure but the area ratios reads the compared window (``empirical`` at the map's
    own scale, before any log step; the theory there at the same total). The area ratios
    (RepLKNet's :func:`erftheory.metrics.replknet_area_ratio` and its scale-free variant)
    read the whole measured map, as their scripts do: squares centred at the map's centre,
    over the map's area; the theory side is the theory placed where the field was found,
    at the map's absolute scale (its total over the compared pixels), cut to the map.
    """
    from .area_ratios import REPLKNET_THRESHOLDS, replknet_area_ratio
    from .metrics import all_metrics

    own = np.abs(comparison["own"])
    part = np.abs(analytic[window])
    peak = float(own.max())  # (sums of a map near float64's largest would overflow)
    with np.errstate(over="ignore"):
        theory_here = (part / part.sum()) * float((own / peak).sum()) * peak
    if not np.all(np.isfinite(theory_here)):
        theory_here = part / part.sum()  # beyond float64 at the map's scale: at sum 1
    out = {"empirical": all_metrics(own), "theoretical": all_metrics(theory_here)}
    canvas = np.zeros(values.shape)
    canvas[tuple(slice(s + w.start, s + w.stop) for s, w in zip(start, window))] = theory_here
    centre = [n // 2 for n in values.shape]
    for side, whole in (("empirical", np.abs(values)), ("theoretical", canvas)):
        for key, log in (("area_ratio", True), ("area_ratio_raw", False)):
            regions = [replknet_area_ratio(whole, t, log) for t in REPLKNET_THRESHOLDS]
            out[side][f"{key}_side"] = [None if r is None else r.side for r in regions]
            out[side][key] = [None if r is None else r.ratio for r in regions]
        out[side]["area_ratio_map_shape"] = list(values.shape)
        out[side]["area_ratio_centre"] = centre
        out[side]["area_ratio_denominator"] = math.prod(values.shape)
    field_centre = [round(s + (r - 1) / 2, 2) for s, r in zip(start, analytic.shape)]
    if all(abs(c - f) < 1 for c, f in zip(centre, field_centre)):
        return out, ""
    return out, (
        f"The area ratios' squares are centred at the map's centre {centre}, as RepLKNet's "
        f"are, not at the field's centre {field_centre}: they measure the mass around the "
        "map's centre (the theory's, of the theory placed where the field was found)."
    )


_NOTE_LOG = (
    "The empirical map was log-scaled (log10(x + 1)) before the comparison, the theory was "
    "not: std, tv and correlation compare different transforms; drop --log-scale to compare "
    "like with like (the size metrics read the map from before the log step)."
)


def _sign_note(values: np.ndarray, name: str, flipped: str) -> str:
    """What the comparison did with the negative values of ``values`` ("" if it has none).

    Examples
    --------
    >>> _sign_note(np.array([1.0, -3.0]), "the map", "-map")[:56]
    'The map is signed (75.0% of its mass is negative): it is'
    >>> _sign_note(np.array([0.0, 2.0]), "the map", "-map")
    ''
    """
    name = name[0].upper() + name[1:]
    negative = float(-values[values < 0].sum())
    if negative == 0:
        return ""
    total = float(np.abs(values).sum())
    if negative == total:
        return (
            f"{name} is negative wherever it is not zero: it is compared as "
            f"|map| = {flipped} (a gradient's overall sign is the output unit's convention; "
            "the shape is what the theory predicts)."
        )
    return (
        f"{name} is signed ({negative / total:.1%} of its mass is negative): it "
        "is compared as |map|, so a negative lobe counts as mass where the signed map would "
        "cancel."
    )


def _best_phase(values, phases, analytics, unit, log_scale: bool) -> tuple:
    """``(output unit, comparison, theory)`` of the phase whose theory has the least tv.

    Raises
    ------
    ERFError
        The first phase's error, where no phase's theory can be compared with the map.
    """
    best, errors = None, []
    for u, analytic in zip(phases, analytics):
        try:
            candidate = _compare(values, analytic, unit, log_scale)
        except ERFError as err:
            errors.append(err)
            continue
        if best is None or candidate["tv"] < best[1]["tv"]:
            best = (u, candidate, analytic)
    if best is None:
        raise errors[0]
    return best


def _correlation(p: np.ndarray, q: np.ndarray) -> float:
    """Pearson's r of two maps over the window: nan where one is constant (a single pixel too).

    Examples
    --------
    >>> round(_correlation(np.array([0.2, 0.8]), np.array([0.3, 0.7])), 12)
    1.0
    >>> _correlation(np.array([1.0]), np.array([1.0]))  # one point has no r
    nan
    """
    if p.size < 2 or np.ptp(p) == 0 or np.ptp(q) == 0:  # Pearson's r undefined
        return math.nan
    return float(np.corrcoef(p.reshape(-1), q.reshape(-1))[0, 1])
