"""ERF size measures people quote, each stated exactly.

Every measure takes an ERF map (1-, 2- or 3-d float array; index 0 = first input pixel of the
receptive field) and uses ``|erf|``. Which number is which:

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

References
----------
W. Luo, Y. Li, R. Urtasun, R. Zemel, "Understanding the Effective Receptive Field in Deep
Convolutional Neural Networks", NeurIPS 2016.
X. Ding, X. Zhang, J. Han, G. Ding, "Scaling Up Your Kernels to 31x31: Revisiting Large Kernel
Design in CNNs", CVPR 2022 (and erf/analyze_erf.py in DingXiaoH/RepLKNet-pytorch).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from .errors import ERFError
from .gaussian import _as_distribution, _check_positive_definite, moments

__all__ = [
    "REPLKNET_THRESHOLDS",
    "AreaRatio",
    "LuoSize",
    "MassRegion",
    "StdRadius",
    "all_metrics",
    "area_ratio",
    "area_ratio_rectangle",
    "effective_area",
    "luo_size",
    "mass_region",
    "std_radius",
    "trf_fraction_in_sigma_region",
]

REPLKNET_THRESHOLDS = (0.2, 0.3, 0.5, 0.99)
LUO_FRACTION = 0.0455  # 1 - 95.45%
TWO_SIGMA_MASS = 0.9545  # mass of a 1-d Gaussian within 2 sigma (erf(sqrt 2) = 0.95450)


def _fraction(value, name: str) -> float:
    if not isinstance(value, (int, float, np.floating, np.integer)) or not 0 < value <= 1:
        raise ERFError(f"{name} = {value!r} must be a number in (0, 1]")
    return float(value)


def _positive(k) -> float:
    if not isinstance(k, (int, float, np.floating, np.integer)) or not 0 < k < math.inf:
        raise ERFError(f"k = {k!r} must be a positive number of standard deviations")
    return float(k)


def _ball_radius(count: float, dims: int) -> float:
    """Radius of the d-ball whose volume is ``count`` pixels (half-length in 1-d)."""
    unit = {1: 2.0, 2: math.pi, 3: 4.0 * math.pi / 3.0}[dims]
    return (count / unit) ** (1.0 / dims)


@dataclass(frozen=True)
class StdRadius:
    """Std per axis of ``|erf|`` as a distribution, and the ``k``-sigma radius ``k * std``."""

    std: tuple[float, ...]
    k: float
    radius: tuple[float, ...]


def std_radius(erf, k: float = 2.0) -> StdRadius:
    """Standard deviation per axis and the ``k``-sigma radius of the ERF.

    ``std_a = sqrt(sum_x p(x) (x_a - mean_a)^2)`` with ``p = |erf| / sum |erf|``; the radius is
    ``k * std_a`` in pixels. Luo et al. (2016) show this grows like ``sqrt(n)``.

    Parameters
    ----------
    erf : array_like
    k : float
        Positive multiple of the std.

    Returns
    -------
    StdRadius

    Raises
    ------
    ERFError
        For a non-positive ``k`` or a map that is not a distribution.

    Examples
    --------
    >>> r = std_radius([1, 2, 3, 2, 1])  # variance 2 (3^2 - 1) / 12 = 4/3
    >>> round(r.std[0] ** 2, 12), round(r.radius[0], 6)
    (1.333333333333, 2.309401)

    References
    ----------
    Luo et al., NeurIPS 2016, section 2.2.
    """
    k = _positive(k)
    std = moments(erf).std
    return StdRadius(std, float(k), tuple(k * s for s in std))


@dataclass(frozen=True)
class LuoSize:
    """Pixels with ``|erf| > fraction * reference`` and their equivalent side and radius.

    ``side = count^(1/d)`` (square / cube of equal area / volume); ``radius`` that of the
    interval (half-length), disc or ball of equal size.
    """

    count: int
    fraction: float
    relative_to: str
    reference_index: tuple[int, ...]
    reference_value: float
    side: float
    radius: float


def luo_size(
    erf, fraction: float = LUO_FRACTION, relative_to: Literal["centre", "peak"] = "centre"
) -> LuoSize:
    """Luo et al.'s ERF size: the pixels exceeding 4.55% of the centre pixel's value.

    Counts pixels with ``|erf| > fraction * |erf[reference]|`` (strictly), where the reference
    is the centre pixel ``shape // 2`` per axis (for an even size that is the upper of the two
    middle pixels, as RepLKNet's ``h // 2``) or the peak. The fraction 4.55% = 1 - 95.45% is
    meant to echo the 2-sigma mass of a Gaussian, but the two do not match: the 4.55%-of-peak
    level of a Gaussian lies at ``sqrt(2 ln(1 / 0.0455)) = 2.49`` sigma, while the 2-sigma
    level is at ``e^-2 = 13.5%`` of the peak. So on a Gaussian ERF this count is the area of
    a disc of radius 2.49 sigma (2-d), not 2 sigma; use `std_radius` or `mass_region` for the
    clean variants.

    Parameters
    ----------
    erf : array_like
    fraction : float
        In (0, 1].
    relative_to : {"centre", "peak"}

    Returns
    -------
    LuoSize

    Raises
    ------
    ERFError
        For a fraction outside (0, 1], an unknown ``relative_to``, or a zero centre pixel
        (a gridded map: use ``relative_to="peak"``).

    Examples
    --------
    >>> s = luo_size([1, 10, 100, 10, 1], fraction=0.05)
    >>> s.count, s.reference_index, s.radius
    (3, (2,), 1.5)

    References
    ----------
    Luo et al., NeurIPS 2016.
    """
    fraction = _fraction(fraction, "fraction")
    a = np.abs(_as_distribution(erf))
    if relative_to == "centre":
        index = tuple(n // 2 for n in a.shape)
    elif relative_to == "peak":
        index = tuple(int(i) for i in np.unravel_index(np.argmax(a), a.shape))
    else:
        raise ERFError(f"relative_to {relative_to!r} is not one of 'centre', 'peak'")
    reference = float(a[index])
    if reference == 0:
        raise ERFError(
            f"the centre pixel {index} of the ERF is zero (gridded support?); "
            "use relative_to='peak'"
        )
    count = int(np.count_nonzero(a > fraction * reference))
    value = float(np.abs(np.asarray(erf, dtype=float))[index])
    d = a.ndim
    return LuoSize(
        count, fraction, relative_to, index, value, count ** (1 / d), _ball_radius(count, d)
    )


@dataclass(frozen=True)
class MassRegion:
    """The fewest pixels (largest values first) holding at least ``fraction`` of the mass."""

    count: int
    fraction: float
    mass: float
    side: float
    radius: float


def mass_region(erf, fraction: float = TWO_SIGMA_MASS) -> MassRegion:
    """Size of the smallest set of pixels holding a fraction of the ERF's mass.

    Pixels are taken largest ``|erf|`` first until their share of ``sum |erf|`` reaches
    ``fraction`` (within a relative 1e-12, so rounding does not add a pixel). For a Gaussian
    ERF and ``fraction = 0.9545`` in 1-d this is the 2-sigma interval; in 2-d the disc
    holding 95.45% has radius ``sqrt(2 ln(1 / 0.0455)) = 2.49`` sigma. ``side`` and ``radius``
    are those of the square and the disc (interval, ball) of the same size.

    Parameters
    ----------
    erf : array_like
    fraction : float
        In (0, 1].

    Returns
    -------
    MassRegion
        ``mass`` is the share actually held (at least ``fraction``).

    Raises
    ------
    ERFError
        For a fraction outside (0, 1] or a map that is not a distribution.

    Examples
    --------
    >>> mass_region([1, 2, 4, 2, 1], 0.8).count  # 4 + 2 + 2 = 8 of 10
    3

    References
    ----------
    Luo et al., NeurIPS 2016 (the clean mass-based variant beside their threshold).
    """
    fraction = _fraction(fraction, "fraction")
    p = _as_distribution(erf)
    held = np.cumsum(np.sort(p, axis=None)[::-1])
    count = min(int(np.searchsorted(held, fraction * (1 - 1e-12))) + 1, p.size)
    d = p.ndim
    mass = min(float(held[count - 1]), 1.0)
    return MassRegion(count, fraction, mass, count ** (1 / d), _ball_radius(count, d))


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


def _contribution(erf, log_scale: bool) -> np.ndarray:
    p = _as_distribution(erf)
    if not log_scale:
        return p
    a = np.log1p(np.abs(np.asarray(erf, dtype=float))) / math.log(10)  # log10(x + 1)
    return a / a.max()


def _box_sums(a: np.ndarray) -> np.ndarray:
    """``B[i_0, ..., i_(d-1)]`` = sum of ``a`` over ``|x_k - shape_k // 2| <= i_k``."""
    centre = [n // 2 for n in a.shape]
    half = [min(c, n - 1 - c) for c, n in zip(centre, a.shape)]
    box = a[tuple(slice(c - h, c + h + 1) for c, h in zip(centre, half))]
    for axis, h in enumerate(half):
        box = np.moveaxis(box, axis, 0)
        folded = np.concatenate([box[h : h + 1], box[h + 1 :] + box[:h][::-1]])
        box = np.moveaxis(np.cumsum(folded, axis=0), 0, axis)
    return box


def _prepare_boxes(erf, log_scale: bool):
    a = _contribution(erf, log_scale)
    return a, _box_sums(a)


def _region(erf, threshold, log_scale, square: bool, prepared=None) -> AreaRatio:
    """The box for one threshold; ``prepared`` = ``(a, sums)`` shares them across thresholds."""
    threshold = _fraction(threshold, "threshold")
    a, sums = prepared if prepared is not None else _prepare_boxes(erf, log_scale)
    held = np.minimum(sums / a.sum(), 1.0)  # rounding must not let a box beat the whole map
    lows = [min(1, h - 1) for h in sums.shape]  # half-width i >= 1 wherever the axis allows
    if square:
        i = np.arange(1, min(sums.shape))
        inside = held[tuple([i] * a.ndim)] > threshold
        if np.any(inside):
            best = (int(i[np.argmax(inside)]),) * a.ndim
        else:
            best = None
    else:
        held_ok = held[tuple(slice(lo, None) for lo in lows)]
        grids = np.indices(held_ok.shape) + np.reshape(lows, [-1] + [1] * a.ndim)
        area = np.prod(2 * grids + 1, axis=0).astype(float)
        area[held_ok <= threshold] = np.inf
        if np.isfinite(area.min()):
            ties = area == area.min()
            flat = np.argmax(np.where(ties, held_ok, -1.0))
            best = tuple(int(g.flat[flat]) for g in grids)
        else:
            best = None
    if best is None:
        return AreaRatio(threshold, log_scale, a.shape, 1.0, 1.0, True)
    sides = tuple(2 * i + 1 for i in best)
    return AreaRatio(
        threshold, log_scale, sides, math.prod(sides) / a.size, float(held[best]), False
    )


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
    erf : array_like
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
    erf : array_like
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


def effective_area(erf) -> float:
    """Entropy-based effective area ``exp(H)``, ``H = -sum p log p`` with ``p = |erf| / sum``.

    The number of equally weighted pixels with the same entropy: a uniform map over ``N``
    pixels gives ``N``; a 2-d Gaussian of std ``sigma`` gives about ``2 pi e sigma^2``.

    Parameters
    ----------
    erf : array_like

    Returns
    -------
    float

    Raises
    ------
    ERFError
        For a map that is not a distribution.

    Examples
    --------
    >>> round(effective_area(np.ones((3, 4))), 12)
    12.0

    References
    ----------
    C. E. Shannon (1948): ``exp(H)`` is the number of equally likely positions with the
    same entropy.
    """
    p = _as_distribution(erf)
    p = p[p > 0]
    return float(math.exp(-float(np.sum(p * np.log(p)))))


def trf_fraction_in_sigma_region(erf, k: float = 2.0) -> float:
    """Fraction of the theoretical receptive field inside the ERF's ``k``-sigma ellipse.

    The TRF is the whole array; a pixel (at its centre ``x``) is inside when
    ``(x - mean)^T Cov^-1 (x - mean) <= k^2``, with the mean and full covariance of ``|erf|``
    taken as a distribution. Luo et al. (2016) observe that this shrinks like ``1/sqrt(n)``
    per axis for plain stacks.

    Parameters
    ----------
    erf : array_like
    k : float
        Positive number of standard deviations.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    ERFError
        For a non-positive ``k`` or a covariance that is not positive definite (an axis with
        zero spread).

    Examples
    --------
    >>> trf_fraction_in_sigma_region(np.ones(9))  # std sqrt(80 / 12) = 2.58: all 9 inside
    1.0

    References
    ----------
    Luo et al., NeurIPS 2016, section 2.4.
    """
    k = _positive(k)
    m = moments(erf)
    cov = np.array(m.covariance)
    _check_positive_definite(cov, "the ERF's covariance")
    inv = np.linalg.inv(cov)
    shape = np.shape(erf)
    dev = [np.arange(n) - mu for n, mu in zip(shape, m.mean)]
    d = len(shape)
    along = [v.reshape([-1 if a == i else 1 for a in range(d)]) for i, v in enumerate(dev)]
    quad = sum(inv[a, b] * along[a] * along[b] for a in range(d) for b in range(d))
    return float(np.count_nonzero(quad <= k * k) / math.prod(shape))


def check_options(
    thresholds=REPLKNET_THRESHOLDS,
    luo_fraction: float = 0.0455,
    mass_fraction: float = TWO_SIGMA_MASS,
) -> None:
    """Refuse :func:`all_metrics` options outside (0, 1] before any map is computed.

    Examples
    --------
    >>> check_options(thresholds=(0.2, 1.5))
    Traceback (most recent call last):
    erftheory.errors.ERFError: threshold 1.5 is outside (0, 1]
    """
    for name, value in [("luo fraction", luo_fraction), ("mass fraction", mass_fraction)] + [
        ("threshold", t) for t in thresholds
    ]:
        if not 0 < value <= 1:  # (NaN fails too)
            raise ERFError(f"{name} {value!r} is outside (0, 1]")


def all_metrics(
    erf,
    thresholds=REPLKNET_THRESHOLDS,
    luo_fraction: float = 0.0455,
    mass_fraction: float = TWO_SIGMA_MASS,
) -> dict:
    """Every size measure of the ERF as a flat dict of plain numbers and lists (JSON-ready).

    ``thresholds`` (area ratio), ``luo_fraction`` and ``mass_fraction`` default to the
    published settings; each must lie in (0, 1].

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
    shape = np.shape(erf)
    mom = moments(erf)
    out: dict = {
        "mean": list(mom.mean),
        "std": list(mom.std),
        "std_over_trf": [s / n for s, n in zip(mom.std, shape)],
        "radius_2sigma": [2.0 * s for s in mom.std],
    }
    try:
        luo = luo_size(erf, luo_fraction)
        out.update(
            luo_fraction=luo_fraction, luo_count=luo.count, luo_side=luo.side, luo_radius=luo.radius
        )
    except ERFError:
        out.update(luo_count=None, luo_side=None, luo_radius=None)
    out["luo_peak_count"] = luo_size(erf, luo_fraction, relative_to="peak").count
    mass = mass_region(erf, mass_fraction)
    out.update(mass_fraction=mass_fraction, mass_count=mass.count, mass_radius=mass.radius)
    out["area_ratio_thresholds"] = list(thresholds)
    for key, log in (("area_ratio", True), ("area_ratio_raw", False)):
        boxes = _prepare_boxes(erf, log)  # once for all thresholds
        regions = [_region(erf, t, log, square=True, prepared=boxes) for t in thresholds]
        out[f"{key}_side"] = [r.side for r in regions]
        out[key] = [r.ratio for r in regions]
    out["effective_area"] = effective_area(erf)
    try:
        out["trf_fraction_2sigma"] = trf_fraction_in_sigma_region(erf, 2.0)
    except ERFError:
        out["trf_fraction_2sigma"] = None
    return out
