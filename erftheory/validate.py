"""Validate an empirical ERF against the analytic ERF of the architecture it was measured on.

The empirical map is aggregated by a named protocol (:mod:`erftheory.empirical`), cut to the
receptive field around the unit, and compared, both taken as distributions over positions,
with the analytic ERF that matches the protocol:

============  ==========================================================================
aggregate     theory it is compared with
============  ==========================================================================
``sq``        E[g^2] for random weights (``weights="random"``)
``abs``       sqrt(E[g^2]): for a Gaussian g, E|g| = sqrt(2/pi) sqrt(E[g^2]), same shape
``relu``      sqrt(E[g^2]) (E[max(g, 0)] = E|g| / 2 for a symmetric g)
``raw``       E[g] with all-ones weights (``weights="ones"``)
``none``      (a map aggregated elsewhere) sqrt(E[g^2]), as for ``abs``
============  ==========================================================================

``theory=`` overrides the choice: ``"random"``, ``"random-sqrt"`` or ``"ones"``.

The ``abs`` row is exact only where each pixel's gradient is Gaussian over the random
weights. With few channels it is not (a sum of few products of weights): measured here by
Monte Carlo on 1-D ``conv3*5``, the std of E|g| is 6% below that of sqrt(E[g^2]) with one
channel and 1% below with eight. Read ``abs`` std ratios within a few percent of 1 as
agreement, or compare ``sq`` maps, which need no such step.

Trained weights are not random: a trained network's ERF is wider (Luo et al. 2016, section
4.3), and this comparison measures by how much.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import ERFError

__all__ = ["Validation", "validate", "THEORY_FOR"]

THEORY_FOR = {
    "sq": ("random", "E[g^2], random weights"),
    "abs": ("random-sqrt", "sqrt(E[g^2]), random weights"),
    "relu": ("random-sqrt", "sqrt(E[g^2]), random weights"),
    "raw": ("ones", "E[g], all-ones weights"),
    "none": ("random-sqrt", "sqrt(E[g^2]), random weights"),
}
_THEORIES = {
    "random": "E[g^2], random weights",
    "random-sqrt": "sqrt(E[g^2]), random weights",
    "ones": "E[g], all-ones weights",
}


@dataclass(frozen=True, eq=False)
class Validation:
    """The comparison of an empirical map with the theory (all maps normalised to sum 1).

    ``tv`` is the total variation distance ``sum |p - q| / 2``; ``correlation`` Pearson's r
    of the two maps over the receptive field; ``*_std`` the per-axis standard deviations
    of the maps taken as distributions over positions; ``gaussian_fit`` the least-squares
    fit of a Gaussian (amplitude, mean, full covariance) to the empirical map.
    """

    empirical: np.ndarray
    theoretical: np.ndarray
    protocol: str
    theory: str
    alignment: str
    empirical_mean: tuple[float, ...]
    empirical_covariance: tuple
    empirical_std: tuple[float, ...]
    theoretical_std: tuple[float, ...]
    tv: float
    correlation: float
    gaussian_fit: dict
    metrics: dict = field(default_factory=dict)
    note: str = ""

    def to_dict(self) -> dict:
        """JSON-ready: at least ``empirical_std``, ``theoretical_std`` and ``tv``."""
        return {
            "protocol": self.protocol,
            "theory": self.theory,
            "alignment": self.alignment,
            "receptive_field": list(self.theoretical.shape),
            "empirical_mean": list(self.empirical_mean),
            "empirical_covariance": [list(r) for r in self.empirical_covariance],
            "empirical_std": list(self.empirical_std),
            "theoretical_std": list(self.theoretical_std),
            "std_ratio": [e / t for e, t in zip(self.empirical_std, self.theoretical_std)],
            "tv": self.tv,
            "correlation": self.correlation,
            "gaussian_fit": self.gaussian_fit,
            "metrics": self.metrics,
            "note": self.note,
        }

    def __str__(self) -> str:
        ratio = [e / t for e, t in zip(self.empirical_std, self.theoretical_std)]
        fmt = " x ".join
        return "\n".join(
            [
                f"empirical ERF vs theory ({self.theory})",
                f"  protocol          {self.protocol}",
                f"  alignment         {self.alignment}",
                f"  receptive field   {fmt(str(n) for n in self.theoretical.shape)}",
                f"  empirical std     {fmt(f'{v:.4g}' for v in self.empirical_std)}",
                f"  theoretical std   {fmt(f'{v:.4g}' for v in self.theoretical_std)}",
                f"  ratio             {fmt(f'{v:.4g}' for v in ratio)}",
                f"  total variation   {self.tv:.4g}",
                f"  correlation       {self.correlation:.4g}",
            ]
            + ([f"  note              {self.note}"] if self.note else [])
        )


def _fit_gaussian(p: np.ndarray, mean0, cov0) -> dict:
    """Least-squares fit of ``a exp(-(x - m)^T S^-1 (x - m) / 2)`` to ``p`` (full S)."""
    from scipy.optimize import least_squares

    d = p.ndim
    target = p.reshape(-1)
    try:
        chol0 = np.linalg.cholesky(np.linalg.inv(cov0 + 1e-9 * np.eye(d)))
    except np.linalg.LinAlgError:
        chol0 = np.eye(d)
    tri = np.tril_indices(d)
    model = _gaussian_model(p.shape, tri)
    theta0 = np.concatenate([[target.max()], mean0, chol0[tri]])
    fit = least_squares(lambda t: model(t) - target, theta0, method="lm")
    lower = np.zeros((d, d))
    lower[tri] = fit.x[1 + d :]
    precision = lower @ lower.T
    cov = np.linalg.inv(precision)
    residual = model(fit.x) - target
    r2 = 1 - float(residual @ residual) / float(((target - target.mean()) ** 2).sum())
    return {
        "mean": [float(v) for v in fit.x[1 : 1 + d]],
        "covariance": [[float(v) for v in row] for row in cov],
        "std": [float(math.sqrt(max(cov[a, a], 0.0))) for a in range(d)],
        "r2": r2,
    }


def _gaussian_model(shape, tri):
    """``theta = (a, m, L[tri])`` to ``a exp(-|L^T (x - m)|^2 / 2)`` over the grid, flat.

    The work arrays are allocated once for the whole fit (the least-squares solver calls
    the model some twenty times); each call returns a new array.
    """
    d = len(shape)
    grids = np.indices(shape, dtype=float).reshape(d, -1)
    dev, z = np.empty_like(grids), np.empty_like(grids)
    quad = np.empty(grids.shape[1])

    def model(theta):
        amp, mean = theta[0], theta[1 : 1 + d]
        lower = np.zeros((d, d))
        lower[tri] = theta[1 + d :]
        np.subtract(grids, mean[:, None], out=dev)
        np.matmul(lower.T, dev, out=z)
        np.sum(np.square(z, out=z), axis=0, out=quad)
        np.multiply(quad, -0.5, out=quad)
        return amp * np.exp(quad, out=quad)

    return model


def validate(
    empirical,
    arch,
    aggregate: str = "abs",
    unit=None,
    log_scale: bool = False,
    key: str | None = None,
    theory: str | None = None,
) -> Validation:
    """Compare an empirical ERF (array or file) with the analytic ERF of ``arch``.

    Parameters
    ----------
    empirical : numpy.ndarray or path
        A map or a stack (see :func:`erftheory.empirical.aggregate`), or a file to load.
    arch : Network, dict, str or path
        The architecture the map was measured on.
    aggregate : {"abs", "sq", "relu", "raw", "none"}
        The protocol; it also picks the matching theory (module docstring).
    unit : sequence of float, optional
        Input position of the centre of the unit's field; default the centre of mass.
    log_scale : bool
        Apply the RepLKNet ``log10(x + 1)`` step (scale-dependent: say so when you report it).
    key : str, optional
        The array to read from an ``.npz`` file.
    theory : {"random", "random-sqrt", "ones"}, optional
        The analytic map to compare with, instead of the one the protocol implies.

    Returns
    -------
    Validation

    Examples
    --------
    >>> import erftheory as et
    >>> m = np.zeros((15, 15)); m[4:11, 4:11] = et.erf("conv3*3", weights="random").values
    >>> v = validate(m, "conv3*3", aggregate="none", theory="random")
    >>> round(v.tv, 12), [round(s / t, 6) for s, t in zip(v.empirical_std, v.theoretical_std)]
    (0.0, [1.0, 1.0])
    """
    from .empirical import _cut, _log_scaled, align, load_map
    from .empirical import aggregate as aggregate_stack
    from .gaussian import _prepare
    from .parse import as_network

    net = as_network(arch)
    stack = empirical if isinstance(empirical, np.ndarray) else load_map(empirical, key)
    if not np.all(np.isfinite(stack)):
        raise ERFError("the empirical map contains NaN or inf values")
    values, protocol = aggregate_stack(stack, net.dims, aggregate)  # before any log step
    analytic, theory_text = _analytic(net, aggregate, theory)
    compared = values
    if log_scale:
        compared, protocol = _log_scaled(values, protocol)
    aligned = align(compared, analytic.shape, unit)
    empirical_map = _prepare(aligned.values)  # normalised once for every measure below
    # the size metrics read the map at its own scale, before any log step: RepLKNet's
    # log10(x + 1) area ratio depends on it (at sum 1 the log step would do nothing)
    own_scale = (
        _prepare(_cut(values, analytic.shape, aligned.start)) if log_scale else empirical_map
    )
    theory_map = _prepare(np.abs(analytic) / np.abs(analytic).sum())
    p, q = empirical_map.p, theory_map.p
    m = empirical_map.moments
    corr = float(np.corrcoef(p.reshape(-1), q.reshape(-1))[0, 1]) if p.size > 1 else 1.0
    return Validation(
        empirical=p,
        theoretical=q,
        protocol=protocol,
        theory=theory_text,
        alignment=f"{aligned.how}, field centre at {[round(c, 3) for c in aligned.centre]}",
        empirical_mean=m.mean,
        empirical_covariance=m.covariance,
        empirical_std=m.std,
        theoretical_std=theory_map.moments.std,
        tv=float(0.5 * np.abs(p - q).sum()),
        correlation=corr,
        gaussian_fit=_fit_gaussian(p, np.array(m.mean), np.array(m.covariance)),
        metrics=_metrics(own_scale, theory_map),
        note=_NOTE_LOG if log_scale else "",
    )


def _analytic(net, aggregate: str, theory: str | None) -> tuple[np.ndarray, str]:
    """The analytic map that ``aggregate`` (or ``theory``) compares with, and what it is."""
    from .erf import erf

    if aggregate not in THEORY_FOR:
        raise ERFError(f"aggregate={aggregate!r} is not one of {', '.join(THEORY_FOR)}")
    mode, text = THEORY_FOR[aggregate]
    if theory is not None:
        if theory not in _THEORIES:
            raise ERFError(f"theory={theory!r} is not one of {', '.join(_THEORIES)}")
        mode, text = theory, _THEORIES[theory]
    weights = "ones" if mode == "ones" else "random"
    analytic = erf(net, weights=weights, normalize="sum").values
    return (np.sqrt(analytic) if mode == "random-sqrt" else analytic), text


_NOTE_LOG = (
    "the empirical map was log-scaled (log10(x + 1)) before the comparison, the theory was "
    "not: std, tv and correlation compare different transforms; drop --log-scale to compare "
    "like with like (the size metrics read the map from before the log step)"
)


def _metrics(p, q) -> dict:
    """ERF size metrics on both sides (from :mod:`erftheory.metrics`).

    ``p`` is the empirical map at its own (aggregated) scale, where RepLKNet's log-scaled
    area ratio is what their scripts compute; ``q`` the theory at sum 1, whose scale is
    arbitrary: compare the scale-free variants (``area_ratio_raw`` and the others) across.
    Either may be an array or a prepared map (:func:`erftheory.gaussian._prepare`).
    """
    try:
        from .metrics import all_metrics
    except ImportError:  # pragma: no cover - the metrics module is part of the package
        return {}
    return {"empirical": all_metrics(p), "theoretical": all_metrics(q)}
