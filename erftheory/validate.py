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
from .gaussian_fit import _fit_gaussian
from .image_bootstrap import _PER_IMAGE_BYTES, _bootstrap, _images, _zero_mean_note
from .map_comparison import _NOTE_LOG, _all_metrics, _best_phase, _correlation, _sign_note
from .matched_theory import THEORY_FOR, _analytic, _padding_note, _phase_note, _phases, _theory

__all__ = ["Validation", "validate", "THEORY_FOR"]


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
    from .aggregation import _aggregate, _log_scaled
    from .budget import _check_budget
    from .parse import as_network

    _check_budget(max_bytes)
    net = as_network(arch)
    mode, theory_text = _theory(aggregate, theory)
    phases = _phases(net, output_unit)
    analytics = [_analytic(net, mode, u, max_bytes) for u in phases]
    stack = _stack(empirical, key, net.dims, max_bytes)
    read, values, protocol = _aggregate(stack, net.dims, aggregate, layout, analytics[0].shape)
    if log_scale:
        protocol = _log_scaled(values, protocol)[1]  # (refuses a negative map, before any fit)
    chosen, comparison, analytic = _best_phase(values, phases, analytics, unit, log_scale)
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
            _phase_note(phases, chosen, output_unit, net),
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
        correlation=_correlation(p, q),
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


def _stack(empirical, key: str | None, dims: int, max_bytes: float):
    """The array given, or the one stored in the file ``empirical`` names (refused if too large)."""
    from .map_files import _read

    if isinstance(empirical, (str, os.PathLike)):
        if not str(empirical).strip():
            raise ERFError("an empty file name: give the map's file (.npy, .npz, .csv or .png)")
        _refuse_large_file(empirical, key, dims, max_bytes)
        return _read(empirical, key)
    return empirical


def _refuse_large_file(path, key, dims: int, max_bytes: float) -> None:
    """Refuse, from its header, a file whose validation would exceed ``max_bytes``.

    Counted: the array as stored, a float64 chunk of images and its transform
    (:func:`erftheory.aggregation._aggregate`), about eight float64 maps of the input's size
    (the map, its magnitude, the theory placed on it, the area ratios' box sums) and the
    per-image maps of the compared window (at most ``_PER_IMAGE_BYTES``).
    """
    from .aggregation import _CHUNK_VALUES
    from .budget import _estimated_bytes, _refuse_over_budget
    from .map_files import _stored_shape

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
