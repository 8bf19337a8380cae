"""The analytic ERF against the real network: :func:`check` and its :class:`Check`.

:func:`erftheory.montecarlo.monte_carlo` runs the network; this module predicts what it
should measure (the ``weights="ones"`` or ``weights="random"`` ERF, with each random conv's
gain as the network draws it), compares the two as shapes and gives a verdict: ``agree``,
``disagree`` (a linear network whose exact theory failed) or ``gap`` (a nonlinear network,
or an approximate theory, whose distance is reported, not hidden).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .architecture import Conv, MaxPool, Network, ReLU, Smooth, _map_layers
from .erf import DEFAULT_MAX_BYTES
from .errors import ERFError
from .montecarlo import (
    _STATISTICS,
    _Z_TEST_SAMPLES,
    MonteCarlo,
    _channels,
    _groups,
    _Sampler,
    _unrolled,
    monte_carlo,
    with_activation,
)

__all__ = ["Check", "check"]


@dataclass(frozen=True, eq=False)
class Check:
    """The Monte-Carlo estimate of one statistic against the theory's prediction.

    Maps are compared as shapes: ``l1`` is ``sum |p - q|`` of both normalised to sum 1
    (twice the total variation); ``noise_l1`` the L1 distance expected from the Monte-Carlo
    error alone (``sqrt(2/pi) sum se / total``); ``z`` the per-pixel z-scores of the estimate
    against the theory scaled to the estimate's total; ``std_ratio`` the per-axis ratio of the
    standard deviations (empirical / theory), NaN (``None`` in JSON) where the theory's map
    has no spread. ``verdict`` is ``"agree"`` (L1 within 3 noise levels and, from 500
    samples, no |z| beyond the Bonferroni 0.1% level plus 1), ``"disagree"`` (a linear
    network outside them: a failed check), ``"gap"`` (a nonlinear network, or E|g| against
    the Gaussian-g theory: the gap is reported, not hidden) or ``"unmodelled"`` (the analytic
    ERF refuses the network, say a random-weight case it does not model: ``predicted``,
    ``z`` and ``l1`` are NaN, the estimate stands alone and a note gives the reason).
    ``basis`` says which tests the
    verdict rests on and ``z_tested`` whether the z-scores were among them (below 500
    samples they are not); ``notes`` explain undefined values and untested large z-scores.
    ``seed`` is the seed of the random generator.
    """

    statistic: str
    theory: str
    empirical: np.ndarray
    standard_error: np.ndarray
    predicted: np.ndarray
    z: np.ndarray
    l1: float
    noise_l1: float
    std_ratio: tuple[float, ...]
    linear: bool
    verdict: str
    samples: int
    seed: int
    basis: str
    z_tested: bool
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """A JSON-ready summary of the comparison (undefined values are ``None``)."""
        finite = self.z[np.isfinite(self.z)]
        compared = None if self.verdict == "unmodelled" else 0.0  # no z-scores: no theory
        return {
            "statistic": self.statistic,
            "theory": self.theory,
            "samples": self.samples,
            "seed": self.seed,
            "l1": _finite_or_none(self.l1),
            "noise_l1": _finite_or_none(self.noise_l1),
            "gap": _finite_or_none(max(self.l1 - self.noise_l1, 0.0)),
            "std_ratio": [_finite_or_none(v) for v in self.std_ratio],
            "max_abs_z": float(np.max(np.abs(finite))) if finite.size else compared,
            "mean_z2": float(np.mean(finite**2)) if finite.size else compared,
            "z_tested": self.z_tested,
            "linear": self.linear,
            "verdict": self.verdict,
            "verdict_basis": self.basis,
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        d = self.to_dict()
        ratio = d["std_ratio"]
        lines = [
            f"Monte-Carlo check of {self.statistic} over {self.samples} samples "
            f"(seed {self.seed}) against {self.theory}",
            f"  normalised L1     {_text(self.l1)}   (Monte-Carlo noise alone: "
            f"{_text(self.noise_l1)})",
            "  std ratio         "
            + (
                "undefined"
                if all(v is None for v in ratio)
                else " x ".join(_text(v) for v in self.std_ratio)
            ),
            (
                "  max |z|           undefined"
                if d["max_abs_z"] is None
                else f"  max |z|           {d['max_abs_z']:.3g}   mean z^2 {d['mean_z2']:.3g}"
            )
            + ("" if self.z_tested else "   (not tested)"),
            f"  verdict           {self.verdict}"
            + (
                ""
                if self.verdict not in ("gap", "unmodelled")
                else (
                    " (nonlinear network or approximate theory: the gap is reported)"
                    if self.verdict == "gap"
                    else " (no analytic theory to compare with: the estimate alone)"
                )
            ),
            f"  based on          {self.basis}",
        ]
        return "\n".join(lines + [f"  note              {note}" for note in self.notes])


def _text(value: float) -> str:
    return "undefined" if math.isnan(value) else f"{value:.4g}"


def _variance_kernels(sampler: _Sampler, net: Network):
    """Each random conv's variance kernel as the Monte-Carlo network draws it, with its gain.

    Summed over channels, E[g^2] passes a random conv with the factor ``C_in Var(w)`` per
    tap, while identities and fixed kernels pass it unchanged: in residual and branching
    networks the theory must carry that gain, or the identity is misweighted against the
    body (for plain stacks it is a global factor and cancels). After a concatenation the conv
    reads ``channels`` channels per branch, each group through its own weights: the analytic
    model adds the branches with unit weight, so the gain per group is ``C Var(w)``, with
    ``Var(w)`` the variance at the conv's own fan-in (Xavier and He scale it). A grouped conv
    reads ``C / groups`` channels per output: its gain is ``C / groups Var(w)``.

    Returns
    -------
    tuple of (Network, callable)
        ``net``, its repeats written out where a conv runs at different fan-ins (see
        :func:`_unrolled`), and the variance function to give the theory for it.
    """
    fan_ins: dict = {}
    _channels(net.layers, sampler.channels, sampler.channels, True, fan_ins)
    if sampler.init in ("xavier", "he") and any(len(f) > 1 for f in fan_ins.values()):
        net = _unrolled(net)
        fan_ins = {}
        _channels(net.layers, sampler.channels, sampler.channels, True, fan_ins)
    fan = {key: max(counts) for key, counts in fan_ins.items()}

    def gain(layer):  # a grouped conv reads channels / groups of them, at that fan-in
        g = _groups(layer, fan[id(layer)], sampler.channels)
        return sampler.channels // g * sampler.variance(layer, fan[id(layer)] // g)

    return net, gain


def _finite_or_none(value: float) -> float | None:
    """NaN (undefined for E[g] = 0) becomes null in JSON."""
    return None if math.isnan(value) else float(value)


def _is_linear(net: Network) -> bool:
    from .architecture import _all_layers

    return not any(isinstance(x, (ReLU, Smooth, MaxPool)) for x in _all_layers(net.layers))


def _shape_std(p: np.ndarray) -> np.ndarray:
    from .result import _moments

    return np.array(_moments(p)[1])


def check(
    arch,
    samples: int = 1000,
    seed: int = 0,
    channels: int = 1,
    init: str = "normal",
    activation: str | None = None,
    statistic: str = "sq",
    input=None,
    variance_map=None,
    batch: int = 64,
    show_progress: bool | None = None,
    max_bytes: float = DEFAULT_MAX_BYTES,
) -> Check:
    """Cross-check the analytic ERF against the real network by Monte Carlo.

    The prediction for each statistic: with ``init="ones"`` the weights are fixed, so E[g]
    is the ``weights="ones"`` ERF (ReLU gates at 1/2), E[g^2] and E|g| its square and absolute
    value for a linear network; with random zero-mean weights E[g] = 0, E[g^2] is the
    ``weights="random"`` ERF and E|g| is compared with sqrt(E[g^2]) (equal in shape when g
    is Gaussian). tanh and sigmoid have no closed form: the linear network's map is the
    reference, and the gap is reported. Parameters are those of :func:`monte_carlo`, plus
    ``statistic`` ("sq", "abs" or "mean": E[g^2], E|g| or E[g]).

    Below 500 samples the per-pixel z-scores are not tested (their standard errors are too
    rough): the verdict then rests on the normalised L1 alone, and ``basis``, ``z_tested``
    and ``notes`` of the result say so.

    Parameters
    ----------
    arch, samples, seed, channels, init, activation, input, variance_map, batch, show_progress
        As for :func:`erftheory.montecarlo.monte_carlo`.
    statistic : {"sq", "abs", "mean"}
        The statistic compared: E[g^2], E|g| or E[g].
    max_bytes : float
        Refuse, before allocating, a Monte-Carlo run whose estimated working memory exceeds
        this many bytes (default 4 GiB), as :func:`erftheory.montecarlo.monte_carlo` does.

    Returns
    -------
    Check

    Raises
    ------
    ERFError
        For an unknown statistic, the errors of :func:`monte_carlo` (fewer than 2 samples,
        ..., a run over the memory budget ``max_bytes``), or an estimate that is identically
        zero.

    Examples
    --------
    >>> c = check("1d: conv3*3", samples=2000, seed=1)
    >>> c.verdict, c.seed, c.z_tested
    ('agree', 1, True)
    >>> check("1d: conv3*3", samples=200).z_tested  # too few samples for the z test
    False
    """
    from .erf import erf

    if statistic not in _STATISTICS:
        raise ERFError(f"statistic={statistic!r} is not one of {', '.join(_STATISTICS)}")
    mc = monte_carlo(
        arch,
        samples,
        seed,
        channels,
        init,
        activation,
        input,
        variance_map,
        batch,
        show_progress,
        max_bytes=max_bytes,
    )
    net = mc.network
    linear = _is_linear(net)
    reference = (
        net
        if not any(isinstance(x, Smooth) for x in _layers(net))
        else (with_activation(net, "linear"))
    )
    label = (
        ""
        if reference is net
        else " of the linear network (no closed form for tanh, sigmoid, GELU, SiLU)"
    )
    random = init != "ones"
    try:
        if statistic == "mean":
            # E[g]: the paths without a random conv (each random one has mean zero)
            predicted = erf(_without_random_convs(reference) if random else reference).values
            theory = "E[g], ones weights" + label
            if random and not predicted.any():
                theory = "E[g] = 0 (zero-mean weights)" + label
        elif random:
            sampler = _Sampler(init, channels, None, variance_map)
            unrolled, gain = _variance_kernels(sampler, reference)
            var = erf(unrolled, weights="random", normalize="sum", variance=gain).values
            predicted = var if statistic == "sq" else np.sqrt(var)
            theory = (
                "E[g^2], random weights" if statistic == "sq" else "sqrt(E[g^2]), random weights"
            ) + label
        else:
            g = erf(reference).values
            predicted = g * g if statistic == "sq" else np.abs(g)
            theory = ("E[g]^2" if statistic == "sq" else "|E[g]|") + ", ones weights" + label
    except ERFError as err:  # the theory does not model this network: the measurement stands
        return _unmodelled(mc, statistic, str(err), linear)
    empirical, se = getattr(mc, statistic), getattr(mc, f"{statistic}_se")
    if statistic == "mean" and random and not predicted.any():
        return _zero_mean_check(mc, theory, linear)
    total = float(empirical.sum())
    if total == 0:
        raise ERFError("the Monte-Carlo estimate is identically zero: nothing to compare")
    p = empirical / total
    q = predicted / predicted.sum()
    scaled = q * total
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (empirical - scaled) / se, np.where(empirical == scaled, 0.0, np.inf))
    l1 = float(np.abs(p - q).sum())
    noise = float(math.sqrt(2 / math.pi) * se.sum() / abs(total))
    # E|g| against sqrt(E[g^2]) is exact only for Gaussian g: report its gap, do not fail
    approximate = random and statistic == "abs"
    verdict_within, basis, z_tested, notes = _judge(
        empirical, se, scaled, z, l1, noise, samples, linear and not approximate
    )
    verdict = "agree" if verdict_within else ("disagree" if linear and not approximate else "gap")
    if approximate:
        theory += " (equal in shape only where g is Gaussian)"
    ratio, ratio_note = _std_ratio(p, q)
    return Check(
        statistic,
        theory,
        empirical,
        se,
        scaled,
        z,
        l1,
        noise,
        ratio,
        linear,
        verdict,
        samples,
        seed=mc.seed,
        basis=basis,
        z_tested=z_tested,
        notes=notes + ratio_note,
    )


def _judge(empirical, se, scaled, z, l1: float, noise: float, samples: int, linear: bool):
    """Whether the estimate agrees with the theory, on what basis, and notes on the z test.

    Agreement needs a small L1 and no pixel far outside its own noise: the largest |z| of
    ``npix`` standard normals stays below the Bonferroni 0.1% level, plus 1 for standard
    errors estimated from heavy-tailed samples (mean z^2 is not robust to those). For a
    linear network, whose theory is exact, the test is one-sided: where the rare large draws
    of a heavy-tailed g^2 were not seen, a pixel's estimate and its standard error are both
    too small, so a pixel far *below* the theory is expected of undersampling (a note says
    so), while the theory is scaled to the estimate's total, so a wrong shape always puts
    pixels above it too. For a nonlinear network both sides count (a gap is reported). Below
    ``_Z_TEST_SAMPLES`` samples those standard errors are too rough for any z test: L1 alone
    decides, and the result says so. Pixels with no spread (deterministic gradients) must
    match to rounding.
    """
    from scipy.special import ndtri

    noisy = se > 0
    total = float(empirical.sum())
    l1_ok = l1 <= 3 * noise + 1e-9
    exact_ok = np.allclose(empirical[~noisy], scaled[~noisy], rtol=1e-9, atol=1e-12 * abs(total))
    basis = [f"normalised L1 within 3 Monte-Carlo noise levels ({3 * noise:.3g})"]
    if not noisy.all():
        basis.append(f"{int((~noisy).sum())} pixel(s) without spread matching to rounding")
    if not noisy.any():
        return l1_ok and exact_ok, " and ".join(basis), False, ()
    limit = float(ndtri(1 - 0.0005 / int(noisy.sum()))) + 1
    max_z = float(np.max(np.abs(z[noisy])))
    if samples >= _Z_TEST_SAMPLES:
        above, below = float(np.max(z[noisy])), float(-np.min(z[noisy]))
        if not linear:
            basis.append(f"max |z| within {limit:.3g} (Bonferroni 0.1% level + 1)")
            return l1_ok and exact_ok and max_z <= limit, " and ".join(basis), True, ()
        basis.append(f"max z above the theory within {limit:.3g} (Bonferroni 0.1% level + 1)")
        notes = ()
        if below > limit:
            notes = (
                f"a pixel lies {below:.3g} standard errors below the theory: expected where "
                "rare large draws of a heavy-tailed g^2 were not seen (its estimate and its "
                "error are both too small); more samples resolve it",
            )
        return l1_ok and exact_ok and above <= limit, " and ".join(basis), True, notes
    skipped = f"z test skipped below {_Z_TEST_SAMPLES} samples"
    notes = ()
    if max_z > limit:
        notes = (
            f"max |z| {max_z:.3g} is beyond the {limit:.3g} level but was not tested (too few "
            f"samples for reliable standard errors): rerun with at least {_Z_TEST_SAMPLES} "
            "samples to test it",
        )
    return l1_ok and exact_ok, " and ".join(basis) + f" only; {skipped}", False, notes


def _std_ratio(p: np.ndarray, q: np.ndarray) -> tuple[tuple[float, ...], tuple[str, ...]]:
    """Per-axis std of ``p`` over std of ``q``; NaN, with a note, where ``q`` has no spread."""
    empirical, theory = _shape_std(np.abs(p)), _shape_std(np.abs(q))
    flat = [axis for axis, t in enumerate(theory) if not t > 0]
    ratio = tuple(math.nan if not t > 0 else float(e / t) for e, t in zip(empirical, theory))
    if not flat:
        return ratio, ()
    axes = ", ".join(str(a) for a in flat)
    return ratio, (
        f"std ratio undefined along {'axes' if len(flat) > 1 else 'axis'} {axes}: the "
        f"theory's map (shape {list(q.shape)}) has no spread there to divide by",
    )


def _layers(net):
    from .architecture import _all_layers

    return list(_all_layers(net.layers))


def _without_random_convs(net: Network) -> Network:
    """``net`` with every random conv's weights zero: the paths that keep a mean."""

    def zeroed(layer):
        if isinstance(layer, Conv) and layer.weights is None:
            return replace(layer, weights=np.zeros(layer.kernel).tolist())
        return layer

    return replace(net, layers=_map_layers(net.layers, zeroed))


