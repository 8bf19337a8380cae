"""ERF size measures people quote, each stated exactly.

Every measure takes an ERF map (1-, 2- or 3-d float array; index 0 = first input pixel of the
receptive field) and uses ``|erf|``; `all_metrics` prepares the map once
(:class:`erftheory.gaussian._PreparedMap`, which every measure also accepts) and hands it to
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
from typing import Literal, NamedTuple

import numpy as np

from .errors import ERFError
from .gaussian import _check_positive_definite, _prepare, _PreparedMap

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
    erf : array_like or _PreparedMap
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
    std = _prepare(erf).moments.std
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
    erf : array_like or _PreparedMap
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
    prepared = _prepare(erf)
    a = prepared.p
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
    value = float(prepared.absolute[index])
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
    erf : array_like or _PreparedMap
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
    p = _prepare(erf).p
    target = fraction * (1 - 1e-12)
    held = _largest_first(p, target)
    count = min(int(np.searchsorted(held, target)) + 1, p.size)
    d = p.ndim
    mass = min(float(held[count - 1]), 1.0)
    return MassRegion(count, fraction, mass, count ** (1 / d), _ball_radius(count, d))


def _largest_first(p: np.ndarray, mass: float) -> np.ndarray:
    """Running sums of ``p``'s values, largest first, at least until they reach ``mass``.

    Only the largest values are sorted (``np.partition`` picks them; their number grows
    eightfold until they hold ``mass``): the same leading sums as sorting the whole map, at a
    fraction of the cost when the mass sits in a few pixels.
    """
    flat = p.reshape(-1)
    count = min(flat.size, 1 << 14)
    while True:
        top = flat if count == flat.size else np.partition(flat, flat.size - count)[-count:]
        held = np.cumsum(np.sort(top)[::-1])
        if count == flat.size or held[-1] >= mass:
            return held
        count = min(8 * count, flat.size)


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


def effective_area(erf) -> float:
    """Entropy-based effective area ``exp(H)``, ``H = -sum p log p`` with ``p = |erf| / sum``.

    The number of equally weighted pixels with the same entropy: a uniform map over ``N``
    pixels gives ``N``; a 2-d Gaussian of std ``sigma`` gives about ``2 pi e sigma^2``.

    Parameters
    ----------
    erf : array_like or _PreparedMap

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
    prepared = _prepare(erf)
    return float(math.exp(-float(np.sum(prepared.p_support * prepared.log_p_support))))


def trf_fraction_in_sigma_region(erf, k: float = 2.0) -> float:
    """Fraction of the theoretical receptive field inside the ERF's ``k``-sigma ellipse.

    The TRF is the whole array; a pixel (at its centre ``x``) is inside when
    ``(x - mean)^T Cov^-1 (x - mean) <= k^2``, with the mean and full covariance of ``|erf|``
    taken as a distribution. Luo et al. (2016) observe that this shrinks like ``1/sqrt(n)``
    per axis for plain stacks.

    Parameters
    ----------
    erf : array_like or _PreparedMap
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
    prepared = _prepare(erf)
    m = prepared.moments
    cov = np.array(m.covariance)
    _check_positive_definite(cov, "the ERF's covariance")
    inv = np.linalg.inv(cov)
    shape = prepared.p.shape
    dev = [np.arange(n) - mu for n, mu in zip(shape, m.mean)]
    d = len(shape)
    along = [v.reshape([-1 if a == i else 1 for a in range(d)]) for i, v in enumerate(dev)]
    rows = max(1, 2**16 * shape[0] // math.prod(shape))  # a block of about 2^16 pixels
    inside = 0
    for start in range(0, shape[0], rows):  # by blocks of rows, which stay in the cache
        block = [along[0][start : start + rows], *along[1:]]
        quad = sum(inv[a, b] * block[a] * block[b] for a in range(d) for b in range(d))
        inside += int(np.count_nonzero(quad <= k * k))
    return inside / math.prod(shape)


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
    luo_fraction: float = 0.0455,
    mass_fraction: float = TWO_SIGMA_MASS,
) -> dict:
    """Every size measure of the ERF as a flat dict of plain numbers and lists (JSON-ready).

    ``thresholds`` (area ratio), ``luo_fraction`` and ``mass_fraction`` default to the
    published settings; each must lie in (0, 1]. The map is checked and normalised once
    (``erf`` may already be a prepared map, :class:`erftheory.gaussian._PreparedMap`) and
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
