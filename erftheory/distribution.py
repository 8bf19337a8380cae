"""An ERF map taken as a distribution: checked and normalised once, and its moments.

``|erf|`` normalised to sum 1 is the law whose Gaussian limit :mod:`erftheory.gaussian`
studies (Luo et al. 2016, section 2). `_prepare` checks a map and normalises it once into a
`_PreparedMap`, which `moments`, :func:`erftheory.gaussian.compare_to_gaussian`,
:func:`erftheory.distances.distances` and the measures of :mod:`erftheory.metrics` all
accept in place of the array; `moments` gives the map's mean, covariance, skewness and
kurtosis.

References
----------
W. Luo, Y. Li, R. Urtasun, R. Zemel, "Understanding the Effective Receptive Field in Deep
Convolutional Neural Networks", NeurIPS 2016.
"""

from __future__ import annotations

import functools
import math
import reprlib
from dataclasses import asdict, dataclass

import numpy as np

from .errors import ERFError
from .report import json_ready

__all__ = ["Moments", "moments"]


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
        out = {k: [json_ready(x) for x in v] for k, v in asdict(self).items() if k != "covariance"}
        out["covariance"] = [[json_ready(x) for x in row] for row in self.covariance]
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
    # an axis whose mass sits on one index has that index as its mean, exactly: the weighted
    # sum would give it times a total one ulp off 1, and a variance of 1e-32 that a Gaussian
    # then takes for a (non-positive-definite) spread
    mean = [
        float(nz[0]) if (nz := np.flatnonzero(m)).size == 1 else float(m @ np.arange(m.size))
        for m in marginals
    ]
    centred = [np.arange(m.size) - mu for m, mu in zip(marginals, mean)]
    cov = np.zeros((d, d))
    skew, kurt = [], []
    for a in range(d):
        var = float(marginals[a] @ centred[a] ** 2)
        cov[a, a] = var
        m3, m4 = marginals[a] @ centred[a] ** 3, marginals[a] @ centred[a] ** 4
        # (divided by var, then by its root: var**1.5 underflows to 0 for var ~ 1e-300, where
        # the ratio itself is in range; one beyond float64 is inf)
        with np.errstate(over="ignore"):
            skew.append(float(m3 / var / math.sqrt(var)) if var > 0 else math.nan)
            kurt.append(float(m4 / var / var - 3.0) if var > 0 else math.nan)
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
