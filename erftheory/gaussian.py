"""The Gaussian side of the ERF: moments, Gaussian and Edgeworth predictions, distances, rates.

Taken as a distribution (``|erf|`` normalised to sum 1), the ERF of a plain stack of
non-negative kernels is the law of a sum of independent offsets, so it tends to the Gaussian
with its own mean and covariance (Luo et al. 2016, section 2)::

    P(S_n = x) ~ phi(z) / sigma_n [1 + g1/6 He3(z) + g2/24 He4(z) + g1^2/72 He6(z)],

``z = (x - mean) / sigma_n``, with ``g1`` the skewness and ``g2`` the excess kurtosis of the
whole ERF (for ``n`` identical layers ``g1 = k3 / (sigma^3 sqrt n)``, ``g2 = k4 / (sigma^4 n)``).
This module measures the map's moments, discretises the Gaussian and its first Edgeworth
correction on the ERF's grid and measures distances between maps; :mod:`erftheory.rates`
gives the rates (Berry-Esseen, local CLT) at which the Gaussian arrives.

References
----------
W. Luo, Y. Li, R. Urtasun, R. Zemel, "Understanding the Effective Receptive Field in Deep
Convolutional Neural Networks", NeurIPS 2016.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import reprlib
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from .errors import ERFError

__all__ = [
    "Distances",
    "GaussianComparison",
    "GridPrediction",
    "Moments",
    "compare_to_gaussian",
    "distances",
    "edgeworth_prediction",
    "gaussian_prediction",
    "without_rounding_cross_terms",
    "moments",
]

_GL_MIN, _GL_MAX = 8, 64  # Gauss-Legendre nodes per pixel and outer axis (full covariance)
_DISCRETISATIONS = ("cell", "point")
Discretisation = Literal["cell", "point"]


# THEORY 6: a signed kernel's ERF is no distribution and may have no Gaussian limit
_SIGNED_NOTE = (
    "signed map: compared as |erf|, which need not tend to a Gaussian (use the E[g^2] map, "
    "weights='random')"
)


def _json(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


@dataclass(frozen=True, eq=False)
class _PreparedMap:
    """An ERF map checked and taken as a distribution once, for every measure that reads it.

    `moments`, `compare_to_gaussian`, `distances` and the measures of
    :mod:`erftheory.metrics` accept one in place of the array, so an analysis that runs them
    all reads, checks and normalises the map once. What only some measures need is computed
    on first use and then kept; every value is the one those functions compute from the
    array. The arrays are read-only.

    Attributes
    ----------
    absolute : numpy.ndarray
        ``|erf|`` as float64.
    p : numpy.ndarray
        ``absolute`` normalised to sum 1 (divided by its peak first, so the sum cannot
        overflow).
    """

    absolute: np.ndarray
    p: np.ndarray
    signed: bool = False  # the map had negative entries: every measure is of |erf|

    @functools.cached_property
    def marginals(self) -> list[np.ndarray]:
        """The marginal of ``p`` on each axis (the sum over the other axes)."""
        d = self.p.ndim
        return [_frozen(self.p.sum(axis=tuple(b for b in range(d) if b != a))) for a in range(d)]

    @functools.cached_property
    def moments(self) -> Moments:
        """The moments of ``p`` (see `moments`)."""
        return _moments_of(self)

    @functools.cached_property
    def support(self) -> np.ndarray:
        """The mask ``p > 0``."""
        return _frozen(self.p > 0)

    @functools.cached_property
    def p_support(self) -> np.ndarray:
        """``p`` on its support (flat), the terms of the entropy and of KL divergences."""
        return _frozen(self.p[self.support])

    @functools.cached_property
    def log_p_support(self) -> np.ndarray:
        """``log p`` on the support (flat)."""
        return _frozen(np.log(self.p_support))

    @functools.cached_property
    def sqrt_p(self) -> np.ndarray:
        """``sqrt p``, for Hellinger distances."""
        return _frozen(np.sqrt(self.p))


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _prepare(erf, name: str = "erf") -> _PreparedMap:
    """``erf`` checked and prepared as a distribution; a `_PreparedMap` is returned as is.

    Raises
    ------
    ERFError
        For a map that is not numeric, not 1- to 3-d, empty, non-finite or all zero.
    """
    if isinstance(erf, _PreparedMap):
        return erf
    try:
        complex_map = np.iscomplexobj(erf)
        a = None if complex_map else np.asarray(erf, dtype=float)
    except (TypeError, ValueError) as exc:  # text, objects, ragged nested lists
        raise ERFError(
            f"{name}={reprlib.repr(erf)} is not a numeric array (a number per entry, rows of "
            "equal length)"
        ) from exc
    if complex_map:  # (numpy would drop the imaginary parts with a warning)
        raise ERFError(f"{name} is complex; a map is real (take abs() or .real first)")
    signed = bool(a.size and a.min() < 0)
    a = np.abs(a)
    if a.ndim not in (1, 2, 3) or a.size == 0:
        raise ERFError(f"{name} must be a non-empty 1-, 2- or 3-d array, got shape {a.shape}")
    peak = a.max()  # NaN if any entry is NaN, inf if any is infinite
    if not math.isfinite(peak):
        bad = int(np.count_nonzero(~np.isfinite(a)))
        raise ERFError(f"{name} has {bad} non-finite entries (nan or inf); a map must be finite")
    if peak == 0:
        raise ERFError(f"{name} (shape {a.shape}) is all zero: it is not a distribution")
    p = a / peak  # the sum cannot overflow after this
    p /= p.sum()
    return _PreparedMap(_frozen(a), _frozen(p), signed)


def _as_distribution(erf, name: str = "erf") -> np.ndarray:
    """``|erf|`` as float64 normalised to sum 1, after checking it can be one (read-only)."""
    return _prepare(erf, name).p


# --------------------------------------------------------------------------------- moments


@dataclass(frozen=True)
class Moments:
    """Moments of ``|erf|`` taken as a distribution over array indices.

    ``skewness`` and ``excess_kurtosis`` are those of each axis' marginal; they are NaN on an
    axis with zero spread.
    """

    mean: tuple[float, ...]
    covariance: tuple[tuple[float, ...], ...]
    std: tuple[float, ...]
    skewness: tuple[float, ...]
    excess_kurtosis: tuple[float, ...]

    def to_dict(self) -> dict:
        """A JSON-ready dict (NaN becomes None)."""
        out = {k: [_json(x) for x in v] for k, v in asdict(self).items() if k != "covariance"}
        out["covariance"] = [[_json(x) for x in row] for row in self.covariance]
        return out


def moments(erf) -> Moments:
    """Mean, full covariance, std, skewness and excess kurtosis of an ERF map.

    Parameters
    ----------
    erf : array_like or _PreparedMap
        1-, 2- or 3-d map; ``|erf|`` normalised to sum 1 is the distribution.

    Returns
    -------
    Moments
        ``covariance[a][b] = sum_x p(x) (x_a - mean_a)(x_b - mean_b)``, cross terms included.

    Raises
    ------
    ERFError
        For an empty, all-zero or non-finite map.

    Examples
    --------
    >>> m = moments([1, 2, 3, 2, 1])  # two 3-tap all-ones layers: var = 2 (9 - 1) / 12
    >>> round(m.mean[0], 12), round(m.covariance[0][0], 12), round(m.excess_kurtosis[0], 12)
    (2.0, 1.333333333333, -0.75)

    References
    ----------
    Luo et al., NeurIPS 2016, section 2 (the ERF as a distribution).
    """
    return _prepare(erf).moments


def _moments_of(prepared: _PreparedMap) -> Moments:
    p, marginals = prepared.p, prepared.marginals
    d = p.ndim
    mean = [float(m @ np.arange(m.size)) for m in marginals]
    centred = [np.arange(m.size) - mu for m, mu in zip(marginals, mean)]
    cov = np.zeros((d, d))
    skew, kurt = [], []
    for a in range(d):
        var = float(marginals[a] @ centred[a] ** 2)
        cov[a, a] = var
        m3, m4 = marginals[a] @ centred[a] ** 3, marginals[a] @ centred[a] ** 4
        skew.append(float(m3 / var**1.5) if var > 0 else math.nan)
        kurt.append(float(m4 / var**2 - 3.0) if var > 0 else math.nan)
        for b in range(a + 1, d):
            others = tuple(c for c in range(d) if c not in (a, b))
            pair = p.sum(axis=others) if others else p  # in 2-d the pair is p itself
            cov[a, b] = cov[b, a] = float(centred[a] @ pair @ centred[b])
    return Moments(
        mean=tuple(mean),
        covariance=tuple(tuple(float(x) for x in row) for row in cov),
        std=tuple(math.sqrt(cov[a, a]) for a in range(d)),
        skewness=tuple(skew),
        excess_kurtosis=tuple(kurt),
    )


# ----------------------------------------------------------------------------- predictions


@dataclass(frozen=True, eq=False)
class GridPrediction:
    """A predicted ERF on the grid, with what was lost or clipped on the way.

    Attributes
    ----------
    values : numpy.ndarray
        The prediction; sums to 1 over the grid when ``normalised``.
    discretisation : {"cell", "point"}
    method : str
        How it was computed: "erf-differences", "gauss-legendre-<nodes>", "density" or
        "hermite" (Edgeworth).
    outside_mass : float
        Mass of the continuous (un-normalised) prediction outside the grid's cells
        ``[-1/2, n - 1/2]`` per axis, before normalisation. A signed Edgeworth density can
        give a slightly negative value here.
    negative_mass : float
        Total of the negative entries of the raw prediction (Edgeworth only; clipped to 0
        before normalising).
    normalised : bool
    log_values : numpy.ndarray or None
        ``log(values)`` computed without underflow where available (used by ``distances``
        for KL far in the tails).
    """

    values: np.ndarray
    discretisation: str
    method: str
    outside_mass: float
    negative_mass: float = 0.0
    normalised: bool = True
    log_values: np.ndarray | None = field(default=None, repr=False)


def _check_positive_definite(cov: np.ndarray, what: str) -> None:
    """Eigenvalues above 1e-12 of the largest: rounding must not pass a singular matrix."""
    eig = np.linalg.eigvalsh((cov + cov.T) / 2)
    if not eig[0] > 1e-12 * max(eig[-1], 0.0):
        raise ERFError(
            f"{what} {cov.tolist()} is not positive definite (an axis with zero spread, or "
            "all mass on a line?); a Gaussian or a sigma ellipse needs a positive definite one"
        )


def _grid_shape(shape) -> tuple[int, ...]:
    """A grid shape checked: an integer, or 1 to 3 of them (integral floats pass; bools not)."""
    if isinstance(shape, np.ndarray) and shape.ndim == 0:
        shape = shape.item()
    if isinstance(shape, (str, bytes)):
        items = None
    else:
        try:
            items = tuple(shape)
        except TypeError:
            items = (shape,)
    number = (int, float, np.integer, np.floating)

    def whole(n) -> bool:
        return (
            isinstance(n, number)
            and not isinstance(n, (bool, np.bool_))
            and math.isfinite(n)
            and n == int(n)
            and n >= 1
        )

    if items is None or not 1 <= len(items) <= 3 or not all(whole(n) for n in items):
        raise ERFError(f"shape={shape!r} is not 1 to 3 positive integers (e.g. 21 or (21, 21))")
    return tuple(int(n) for n in items)


def _floats(value, name: str) -> np.ndarray:
    """``value`` as a float array, or an ERFError naming it."""
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ERFError(
            f"{name}={reprlib.repr(value)} is not a number or array of numbers"
        ) from None


def _check_grid(shape, mean, covariance, discretisation):
    shape = _grid_shape(shape)
    d = len(shape)
    mean = np.atleast_1d(_floats(mean, "mean"))
    cov = _floats(covariance, "covariance")
    cov = np.diag(np.broadcast_to(cov, (d,))) if cov.ndim < 2 else cov
    if mean.shape != (d,) or cov.shape != (d, d):
        raise ERFError(
            f"mean {mean.tolist()} and covariance {cov.tolist()} do not fit a {d}-d grid; "
            f"give {d} means and a {d} x {d} matrix (or {d} variances)"
        )
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(cov))):
        raise ERFError(f"mean {mean.tolist()} and covariance {cov.tolist()} must be finite")
    if np.max(np.abs(cov - cov.T)) > 1e-12 * np.max(np.abs(cov)):
        raise ERFError(f"covariance {cov.tolist()} is not symmetric")
    _check_positive_definite(cov, "covariance")
    if discretisation not in _DISCRETISATIONS:
        raise ERFError(f"discretisation {discretisation!r} is not one of 'cell', 'point'")
    return shape, mean, (cov + cov.T) / 2


def _log_cell_1d(n: int, mu: float, sd: float) -> np.ndarray:
    """log(Phi(b) - Phi(a)) over the cells [i - 1/2, i + 1/2], accurate in both tails."""
    from scipy.special import log_ndtr

    a = (np.arange(n) - 0.5 - mu) / sd
    b = a + 1.0 / sd
    right = a > 0  # right of the mean use upper tails, Phi(-a) - Phi(-b)
    log_hi, log_lo = log_ndtr(np.where(right, -a, b)), log_ndtr(np.where(right, -b, a))
    ratio = log_lo - log_hi
    with np.errstate(divide="ignore"):  # (a cell whose CDFs agree: replaced below)
        out = log_hi + np.log1p(-np.exp(ratio))
    narrow = ratio > -0.5  # the two CDFs agree to many digits: their difference cancels
    if np.any(narrow):
        # there the cell is narrow next to the std and the density varies by at most
        # ~e^1 over it: Gauss-Legendre on phi(mid + t), t in [-h, h], is exact to rounding
        h = 0.5 / sd
        mid = (np.arange(n)[narrow] - mu) / sd
        nodes, weights = np.polynomial.legendre.leggauss(16)
        t = h * nodes
        inner = np.exp(-np.outer(mid, t) - 0.5 * t * t) @ weights
        out[narrow] = -0.5 * mid * mid - 0.5 * math.log(2 * math.pi) + np.log(h * inner)
    return out


def _outside_1d(n: int, mu: float, sd: float) -> float:
    from scipy.special import ndtr

    return float(ndtr((-0.5 - mu) / sd) + ndtr(-(n - 0.5 - mu) / sd))


def _along(parts: list[np.ndarray]) -> list[np.ndarray]:
    """Per-axis vectors reshaped to broadcast along their own axis."""
    d = len(parts)
    return [v.reshape([-1 if a == i else 1 for a in range(d)]) for i, v in enumerate(parts)]


def _outer_sum(parts: list[np.ndarray]) -> np.ndarray:
    return sum(_along(parts))


def _outer_prod(parts: list[np.ndarray]) -> np.ndarray:
    return math.prod(_along(parts))


def _point_log_density(shape, mean, cov) -> np.ndarray:
    chol = np.linalg.cholesky(cov)
    grid = np.indices(shape).reshape(len(shape), -1).astype(float) - mean[:, None]
    z = np.linalg.solve(chol, grid)
    logdet = float(np.sum(np.log(np.diag(chol))))
    log_norm = 0.5 * len(shape) * math.log(2 * math.pi) + logdet
    return (-0.5 * np.sum(z * z, axis=0) - log_norm).reshape(shape)


def _cell_full(shape, mean, cov) -> tuple[np.ndarray, int]:
    """Cell masses for a full covariance, and the number of quadrature nodes used.

    The last axis is integrated exactly given the others (``x_last | x_outer`` is normal with
    mean linear in ``x_outer``, slope ``beta``, and std ``s``), the others by Gauss-Legendre
    quadrature with ``max(8, ceil(4 / scale))`` nodes per pixel and axis (at most 64), where
    ``scale = min(sqrt(smallest eigenvalue of the outer covariance), s / |beta|)`` is the
    finest length on which the integrand varies.
    """
    from scipy.special import ndtr

    last = len(shape) - 1
    s_oo, s_lo = cov[:last, :last], cov[last, :last]
    beta = np.linalg.solve(s_oo, s_lo)
    s = math.sqrt(cov[last, last] - s_lo @ beta)
    inv_oo = np.linalg.inv(s_oo)
    norm = math.sqrt((2 * math.pi) ** last * np.linalg.det(s_oo))
    scale = min(math.sqrt(np.linalg.eigvalsh(s_oo)[0]), s / max(np.linalg.norm(beta), 1e-300))
    count = int(min(_GL_MAX, max(_GL_MIN, math.ceil(4 / scale))))
    nodes, weights = np.polynomial.legendre.leggauss(count)
    nodes, weights = nodes / 2, weights / 2  # on [-1/2, 1/2], weights sum to 1
    edges = np.arange(shape[last] + 1) - 0.5
    grids = np.meshgrid(*[np.arange(n, dtype=float) for n in shape[:last]], indexing="ij")
    out = np.zeros(shape)
    for combo in itertools.product(range(count), repeat=last):
        dev = np.stack([g + nodes[j] - mean[a] for a, (g, j) in enumerate(zip(grids, combo))], -1)
        density = np.exp(-0.5 * np.einsum("...a,ab,...b->...", dev, inv_oo, dev)) / norm
        z = (edges - (mean[last] + dev @ beta)[..., None]) / s
        low, up = ndtr(z), ndtr(-z)
        diff = np.where(z[..., :-1] > 0, up[..., :-1] - up[..., 1:], low[..., 1:] - low[..., :-1])
        out += math.prod(weights[j] for j in combo) * density[..., None] * diff
    return out, count


def _outside_full(shape, mean, cov) -> float:
    from scipy.stats import multivariate_normal

    lower, upper = np.full(len(shape), -0.5), np.asarray(shape, dtype=float) - 0.5
    inside = multivariate_normal.cdf(
        upper, mean, cov, lower_limit=lower, abseps=1e-8, releps=0, rng=0
    )
    return max(0.0, 1.0 - float(inside))


def gaussian_prediction(
    shape,
    mean,
    covariance,
    discretisation: Discretisation = "cell",
    normalise: bool = True,
) -> GridPrediction:
    """The Gaussian ``N(mean, covariance)`` discretised on an ERF's grid.

    ``"cell"`` integrates the density over each pixel cell ``[i - 1/2, i + 1/2]`` per axis;
    ``"point"`` samples the density at the pixel centres. With ``normalise`` the result is
    divided by its sum over the grid (so it sums to 1); ``outside_mass`` reports the
    Gaussian mass that fell outside the grid's cells either way.

    Accuracy: a diagonal covariance (always in 1-d) is exact to rounding (products of
    differences of normal CDFs, in log space, so far tails do not underflow early; cells so
    narrow next to the std that the two CDFs agree to many digits are integrated by
    Gauss-Legendre instead, so a variance of 1e300 still gives every cell its ~1/std). A full
    covariance with ``"cell"`` integrates the last axis exactly given the others and the
    others by Gauss-Legendre quadrature with ``m = max(8, ceil(4 / scale))`` nodes per pixel
    (at most 64; ``scale`` is the finest length, in pixels, on which the integrand varies:
    the smallest outer std or ``s / |beta|`` of the conditional law of the last axis). Checked
    against adaptive quadrature (mpmath, 30 digits; 2-d, outer stds 0.2 to 3, correlations
    -0.7 to 0.9), a cell's relative error is at most 3e-9 for cells whose centre lies
    within 12 Mahalanobis units of the mean (3e-11 within 8, 1e-14 within 4), down to
    ``scale`` = 1/16 pixel. Further out, where the density changes by many orders of
    magnitude across one cell, no such bound holds (measured: 2.7e-1 at 25 units, a cell of
    mass 6e-106); it degrades too for more nearly singular covariances. It costs
    ``m^(d-1)`` evaluations over the grid and ``method`` records ``m``.
    ``outside_mass`` for a full covariance with ``"point"`` comes from
    ``scipy.stats.multivariate_normal.cdf`` (exact algorithm in 2-d; quasi-Monte Carlo with a
    fixed seed and absolute error about 1e-8 in 3-d).

    Parameters
    ----------
    shape : int or tuple of int
        Grid shape (1 to 3 axes); positions are array indices.
    mean : float or sequence of float
    covariance : float, sequence of float (variances) or (d, d) array
        Must be symmetric positive definite.
    discretisation : {"cell", "point"}
    normalise : bool

    Returns
    -------
    GridPrediction

    Raises
    ------
    ERFError
        For a bad shape, a covariance that is not positive definite, or an unknown
        discretisation.

    Examples
    --------
    >>> g = gaussian_prediction(5, 2.0, 1.0)  # std 1 on 5 pixels: 1.24% falls outside
    >>> round(float(g.values.sum()), 12), round(g.outside_mass, 4)
    (1.0, 0.0124)
    >>> raw = gaussian_prediction(5, 2.0, 1.0, normalise=False)
    >>> round(float(raw.values[2]), 4)  # Phi(1/2) - Phi(-1/2)
    0.3829

    References
    ----------
    Luo et al., NeurIPS 2016, section 2.2 (the Gaussian limit).
    """
    shape, mean, cov = _check_grid(shape, mean, covariance, discretisation)
    sd = np.sqrt(np.diag(cov))
    if np.count_nonzero(cov - np.diag(np.diag(cov))) == 0:
        if discretisation == "cell":
            logs = [_log_cell_1d(n, mu, s) for n, mu, s in zip(shape, mean, sd)]
        else:
            logs = [
                -0.5 * ((np.arange(n) - mu) / s) ** 2 - math.log(s * math.sqrt(2 * math.pi))
                for n, mu, s in zip(shape, mean, sd)
            ]
        if normalise:
            from scipy.special import logsumexp

            # shifted to a peak of 0 first: far below it (1e299) a log 2 would be lost
            logs = [v - v.max() for v in logs]
            logs = [v - logsumexp(v) for v in logs]
        log_values = _outer_sum(logs)
        method = "erf-differences" if discretisation == "cell" else "density"
        outs = [_outside_1d(n, mu, s) for n, mu, s in zip(shape, mean, sd)]
        # (an std far beyond the grid puts all but ~1/std of the mass outside: 1.0 then)
        outside = 1.0 if max(outs) >= 1 else -math.expm1(sum(math.log1p(-o) for o in outs))
        return GridPrediction(
            np.exp(log_values), discretisation, method, outside, 0.0, normalise, log_values
        )
    if discretisation == "point":
        log_values = _point_log_density(shape, mean, cov)
        if normalise:
            from scipy.special import logsumexp

            log_values = log_values - log_values.max()  # (see the diagonal case)
            log_values = log_values - logsumexp(log_values)
        values = np.exp(log_values)
        return GridPrediction(
            values, "point", "density", _outside_full(shape, mean, cov), 0.0, normalise, log_values
        )
    values, count = _cell_full(shape, mean, cov)
    total = float(values.sum())
    if normalise:
        values = values / total
    with np.errstate(divide="ignore"):
        log_values = np.log(values)
    method = f"gauss-legendre-{count}"
    return GridPrediction(values, "cell", method, max(0.0, 1 - total), 0.0, normalise, log_values)


def _edgeworth_1d(n, mu, sd, g1, g2, discretisation):
    """Per axis: (values, log phi / sd, polynomial factor, mass outside the grid).

    Point values are ``phi(z) / sd * poly(z)``; cells integrate exactly with
    ``int phi He_k = -phi He_(k-1)`` (log parts are then None).
    """
    from scipy.special import ndtr

    def phi(z):
        return np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

    def tail_poly(z):  # F(z) = Phi(z) - phi(z) tail_poly(z)
        he2, he3, he5 = z**2 - 1, z**3 - 3 * z, z**5 - 10 * z**3 + 15 * z
        return g1 / 6 * he2 + g2 / 24 * he3 + g1**2 / 72 * he5

    def lower(z):  # F(z)
        return ndtr(z) - phi(z) * tail_poly(z)

    def upper(z):  # 1 - F(z)
        return ndtr(-z) + phi(z) * tail_poly(z)

    outside = float(lower((-0.5 - mu) / sd) + upper((n - 0.5 - mu) / sd))
    if discretisation == "cell":
        a = (np.arange(n) - 0.5 - mu) / sd
        b = a + 1.0 / sd
        return np.where(a > 0, upper(a) - upper(b), lower(b) - lower(a)), None, None, outside
    z = (np.arange(n) - mu) / sd
    he3, he4 = z**3 - 3 * z, z**4 - 6 * z**2 + 3
    he6 = z**6 - 15 * z**4 + 45 * z**2 - 15
    poly = 1 + g1 / 6 * he3 + g2 / 24 * he4 + g1**2 / 72 * he6
    log_phi = -0.5 * z * z - math.log(sd * math.sqrt(2 * math.pi))
    return np.exp(log_phi) * poly, log_phi, poly, outside


def edgeworth_prediction(
    shape,
    mean,
    covariance,
    skewness,
    excess_kurtosis,
    discretisation: Discretisation = "point",
    normalise: bool = True,
) -> GridPrediction:
    """The Gaussian with its first Edgeworth correction, discretised on the grid.

    Per axis, with ``z = (x - mean) / std``, ``g1`` the skewness and ``g2`` the excess
    kurtosis of the whole ERF (not of one layer)::

        f(x) = phi(z) / std [1 + g1/6 He3(z) + g2/24 He4(z) + g1^2/72 He6(z)]

    (probabilists' Hermite polynomials). In N-d the prediction is the product over axes, which
    needs a diagonal covariance and is right at this order only for a separable map (mixed
    cumulants are ignored). ``"point"`` samples ``f`` at pixel centres: the local Edgeworth
    expansion of a lattice distribution is exactly this, so it is the default (``"cell"``
    integrates ``f`` over pixel cells exactly, but a cell's width adds a variance of 1/12, an
    O(1/n) change of the same order as the correction). The series is not a density: negative
    entries are reported in ``negative_mass`` and, with ``normalise``, clipped to 0 before
    dividing by the sum.

    Parameters
    ----------
    shape, mean : as in `gaussian_prediction`
    covariance : float, sequence of variances, or diagonal (d, d) array
    skewness, excess_kurtosis : float or sequence of float, one per axis
    discretisation : {"point", "cell"}
    normalise : bool

    Returns
    -------
    GridPrediction

    Raises
    ------
    ERFError
        For a covariance that is not diagonal and positive definite, or non-finite skewness
        or kurtosis.

    Examples
    --------
    Three-tap all-ones kernel, five layers: the correction predicts the
    exact peak over the Gaussian peak as ``1 - 1.5 * 3 / (24 * 5)``:

    >>> e = edgeworth_prediction(11, 5.0, 10 / 3, 0.0, -1.5 / 5, normalise=False)
    >>> g = gaussian_prediction(11, 5.0, 10 / 3, "point", normalise=False)
    >>> round(float(e.values[5] / g.values[5]), 12)
    0.9625

    References
    ----------
    Luo et al., NeurIPS 2016, section 2.2; W. Feller, An Introduction to Probability Theory
    and Its Applications, vol. II, ch. XVI (Edgeworth expansions).
    """
    shape, mean, cov = _check_grid(shape, mean, covariance, discretisation)
    d = len(shape)
    if np.count_nonzero(cov - np.diag(np.diag(cov))):
        raise ERFError(
            f"covariance {cov.tolist()} is not diagonal; the Edgeworth prediction here is a "
            "product over axes and needs uncorrelated axes"
        )
    g1s, g2s = _floats(skewness, "skewness"), _floats(excess_kurtosis, "excess_kurtosis")
    for name, values in (("skewness", g1s), ("excess_kurtosis", g2s)):
        if values.shape not in ((), (d,)):
            raise ERFError(
                f"{name}={values.tolist()!r} does not fit a {d}-d grid: give one number, or "
                f"{d} (one per axis)"
            )
    g1s, g2s = np.broadcast_to(g1s, (d,)), np.broadcast_to(g2s, (d,))
    if not (np.all(np.isfinite(g1s)) and np.all(np.isfinite(g2s))):
        raise ERFError(f"skewness {g1s.tolist()} and kurtosis {g2s.tolist()} must be finite")
    axes = [
        _edgeworth_1d(n, mu, math.sqrt(v), g1, g2, discretisation)
        for n, mu, v, g1, g2 in zip(shape, mean, np.diag(cov), g1s, g2s)
    ]
    raw = axes[0][0]
    for values, *_ in axes[1:]:
        raw = np.multiply.outer(raw, values)
    outside = 1.0 - math.prod(1.0 - ax[3] for ax in axes)
    clipped = np.clip(raw, 0.0, None)
    negative = float(np.sum(clipped - raw))  # the total of -min(raw, 0)
    if not normalise:
        return GridPrediction(raw, discretisation, "hermite", outside, negative, False)
    total = float(clipped.sum())
    if total <= 0:
        raise ERFError("the Edgeworth prediction has no positive mass on this grid")
    log_values = None
    if discretisation == "point":  # log|phi poly| per axis, without underflow of phi
        with np.errstate(divide="ignore"):
            log_values = _outer_sum([ax[1] + np.log(np.abs(ax[2])) for ax in axes])
        log_values -= math.log(total)
        positive = _outer_prod([np.sign(ax[2]).astype(np.int8) for ax in axes]) > 0
        log_values[~positive] = -np.inf
    clipped /= total
    return GridPrediction(clipped, discretisation, "hermite", outside, negative, True, log_values)


# ------------------------------------------------------------------------------- distances


@dataclass(frozen=True)
class Distances:
    """Distances between two maps, each taken as a distribution (``|map|`` / sum).

    ``total_variation = 1/2 sum |p - q|``; ``kl = KL(p || q) = sum p log(p / q)`` in nats
    (``p`` the first argument, usually the ERF), ``inf`` where ``q = 0 < p``;
    ``hellinger = sqrt(1/2 sum (sqrt p - sqrt q)^2)`` in [0, 1]; ``sup = max |p - q|``.
    """

    total_variation: float
    kl: float
    hellinger: float
    sup: float

    def to_dict(self) -> dict:
        """A JSON-ready dict (an infinite KL becomes None)."""
        return {k: _json(v) for k, v in asdict(self).items()}


def distances(p, q) -> Distances:
    """Total variation, KL(p || q), Hellinger and sup distances between two maps.

    Both maps are taken as distributions: absolute values normalised to sum 1. ``H^2 <= TV <=
    sqrt(2) H`` always holds with these conventions.

    Parameters
    ----------
    p : array_like or _PreparedMap
        The reference map (the ERF); KL is taken in the direction ``KL(p || q)``. A prepared
        map is taken as it is (not normalised again) and lends its square root and logarithm.
    q : array_like or GridPrediction
        The model; a normalised `GridPrediction` is taken as it is and lends its
        ``log_values``, so KL stays finite where the prediction only underflowed.

    Returns
    -------
    Distances
        ``kl`` is ``inf`` where ``q`` is exactly zero at a pixel where ``p > 0``.

    Raises
    ------
    ERFError
        For maps of different shapes, all-zero or non-finite maps.

    Examples
    --------
    >>> d = distances([1, 1, 0], [0, 1, 1])
    >>> d.total_variation, d.kl, d.sup
    (0.5, inf, 0.5)
    """
    reference = _prepare(p, "p")
    if isinstance(q, GridPrediction) and q.normalised:  # a distribution already: as it is
        log_q, q = q.log_values, q.values
    else:
        log_q = None
        q = _as_distribution(q.values if isinstance(q, GridPrediction) else q, "q")
    p = reference.p
    if p.shape != q.shape:
        raise ERFError(f"maps of shapes {p.shape} and {q.shape} cannot be compared")
    gap = p - q
    np.abs(gap, out=gap)
    tv = min(float(gap.sum() / 2), 1.0)  # rounding can exceed 1 for disjoint supports
    sup = min(float(gap.max()), 1.0)
    np.sqrt(q, out=gap)  # the buffer again, now for sqrt p - sqrt q
    np.subtract(reference.sqrt_p, gap, out=gap)
    hell = math.sqrt(max(0.0, 0.5 * float(np.sum(np.square(gap, out=gap)))))
    return Distances(tv, _kl(reference, q, log_q), min(hell, 1.0), sup)


def _kl(p: _PreparedMap, q: np.ndarray, log_q: np.ndarray | None) -> float:
    """``KL(p || q)`` in nats, inf where ``q = 0 < p``; ``log_q``: ``log q`` if known."""
    if log_q is None:
        q_support = q[p.support]
        terms = np.full(q_support.shape, -np.inf)
        np.log(q_support, out=terms, where=q_support > 0)
    else:
        terms = log_q[p.support]
    if terms.min() == -np.inf:
        return math.inf
    np.subtract(p.log_p_support, terms, out=terms)  # log p - log q, then times p
    return max(0.0, float(np.sum(np.multiply(terms, p.p_support, out=terms))))


@dataclass(frozen=True)
class GaussianComparison:
    """How far an ERF is from its moment-matched Gaussian and Edgeworth predictions.

    ``edgeworth`` is None where the covariance is not diagonal (see ``note``).
    ``gaussian_outside_mass`` is the Gaussian mass outside the grid; ``edgeworth_negative_mass``
    the negative part clipped from the Edgeworth series; ``lattice_span`` the step of the
    support per axis (> 1: "gridding", and the predictions were put on that lattice);
    ``lattice_index`` the index in ``Z^d`` of the lattice the support's differences generate
    (> 1: gridding, also where it is not a product over axes, as on a checkerboard, whose
    steps per axis are all 1) and ``lattice_basis`` that lattice's basis (echelon rows).
    The two lattice fields are not in :meth:`to_dict` (its values are distances and labels).
    """

    moments: Moments
    discretisation: str
    gaussian: Distances
    edgeworth: Distances | None
    gaussian_outside_mass: float
    edgeworth_negative_mass: float | None
    note: str = ""
    lattice_span: tuple[int, ...] = ()
    lattice_index: int = 1
    lattice_basis: tuple[tuple[int, ...], ...] = ()

    def to_dict(self) -> dict:
        """Flat JSON-ready dict of distances (None where undefined or infinite).

        Keys ``discretisation`` (``"point"`` or ``"cell"``), ``lattice_span`` (the support's
        step per axis, > 1 where it is gridded), ``note``, ``tv_gaussian``, ``kl_gaussian``,
        ``hellinger_gaussian``, ``sup_gaussian``, ``tv_edgeworth``, ``hellinger_edgeworth``,
        ``sup_edgeworth``. KL to the Edgeworth
        series is left out: the truncated series is negative in the far tails (clipped to 0),
        so that KL is infinite for all but the shallowest stacks; it stays on ``edgeworth``.
        """
        short = {"total_variation": "tv", "kl": "kl", "hellinger": "hellinger", "sup": "sup"}
        out = {
            "discretisation": self.discretisation,
            "lattice_span": list(self.lattice_span),  # steps > 1: gridding
            "note": self.note,
        }
        for name, dist in (("gaussian", self.gaussian), ("edgeworth", self.edgeworth)):
            for key, tag in short.items():
                if (name, key) != ("edgeworth", "kl"):
                    out[f"{tag}_{name}"] = None if dist is None else _json(getattr(dist, key))
        return out


def compare_to_gaussian(
    erf, discretisation: Discretisation = "point", edgeworth: bool = True
) -> GaussianComparison:
    """Distances from an ERF to the Gaussian and the Edgeworth-corrected Gaussian.

    Both predictions use the ERF's own moments (`moments`) and are normalised over the
    ERF's grid. ``"point"`` is the default because the local limit theorems (and the
    Edgeworth expansion) are statements about point probabilities of lattice sums. Axes with
    zero spread hold all mass on one index and are compared exactly (a point mass). Where the
    support of an axis' marginal lies on a sublattice (dilation, stride: "gridding") the
    local limit holds on that lattice only, so both predictions are set to 0
    off it and renormalised. The lattice is the one the differences of the support's points
    generate, product over axes or not (a checkerboard): ``lattice_span`` reports its
    steps per axis, ``lattice_index`` its index in ``Z^d``. The support is the exact
    non-zero pattern: a tiny entry counts, and a map with rounding noise where it should be
    zero (an FFT's, computed elsewhere) hides its lattice until those entries are zeroed
    (the maps of :func:`erftheory.erf` are exactly zero off their support). Signed maps are
    compared through ``|erf|``.

    Parameters
    ----------
    erf : array_like or _PreparedMap
    discretisation : {"point", "cell"}
    edgeworth : bool
        False skips the Edgeworth-corrected prediction (``edgeworth`` is then None).

    Returns
    -------
    GaussianComparison

    Examples
    --------
    >>> from numpy.polynomial import polynomial as P
    >>> c = compare_to_gaussian(P.polypow([1, 1, 1], 20))  # 20 all-ones 3-tap layers
    >>> c.gaussian.total_variation < 0.01, c.edgeworth.sup < c.gaussian.sup
    (True, True)

    References
    ----------
    Luo et al., NeurIPS 2016, section 2.2.
    """
    prepared = _prepare(erf)
    prepared_signed = prepared.signed
    m = prepared.moments
    d = prepared.p.ndim
    keep = [a for a in range(d) if m.covariance[a][a] > 0]
    if not keep:  # one pixel: exactly its own (degenerate) Gaussian
        zero = Distances(0.0, 0.0, 0.0, 0.0)
        one = (1,) * len(m.mean)
        return GaussianComparison(m, discretisation, zero, zero, 0.0, 0.0, "single pixel", one)
    if len(keep) < d:  # the other axes hold all mass on one index: compare the rest
        prepared = _prepare(prepared.p.sum(axis=tuple(a for a in range(d) if a not in keep)))
    shape = prepared.p.shape
    spans, mask, index, rows = _lattice(prepared.support)
    span_all = tuple(spans[keep.index(a)] if a in keep else 1 for a in range(len(m.mean)))
    basis = tuple(  # in the map's axes (an axis with all mass on one index has no step)
        tuple(row[keep.index(a)] if a in keep else 0 for a in range(d)) for row in rows
    )
    notes = []
    if mask is not None and index == math.prod(spans):
        notes.append(f"support on a sublattice of steps {span_all}")
    elif mask is not None:  # not a product over axes (a checkerboard)
        notes.append(
            f"support on a sublattice of index {index} with basis "
            f"{[list(r) for r in basis]} (not a product over axes)"
        )
    if prepared_signed:
        notes.insert(0, _SIGNED_NOTE)
    mean = [m.mean[a] for a in keep]
    cov = np.array([[m.covariance[a][b] for b in keep] for a in keep])
    cov = without_rounding_cross_terms(cov)
    var = np.diag(cov)
    if np.count_nonzero(cov - np.diag(var)):
        g = _restrict(gaussian_prediction(shape, mean, cov, discretisation), mask)
        notes.append("covariance not diagonal: Edgeworth (a product over axes) not computed")
        return GaussianComparison(
            m,
            discretisation,
            distances(prepared, g),
            None,
            g.outside_mass,
            None,
            "; ".join(notes),
            span_all,
            index,
            basis,
        )
    g = _restrict(gaussian_prediction(shape, mean, var, discretisation), mask)
    e = None
    if edgeworth:
        skew = [m.skewness[a] for a in keep]
        kurt = [m.excess_kurtosis[a] for a in keep]
        e = _restrict(edgeworth_prediction(shape, mean, var, skew, kurt, discretisation), mask)
        if e is None:  # the series' terms outweigh its Gaussian on every lattice point
            notes.append("Edgeworth series not positive on the support's lattice: not computed")
    return GaussianComparison(
        m,
        discretisation,
        distances(prepared, g),
        None if e is None else distances(prepared, e),
        g.outside_mass,
        None if e is None else e.negative_mass,
        "; ".join(notes),
        span_all,
        index,
        basis,
    )


def without_rounding_cross_terms(covariance) -> np.ndarray:
    """The covariance, made exactly diagonal when its cross terms are rounding noise.

    Moments of a separable map carry ~1e-17 cross terms from rounding; correlations below
    1e-9 are set to 0 so that the exact diagonal (product over axes) code paths apply.

    Examples
    --------
    >>> without_rounding_cross_terms([[2.0, 1e-17], [1e-17, 3.0]]).tolist()
    [[2.0, 0.0], [0.0, 3.0]]
    >>> without_rounding_cross_terms([[2.0, 0.5], [0.5, 3.0]]).tolist()  # a real correlation
    [[2.0, 0.5], [0.5, 3.0]]
    """
    cov = np.array(covariance, dtype=float)
    var = np.diag(cov)
    if np.all(np.abs(cov - np.diag(var)) <= 1e-9 * np.sqrt(np.outer(var, var))):
        return np.diag(var)
    return cov


def _lattice(support: np.ndarray) -> tuple[list[int], np.ndarray | None, int, tuple]:
    """The lattice the support's differences generate: steps, grid mask, index and basis.

    ``support`` is the exact non-zero pattern (``p > 0``: only exact zeros are off it, so
    a tiny but non-zero entry counts). The differences between support points generate a
    lattice ``L`` of ``Z^d``; where ``L`` has full rank and index ``[Z^d : L] > 1`` the
    support lies on the coset ``s0 + L`` ("gridding"), product over axes (dilation) or not
    (a checkerboard). Returns the step of each axis' projection of ``L``, the mask of
    ``s0 + L`` on the grid (None for index 1 or a lattice of lower rank), the index and
    ``L``'s basis in row echelon form (rows of ints).
    """
    d = support.ndim
    unit = tuple(tuple(int(a == b) for b in range(d)) for a in range(d))
    adjacent = [bool(np.any(_pairs(support, a))) for a in range(d)]
    if all(adjacent):  # neighbours along every axis: every unit vector is in L
        return [1] * d, None, 1, unit
    points = np.argwhere(support)
    steps = np.unique(np.diff(points, axis=0), axis=0) if len(points) > 1 else points[:0]
    known = np.array([unit[a] for a in range(d) if adjacent[a]], dtype=np.int64).reshape(-1, d)
    steps = np.concatenate([steps.astype(np.int64), known])
    steps = steps[np.any(steps != 0, axis=1)]
    basis = _echelon(steps[: 2 * d].tolist(), d)
    while True:  # each pass adds a rank or divides the index: a few passes at most
        outside = steps[~_members(steps, basis)]
        if not len(outside):
            break
        basis = _echelon([row for _, row in basis] + outside[: 2 * d].tolist(), d)
    rows = tuple(tuple(row) for _, row in basis)
    spans = [math.gcd(*(row[a] for row in rows)) or 1 for a in range(d)]
    if len(basis) < d:  # a lattice of lower rank: no d-dimensional local limit to restrict
        return spans, None, 1, rows
    index = math.prod(row[c] for c, row in basis)
    if index == 1:
        return spans, None, 1, rows
    grid = np.indices(support.shape).reshape(d, -1).T - points[0]
    mask = _members(grid, basis).reshape(support.shape)
    return spans, mask, index, rows


def _pairs(support: np.ndarray, axis: int) -> np.ndarray:
    """Where a support point has a support neighbour one step further along ``axis``."""
    n = support.shape[axis]
    return support.take(range(n - 1), axis) & support.take(range(1, n), axis)


def _echelon(vectors: list, d: int) -> list[tuple[int, list[int]]]:
    """A basis in row echelon form (Euclid per column) of the lattice ``vectors`` generate.

    Returns ``(pivot column, row)`` pairs with increasing pivots and positive pivot entries
    (entries above a pivot reduced below it: the Hermite normal form), so ``prod(pivots)``
    is the index of a full-rank lattice.
    """
    rows = [[int(x) for x in v] for v in vectors if any(v)]
    basis = []
    for c in range(d):
        active = [r for r in rows if r[c]]
        rest = [r for r in rows if not r[c]]
        while len(active) > 1:
            active.sort(key=lambda r: abs(r[c]))
            pivot, reduced = active[0], [active[0]]
            for r in active[1:]:
                q = r[c] // pivot[c]
                r = [a - q * b for a, b in zip(r, pivot)]
                (reduced if r[c] else rest).append(r)
            active = reduced
        if active:
            pivot = active[0] if active[0][c] > 0 else [-a for a in active[0]]
            basis.append((c, pivot))
        rows = [r for r in rest if any(r)]
    for i, (_, row) in enumerate(basis):  # Hermite normal form: 0 <= entries above a pivot
        for c, lower in basis[i + 1 :]:
            q = row[c] // lower[c]
            row[:] = [a - q * b for a, b in zip(row, lower)]
    return basis


def _members(vectors: np.ndarray, basis) -> np.ndarray:
    """Which rows of ``vectors`` (integers) lie in the lattice of an echelon ``basis``."""
    left = np.array(vectors, dtype=np.int64)
    inside = np.ones(len(left), dtype=bool)
    for c, row in basis:
        inside &= left[:, c] % row[c] == 0
        left -= (left[:, c] // row[c])[:, None] * np.asarray(row, dtype=np.int64)
    return inside & ~np.any(left != 0, axis=1)


def _restrict(pred: GridPrediction, mask: np.ndarray | None) -> GridPrediction | None:
    """The prediction set to 0 off the lattice and renormalised on it.

    None where its mass on the lattice is not positive (an Edgeworth series of a very skewed
    kernel can be negative there): nothing to renormalise.
    """
    if mask is None:
        return pred
    values = np.where(mask, pred.values, 0.0)
    total = float(values.sum())
    if not total > 0:
        return None
    logs = pred.log_values
    logs = None if logs is None else np.where(mask, logs - math.log(total), -np.inf)
    return dataclasses.replace(pred, values=values / total, log_values=logs)
