"""Moments of the ERF predicted from the layer kernels alone, without composing the ERF.

Taken as a distribution over input positions, the ERF of a path group is a convolution of
its (normalised) upsampled kernels, so means and covariances add::

    mean = sum_l scale_l * E_l[m],     Cov = sum_l scale_l scale_l^T * Cov_l[m]

with ``E_l``, ``Cov_l`` over the kernel ``w_l / sum(w_l)`` and ``scale_l = d_l J_(l-1)``; a run
of ``n`` identical layers contributes ``n`` times. Where paths split into groups (residual
blocks and branches in ``weights="random"`` mode) the ERF is a mixture and the group moments
combine with the groups' masses as weights::

    mean = sum_t p_t mean_t,           Cov = sum_t p_t (Cov_t + mean_t mean_t^T) - mean mean^T

A residual block in ``weights="ones"`` mode is one kernel ``delta + K_F`` whose moments are
those of the block (identity weight 1 at its centre, body weight the body's mass). In random
mode the fixed kernels of a group enter as ``C^2``: that composition of
fixed kernels is computed, and only it; it is small next to the ERF.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .compose import compose
from .errors import ERFError

__all__ = ["PredictedMoments", "predicted_moments", "kernel_moments"]


@dataclass(frozen=True)
class PredictedMoments:
    """Mean vector and covariance matrix (array-index coordinates of the ERF), and mass.

    ``log10_mass`` is the log10 of the total of the ERF (sum of all entries).
    """

    mean: tuple[float, ...]
    covariance: tuple[tuple[float, ...], ...]
    log10_mass: float

    @property
    def std(self) -> tuple[float, ...]:
        """Standard deviation per axis."""
        return tuple(math.sqrt(max(self.covariance[a][a], 0.0)) for a in range(len(self.mean)))


def kernel_moments(kernel: np.ndarray, scale) -> tuple[np.ndarray, np.ndarray, float]:
    """Mean, covariance and total of a kernel upsampled by ``scale`` (signed weights allowed).

    Examples
    --------
    >>> mean, cov, total = kernel_moments(np.ones(3), (2,))
    >>> float(mean[0]), float(cov[0, 0]), total  # offsets 0, 2, 4
    (2.0, 2.6666666666666665, 3.0)
    """
    kernel = np.asarray(kernel, dtype=float)
    top = float(np.abs(kernel).max()) if kernel.size else 0.0
    unit = kernel / top if top else kernel  # sums without overflow, even for 1e308 weights
    unit_total = float(unit.sum())
    if unit_total == 0:  # no distribution to take moments of; callers check the total
        return np.zeros(kernel.ndim), np.zeros((kernel.ndim, kernel.ndim)), 0.0
    total = unit_total * top  # a Python float: inf, not a warning, beyond float64
    grids = np.indices(kernel.shape).reshape(kernel.ndim, -1).astype(float)
    grids *= np.asarray(scale, dtype=float)[:, None]
    weights = unit.reshape(-1) / unit_total
    mean = grids @ weights
    centred = grids - mean[:, None]
    cov = (centred * weights) @ centred.T
    return mean, cov, total


def _log10_total(kernel, total: float) -> float:
    """``log10 |total|`` of a kernel's sum, also where the sum itself is beyond float64."""
    if math.isfinite(total):
        return math.log10(abs(total))
    kernel = np.asarray(kernel, dtype=float)
    top = float(np.abs(kernel).max())
    return math.log10(abs(float((kernel / top).sum()))) + math.log10(top)


