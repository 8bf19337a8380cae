"""The analytic ERF against the real network: :func:`check` and its :class:`Check`.

:func:`erftheory.montecarlo.monte_carlo` runs the network; this module predicts what it
should measure (the ``weights="ones"`` or ``weights="random"`` ERF, with each random conv's
gain as the network draws it), compares the two as shapes and gives a verdict: ``agree``,
``disagree`` (a linear network whose exact theory failed), ``gap`` (a nonlinear network, or
an approximate theory, whose distance is reported, not hidden), ``inconclusive`` (too few
samples to reject a substantially wrong theory) or ``unmodelled`` (no theory to compare with).
The prediction is made in :mod:`erftheory.prediction`, the tests behind the verdict and their
thresholds live in :mod:`erftheory.verdicts`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .architecture import Network
from .erf import DEFAULT_MAX_BYTES
from .errors import ERFError
from .layers import Conv
from .montecarlo import _STATISTICS, MonteCarlo, monte_carlo
from .pointwise import Dropout
from .prediction import _predict, _reference
from .rewrites import _gated, _layers
from .verdicts import (
    _Z_TEST_SAMPLES,
    VERDICTS,
    _conclusive,
    _judge,
    _shape_distances,
    _std_ratio,
)

__all__ = ["Check", "check", "VERDICTS"]


@dataclass(frozen=True, eq=False)
class Check:
    """The Monte-Carlo estimate of one statistic against the theory's prediction.

    Maps are compared as shapes: each is divided by its L1 norm (the sum of its absolute
    values, so signs are compared and a sign-flipped theory fails), and ``l1`` is
    ``sum |p - q|`` of the two (at most 2; twice the total variation for non-negative maps).
    A pure gain error (the right shape at the wrong scale) therefore cannot be detected.
    ``noise_l1`` is the L1 distance expected from the Monte-Carlo error alone
    (``sqrt(2/pi) sum se / sum |estimate|``); ``z`` the per-pixel z-scores of the estimate
    against the theory scaled to the estimate's L1 norm; ``std_ratio`` the per-axis ratio of
    the standard deviations (empirical / theory), NaN (``None`` in JSON) where the theory's
    map has no spread.

    ``verdict`` is one of :data:`VERDICTS`:

    - ``"agree"``: L1 within ``2`` noise levels (a correct theory exceeded 2 in none of
      2,450 measured runs over seven networks at 500 and 1000 samples, see
      ``_L1_FACTOR``), pixels without spread equal to rounding and, from 500 samples, no z
      beyond the Bonferroni 0.1% level plus 1 (one-sided, above the theory, for a linear
      network with random weights; both sides otherwise);
    - ``"disagree"``: a linear network outside those limits, a failed check;
    - ``"gap"``: a nonlinear network, or E|g| against an approximate theory (sqrt(E[g^2])),
      outside them: the gap is reported, not hidden;
    - ``"inconclusive"``: the test could not have rejected a substantially wrong theory:
      fewer than 30 samples (with standard errors too rough to judge), or an L1 threshold
      above 0.25 (a theory misplacing 12.5% of the mass could pass); a note gives the
      samples needed. A linear network whose L1 already exceeds the threshold with at least
      30 samples stays ``"disagree"``;
    - ``"unmodelled"``: the analytic ERF refuses the network, say a random-weight case it
      does not model: ``predicted``, ``z`` and ``l1`` are NaN, the estimate stands alone and
      a note gives the reason.

    ``basis`` says which tests the verdict rests on and ``z_tested`` whether the z-scores
    were among them (below 500 samples they are not); ``notes`` explain undefined values,
    untested large z-scores and inconclusive verdicts. ``seed`` and ``batch`` reproduce the
    run (the draws are made per batch: the same seed with another batch is another run);
    ``treated_as_identity`` lists the layer types the network treats as identity (opt-in).
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
    batch: int = 64
    treated_as_identity: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """A JSON-ready summary of the comparison (undefined values are ``None``)."""
        finite = self.z[np.isfinite(self.z)]
        compared = None if self.verdict == "unmodelled" else 0.0  # no z-scores: no theory
        return {
            "statistic": self.statistic,
            "theory": self.theory,
            "samples": self.samples,
            "seed": self.seed,
            "batch": self.batch,
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
            "treated_as_identity": list(self.treated_as_identity),
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        d = self.to_dict()
        ratio = d["std_ratio"]
        lines = [
            f"Monte-Carlo check of {self.statistic} over {self.samples} samples "
            f"(seed {self.seed}, batch {self.batch}) against {self.theory}",
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
            f"  verdict           {self.verdict}" + _VERDICT_GLOSS.get(self.verdict, ""),
            f"  based on          {self.basis}",
        ]
        if self.verdict == "gap":  # the distance the verdict reports (as in the JSON)
            gap = (
                f"{_text(d['gap'])}   (L1 minus the noise L1)"
                if d["gap"]
                else "none in L1; the z test found pixels beyond their noise"
            )
            lines.insert(-2, f"  gap               {gap}")
        if self.treated_as_identity:
            lines.append("  identity (opt-in) " + ", ".join(self.treated_as_identity))
        return "\n".join(lines + [f"  note              {note}" for note in self.notes])


_VERDICT_GLOSS = {
    "gap": " (nonlinear network or approximate theory: the gap is reported)",
    "unmodelled": " (no analytic theory to compare with: the estimate alone)",
    "inconclusive": " (too little data to reject a wrong theory: see the note)",
}


def _text(value: float) -> str:
    return "undefined" if math.isnan(value) else f"{value:.4g}"


def _finite_or_none(value: float) -> float | None:
    """NaN (undefined for E[g] = 0) becomes null in JSON."""
    return None if math.isnan(value) else float(value)


def _is_linear(net: Network) -> bool:
    return not _gated(net)


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
    value for a linear network. With ``init="ones"`` and a dropout layer anywhere (residual
    bodies and branches included) g is random through the masks: E[g^2] is the
    ``weights="random"`` ERF of the network with every conv fixed (all-ones weights where none
    are given), which treats fixed kernels exactly and dropout per unit; E|g| is E[g] where
    every fixed kernel is non-negative (then g >= 0) and is otherwise compared, approximately,
    with sqrt(E[g^2]). With random zero-mean weights E[g] = 0, E[g^2] is the
    ``weights="random"`` ERF and E|g| is compared with sqrt(E[g^2]) (equal in shape when g
    is Gaussian). Inverted dropout leaves E[g] unchanged. tanh and sigmoid have no closed
    form: the linear network's map is the reference, and the gap is reported. Parameters are
    those of :func:`monte_carlo`, plus ``statistic`` ("sq", "abs" or "mean": E[g^2], E|g| or
    E[g]).

    Maps are compared as shapes, each divided by its L1 norm (signs are kept), so a pure gain
    error cannot be detected. Below 500 samples the per-pixel z-scores are not tested (their
    standard errors are too rough): the verdict then rests on the normalised L1 alone, and
    ``basis``, ``z_tested`` and ``notes`` of the result say so. Below 30 samples, or where
    the L1 threshold exceeds 0.25, the verdict is ``"inconclusive"`` (see :class:`Check`).
    Fixed convs run depthwise on ``channels`` channels (see
    :mod:`erftheory.montecarlo`), so the one-channel theory holds per channel.

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
        a non-finite input, a variance map with ``init="ones"``, gradients that overflow or
        underflow float64, ..., a run over the memory budget ``max_bytes``), or an estimate
        that is identically zero (the message names the cause where it is known, such as
        dropout that dropped every sample's path).

    Examples
    --------
    >>> c = check("1d: conv3*3", samples=2000, seed=1)
    >>> c.verdict, c.seed, c.z_tested
    ('agree', 1, True)
    >>> check("1d: conv3*3", samples=200).z_tested  # too few samples for the z test
    False
    """
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
    result = _compare(mc, init, channels, statistic, variance_map)
    if activation is not None:  # what was run, and so what the theory is of
        from .compact import to_compact

        ran = (
            f"activation={activation!r}: the network run and predicted is {to_compact(mc.network)}"
        )
        result = replace(result, notes=(ran, *result.notes))
    return replace(result, batch=mc.batch, treated_as_identity=mc.network.treated_as_identity)


def _compare(mc: MonteCarlo, init: str, channels: int, statistic: str, variance_map) -> Check:
    """The prediction for ``mc``'s network and the verdict (see :func:`check`)."""
    net, samples = mc.network, mc.samples
    linear = _is_linear(net)
    reference, label = _reference(net)
    random = init != "ones"
    has_random = random and any(
        isinstance(x, Conv) and x.weights is None for x in _layers(reference)
    )
    try:
        predicted, theory, approximate = _predict(
            net, reference, label, init, channels, statistic, variance_map
        )
    except ERFError as err:  # the theory does not model this network: the measurement stands
        return _unmodelled(mc, statistic, str(err), linear)
    empirical, se = getattr(mc, statistic), getattr(mc, f"{statistic}_se")
    if statistic == "mean" and random and not predicted.any():
        return _zero_mean_check(mc, theory, linear)
    mass = float(np.abs(empirical).sum())
    if mass == 0:
        raise ERFError(_zero_estimate_message(net, samples))
    p, q, scaled, z, l1, noise = _shape_distances(empirical, se, predicted, mass)
    exact = linear and not approximate
    within, basis, z_tested, notes = _judge(
        empirical, se, scaled, z, l1, noise, samples, exact, has_random
    )
    verdict = "agree" if within else ("disagree" if exact else "gap")
    verdict, notes = _conclusive(verdict, se, l1, noise, samples, exact, notes)
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


def _zero_estimate_message(net: Network, samples: int) -> str:
    """Why a Monte-Carlo estimate is identically zero, where the cause is known."""
    rates = [x.p for x in _layers(net) if isinstance(x, Dropout)]
    if rates:
        return (
            f"the Monte-Carlo estimate is identically zero: dropout (p={max(rates):g}) dropped "
            f"every sample's path in all {samples} samples; use more samples or a smaller p"
        )
    return (
        "the Monte-Carlo estimate is identically zero (every gradient of every sample is 0): "
        "nothing to compare"
    )


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
    if verdict == "agree" and not tested:
        verdict = "inconclusive"  # nothing was tested
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
