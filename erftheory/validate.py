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

from .erf import DEFAULT_MAX_BYTES
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
    field_start: tuple[int, ...] = ()
    window_start: tuple[int, ...] = ()
    field_centre: tuple[float, ...] = ()
    centre_of_mass: tuple[float, ...] = ()
    images: int = 0
    channels: int = 0
    layout: str = "channels_first"
    output_unit: tuple[int, ...] | None = None
    std_ratio_interval: tuple[tuple[float, float], ...] | None = None
    verdict: str = "undetermined"

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
            "field_start": list(self.field_start),
            "window_start": list(self.window_start),
            "field_centre": list(self.field_centre),
            "centre_of_mass": list(self.centre_of_mass),
            "images": self.images,
            "channels": self.channels,
            "layout": self.layout,
            "output_unit": None if self.output_unit is None else list(self.output_unit),
            "empirical_mean": list(self.empirical_mean),
            "empirical_covariance": [list(r) for r in self.empirical_covariance],
            "empirical_std": list(self.empirical_std),
            "theoretical_std": list(self.theoretical_std),
            "std_ratio": self._std_ratio(),
            "std_ratio_interval": (
                None
                if self.std_ratio_interval is None
                else [list(i) for i in self.std_ratio_interval]
            ),
            "verdict": self.verdict,
            "tv": self.tv,
            "correlation": self.correlation if math.isfinite(self.correlation) else None,
            "gaussian_fit": self.gaussian_fit,
            "metrics": self.metrics,
            "note": self.note,
            "notes": list(self.notes),
        }

    def _area_lines(self) -> list[str]:
        """RepLKNet's area ratios on both sides, with their denominator."""
        emp, theo = self.metrics.get("empirical", {}), self.metrics.get("theoretical", {})
        if "area_ratio_denominator" not in emp:
            return []

        def sides(m):
            return ", ".join("none" if s is None else str(s) for s in m["area_ratio_side"])

        shape = " x ".join(map(str, emp["area_ratio_map_shape"]))
        return [
            f"  area ratio sides  {sides(emp)} (measured), {sides(theo)} (theory), thresholds "
            f"{', '.join(f'{t:g}' for t in emp['area_ratio_thresholds'])}, log10(x + 1) step; "
            f"area over the whole {shape} map ({emp['area_ratio_denominator']} pixels)"
        ]

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
        interval = (
            "n/a (fewer than 10 images)"
            if self.std_ratio_interval is None
            else fmt(f"[{lo:.4g}, {hi:.4g}]" for lo, hi in self.std_ratio_interval)
        )
        return "\n".join(
            [
                f"empirical ERF vs theory ({self.theory})",
                f"  protocol          {self.protocol}",
                f"  alignment         {self.alignment}",
                f"  receptive field   {fmt(str(n) for n in self._field())}",
                f"  empirical std     {fmt(f'{v:.4g}' for v in self.empirical_std)}",
                f"  theoretical std   {fmt(f'{v:.4g}' for v in self.theoretical_std)}",
                f"  ratio             {fmt(ratio)}",
                f"  95% interval      {interval}",
                f"  verdict           {self.verdict}",
                f"  total variation   {self.tv:.4g}",
                f"  correlation       {correlation}",
            ]
            + self._area_lines()
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
    layout: str = "channels_first",
    output_unit=None,
    max_bytes: float = DEFAULT_MAX_BYTES,
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
        Input position of the centre of the unit's field. Default: fitted, one nuisance
        parameter per axis (:func:`erftheory.empirical.align`): the placement near the
        centre of mass with the least total variation from the theory; the result reports
        it (``field_centre``, input coordinates).
    log_scale : bool
        Apply the RepLKNet ``log10(x + 1)`` step (scale-dependent: say so when you report it).
    key : str, optional
        The array to read from an ``.npz`` file.
    theory : {"random", "random-sqrt", "ones"}, optional
        The analytic map to compare with, instead of the one the protocol implies.
    layout : {"channels_first", "channels_last"}
        Where a stack's channel axis is: ``(images, channels, *spatial)`` (PyTorch) or
        ``(images, *spatial, channels)`` (JAX/Flax, TensorFlow).
    output_unit : sequence of int, or int for a 1-d network, optional
        The output unit whose ERF the theory gives (:func:`erftheory.erf`'s ``unit``). It
        matters only for networks with upsampling or transposed convs, whose ERF depends on
        the unit's phase: there, by default, every phase is tried and the one with the least
        total variation is reported (``output_unit``).
    max_bytes : float
        Refuse, before loading a file, a map whose working memory would exceed this.

    Returns
    -------
    Validation

    Raises
    ------
    ERFError
        A map that is not real finite numbers (strings, complex), an unreadable file, a colour
        PNG, an unknown protocol, theory or layout, a map that does not fit the architecture
        (or looks channels-last when read channels-first), is all zero or has mass outside
        the receptive field, a negative map with ``log_scale``, a map beyond float64 once
        aggregated, a map over the memory budget.

    Examples
    --------
    >>> import erftheory as et
    >>> m = np.zeros((15, 15)); m[4:11, 4:11] = et.erf("conv3*3", weights="random").values
    >>> v = validate(m, "conv3*3", aggregate="none", theory="random")
    >>> round(v.tv, 12), [round(s / t, 6) for s, t in zip(v.empirical_std, v.theoretical_std)]
    (0.0, [1.0, 1.0])
    """
    from .budget import _check_budget
    from .empirical import _aggregate, _log_scaled, _read
    from .parse import as_network

    _check_budget(max_bytes)
    net = as_network(arch)
    mode, theory_text = _theory(aggregate, theory)
    phases = _phases(net, output_unit)
    analytics = [_analytic(net, mode, u, max_bytes) for u in phases]
    if isinstance(empirical, (str, os.PathLike)):
        _refuse_large_file(empirical, key, net.dims, max_bytes)
        stack = _read(empirical, key)
    else:
        stack = empirical
    read, values, protocol = _aggregate(stack, net.dims, aggregate, layout, analytics[0].shape)
    if log_scale:
        protocol = _log_scaled(values, protocol)[1]  # (refuses a negative map, before any fit)
    best, errors = None, []
    for u, analytic in zip(phases, analytics):
        try:
            candidate = _compare(values, analytic, unit, log_scale)
        except ERFError as err:
            errors.append(err)
            continue
        if best is None or candidate["tv"] < best[1]["tv"]:
            best = (u, candidate, analytic)
    if best is None:
        raise errors[0]
    chosen, comparison, analytic = best
    aligned, window = comparison["aligned"], comparison["window"]
    compared_input = tuple(slice(s + w.start, s + w.stop) for s, w in zip(aligned.start, window))
    notes = [
        note
        for note in (
            _sign_note(comparison["signed"], "the empirical map", "-map"),
            _sign_note(analytic[window], f"the theory ({theory_text})", "-theory"),
            comparison["coverage"],
            _padding_note(net, values.shape) if comparison["coverage"] else "",
            _NOTE_LOG if log_scale else "",
            _phase_note(phases, chosen, output_unit),
        )
        if note
    ]
    empirical_map, theory_map = comparison["p"], comparison["q"]
    per_image = _images(read, aggregate, compared_input)
    noise = _zero_mean_note(per_image) if aggregate == "raw" and per_image is not None else ""
    notes.append(noise)
    interval, verdict, why = _bootstrap(
        None if noise else per_image, read, aggregate, log_scale, theory_map.moments.std
    )
    if why:
        notes.append(why)
    metrics, area_note = _all_metrics(values, analytic, aligned.start, window, comparison)
    notes.append(area_note)
    p, q = empirical_map.p, theory_map.p
    m = empirical_map.moments
    flat_map = p.size > 1 and (np.ptp(p) == 0 or np.ptp(q) == 0)  # Pearson's r undefined
    corr = (
        math.nan
        if flat_map
        else (float(np.corrcoef(p.reshape(-1), q.reshape(-1))[0, 1]) if p.size > 1 else 1.0)
    )
    field_centre = [round(c, 3) for c in aligned.field_centre]
    alignment = f"{aligned.how}: field centre at input position {field_centre}"
    return Validation(
        empirical=p,
        theoretical=q,
        protocol=protocol,
        theory=theory_text,
        alignment=alignment,
        empirical_mean=m.mean,
        empirical_covariance=m.covariance,
        empirical_std=m.std,
        theoretical_std=theory_map.moments.std,
        tv=comparison["tv"],
        correlation=corr,
        gaussian_fit=_fit_gaussian(p, np.array(m.mean), np.array(m.covariance)),
        metrics=metrics,
        notes=tuple(n for n in notes if n),
        receptive_field=tuple(analytic.shape),
        field_start=tuple(aligned.start),
        window_start=tuple(s.start for s in compared_input),
        field_centre=tuple(aligned.field_centre),
        centre_of_mass=tuple(aligned.centre_of_mass),
        images=read.images,
        channels=read.channels,
        layout=layout,
        output_unit=chosen,
        std_ratio_interval=interval,
        verdict=verdict,
    )


def _compare(values, analytic, unit, log_scale: bool) -> dict:
    """Align ``values`` with ``analytic`` and compare them over the window the map covers."""
    from .empirical import _cut, _log_scaled, align
    from .gaussian import _prepare

    aligned = align(values, analytic.shape, unit, template=None if unit is not None else analytic)
    window, coverage = _covered(values.shape, analytic, aligned.start)
    own = aligned.values[window]  # at the map's own scale, before any log step
    compared = (
        _cut(_log_scaled(values, "")[0], analytic.shape, aligned.start)[window]
        if (log_scale)
        else own
    )
    p = _prepare(compared)  # normalised once for every measure below
    part = np.abs(analytic[window])
    q = _prepare(part / part.sum())
    return {
        "aligned": aligned,
        "window": window,
        "coverage": coverage,
        "signed": compared,
        "own": own,
        "p": p,
        "q": q,
        "tv": float(0.5 * np.abs(p.p - q.p).sum()),
    }


def _theory(aggregate: str, theory: str | None) -> tuple[str, str]:
    """The analytic map that ``aggregate`` (or ``theory``) compares with, and what it is."""
    if aggregate not in THEORY_FOR:
        raise ERFError(f"aggregate={aggregate!r} is not one of {', '.join(THEORY_FOR)}")
    mode, text = THEORY_FOR[aggregate]
    if theory is not None:
        if theory not in _THEORIES:
            raise ERFError(f"theory={theory!r} is not one of {', '.join(_THEORIES)}")
        mode, text = theory, _THEORIES[theory]
    return mode, text


def _analytic(net, mode: str, output_unit, max_bytes) -> np.ndarray:
    """The analytic map of ``mode`` for ``output_unit`` (its shape; any scale)."""
    from .erf import erf

    weights = "ones" if mode == "ones" else "random"
    analytic = erf(
        net, weights=weights, normalize="peak", unit=output_unit, max_bytes=max_bytes
    ).values
    return np.sqrt(analytic) if mode == "random-sqrt" else analytic


# phases tried at most, over all axes, when the output unit of a fractional network is fitted
_MAX_PHASES = 64


def _phases(net, output_unit) -> list:
    """The output units to try: the one given, or every phase of a fractional network.

    A network with upsampling or transposed convs repeats its ERF with a period dividing
    the product of their factors and strides per axis; other networks give every unit the
    same ERF (unit 0 is enough).
    """
    import itertools

    from .architecture import ConvTranspose, Upsample, _all_layers

    if output_unit is not None:
        return [output_unit]
    if not net.fractional:
        return [None]
    period = [1] * net.dims
    for layer in _all_layers(net.layers):
        if isinstance(layer, (Upsample, ConvTranspose)):
            factor = layer.factor if isinstance(layer, Upsample) else layer.stride
            period = [p * f**layer.repeat for p, f in zip(period, factor)]
    if math.prod(period) > _MAX_PHASES:
        return [(0,) * net.dims]
    return list(itertools.product(*(range(p) for p in period)))


def _phase_note(phases, chosen, output_unit) -> str:
    """Which output unit the theory is of, for a network whose ERF depends on it."""
    if output_unit is not None or phases == [None]:
        return ""
    if len(phases) == 1:
        return (
            f"The theory is the ERF of output unit {list(chosen)}: this network's ERF depends on "
            "the output unit's phase (upsampling or transposed convs) and it has too many "
            "phases to try each; pass the measured unit as output_unit (--output-unit)."
        )
    return (
        f"The output unit's phase was fitted: of the {len(phases)} phases of this network "
        "(upsampling or transposed convs make the ERF depend on it), output unit "
        f"{list(chosen)} has the least total variation; pass output_unit (--output-unit) to "
        "compare with the unit measured."
    )


def _padding_note(net, map_shape) -> str:
    """Why a field cut by the map's edge differs inside the image too, where the net pads."""
    from .architecture import _all_layers

    pads = any(
        any(any(pair) for pair in getattr(layer, "padding", None) or ())
        for layer in _all_layers(net.layers)
    )
    if not pads:
        return ""
    shape = "x".join(map(str, map_shape))
    return (
        "The network pads and its field reaches past the map: paths through the padding of "
        "the intermediate feature maps are lost, so even the values inside the image differ "
        "from the unbounded theory compared here. The exact reference is the finite-input "
        f"ERF: erftheory.finite_erf(arch, {tuple(map_shape)}) (erftheory erf ARCH --input "
        f"{shape}), all-ones weights."
    )


def _refuse_large_file(path, key, dims: int, max_bytes: float) -> None:
    """Refuse, from its header, a file whose validation would exceed ``max_bytes``.

    Counted: the array as stored, a float64 chunk of images and its transform
    (:func:`erftheory.empirical._aggregate`), about eight float64 maps of the input's size
    (the map, its magnitude, the theory placed on it, the area ratios' box sums) and the
    per-image maps of the compared window (at most ``_PER_IMAGE_BYTES``).
    """
    from .budget import _estimated_bytes, _refuse_over_budget
    from .empirical import _CHUNK_VALUES, _stored_shape

    stored = _stored_shape(path, key)
    if stored is None:
        return
    shape, itemsize = stored
    spatial = max(math.prod(shape[-dims:]), math.prod(shape[-dims - 1 : -1] or (1,)))
    needed = (
        math.prod(shape) * itemsize
        + _estimated_bytes(3 * _CHUNK_VALUES + 8 * spatial)
        + _PER_IMAGE_BYTES
    )
    _refuse_over_budget(
        f"validating {str(path)!r} (shape {list(shape)})",
        needed,
        max_bytes,
        "crop or subsample the stack",
    )


def _images(read, aggregate: str, window) -> np.ndarray | None:
    """Each image's map over ``window`` (input slices), or None (a single map, too large)."""
    from .empirical import _per_image

    if read.images < 2 or aggregate == "none":
        return None
    size = read.images * math.prod(s.stop - s.start for s in window)
    if 8 * size > _PER_IMAGE_BYTES:
        return None
    return _per_image(read, aggregate, window)


# the per-image maps over the compared window (standard errors, the bootstrap) at most
_PER_IMAGE_BYTES = 256 * 2**20
BOOTSTRAP_RESAMPLES = 200
BOOTSTRAP_MIN_IMAGES = 10


def _zero_mean_note(per_image: np.ndarray) -> str:
    """A note where a ``raw`` mean map is indistinguishable from zero ("" otherwise).

    The test: with ``n`` images and ``k`` compared pixels of non-zero spread, the sum of
    squared z-scores ``Q = sum (mean / se)^2`` (``se = sd / sqrt(n)``) has, were every
    pixel's mean zero, expectation ``k (n - 1) / (n - 3)`` and standard deviation about
    ``sqrt(2 k) (n - 1) / (n - 3)`` (Student t with ``n - 1`` degrees of freedom, squared);
    a ``Q`` below expectation + 3 sd is indistinguishable from noise.
    """
    n = per_image.shape[0]
    if n < 4:
        return ""
    flat = per_image.reshape(n, -1)
    mean, sd = flat.mean(axis=0), flat.std(axis=0, ddof=1)
    spread = sd > 0
    k = int(spread.sum())
    if k == 0:
        return ""
    q = float(((mean[spread] / (sd[spread] / math.sqrt(n))) ** 2).sum())
    factor = (n - 1) / (n - 3) if n > 3 else math.inf
    expected, limit = k * factor, k * factor + 3 * math.sqrt(2 * k) * factor
    if q >= limit:
        return ""
    return (
        f"aggregate='raw': the mean map is indistinguishable from zero over the {k} compared "
        f"pixels (sum of squared z-scores {q:.4g}, expected {expected:.4g} and below "
        f"{limit:.4g} were every mean zero, {n} images): with random weights E[g] = 0 and "
        "this mean is noise; compare aggregate='sq' (E[g^2]) instead."
    )


def _bootstrap(per_image, read, aggregate: str, log_scale: bool, theory_std):
    """95% bootstrap intervals of the std ratio per axis, the verdict, and a note.

    Over images (``BOOTSTRAP_RESAMPLES`` resamples, seed 0), the window and position held
    fixed; with fewer than ``BOOTSTRAP_MIN_IMAGES`` images the verdict is "undetermined".
    """
    if per_image is None or per_image.shape[0] < BOOTSTRAP_MIN_IMAGES:
        return None, "undetermined", ""
    if any(t == 0 for t in theory_std):
        return None, "undetermined", ""
    n = per_image.shape[0]
    flat = per_image.reshape(n, -1)
    rng = np.random.default_rng(0)
    power = 2 if aggregate == "sq" else 1
    ratios = []
    step = max(1, 2**22 // flat.shape[1])
    for first in range(0, BOOTSTRAP_RESAMPLES, step):
        rows = min(step, BOOTSTRAP_RESAMPLES - first)
        counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(rows)])
        means = (counts @ flat) / n
        if log_scale:
            with np.errstate(over="ignore", under="ignore"):
                means = np.log10(np.maximum(np.ldexp(means, power * read.exponent), 0) + 1.0)
        means = np.abs(means).reshape((rows,) + per_image.shape[1:])
        ratios.append(_stds(means) / np.asarray(theory_std))
    ratio = np.concatenate(ratios)
    low, high = np.percentile(ratio, [2.5, 97.5], axis=0)
    interval = tuple((float(lo), float(hi)) for lo, hi in zip(low, high))
    wider = [lo > 1 for lo, _ in interval]
    narrower = [hi < 1 for _, hi in interval]
    if not any(wider) and not any(narrower):
        verdict = "consistent"
    elif not any(narrower):
        verdict = "wider"
    elif not any(wider):
        verdict = "narrower"
    else:
        verdict = "mixed"
    note = (
        f"The std ratio's 95% intervals are bootstrap percentiles over the {n} images "
        f"({BOOTSTRAP_RESAMPLES} resamples, seed 0, the field's position held fixed); the "
        "verdict is 'consistent' where every axis's interval holds 1."
    )
    if aggregate in ("abs", "relu") and verdict != "consistent":
        note += (
            f" With {aggregate!r} the theory sqrt(E[g^2]) is exact only for Gaussian gradients:"
            " with few channels E|g| is a few percent narrower (module docstring), so confirm "
            "the verdict with aggregate='sq'."
        )
    return interval, verdict, note


def _stds(maps: np.ndarray) -> np.ndarray:
    """The std per axis of each map (``maps[b]``) as a distribution: shape ``(b, d)``."""
    total = maps.reshape(maps.shape[0], -1).sum(axis=1)
    out = []
    for axis in range(1, maps.ndim):
        line = maps.sum(axis=tuple(a for a in range(1, maps.ndim) if a != axis)) / total[:, None]
        x = np.arange(line.shape[1])
        mean = line @ x
        out.append(np.sqrt(np.maximum(line @ x**2 - mean**2, 0.0)))
    return np.stack(out, axis=1)


def _all_metrics(values, analytic, start, window, comparison) -> tuple[dict, str]:
    """The size metrics on both sides, and a note on the area ratios' denominator.

    Every measure but the area ratios reads the compared window (``empirical`` at the map's
    own scale, before any log step; the theory there at the same total). The area ratios
    (RepLKNet's :func:`erftheory.metrics.replknet_area_ratio` and its scale-free variant)
    read the whole measured map, as their scripts do: squares centred at the map's centre,
    over the map's area; the theory side is the theory placed where the field was found,
    at the map's absolute scale (its total over the compared pixels), cut to the map.
    """
    from .metrics import REPLKNET_THRESHOLDS, all_metrics, replknet_area_ratio

    own = np.abs(comparison["own"])
    part = np.abs(analytic[window])
    peak = float(own.max())  # (sums of a map near float64's largest would overflow)
    with np.errstate(over="ignore"):
        theory_here = (part / part.sum()) * float((own / peak).sum()) * peak
    if not np.all(np.isfinite(theory_here)):
        theory_here = part / part.sum()  # beyond float64 at the map's scale: at sum 1
    out = {"empirical": all_metrics(own), "theoretical": all_metrics(theory_here)}
    canvas = np.zeros(values.shape)
    canvas[tuple(slice(s + w.start, s + w.stop) for s, w in zip(start, window))] = theory_here
    centre = [n // 2 for n in values.shape]
    for side, whole in (("empirical", np.abs(values)), ("theoretical", canvas)):
        for key, log in (("area_ratio", True), ("area_ratio_raw", False)):
            regions = [replknet_area_ratio(whole, t, log) for t in REPLKNET_THRESHOLDS]
            out[side][f"{key}_side"] = [None if r is None else r.side for r in regions]
            out[side][key] = [None if r is None else r.ratio for r in regions]
        out[side]["area_ratio_map_shape"] = list(values.shape)
        out[side]["area_ratio_centre"] = centre
        out[side]["area_ratio_denominator"] = math.prod(values.shape)
    field_centre = [round(s + (r - 1) / 2, 2) for s, r in zip(start, analytic.shape)]
    if all(abs(c - f) < 1 for c, f in zip(centre, field_centre)):
        return out, ""
    return out, (
        f"The area ratios' squares are centred at the map's centre {centre}, as RepLKNet's "
        f"are, not at the field's centre {field_centre}: they measure the mass around the "
        "map's centre (the theory's, of the theory placed where the field was found)."
    )


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
