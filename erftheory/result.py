"""The result of :func:`erftheory.erf`: the map, its bounds, and what it says about the network.

:class:`ERFResult` holds the array with the error bounds it was computed with, and turns it into
numbers (moments, the Gaussian comparison, the size measures of :mod:`erftheory.metrics`), text
for the command line and JSON for scripts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import ERFError
from .receptive_field import ReceptiveField, _list
from .report import json_ready

__all__ = ["ERFResult"]


@dataclass(frozen=True, eq=False)
class ERFResult:
    """The ERF of the centre output unit, with what it took to compute it.

    Attributes
    ----------
    values : numpy.ndarray
        The ERF, float64, shaped like the receptive field; index 0 = first input pixel.
    receptive_field : ReceptiveField
        The theoretical receptive field (size, jump, start, per-layer rows).
    weights, normalize, method : str
        What was computed and how (``method`` records the composition actually used).
    log10_mass : float
        log10 of the magnitude of the total of the raw (un-normalised) ERF.
    abs_error : float
        Bound on the absolute error of every entry of ``values``.
    rel_error : float or None
        Bound on the relative error of every entry at or above ``underflow_floor`` (direct
        composition of non-negative kernels, or exact mode); None where only ``abs_error``
        holds. See :class:`erftheory.compose.Composition` for how it is counted.
    exact_values : numpy.ndarray or None
        With ``exact=True``, the values as Python ints / Fractions (object array).
    float_exact : bool or None
        With ``exact=True``, whether every entry of ``values`` equals the exact value (False
        where float64 cannot hold a count exactly); None otherwise (not checked: a float run
        states its error bounds instead, ``rel_error`` and ``abs_error``).
    underflow : int
        Entries of the support below ``underflow_floor``: they may read 0 or lose relative
        precision; the error bounds hold for the others. Exact mode has none.
    underflow_floor : float
        The smallest normal float64 (about 2.2e-308), or where ``rel_error`` is given the
        larger value below which gradual underflow inside the composition could break it
        (about 1e-300 of the total for deep stacks: see :mod:`erftheory.compose`).
    notes : tuple of str
        Where the model the map follows is known to leave something out (printed, and in
        the JSON): a max pool whose windows a fixed kernel recombines, in random mode.
    variance : numpy.ndarray, callable or None
        The ``variance=`` the map was computed with (random mode; None: unit variances), so
        that :meth:`analysis` predicts the moments of this map, not of unit variances.
    mass_sign : int
        The sign of that total, +1 or -1 (signed explicit weights can make it negative;
        exact where the total is known exactly). ``normalize="sum"`` divides by the signed
        total, so such a map's signs flip and it sums to +1; ``"peak"`` divides by the
        largest magnitude and keeps them.
    """

    values: np.ndarray
    receptive_field: ReceptiveField
    weights: str
    normalize: str | None
    method: str
    log10_mass: float
    abs_error: float
    rel_error: float | None
    exact_values: np.ndarray | None = None
    float_exact: bool | None = None
    underflow: int = 0
    underflow_floor: float = float(np.finfo(float).tiny)
    network: object = field(default=None, repr=False)
    notes: tuple[str, ...] = ()
    variance: object = field(default=None, repr=False)
    mass_sign: int = 1

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the ERF array (the receptive field size)."""
        return self.values.shape

    @property
    def path_lengths(self) -> list[float] | None:
        """Share of the ERF mass through 0, 1, ... residual bodies (unit-gain bodies).

        See :func:`erftheory.paths.path_lengths`; None without residual blocks.
        """
        from .paths import path_lengths

        return None if self.network is None else path_lengths(self.network)

    @property
    def mean(self) -> tuple[float, ...]:
        """Mean position per axis of ``|values|`` taken as a distribution (array indices)."""
        return _moments(self.values)[0]

    @property
    def std(self) -> tuple[float, ...]:
        """Standard deviation per axis of ``|values|`` taken as a distribution."""
        return _moments(self.values)[1]

    def analysis(self, **metric_options) -> dict:
        """Covariance, predicted std, distances to the Gaussian and size metrics (JSON-ready).

        ``predicted_std`` comes from the layer kernels alone (:mod:`erftheory.moments`, with
        the ``variance=`` the map was computed with; None for an ERF with negative entries,
        whose signed moments are not those of ``|ERF|``);
        ``gaussian`` holds the distances of the ERF to the moment-matched Gaussian and to its
        first Edgeworth correction (:mod:`erftheory.gaussian`), both sampled at the pixel
        centres (``discretisation: "point"``, the lattice form of the local limit theorem),
        and ``tv_gaussian_cell``, the total variation to the Gaussian integrated over pixel
        cells, ``lattice_index`` and ``lattice_basis`` the lattice the support lies on (index
        > 1: gridding, product over axes or not); ``metrics`` the size measures
        of :func:`erftheory.metrics.all_metrics` (``metric_options`` are its keyword
        arguments; bad ones raise). A part that does not apply (an all-zero map) is None.
        """
        from .metrics import check_options

        check_options(**metric_options)  # the user's options, before anything else
        from .distribution import _prepare
        from .gaussian import compare_to_gaussian
        from .metrics import all_metrics
        from .moments import predicted_moments

        def attempt(function):
            try:
                return function()
            except ERFError:
                return None

        # checked and normalised once, for every measure below (None: an all-zero map)
        prepared = attempt(lambda: _prepare(self.values))

        def gaussian():
            point = compare_to_gaussian(prepared)  # point values (local CLT)
            cell = compare_to_gaussian(prepared, "cell", edgeworth=False).gaussian
            return {
                **point.to_dict(),
                "tv_gaussian_cell": cell.total_variation,
                # gridding, product over axes or not (a checkerboard): index > 1
                "lattice_index": point.lattice_index,
                "lattice_basis": [list(row) for row in point.lattice_basis],
            }

        moments = None if prepared is None else prepared.moments
        # the kernels give the signed moments of the ERF: those of |ERF| only if it is >= 0
        signed = self._signed
        predicted = (
            None
            if signed
            else attempt(lambda: predicted_moments(self.network, self.weights, self.variance))
        )
        return {
            "covariance": None if moments is None else [list(r) for r in moments.covariance],
            "predicted_std": None if predicted is None else list(predicted.std),
            "gaussian": None if prepared is None else attempt(gaussian),
            "metrics": (
                None
                if prepared is None
                else attempt(lambda: all_metrics(prepared, **metric_options))
            ),
        }

    def to_dict(self, analysis: bool = True) -> dict:
        """A JSON-ready summary (not the array itself), with :meth:`analysis` by default."""
        return {
            **self._summary(),
            **(self.analysis() if analysis else {}),
        }

    def _summary(self) -> dict:
        return {
            "receptive_field": list(self.receptive_field.size),
            "effective_stride": _list(self.receptive_field.effective_stride),  # 1/2 as "1/2"
            "weights": self.weights,
            "normalize": self.normalize,
            "method": self.method,
            "mean": json_ready(self.mean),
            "std": json_ready(self.std),
            "log10_mass": self.log10_mass if math.isfinite(self.log10_mass) else None,
            "mass_sign": self.mass_sign,  # of the raw total: log10_mass is of its magnitude
            "peak": float(np.max(np.abs(self.values))),  # the largest magnitude
            "signed": self._signed,  # negative entries: mean, std and measures are of |ERF|
            "abs_error": self.abs_error,
            "rel_error": self.rel_error,
            "float_exact": self.float_exact,
            "underflow": self.underflow,
            "underflow_floor": self.underflow_floor,
            "treated_as_identity": list(self.receptive_field.treated_as_identity),
            "path_lengths": self.path_lengths,
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        return self.text()

    @property
    def _signed(self) -> bool:
        return bool(self.values.min() < 0)

    def text(self, **metric_options) -> str:
        """The summary report; ``metric_options`` go to :meth:`analysis` (see its doc)."""
        rf = self.receptive_field
        quantity = "E[dy/dx]" if self.weights == "ones" else "E[(dy/dx)^2]"
        norm = {None: "raw", "sum": "normalised to sum 1", "peak": "normalised to peak 1"}
        erf_trf = [s / r for s, r in zip(self.std, rf.size)]
        accuracy = (
            "exact"
            if self.exact_values is not None
            else (
                f"relative error <= {self.rel_error:.1e}"
                if self.rel_error is not None
                else f"absolute error <= {self.abs_error:.1e}"
            )
        )
        peak = float(np.max(np.abs(self.values)))
        lines = [
            f"ERF of the centre unit: {quantity} ({self.weights} weights, "
            f"{norm[self.normalize]}), method {self.method}",
            f"  receptive field   {_fmt(rf.size, 'd')}   effective stride "
            f"{_fmt(rf.effective_stride, '')}",
        ]
        if peak == 0:
            lines.append("  ERF std (pixels)  undefined: every path cancels, the ERF is zero")
        else:
            lines += [
                f"  ERF std (pixels)  {_fmt(self.std, '.4g')}",
                f"  std / TRF size    {_fmt(erf_trf, '.4g')}",
            ]
        mass = f"10^{self.log10_mass:.6g}" if math.isfinite(self.log10_mass) else "0"
        if self.mass_sign < 0 and math.isfinite(self.log10_mass):
            mass = "-" + mass
        lines += [
            f"  total mass        {mass}" + (" (signed sum)" if self._signed else ""),
            f"  peak value        {peak:.6g}" + (" (largest magnitude)" if self._signed else ""),
            f"  accuracy          {accuracy}",
        ]
        if self._signed:
            lines.append(
                "  signed            the map has negative entries: its std, sizes and "
                "Gaussian distances are those of |ERF|"
            )
        shares = self.path_lengths
        if shares:
            mean = sum(j * p for j, p in enumerate(shares))
            cumulative = np.cumsum(shares)
            low = int(np.searchsorted(cumulative, 0.05))
            high = int(np.searchsorted(cumulative, 0.95))
            lines.append(
                f"  path lengths      residual bodies per path: mean {mean:.3g} of "
                f"{len(shares) - 1}, 90% of the mass through {low}-{high} "
                "(Veit et al. 2016; each body counted at unit gain, not at this map's "
                "weights: paths.path_lengths(..., gain='ones') weighs them)"
            )
        if self.receptive_field.treated_as_identity:
            lines.append(
                "  identity (opt-in) " + ", ".join(self.receptive_field.treated_as_identity)
            )
        if self.underflow:
            lines.append(
                f"  underflow         {self.underflow} entries of the support are below "
                f"{self.underflow_floor:.1e} and may read 0 (not covered by the bound; use "
                "--exact for them)"
            )
        if self.exact_values is not None and not self.float_exact:
            lines.append(
                "  note              float64 cannot hold every count: the exact ones are "
                "exact_values (in --json, as decimal strings)"
            )
        lines += [f"  model note        {note}" for note in self.notes]
        if self.values.size <= ANALYSIS_MAX:
            lines += self._analysis_lines(**metric_options)
        else:
            lines.append(_SKIPPED)
        return "\n".join(lines)

    def _analysis_lines(self, **metric_options) -> list[str]:
        a = self.analysis(**metric_options)
        lines = []
        if a["predicted_std"]:
            lines.append(f"  std from kernels  {_fmt(a['predicted_std'], '.4g')}  (no ERF needed)")
        if a["gaussian"]:
            g = a["gaussian"]
            edge = g.get("tv_edgeworth")
            lines.append(
                f"  vs Gaussian       total variation {g['tv_gaussian']:.3g} (point values; "
                f"{g['tv_gaussian_cell']:.3g} integrated over pixel cells)"
                + (f", with Edgeworth correction {edge:.3g}" if edge is not None else "")
            )
            if g["lattice_index"] > 1 and g["lattice_index"] == math.prod(g["lattice_span"]):
                lines.append(
                    f"  gridding          the support lies on a lattice of steps "
                    f"{_fmt(g['lattice_span'], 'd')} (zeros in between: dilation or stride); "
                    "the Gaussian is compared on that lattice"
                )
            elif g["lattice_index"] > 1:
                lines.append(
                    f"  gridding          the support lies on a sublattice of index "
                    f"{g['lattice_index']}, basis {g['lattice_basis']}, not a product over "
                    "axes (a checkerboard: zeros in between); the Gaussian is compared on it"
                )
        if a["metrics"]:
            m = a["metrics"]
            if m.get("luo_count") is not None:
                lines.append(
                    f"  Luo size          {m['luo_count']} pixels above "
                    f"{m['luo_fraction']:.4g} of the centre (Luo et al. 2016: 0.0455)"
                )
            lines.append(
                f"  mass region       {m['mass_count']} pixels hold {m['mass_fraction']:.4g} "
                "of the mass"
            )
            sides = ", ".join(
                f"{t:g}: {s}" for t, s in zip(m["area_ratio_thresholds"], m["area_ratio_side"])
            )
            lines.append(f"  RepLKNet sides    {sides} (log10(x+1) scale, Ding et al. 2022)")
            lines.append(f"  effective area    {m['effective_area']:.4g} pixels (exp entropy)")
        return lines


# the Gaussian comparison and the size metrics make several map-sized temporaries: beyond
# this many entries (4096 x 4096) the reports leave them out and say so
ANALYSIS_MAX = 2**24
_SKIPPED = (
    f"  analysis          skipped: the map has over {ANALYSIS_MAX:,} entries (call "
    "ERFResult.analysis() to compute it anyway)"
)


def _fmt(values, spec: str) -> str:
    return " x ".join(format(v, spec) for v in values)


def _moments(values: np.ndarray):
    p = np.abs(values)
    total = p.sum()
    if total == 0:
        return (math.nan,) * p.ndim, (math.nan,) * p.ndim
    means, stds = [], []
    for axis in range(p.ndim):
        marginal = p.sum(axis=tuple(a for a in range(p.ndim) if a != axis)) / total
        x = np.arange(marginal.size)
        mu = float(marginal @ x)
        means.append(mu)
        stds.append(float(np.sqrt(max(marginal @ (x - mu) ** 2, 0.0))))
    return tuple(means), tuple(stds)
