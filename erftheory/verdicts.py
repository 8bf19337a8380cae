"""The verdict of a Monte-Carlo check: the tests, their thresholds and their notes.

An estimate is compared with the theory as shapes (:func:`_shape_distances`): the
normalised L1 distance against the level the Monte-Carlo noise alone reaches, and per-pixel
z-scores. :func:`_judge` says whether they agree and on what basis, :func:`_conclusive`
whether the test could have rejected a substantially wrong theory at all, and
:func:`_std_ratio` compares the spreads. The thresholds were measured under correct theories
(see the comments on ``_L1_FACTOR`` and the others).
"""

from __future__ import annotations

import math

import numpy as np

VERDICTS = ("agree", "disagree", "gap", "inconclusive", "unmodelled")

# The L1 test passes when L1 <= _L1_FACTOR * noise_l1. Under a correct theory L1 / noise_l1
# was measured over 200 seeds at 500 samples and 150 seeds at 1000 samples for seven
# networks (conv3*3, conv3*20, 2d conv3*3, res(conv3, conv3)*3, the pool stack of THEORY.md,
# cat(conv3 | id), conv3 with He weights on 2 channels, conv3, dropout0.5, conv3): its 99th
# percentile was 1.24-1.89 and its maximum 1.99, so none of the 2,450 runs exceeded 2 (a
# false "disagree" rate below 1% per network); 3, the former factor, let clearly wrong
# theories pass (E[g]^2 for conv3*3 at 200 samples agreed in 30 runs of 30).
_L1_FACTOR = 2.0
# A test whose L1 threshold exceeds this cannot reject a theory that misplaces an eighth of
# the mass (L1 = 2 x 0.125): its "agree" would be vacuous, so the verdict is "inconclusive".
_RESOLVABLE_L1 = 0.25
# Below this many samples the standard errors are too rough for the L1 noise level itself
# (with 2 samples a correct theory failed 15 runs in 100): the verdict is "inconclusive".
_MIN_SAMPLES = 30
# below this many samples the per-pixel standard errors of heavy-tailed gradients are too
# rough for a z test (a pixel whose rare large draws were not seen gets a tiny error)
_Z_TEST_SAMPLES = 500


def _shape_distances(empirical: np.ndarray, se: np.ndarray, predicted: np.ndarray, mass: float):
    """The estimate and the theory compared as shapes.

    Parameters
    ----------
    empirical, se : numpy.ndarray
        The estimate and its per-pixel standard errors.
    predicted : numpy.ndarray
        The theory's map, at any scale.
    mass : float
        The estimate's L1 norm (not zero).

    Returns
    -------
    tuple
        ``p`` and ``q``, the estimate and the theory divided by their L1 norms; ``scaled``,
        the theory at the estimate's mass; the per-pixel z-scores of the estimate against
        it; the normalised L1 distance ``sum |p - q|`` and the L1 the Monte-Carlo noise
        alone gives.
    """
    theory_mass = float(np.abs(predicted).sum())
    p = empirical / mass
    q = predicted / theory_mass if theory_mass else np.zeros(predicted.shape)
    scaled = q * mass
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (empirical - scaled) / se, np.where(empirical == scaled, 0.0, np.inf))
    l1 = float(np.abs(p - q).sum())
    # each pixel's error moves it by sqrt(2/pi) se on average; where the theory is zero it
    # also inflates the estimate's L1 norm by as much (a signed E[g] with zero pixels),
    # which shifts every other pixel of p: those pixels count twice
    noise = float(math.sqrt(2 / math.pi) * (se.sum() + se[q == 0].sum()) / mass)
    return p, q, scaled, z, l1, noise