def _unmodelled(mc: MonteCarlo, statistic: str, reason: str, linear: bool) -> Check:
    """The estimate alone, where the analytic theory refuses the network (``reason``)."""
    empirical, se = getattr(mc, statistic), getattr(mc, f"{statistic}_se")
    total = float(np.abs(empirical).sum())
    noise = float(math.sqrt(2 / math.pi) * se.sum() / total) if total else math.nan
    nan = np.full(empirical.shape, math.nan)
    return Check(
        statistic,
        "no analytic theory (not modelled)",
        empirical,
        se,
        nan,
        nan,
        math.nan,
        noise,
        (math.nan,) * empirical.ndim,
        linear,
        "unmodelled",
        mc.samples,
        seed=mc.seed,
        basis="nothing: the analytic ERF does not model this network; the estimate stands alone",
        z_tested=False,
        notes=(f"the theory refused: {reason}",),
    )


def _zero_mean_check(mc: MonteCarlo, theory: str, linear: bool) -> Check:
    """E[g] = 0 for zero-mean weights: the z-scores must look like standard normal noise."""
    se = mc.mean_se
    noisy = se > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(noisy, mc.mean / se, np.where(mc.mean == 0, 0.0, np.inf))
    npix = max(int(noisy.sum()), 1)
    mean_z2 = float(np.mean(z[noisy] ** 2)) if noisy.any() else 0.0
    limit = 1 + 5 * math.sqrt(2 / npix) + 5 / math.sqrt(mc.samples)
    tested = mc.samples >= _Z_TEST_SAMPLES  # z is Student-t: E[z^2] is infinite below 3 dof
    # a pixel without spread has a deterministic gradient: zero, or the theory fails
    within = (mean_z2 <= limit or not tested) and not np.isinf(z).any()
    verdict = "agree" if within else ("disagree" if linear else "gap")
    basis = f"mean z^2 of the estimate against 0 within {limit:.3g} (standard normal noise)"
    notes = ["L1 and std ratio undefined: the predicted E[g] = 0 has no shape to compare"]
    if np.isinf(z).any():
        notes.append(
            f"{int(np.isinf(z).sum())} pixel(s) have a deterministic non-zero gradient (no "
            "spread over the samples): E[g] is not zero there"
        )
    if not tested:
        basis = f"nothing: the z test of E[g] = 0 needs {_Z_TEST_SAMPLES} samples"
        notes.append(
            f"mean z^2 {mean_z2:.3g} was not tested: with {mc.samples} samples the z-scores "
            "follow a Student t distribution too heavy-tailed to judge"
        )
    return Check(
        "mean",
        theory,
        mc.mean,
        se,
        np.zeros(se.shape),
        z,
        float("nan"),
        float("nan"),
        (float("nan"),) * mc.mean.ndim,
        linear,
        verdict,
        mc.samples,
        seed=mc.seed,
        basis=basis,
        z_tested=tested,
        notes=tuple(notes),
    )
