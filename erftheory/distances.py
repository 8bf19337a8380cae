"""Distances between two maps taken as distributions: TV, KL, Hellinger and sup.

The reference map (the ERF) comes first; the model may be a `GridPrediction`, whose
``log_values`` keep KL finite where the prediction only underflowed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .distribution import _as_distribution, _prepare, _PreparedMap
from .errors import ERFError
from .gaussian_grid import GridPrediction
from .report import json_ready

__all__ = ["Distances", "distances"]


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
        return {k: json_ready(v) for k, v in asdict(self).items()}


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