def _judge(
    empirical, se, scaled, z, l1: float, noise: float, samples: int, linear: bool, random: bool
):
    """Whether the estimate agrees with the theory, on what basis, and notes on the z test.

    Agreement needs a small L1 (within ``_L1_FACTOR`` noise levels) and no pixel far outside
    its own noise: the largest |z| of ``npix`` standard normals stays below the Bonferroni
    0.1% level, plus 1 for standard errors estimated from heavy-tailed samples (mean z^2 is
    not robust to those). For a linear network with random weights, whose theory is exact,
    the test is one-sided: where the rare large draws of a heavy-tailed g^2 were not seen, a
    pixel's estimate and its standard error are both too small, so a pixel far *below* the
    theory is expected of undersampling (a note says so), while the theory is scaled to the
    estimate's mass, so a wrong shape always puts pixels above it too. Without random
    weights (fixed kernels, dropout masks: bounded gradients) and for a nonlinear network both
    sides count. Below ``_Z_TEST_SAMPLES`` samples those standard errors are too rough for any
    z test: L1 alone decides, and the result says so. Pixels with no spread (deterministic
    gradients) must match to rounding, except, with random weights, those no sample reached
    (an estimate of 0 there is undersampling: ResNet-18 at 64 samples has thousands).
    """
    from scipy.special import ndtri

    noisy = se > 0
    mass = float(np.abs(empirical).sum())
    l1_ok = l1 <= _L1_FACTOR * noise + 1e-9
    # with random weights a pixel that no sample reached (estimate 0, no spread) is
    # undersampled, not deterministic: only the L1 test and the notes speak for it
    unreached = (~noisy & (empirical == 0)) if random else np.zeros(se.shape, dtype=bool)
    fixed = ~noisy & ~unreached
    exact_ok = np.allclose(empirical[fixed], scaled[fixed], rtol=1e-9, atol=1e-12 * mass)
    # each test with its outcome: "within" passed, "beyond" failed
    basis = [
        f"normalised L1 {l1:.3g} {_side(l1_ok)} {_L1_FACTOR:g} Monte-Carlo noise levels "
        f"({_L1_FACTOR * noise:.3g})"
    ]
    if unreached.any():
        basis.append(
            f"{int(unreached.sum())} pixel(s) no sample reached (random weights: not tested)"
        )
    if fixed.any():
        basis.append(
            f"{int(fixed.sum())} pixel(s) without spread "
            + ("matching to rounding" if exact_ok else "NOT matching to rounding")
        )
    if not noisy.any():
        return l1_ok and exact_ok, " and ".join(basis), False, ()
    limit = float(ndtri(1 - 0.0005 / int(noisy.sum()))) + 1
    max_z = float(np.max(np.abs(z[noisy])))
    if samples >= _Z_TEST_SAMPLES:
        above, below = float(np.max(z[noisy])), float(-np.min(z[noisy]))
        if not (linear and random):
            basis.append(
                f"max |z| {max_z:.3g} {_side(max_z <= limit)} {limit:.3g} "
                "(Bonferroni 0.1% level + 1)"
            )
            return l1_ok and exact_ok and max_z <= limit, " and ".join(basis), True, ()
        basis.append(
            f"max z above the theory {max(above, 0.0):.3g} {_side(above <= limit)} "
            f"{limit:.3g} (Bonferroni 0.1% level + 1)"
        )
        notes = ()
        if below > limit:
            notes = (
                f"a pixel lies {below:.3g} standard errors below the theory: expected where "
                "rare large draws of a heavy-tailed g^2 (random weights) were not seen (its "
                "estimate and its error are both too small); more samples resolve it",
            )
        return l1_ok and exact_ok and above <= limit, " and ".join(basis), True, notes
    skipped = f"z test skipped below {_Z_TEST_SAMPLES} samples"
    notes = ()
    if max_z > limit:
        below = float(-np.min(z[noisy]))
        why = "too few samples for reliable standard errors"
        if random and below >= max_z:  # (the largest |z| lies below the theory)
            why = (
                "it lies below the theory, as where a heavy-tailed g^2 (random weights) is "
                "undersampled: a pixel that one or a few draws reached has an estimate and a "
                "standard error both far too small"
            )
        notes = (
            f"max |z| {max_z:.3g} is beyond the {limit:.3g} level but was not tested ({why}): "
            f"rerun with at least {_Z_TEST_SAMPLES} samples to test it",
        )
    return l1_ok and exact_ok, " and ".join(basis) + f" only; {skipped}", False, notes


def _side(passed: bool) -> str:
    """How a basis entry reads its test's outcome: within the limit (passed) or beyond it."""
    return "within" if passed else "beyond"


def _conclusive(verdict, se, l1, noise, samples, exact, notes):
    """``"inconclusive"`` where the test could not have rejected a substantially wrong theory.

    With spread (``se > 0`` somewhere), fewer than ``_MIN_SAMPLES`` samples, or an L1
    threshold above ``_RESOLVABLE_L1``, turn a verdict into ``"inconclusive"`` with a note
    on the samples needed; a linear network already beyond the threshold from
    ``_MIN_SAMPLES`` samples stays ``"disagree"``. Pixels without spread that fail to match
    keep their verdict (they are exact at any sample count).
    """
    if not (se > 0).any() or verdict == "unmodelled":
        return verdict, notes
    threshold = _L1_FACTOR * noise
    if samples < _MIN_SAMPLES:
        return "inconclusive", notes + (
            f"only {samples} samples: below {_MIN_SAMPLES} the standard errors are too rough "
            f"to judge; rerun with at least {_MIN_SAMPLES} samples",
        )
    if threshold <= _RESOLVABLE_L1 or (exact and verdict == "disagree" and l1 > threshold):
        return verdict, notes
    needed = math.ceil(samples * (threshold / _RESOLVABLE_L1) ** 2)
    return "inconclusive", notes + (
        f"the L1 threshold {threshold:.3g} ({_L1_FACTOR:g} noise levels) is above "
        f"{_RESOLVABLE_L1:g}: a theory misplacing {_RESOLVABLE_L1 / 2:.1%} of the mass could "
        f"pass; the noise falls like 1/sqrt(samples): about {needed} samples are needed",
    )


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


def _shape_std(p: np.ndarray) -> np.ndarray:
    from .result import _moments

    return np.array(_moments(p)[1])
