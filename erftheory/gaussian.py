"""The Gaussian side of the ERF: how far a map is from its Gaussian and Edgeworth predictions.

Taken as a distribution (``|erf|`` normalised to sum 1), the ERF of a plain stack of
non-negative kernels is the law of a sum of independent offsets, so it tends to the Gaussian
with its own mean and covariance (Luo et al. 2016, section 2)::

    P(S_n = x) ~ phi(z) / sigma_n [1 + g1/6 He3(z) + g2/24 He4(z) + g1^2/72 He6(z)],

``z = (x - mean) / sigma_n``, with ``g1`` the skewness and ``g2`` the excess kurtosis of the
whole ERF (for ``n`` identical layers ``g1 = k3 / (sigma^3 sqrt n)``, ``g2 = k4 / (sigma^4 n)``).
This module compares a map with both (`compare_to_gaussian`), the public entry; the
pieces are in :mod:`erftheory.distribution` (the map as a distribution, its `moments`),
:mod:`erftheory.gaussian_grid` (`gaussian_prediction`), :mod:`erftheory.edgeworth`
(`edgeworth_prediction`), :mod:`erftheory.distances` (`distances`) and
:mod:`erftheory.lattice` (the support's lattice, "gridding"). :mod:`erftheory.rates`
gives the rates (Berry-Esseen, local CLT) at which the Gaussian arrives.

References
----------
W. Luo, Y. Li, R. Urtasun, R. Zemel, "Understanding the Effective Receptive Field in Deep
Convolutional Neural Networks", NeurIPS 2016.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .distances import Distances, distances
from .distribution import Moments, _prepare, moments
from .edgeworth import NoPrediction, edgeworth_prediction
from .gaussian_grid import Discretisation, GridPrediction, gaussian_prediction
from .lattice import _lattice, _restrict
from .report import json_ready

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

# THEORY 6: a signed kernel's ERF is no distribution and may have no Gaussian limit
_SIGNED_NOTE = (
    "signed map: compared as |erf|, which need not tend to a Gaussian (use the E[g^2] map, "
    "weights='random')"
)


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
                    out[f"{tag}_{name}"] = None if dist is None else json_ready(getattr(dist, key))
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
    m = prepared.moments
    d = prepared.p.ndim
    keep = [a for a in range(d) if m.covariance[a][a] > 0]
    if not keep:  # one pixel: exactly its own (degenerate) Gaussian
        zero = Distances(0.0, 0.0, 0.0, 0.0)
        one = (1,) * len(m.mean)
        return GaussianComparison(m, discretisation, zero, zero, 0.0, 0.0, "single pixel", one)
    notes = [_SIGNED_NOTE] if prepared.signed else []
    if len(keep) < d:  # the other axes hold all mass on one index: compare the rest
        prepared = _prepare(prepared.p.sum(axis=tuple(a for a in range(d) if a not in keep)))
    shape = prepared.p.shape
    span_all, mask, index, basis = _support_lattice(prepared.support, keep, d, notes)
    mean = [m.mean[a] for a in keep]
    cov = np.array([[m.covariance[a][b] for b in keep] for a in keep])
    cov = without_rounding_cross_terms(cov)
    var = np.diag(cov)
    e = None
    if np.count_nonzero(cov - np.diag(var)):
        g = _restrict(gaussian_prediction(shape, mean, cov, discretisation), mask)
        notes.append("covariance not diagonal: Edgeworth (a product over axes) not computed")
    else:
        g = _restrict(gaussian_prediction(shape, mean, var, discretisation), mask)
        if edgeworth:
            skew = [m.skewness[a] for a in keep]
            kurt = [m.excess_kurtosis[a] for a in keep]
            try:
                e = edgeworth_prediction(shape, mean, var, skew, kurt, discretisation)
            except NoPrediction:
                e = None
            else:
                e = _restrict(e, mask)
            if e is None:  # its terms outweigh (or overflow) its Gaussian on every (lattice) point
                notes.append(
                    "Edgeworth series not positive (or beyond float64) on the support's lattice: "
                    "not computed"
                )
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


def _support_lattice(support: np.ndarray, keep: list[int], d: int, notes: list[str]):
    """The lattice of ``support`` (the map on its axes ``keep``) in the map's ``d`` axes.

    Returns the step per axis, the lattice mask (None: no gridding), the index and the basis,
    both in the map's axes; a note is appended to ``notes`` where the support lies on a
    sublattice.
    """
    spans, mask, index, rows = _lattice(support)
    span_all = tuple(spans[keep.index(a)] if a in keep else 1 for a in range(d))
    basis = tuple(  # in the map's axes (an axis with all mass on one index has no step)
        tuple(row[keep.index(a)] if a in keep else 0 for a in range(d)) for row in rows
    )
    if mask is not None and index == math.prod(spans):
        notes.append(f"support on a sublattice of steps {span_all}")
    elif mask is not None:  # not a product over axes (a checkerboard)
        notes.append(
            f"support on a sublattice of index {index} with basis "
            f"{[list(r) for r in basis]} (not a product over axes)"
        )
    return span_all, mask, index, basis


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
