"""ERF size measures people quote, each stated exactly.

Every measure takes an ERF map (1-, 2- or 3-d float array; index 0 = first input pixel of the
receptive field) and uses ``|erf|``; `all_metrics` prepares the map once
(:class:`erftheory.distribution._PreparedMap`, which every measure also accepts) and hands it to
each. Which number is which:

- `std_radius`: the standard deviation per axis of the map taken as a distribution, and the
  ``k``-sigma radius ``k * std``.
- `luo_size`: the pixels above a fraction (4.55%) of the centre (or peak) value, the size
  Luo et al. (2016) is usually quoted with. At 4.55% of the peak a Gaussian sits at 2.49
  sigma, not 2: see its docstring.
- `mass_region`: the fewest pixels holding a given fraction of the mass.
- `area_ratio`: RepLKNet's high-contribution area ratio (Ding et al., CVPR 2022), with its
  ``log10(x + 1)`` step (scale dependent) or on the raw normalised map (scale free); and
  `area_ratio_rectangle`, its centred-rectangle variant for anisotropic maps.
- `effective_area`: ``exp(entropy)`` of the normalised map.
- `trf_fraction_in_sigma_region`: the fraction of the theoretical receptive field (the whole
  array) inside the ``k``-sigma ellipse of the ERF's covariance.

The area ratios live in :mod:`erftheory.area_ratios`, the other measures in
:mod:`erftheory.sizes`; this module gathers them and runs them all (`all_metrics`).

References
----------
W. Luo, Y. Li, R. Urtasun, R. Zemel, "Understanding the Effective Receptive Field in Deep
Convolutional Neural Networks", NeurIPS 2016.
X. Ding, X. Zhang, J. Han, G. Ding, "Scaling Up Your Kernels to 31x31: Revisiting Large Kernel
Design in CNNs", CVPR 2022 (and erf/analyze_erf.py in DingXiaoH/RepLKNet-pytorch).
"""

from __future__ import annotations

import numpy as np

from .area_ratios import (
    REPLKNET_THRESHOLDS,
    AreaRatio,
    _prepare_boxes,
    _region,
    area_ratio,
    area_ratio_rectangle,
    replknet_area_ratio,
)
from .distribution import _prepare
from .errors import ERFError
from .sizes import (
    LUO_FRACTION,
    TWO_SIGMA_MASS,
    LuoSize,
    MassRegion,
    StdRadius,
    effective_area,
    luo_size,
    mass_region,
    std_radius,
    trf_fraction_in_sigma_region,
)

__all__ = [
    "REPLKNET_THRESHOLDS",
    "AreaRatio",
    "LuoSize",
    "MassRegion",
    "StdRadius",
    "all_metrics",
    "area_ratio",
    "area_ratio_rectangle",
    "replknet_area_ratio",
    "effective_area",
    "luo_size",
    "mass_region",
    "std_radius",
    "trf_fraction_in_sigma_region",
]


def check_options(
    thresholds=REPLKNET_THRESHOLDS,
    luo_fraction: float = LUO_FRACTION,
    mass_fraction: float = TWO_SIGMA_MASS,
) -> None:
    """Refuse :func:`all_metrics` options outside (0, 1] before any map is computed.

    Examples
    --------
    >>> check_options(thresholds=(0.2, 1.5))
    Traceback (most recent call last):
    erftheory.errors.ERFError: threshold 1.5 is outside (0, 1]
    """
    try:
        named = [("threshold", t) for t in thresholds]
    except TypeError:
        raise ERFError(f"thresholds {thresholds!r} must be a sequence of numbers") from None
    for name, value in [("luo fraction", luo_fraction), ("mass fraction", mass_fraction)] + named:
        number = isinstance(value, (int, float, np.integer, np.floating))
        if isinstance(value, bool) or not number:
            raise ERFError(f"{name} {value!r} is not a number in (0, 1]")
        if not 0 < value <= 1:  # (NaN fails too)
            raise ERFError(f"{name} {value!r} is outside (0, 1]")


def all_metrics(
    erf,
    thresholds=REPLKNET_THRESHOLDS,
    luo_fraction: float = LUO_FRACTION,
    mass_fraction: float = TWO_SIGMA_MASS,
) -> dict:
    """Every size measure of the ERF as a flat dict of plain numbers and lists (JSON-ready).

    ``thresholds`` (area ratio), ``luo_fraction`` and ``mass_fraction`` default to the
    published settings; each must lie in (0, 1]. The map is checked and normalised once
    (``erf`` may already be a prepared map, :class:`erftheory.distribution._PreparedMap`) and
    shared by every measure.

    Keys: ``mean``, ``std``, ``std_over_trf`` (std / array size per axis), ``radius_2sigma``;
    ``luo_count``, ``luo_side``, ``luo_radius`` (4.55% of the centre pixel; None when the
    centre is zero); ``luo_peak_count``; ``mass_fraction`` (0.9545), ``mass_count``,
    ``mass_radius``; ``area_ratio_thresholds`` (0.2, 0.3, 0.5, 0.99) with ``area_ratio_side``
    and ``area_ratio`` (RepLKNet, log scale; a side is None where the whole non-square map was
    returned) and ``area_ratio_raw_side``, ``area_ratio_raw`` (scale free);
    ``effective_area``; ``trf_fraction_2sigma`` (None when the covariance is singular).

    Examples
    --------
    >>> m = all_metrics(np.ones((5, 5)))
    >>> round(m["effective_area"], 9), m["area_ratio_side"], m["luo_count"]
    (25.0, [3, 3, 5, 5], 25)
    """
    check_options(thresholds, luo_fraction, mass_fraction)
    prepared = _prepare(erf)  # read, checked and normalised once for every measure below
    shape = prepared.p.shape
    mom = prepared.moments
    out: dict = {
        "mean": list(mom.mean),
        "std": list(mom.std),
        "std_over_trf": [s / n for s, n in zip(mom.std, shape)],
        "radius_2sigma": [2.0 * s for s in mom.std],
    }
    try:
        luo = luo_size(prepared, luo_fraction)
        out.update(
            luo_fraction=luo_fraction, luo_count=luo.count, luo_side=luo.side, luo_radius=luo.radius
        )
    except ERFError:
        out.update(luo_count=None, luo_side=None, luo_radius=None)
    out["luo_peak_count"] = luo_size(prepared, luo_fraction, relative_to="peak").count
    mass = mass_region(prepared, mass_fraction)
    out.update(mass_fraction=mass_fraction, mass_count=mass.count, mass_radius=mass.radius)
    out["area_ratio_thresholds"] = list(thresholds)
    for key, log in (("area_ratio", True), ("area_ratio_raw", False)):
        boxes = _prepare_boxes(prepared, log)  # once for all thresholds
        regions = [_region(prepared, t, log, square=True, boxes=boxes) for t in thresholds]
        out[f"{key}_side"] = [r.side for r in regions]
        out[key] = [r.ratio for r in regions]
    out["effective_area"] = effective_area(prepared)
    try:
        out["trf_fraction_2sigma"] = trf_fraction_in_sigma_region(prepared, 2.0)
    except ERFError:
        out["trf_fraction_2sigma"] = None
    return out
