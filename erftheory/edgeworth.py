"""The Gaussian with its first Edgeworth correction, discretised on an ERF's grid.

Per axis, with ``z = (x - mean) / std``, ``g1`` the skewness and ``g2`` the excess kurtosis
of the whole ERF, the local Edgeworth expansion of a lattice sum is::

    P(S_n = x) ~ phi(z) / sigma_n [1 + g1/6 He3(z) + g2/24 He4(z) + g1^2/72 He6(z)],

the first correction to the Gaussian of :mod:`erftheory.gaussian_grid`.

References
----------
W. Feller, An Introduction to Probability Theory and Its Applications, vol. II, ch. XVI.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import ERFError
from .gaussian_grid import (
    Discretisation,
    GridPrediction,
    _check_grid,
    _floats,
    _outer_prod,
    _outer_sum,
)

__all__ = ["edgeworth_prediction"]


class NoPrediction(ERFError):
    """The Edgeworth series gives no prediction on this grid.

    A very skewed map's correction terms outweigh its Gaussian everywhere (no positive mass
    to normalise), or pass float64 (a skewness of 1e150 raised to powers): there is no
    prediction (:func:`erftheory.gaussian.compare_to_gaussian` then notes it).
    """


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

    >>> from erftheory.gaussian_grid import gaussian_prediction
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
    g1s, g2s = _cumulants(skewness, excess_kurtosis, d)
    with np.errstate(over="ignore", invalid="ignore"):  # (refused below where it matters)
        axes = [
            _edgeworth_1d(n, mu, math.sqrt(v), g1, g2, discretisation)
            for n, mu, v, g1, g2 in zip(shape, mean, np.diag(cov), g1s, g2s)
        ]
        raw = axes[0][0]
        for values, *_ in axes[1:]:
            raw = np.multiply.outer(raw, values)
    if not np.all(np.isfinite(raw)):
        raise NoPrediction(
            f"the Edgeworth series' terms pass float64 on this grid (skewness {g1s}, excess "
            f"kurtosis {g2s}): no prediction"
        )
    outside = 1.0 - math.prod(1.0 - ax[3] for ax in axes)
    clipped = np.clip(raw, 0.0, None)
    negative = float(np.sum(clipped - raw))  # the total of -min(raw, 0)
    if not normalise:
        return GridPrediction(raw, discretisation, "hermite", outside, negative, False)
    total = float(clipped.sum())
    if total <= 0:
        raise NoPrediction("the Edgeworth prediction has no positive mass on this grid")
    log_values = None
    if discretisation == "point":  # log|phi poly| per axis, without underflow of phi
        with np.errstate(divide="ignore"):
            log_values = _outer_sum([ax[1] + np.log(np.abs(ax[2])) for ax in axes])
        log_values -= math.log(total)
        positive = _outer_prod([np.sign(ax[2]).astype(np.int8) for ax in axes]) > 0
        log_values[~positive] = -np.inf
    clipped /= total
    return GridPrediction(clipped, discretisation, "hermite", outside, negative, True, log_values)


def _cumulants(skewness, excess_kurtosis, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Skewness and excess kurtosis checked (finite, one or ``d``) and given per axis."""
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
    return g1s, g2s
