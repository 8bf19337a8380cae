"""ERF sizes read off ``|erf|`` as a distribution: spread, threshold, mass, entropy.

The measures of :mod:`erftheory.metrics` other than the area ratios (for those see
:mod:`erftheory.area_ratios`): `std_radius`, `luo_size`, `mass_region`, `effective_area` and
`trf_fraction_in_sigma_region`. Each takes an ERF map (or a prepared one,
:class:`erftheory.distribution._PreparedMap`) and uses ``|erf|``.

References
----------
W. Luo, Y. Li, R. Urtasun, R. Zemel, "Understanding the Effective Receptive Field in Deep
Convolutional Neural Networks", NeurIPS 2016.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .distribution import _prepare
from .errors import ERFError
from .gaussian_grid import _check_positive_definite

__all__ = [
    "LuoSize",
    "MassRegion",
    "StdRadius",
    "effective_area",
    "luo_size",
    "mass_region",
    "std_radius",
    "trf_fraction_in_sigma_region",
]

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