def _group(term, dims: int, mode: str):
    """(mean, cov, log10 mass) of one path group, or None for a group of zero mass."""
    mean, cov, log_mass = np.zeros(dims), np.zeros((dims, dims)), 0.0
    factors = list(term.fixed) if mode == "ones" else list(term.random)
    blocks = [term.fixed, *term.closed] if mode == "random" else []
    for block in filter(None, blocks):  # each fixed block squared after composing
        c = compose(list(block), dims)
        square = np.asarray(c.values, dtype=float) ** 2
        m, v, total = kernel_moments(square, (1,) * dims)
        if total == 0:
            return None
        mean, cov = mean + m, cov + v
        log_mass += math.log10(total) + 2 * c.exponent * math.log10(2)
    for f in factors:
        if mode == "ones" and np.min(f.kernel) < 0:
            raise ERFError(
                f"a kernel {np.asarray(f.kernel).tolist()} has negative weights: the moments of "
                "|ERF| do not add over signed kernels, so they cannot be predicted from them "
                "(only non-negative kernels, or weights='random'); take them from the map, "
                "erf(arch).mean and .std"
            )
        m, v, total = kernel_moments(f.kernel, f.scale)
        if total == 0:
            return None
        mean, cov = mean + f.power * m, cov + f.power * v
        # a computed kernel (a join's sum) stands for kernel * 2^exponent
        log_mass += f.power * (_log10_total(f.kernel, total) + f.exponent * math.log10(2))
    shift = np.asarray(term.shift or (0,) * dims, dtype=float)
    coef = abs(Fraction(term.coef))  # exact; 0.5^n as a float would underflow
    log10_coef = math.log10(coef.numerator) - math.log10(coef.denominator) if coef else -math.inf
    return mean + shift, cov, log_mass + log10_coef


def predicted_moments(arch, weights: str = "ones", variance=None) -> PredictedMoments:
    """The ERF's mean, covariance and mass from the layer kernels alone.

    Exact for non-negative kernels: all-ones, pools, non-negative explicit weights, and every
    ``weights="random"`` network (its kernels are variances, its fixed parts squared).
    Signed explicit weights in ``weights="ones"`` mode are refused: the moments of ``|ERF|``
    (what :class:`erftheory.ERFResult` reports) do not add over signed kernels, and the
    signed ones they would give can be negative variances. Take those from the map.

    Parameters
    ----------
    arch : Network, dict, str or path
    weights : {"ones", "random"}
    variance : array or callable, optional
        With ``weights="random"``, the per-offset weight variances, as in
        :func:`erftheory.erf` (another variance kernel per conv, THEORY.md section 4).

    Returns
    -------
    PredictedMoments

    Raises
    ------
    ERFError
        For an unknown ``weights``, a ``variance`` that is bad or fits no conv, kernels
        that sum to zero, or signed kernels in ``weights="ones"`` mode.

    Examples
    --------
    >>> m = predicted_moments("1d: conv3*10")
    >>> round(m.std[0] ** 2, 12)  # n (k^2 - 1) / 12
    6.666666666667
    """
    from .parse import as_network
    from .variances import _checked_variance

    if weights not in ("ones", "random"):
        raise ERFError(f"weights={weights!r} is not one of 'ones', 'random'")
    net = as_network(arch)
    if variance is not None and weights != "random":
        raise ERFError("variance= applies to weights='random' (the weights' variances)")
    variance = _checked_variance(variance, net)
    return _predicted(net.layers, net.dims, weights, variance)


def _predicted(layers: tuple, dims: int, weights: str = "ones", variance=None) -> PredictedMoments:
    """:func:`predicted_moments` of already-resolved layers (no parsing, no validation)."""
    from .linearize import _linearize

    terms = _linearize(layers, dims, weights, False, variance)
    groups = [g for g in (_group(t, dims, weights) for t in terms) if g]
    if not groups:
        raise ERFError(
            "the kernels sum to zero, so the ERF's moments cannot be predicted from them "
            "(all-zero weights); compute the ERF and take its moments instead"
        )
    top = max(g[2] for g in groups)
    masses = np.array([10.0 ** (g[2] - top) for g in groups])
    p = masses / masses.sum()
    mean = sum(pi * g[0] for pi, g in zip(p, groups))
    # the mixture's covariance about its own mean: no second moment minus mean^2 (which
    # cancels to nothing when the means are far larger than the spread, as at depth 10^18)
    cov = sum(pi * (g[1] + np.outer(g[0] - mean, g[0] - mean)) for pi, g in zip(p, groups))
    return PredictedMoments(
        mean=tuple(float(x) for x in mean),
        covariance=tuple(tuple(float(x) for x in row) for row in cov),
        log10_mass=top + math.log10(masses.sum()),
    )
