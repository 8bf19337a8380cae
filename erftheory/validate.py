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

Both maps are compared as magnitudes, ``|map|`` normalised to sum 1: a gradient's overall
sign is the output unit's convention, not part of the ERF's shape. Where a compared map has
negative values (a ``raw`` or ``none`` map, or a theory with negative explicit weights) the
result carries a note saying so, and how much of the mass was negative. Where the map does
not cover the whole receptive field (a crop, or a unit near the map's edge), both maps are
cut to the part it covers and the result's note gives both sizes: positions outside the map
were not measured, and reading them as zeros would make the empirical ERF look narrower.

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
import os
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
    """The comparison of an empirical map with the theory (``|map|`` normalised to sum 1).

    ``tv`` is the total variation distance ``sum |p - q| / 2``; ``correlation`` Pearson's r
    of the two maps over the receptive field; ``*_std`` the per-axis standard deviations
    of the maps taken as distributions over positions; ``gaussian_fit`` the least-squares
    fit of a Gaussian (amplitude, mean, full covariance) to the empirical map: None where
    the map has no more pixels than the fit has parameters, or the fit is degenerate; its
    ``r2`` is None for a flat map. ``empirical`` and ``theoretical`` are the compared
    window: the whole ``receptive_field`` unless the map covers only part of it (a note
    says so); positions (means, the fit, the alignment's centre) are indices into them.
    ``notes`` says what a reader of the numbers must know (``note`` joins them).
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
    gaussian_fit: dict | None
    metrics: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    receptive_field: tuple[int, ...] = ()

    @property
    def note(self) -> str:
        """The notes as one text ("" where there are none)."""
        return " ".join(self.notes)

    def _field(self) -> tuple[int, ...]:
        """The receptive field's shape (the compared window's where it was not recorded)."""
        return self.receptive_field or tuple(self.theoretical.shape)

    def to_dict(self) -> dict:
        """JSON-ready: at least ``empirical_std``, ``theoretical_std`` and ``tv``."""
        return {
            "protocol": self.protocol,
            "theory": self.theory,
            "alignment": self.alignment,
            "receptive_field": list(self._field()),
            "compared_shape": list(self.theoretical.shape),
            "empirical_mean": list(self.empirical_mean),
            "empirical_covariance": [list(r) for r in self.empirical_covariance],
            "empirical_std": list(self.empirical_std),
            "theoretical_std": list(self.theoretical_std),
            "std_ratio": self._std_ratio(),
            "tv": self.tv,
            "correlation": self.correlation if math.isfinite(self.correlation) else None,
            "gaussian_fit": self.gaussian_fit,
            "metrics": self.metrics,
            "note": self.note,
            "notes": list(self.notes),
        }

    def _std_ratio(self) -> list[float | None]:
        """Empirical over theoretical std per axis; None on an axis the theory does not spread."""
        return [e / t if t > 0 else None for e, t in zip(self.empirical_std, self.theoretical_std)]

    def __str__(self) -> str:
        ratio = ["n/a" if r is None else f"{r:.4g}" for r in self._std_ratio()]
        correlation = (
            f"{self.correlation:.4g}"
            if math.isfinite(self.correlation)
            else "undefined (a map is constant over the field)"
        )
        fmt = " x ".join
        return "\n".join(
            [
                f"empirical ERF vs theory ({self.theory})",
                f"  protocol          {self.protocol}",
                f"  alignment         {self.alignment}",
                f"  receptive field   {fmt(str(n) for n in self._field())}",
                f"  empirical std     {fmt(f'{v:.4g}' for v in self.empirical_std)}",
                f"  theoretical std   {fmt(f'{v:.4g}' for v in self.theoretical_std)}",
                f"  ratio             {fmt(ratio)}",
                f"  total variation   {self.tv:.4g}",
                f"  correlation       {correlation}",
            ]
            + [f"  note              {note}" for note in self.notes]
        )


def _fit_gaussian(p: np.ndarray, mean0, cov0) -> dict | None:
    """Least-squares fit of ``a exp(-(x - m)^T S^-1 (x - m) / 2)`` to ``p`` (full S).

    Levenberg-Marquardt over ``theta = (a, m, L[tril])``, ``S^-1 = L L^T``, from the map's
    moments, with the analytic Jacobian of :class:`_GaussianResidual`. The solver is
    MINPACK's ``lmder`` with the settings ``least_squares(method="lm")`` gives it (tolerances
    1e-8, 100 evaluations per parameter, steps scaled by the Jacobian's column norms), and
    the same iterates, called through ``leastsq``: it takes the Jacobian one parameter per
    row, as MINPACK stores it, where ``least_squares`` copies and transposes it at every
    step (at 2001^2, 190 MB each time; the fit is 1.7x faster this way).
    """
    from scipy.optimize import leastsq

    d = p.ndim
    target = p.reshape(-1)
    try:
        chol0 = np.linalg.cholesky(np.linalg.inv(cov0 + 1e-9 * np.eye(d)))
    except np.linalg.LinAlgError:
        chol0 = np.eye(d)
    residual = _GaussianResidual(p)
    theta0 = np.concatenate([[target.max()], mean0, chol0[residual.tri]])
    if target.size <= theta0.size:  # no more pixels than parameters: nothing to fit
        return None
    theta, _, info, _, _ = leastsq(
        residual,
        theta0,
        Dfun=residual.jacobian,
        col_deriv=True,
        full_output=True,
        ftol=1e-8,
        xtol=1e-8,
        gtol=1e-8,
        maxfev=100 * theta0.size,
    )
    lower = residual.lower(theta)
    try:
        cov = np.linalg.inv(lower @ lower.T)
    except np.linalg.LinAlgError:  # a degenerate fit (a flat map has no Gaussian shape)
        return None
    fvec = info["fvec"]  # the residual at theta
    spread = float(((target - target.mean()) ** 2).sum())
    r2 = 1 - float(fvec @ fvec) / spread if spread > 0 else None  # None: a flat map
    return {
        "mean": [float(v) for v in theta[1 : 1 + d]],
        "covariance": [[float(v) for v in row] for row in cov],
        "std": [float(math.sqrt(max(cov[a, a], 0.0))) for a in range(d)],
        "r2": r2,
    }


# Jacobian rows where exp(-|z|^2 / 2) is below this have squares that underflow: they add
# nothing to the solver's sums, and zeroed they spare its QR factorisation slow subnormal
# arithmetic (the conv3*1000 ERF, 2001^2: 63% of the rows, the fit 1.3x faster, the same
# result to the last bit). The residual keeps them.
_NEGLIGIBLE = math.sqrt(np.finfo(float).tiny)


class _GaussianResidual:
    """``a exp(-|L^T (x - m)|^2 / 2) - p(x)`` over the grid of ``p`` (flat), and its Jacobian.

    ``theta = (a, m, L[tril])``, ``L`` lower-triangular. With ``dev = x - m``,
    ``z = L^T dev`` and ``f = a exp(-|z|^2 / 2)`` the model, the derivatives are::

        df/da = exp(-|z|^2 / 2),    df/dm_j = f (L z)_j,    df/dL_ij = -f z_j dev_i  (i >= j)

    The solver asks for the Jacobian at the point whose residual it has just read, so the
    last point's ``dev``, ``z`` and ``exp(-|z|^2 / 2)`` are kept for it, and so is its
    Jacobian once built (``leastsq`` asks twice at the start) until the point changes. The
    work arrays are allocated once for the whole fit. Each residual is a new array; the
    Jacobian is the kept one, which the solver copies and does not write to (made
    read-only, it would be copied once more).

    Parameters
    ----------
    p : numpy.ndarray
        The map to fit, 1- to 3-d.
    """

    def __init__(self, p: np.ndarray) -> None:
        d = p.ndim
        self.target = p.reshape(-1)
        self.tri = np.tril_indices(d)
        self.grids = np.indices(p.shape, dtype=float).reshape(d, -1)
        self.dev, self.z = np.empty_like(self.grids), np.empty_like(self.grids)
        self.unit = np.empty(self.target.size)  # exp(-|z|^2 / 2)
        self.theta: np.ndarray | None = None  # the point dev, z, unit and jac belong to
        self.jac: np.ndarray | None = None

    def lower(self, theta: np.ndarray) -> np.ndarray:
        """The lower-triangular ``L`` of ``theta``."""
        d = self.grids.shape[0]
        lower = np.zeros((d, d))
        lower[self.tri] = theta[1 + d :]
        return lower

    def __call__(self, theta: np.ndarray) -> np.ndarray:
        """The residual at ``theta``, shape ``(p.size,)``."""
        self._evaluate(theta)
        residual = theta[0] * self.unit
        residual -= self.target
        return residual

    def jacobian(self, theta: np.ndarray) -> np.ndarray:
        """The Jacobian at ``theta``, one row per parameter: shape ``(len(theta), p.size)``."""
        self._evaluate(theta)
        if self.jac is None:
            d = self.grids.shape[0]
            jac = np.empty((theta.size, self.target.size))
            np.multiply(self.unit, self.unit >= _NEGLIGIBLE, out=jac[0])
            minus_fz = self.z * (-theta[0] * jac[0])
            np.matmul(-self.lower(theta), minus_fz, out=jac[1 : 1 + d])
            for row, (i, j) in enumerate(zip(*self.tri), start=1 + d):
                np.multiply(self.dev[i], minus_fz[j], out=jac[row])
            self.jac = jac
        return self.jac

    def _evaluate(self, theta: np.ndarray) -> None:
        """``dev``, ``z`` and ``exp(-|z|^2 / 2)`` at ``theta``, unless they are there."""
        if self.theta is not None and np.array_equal(theta, self.theta):
            return
        self.jac = None  # before the next one is built: one Jacobian at a time
        mean = theta[1 : 1 + self.grids.shape[0]]
        np.subtract(self.grids, mean[:, None], out=self.dev)
        np.matmul(self.lower(theta).T, self.dev, out=self.z)
        quad = np.square(self.z[0], out=self.unit)
        for row in self.z[1:]:  # row by row, as numpy sums over the first axis
            quad += np.square(row)
        np.multiply(quad, -0.5, out=quad)
        np.exp(quad, out=quad)
        self.theta = np.array(theta, dtype=float)  # a copy: the caller may reuse its array


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
    empirical : array_like, str or path-like
        A map or a stack of real numbers (an array or nested lists; see
        :func:`erftheory.empirical.aggregate`), or the path of a file to load
        (:func:`erftheory.empirical.load_map`).
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

    Raises
    ------
    ERFError
        A map that is not real finite numbers (strings, complex), an unreadable file, a colour
        PNG, an unknown protocol or theory, a map that does not fit the architecture, is all
        zero or has mass outside the receptive field, a negative map with ``log_scale``.

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
    # a file is checked as it is read; an array (or nested list) by aggregate, once
    stack = load_map(empirical, key) if isinstance(empirical, (str, os.PathLike)) else empirical
    values, protocol = aggregate_stack(stack, net.dims, aggregate)  # before any log step
    analytic, theory_text = _analytic(net, aggregate, theory)
    compared = values
    if log_scale:
        compared, protocol = _log_scaled(values, protocol)
    aligned = align(compared, analytic.shape, unit)
    window, coverage = _covered(values.shape, analytic, aligned.start)
    empirical_map = _prepare(aligned.values[window])  # normalised once for every measure below
    # the size metrics read the map at its own scale, before any log step: RepLKNet's
    # log10(x + 1) area ratio depends on it (at sum 1 the log step would do nothing)
    own_scale = (
        _prepare(_cut(values, analytic.shape, aligned.start)[window])
        if log_scale
        else empirical_map
    )
    theory_part = analytic[window]
    theory_map = _prepare(np.abs(theory_part) / np.abs(theory_part).sum())
    notes = [
        note
        for note in (
            _sign_note(aligned.values[window], "the empirical map", "-map"),
            _sign_note(theory_part, f"the theory ({theory_text})", "-theory"),
            coverage,
            _NOTE_LOG if log_scale else "",
        )
        if note
    ]
    centre = [round(c - w.start, 3) for c, w in zip(aligned.centre, window)]
    p, q = empirical_map.p, theory_map.p
    m = empirical_map.moments
    flat_map = p.size > 1 and (np.ptp(p) == 0 or np.ptp(q) == 0)  # Pearson's r undefined
    corr = (
        math.nan
        if flat_map
        else (float(np.corrcoef(p.reshape(-1), q.reshape(-1))[0, 1]) if p.size > 1 else 1.0)
    )
    return Validation(
        empirical=p,
        theoretical=q,
        protocol=protocol,
        theory=theory_text,
        alignment=f"{aligned.how}, field centre at {centre}",
        empirical_mean=m.mean,
        empirical_covariance=m.covariance,
        empirical_std=m.std,
        theoretical_std=theory_map.moments.std,
        tv=float(0.5 * np.abs(p - q).sum()),
        correlation=corr,
        gaussian_fit=_fit_gaussian(p, np.array(m.mean), np.array(m.covariance)),
        metrics=_metrics(own_scale, theory_map),
        notes=tuple(notes),
        receptive_field=tuple(analytic.shape),
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
    analytic = erf(net, weights=weights, normalize="peak").values  # its shape (any sum)
    return (np.sqrt(analytic) if mode == "random-sqrt" else analytic), text


_NOTE_LOG = (
    "The empirical map was log-scaled (log10(x + 1)) before the comparison, the theory was "
    "not: std, tv and correlation compare different transforms; drop --log-scale to compare "
    "like with like (the size metrics read the map from before the log step)."
)


def _sign_note(values: np.ndarray, name: str, flipped: str) -> str:
    """What the comparison did with the negative values of ``values`` ("" if it has none).

    Examples
    --------
    >>> _sign_note(np.array([1.0, -3.0]), "the map", "-map")[:56]
    'The map is signed (75.0% of its mass is negative): it is'
    >>> _sign_note(np.array([0.0, 2.0]), "the map", "-map")
    ''
    """
    name = name[0].upper() + name[1:]
    negative = float(-values[values < 0].sum())
    if negative == 0:
        return ""
    total = float(np.abs(values).sum())
    if negative == total:
        return (
            f"{name} is negative wherever it is not zero: it is compared as "
            f"|map| = {flipped} (a gradient's overall sign is the output unit's convention; "
            "the shape is what the theory predicts)."
        )
    return (
        f"{name} is signed ({negative / total:.1%} of its mass is negative): it "
        "is compared as |map|, so a negative lobe counts as mass where the signed map would "
        "cancel."
    )


def _covered(map_shape, analytic: np.ndarray, start) -> tuple[tuple[slice, ...], str]:
    """The part of the receptive field the map covers, as slices of it, and a note if partial.

    ``start`` is the input position of the field's first pixel (see
    :class:`erftheory.empirical.AlignedMap`). Positions outside the map were not measured:
    the comparison is restricted to the window rather than reading them as zeros.

    Raises
    ------
    ERFError
        A window where the theory is zero (nothing to compare with).
    """
    field_shape = analytic.shape
    window = tuple(
        slice(max(s, 0) - s, min(s + r, n) - s) for s, r, n in zip(start, field_shape, map_shape)
    )
    covered = tuple(w.stop - w.start for w in window)
    if covered == field_shape:
        return window, ""
    fmt = " x ".join
    held = float(np.abs(analytic[window]).sum() / np.abs(analytic).sum())
    if held == 0:
        raise ERFError(
            f"the map ({fmt(map(str, map_shape))}) covers only a {fmt(map(str, covered))} part "
            f"of the {fmt(map(str, field_shape))} receptive field where the theory is zero: "
            "nothing to compare (check --unit)"
        )
    return window, (
        f"The map ({fmt(map(str, map_shape))}) covers only {fmt(map(str, covered))} of the "
        f"{fmt(map(str, field_shape))} receptive field, where the theory holds {held:.1%} of "
        "its mass: both maps are cut to that window and normalised there (positions outside "
        "the map were not measured), so std, tv, correlation, fit and metrics describe the "
        "window, not the whole field; positions are indices into the window."
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
