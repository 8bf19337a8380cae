"""A float ERF made a result: divided by its sum or peak (or scaled to raw), with its bounds.

:func:`_float_result` takes the path groups' sum (:func:`erftheory.path_sum._evaluate`): a
map, or the per-axis vectors of a non-negative separable one, whose outer product is then
formed once, after the vectors are scaled (:func:`_scaled_vectors`). It picks the divisor
(:func:`_divisor`: the exact total where known, so a sum normalises exactly), counts the
roundings of the relative bound or, where there is none, bounds the absolute error of the
division (:func:`_absolute_bound`, :func:`_normalised_error`), and counts the entries that
underflowed below the floor the relative bound holds above.
"""

from __future__ import annotations

import math

import numpy as np

from .bounds import TINY as _TINY
from .bounds import U as _U
from .bounds import (
    accurate_sum,
    count_below_outer,
    divide_and_count_below,
    gamma,
    min_max_sum,
    vector_facts,
)
from .errors import ERFError
from .exact import _FLOAT_MAX_LOG10, _ZERO_SUM, _exact_sum, _exact_total, _float_ratio, _log10
from .model_notes import _model_notes
from .path_sum import scale2
from .rank_one import _outer
from .result import ERFResult

_FLOAT_MIN_LOG10 = math.log10(np.finfo(float).tiny)  # a raw peak below this is all underflow


def _float_result(net, rf, terms, weights, normalize, variance, evaluated) -> ERFResult:
    """The float result of :func:`erftheory.erf` from the path groups' sum, ``evaluated``.

    ``evaluated`` is what :func:`erftheory.path_sum._evaluate` returned (vectors for one
    separable path group), ``terms`` the path groups it summed, ``rf`` the receptive field
    the map spans. Refuses a raw map beyond float64 and a sum or peak that cannot be divided
    by.
    """
    values, exponent, used, abs_error, count, support, tiny = evaluated
    vectors = values if isinstance(values, tuple) else None
    # per vector (once per distinct one: isotropic stacks share it) min, max, sum, roundings;
    # the sums in float64 (n - 1 roundings): summed again accurately where each vector is
    # divided by its own sum (below)
    facts = None if vectors is None else _each(vectors, _quick_facts)
    if vectors is not None and min(f[0] for f in facts) < 0:
        values, vectors = _outer(list(vectors)), None  # signed: the general passes below
        support = None if support is None else _outer(list(support))
        tiny, count = 0.0, None
    if vectors is not None:
        # a non-negative outer product: its min, max and sum come from the vectors (fl is
        # monotone, so the extremes are exactly the map's), and the map is formed once
        # (products taken in the outer product's order: exactly the map's entries)
        low, high, total = facts[0][:3]
        for f in facts[1:]:
            low, high, total = low * f[0], high * f[1], total * f[2]
    else:
        values = np.ascontiguousarray(values, dtype=float)  # no copy for fresh arrays
        low, high, total = min_max_sum(values)
    if low < 0:
        count = None  # relative bounds are for non-negative maps
    peak = max(high, -low)
    log10_mass = _log10_mass(total, exponent)
    given = count

    def choose(total, log10_mass):  # (:func:`_divisor` of this map, for a total)
        args = (vectors, net, weights, normalize, variance, exponent, given, total, peak)
        return _divisor(values, *args, log10_mass)

    divisor, negative, first_axis, count = choose(total, log10_mass)
    if vectors is not None and normalize == "sum" and not first_axis:
        # no exact total: each vector is divided by its own sum (:func:`_scaled_vectors`),
        # so those sums are taken accurately, and the map's divisor is their product
        sums = _each(vectors, accurate_sum)
        facts = [(f[0], f[1], *s) for f, s in zip(facts, sums)]
        total = math.prod(f[2] for f in facts)
        log10_mass = _log10_mass(total, exponent)
        divisor, negative, first_axis, count = choose(total, log10_mass)
    raw = normalize is None
    if count is None and not raw:  # an absolute bound only: the divisor's error enters it
        divisor, negative, abs_error = _absolute_bound(
            values, vectors, terms, weights, normalize, exponent, peak, divisor, negative, abs_error
        )

    mass_sign = _mass_sign(terms, weights, normalize, exponent, low, total, negative)

    def rescale(x: float) -> float:  # a scalar in the units of the result
        return float(scale2(x, exponent)) if raw else x / divisor

    if vectors is not None:
        values, floor, underflow, count = _scaled_vectors(
            vectors, facts, support, exponent, divisor, normalize, raw, first_axis, count, tiny
        )
    else:
        floor = max(_TINY, tiny * rescale(abs(total))) if count is not None else _TINY
        if raw:
            values = scale2(values, exponent)
        underflow = divide_and_count_below(values, divisor, support, floor, low >= 0)
        if negative:  # divided by the sum's magnitude; its sign (exactly) makes the sum 1
            np.negative(values, out=values)
    # entries above the floor: their underflow error is at most u (and u for the floor's)
    rel_error = None if count is None else gamma(count + 2)
    abs_error = rescale(abs_error) if raw or count is not None else abs_error
    if rel_error is not None:  # normalising moved every entry by up to its relative bound
        top = rescale(peak) * (1 + 4 * _U)  # the largest entry, rounding included
        abs_error = max(abs_error, rel_error * top + floor)
    return ERFResult(
        values=values,
        receptive_field=rf,
        weights=weights,
        normalize=normalize,
        method=used,
        log10_mass=log10_mass,
        abs_error=abs_error,
        rel_error=rel_error,
        underflow=int(underflow),
        underflow_floor=float(floor),
        network=net,
        notes=_model_notes(net) if weights == "random" else (),
        variance=variance,
        mass_sign=mass_sign,
    )


def _log10_mass(total: float, exponent: float) -> float:
    """log10 of the raw map's total, ``|total| 2^exponent`` (-inf for a zero total)."""
    return math.log10(abs(total)) + exponent * math.log10(2) if total else -math.inf


def _mass_sign(terms, weights, normalize, exponent, low, total, negative) -> int:
    """The sign of the raw map's total: exact where the total is known exactly.

    Normalised to sum, it is the divisor's (``negative``); a map without negative entries
    sums to a positive total; a signed one takes its exact sum where the kernels give it
    (:func:`erftheory.exact._exact_sum`), else its float sum.
    """
    if normalize == "sum":
        return -1 if negative else 1
    if low >= 0:
        return 1
    known = _exact_sum(terms, weights, exponent)
    return -1 if (known if known is not None else total) < 0 else 1


def _divisor(
    values, vectors, net, weights, normalize, variance, exponent, count, total, peak, log10_mass
):
    """What the map is divided by: ``(divisor, negative, first_axis, count)``.

    Raw (``normalize=None``): 1, refused where the map or its sum leaves float64. To sum:
    the sum's magnitude (the exact total, correctly rounded, where the bound is relative
    and it is known), ``negative`` its sign, ``first_axis`` where the vectors of a separable
    map are divided by the exact total on the first axis alone. To peak: the peak.
    ``count``, the roundings of a relative bound (or None), takes the division's.
    """
    negative = False  # normalised to sum: whether the sum is negative (signs then flip)
    first_axis = False  # vectors normalised by the exact total: on the first axis alone
    if peak == 0:  # the paths cancel exactly (e.g. x + (-x)): nothing to scale
        if normalize is not None:
            raise ERFError(f"the ERF is identically zero; it cannot be normalised to {normalize}")
        divisor = 1.0  # raw: the bounds keep their scale (2^exponent, below)
    elif normalize is None:
        log10_peak = math.log10(peak) + exponent * math.log10(2)
        # the map's sums (mass, moments) must stay finite too, hence the mass
        # (a signed map may peak beyond float64 while its sum cancels back inside it)
        if max(log10_mass, log10_peak) > _FLOAT_MAX_LOG10 or log10_peak < _FLOAT_MIN_LOG10:
            where = (
                f"peaks at 10^{log10_peak:.1f}"
                if log10_peak < 0 or log10_peak > _FLOAT_MAX_LOG10
                else (f"sums to 10^{log10_mass:.1f}")
            )
            raise ERFError(
                f"the raw ERF {where}, outside float64 (10^-308 to 10^308); use "
                "normalize='sum' or 'peak' (--normalize), or exact=True (--exact) for the "
                "exact counts (values then at peak 1)"
            )
        # raw: times 2^exponent by scale2 (exact: every method's exponent is an integer; a
        # float 2^exponent itself may be out of range where the values times it are not)
        divisor = 1.0
    elif normalize == "sum":
        divisor, negative = abs(total), total < 0  # to sum 1: a negative sum flips signs
        known = None
        if count is not None:  # non-negative, relative bounds: the exact sum where known
            known = _exact_total(net, weights) if variance is None else None
        if known:  # correctly rounded: the values' errors and 2 roundings (vectors: below)
            divisor, count, first_axis = _float_ratio(known, exponent), count + 2, True
        elif count is not None and vectors is None:  # (vectors are summed one by one below)
            divisor, extra = accurate_sum(values)  # the values' errors, over their sum's
            count = 2 * count + extra + 1
    else:
        divisor = peak
        count = None if count is None else 2 * count + 1  # the peak is one of the values
    return divisor, negative, first_axis, count


def _absolute_bound(
    values, vectors, terms, weights, normalize, exponent, peak, divisor, negative, abs_error
):
    """The divisor of a map with an absolute bound only, and that bound after the division.

    Returns ``(divisor, negative, abs_error)``: a sum is taken exactly where it is known
    (:func:`erftheory.exact._exact_sum`), so only its rounding enters the bound however
    much the map's signed entries cancel; a sum of exactly zero, or one so far below the
    peak that the quotients leave float64, is refused.
    """
    known = None
    if normalize == "sum" and vectors is None:
        known = _exact_sum(terms, weights, exponent)
    if known == 0:
        raise ERFError(_ZERO_SUM)
    if normalize == "sum" and (known or divisor):  # (a float sum of 0 is refused below)
        reach = math.log10(peak) - (_log10(abs(known)) if known else math.log10(divisor))
        if reach > _FLOAT_MAX_LOG10:
            raise ERFError(
                f"normalised to sum, the ERF's entries would reach 10^{reach:.1f} (its "
                "signed entries cancel to a sum that much below its peak), beyond float64; "
                "normalize='peak' (--normalize peak), or exact=True (--exact) for the "
                "exact values"
            )
    if known is not None:  # correctly rounded: only u off, however much the terms cancel
        divisor = abs(float(known))
        negative = known < 0
    off = None if known is None else _U * divisor
    abs_error = _normalised_error(values, normalize, divisor, peak, abs_error, off)
    return divisor, negative, abs_error


def _scaled_vectors(
    vectors, facts, support, exponent, divisor, normalize, raw, first_axis, count, tiny
):
    """A separable map's vectors scaled and joined: ``(values, floor, underflow, count)``.

    ``facts`` are the vectors' (:func:`erftheory.bounds.vector_facts`); ``floor`` is the
    underflow floor the relative bound holds above and ``underflow`` the count of the
    support's entries below it; ``count`` takes the roundings of the vectors' sums.
    """
    # each vector to peak 1 (or sum 1): then the map's peak is exactly 1 (its sum 1 to
    # rounding), or the first over the map's exact total (the others at their peak near
    # 1: no product is below the map's entry, so none underflows before it); raw maps
    # share 2^exponent among the vectors (exact for an integer one).
    # The scaled vectors' least entries and sums follow from the vectors' (rounding is
    # monotone: the least quotient is the quotient of the least entry, exactly)
    if raw:
        d = len(vectors)
        shares = [exponent // d + (a < exponent % d) for a in range(d)]
        scaled = [np.ldexp(v, k) for v, k in zip(vectors, shares)]
        lows = [math.ldexp(f[0], k) for f, k in zip(facts, shares)]
        sums = [math.ldexp(f[2], k) for f, k in zip(facts, shares)]
    elif first_axis:  # the map over its exact total: that division on one axis alone
        scaled = [vectors[0] / divisor, *vectors[1:]]
        lows = [facts[0][0] / divisor, *(f[0] for f in facts[1:])]
        sums = [facts[0][2] / divisor, *(f[2] for f in facts[1:])]
    else:  # each vector over its own sum (taken accurately, by the caller) or peak
        divisors = {id(v): f[1 if normalize == "peak" else 2] for v, f in zip(vectors, facts)}
        scaled = _each(vectors, lambda v: v / divisors[id(v)])
        lows = [f[0] / divisors[id(v)] for v, f in zip(vectors, facts)]
        sums = [f[2] / divisors[id(v)] for v, f in zip(vectors, facts)]
        if normalize == "sum" and count is not None:  # per vector, as for a map
            count = 2 * count + sum(f[3] + 1 for f in facts)
    values = _outer(scaled)
    # the relative bound holds above the floor (tiny times the map's L1 norm, its
    # rounding covered by the bound's +2 below; raised by the sums' own errors, so that it
    # is not below the exact one): count the support's entries below it
    floor = max(_TINY, tiny * math.prod(sums) * (1 + gamma(sum(f[3] for f in facts))))
    if support is not None:
        scaled = [v[a] for v, a in zip(scaled, support)]
        lows = [f[0] for f in _each(scaled, _quick_facts)]
    below = math.prod(lows) < floor  # the map's least entry, exactly
    underflow = count_below_outer(scaled, floor) if below else 0
    return values, floor, underflow, count


def _normalised_error(
    values,
    normalize,
    divisor: float,
    peak: float,
    error: float,
    off: float | None = None,
    exact_hint: bool = True,
) -> float:
    """Absolute bound of a map divided by its sum or peak, both computed, both off.

    For maps with an absolute bound only (signed, or from the FFT). With every entry within
    ``A`` (``error``) and the divisor ``D`` within ``E`` (the sum: ``N A`` plus its own
    rounding, ``gamma(N) sum |v|``; the peak: ``A``), ``|v'/D' - v/D| <= (A + peak E / D) /
    (D - E)``, plus the division's rounding. A divisor that is zero to within ``E`` (signed
    paths that cancel) cannot be divided by: refused. ``values`` is the map, or the
    non-negative vectors of an outer product. ``off``, where given, is ``E`` (an exact
    sum's rounding). ``exact_hint``: the refusal may point to ``exact=True`` (not for the
    networks exact mode refuses, those with fractional strides).
    """
    if off is None and normalize == "sum":
        if isinstance(values, tuple):
            size = math.prod(v.size for v in values)
            l1 = math.prod(float(np.abs(v).sum()) for v in values)
        else:
            size, l1 = values.size, float(np.abs(values).sum())
        off = size * error + gamma(size) * l1
    elif off is None:
        off = error
    if off >= divisor:
        raise ERFError(
            f"the ERF's {normalize} is zero to within its error bound (its signed paths "
            f"cancel), so it cannot be normalised to {normalize}"
            + ("; normalize='peak' (--normalize peak) divides by the peak" * (normalize == "sum"))
            + (
                "; exact=True (--exact) computes it exactly"
                if exact_hint
                else "; the raw map (normalize=None) shows it, cancellation and all"
            )
        )
    return (error + peak * off / divisor) / (divisor - off) + _U * (peak + error) / (divisor - off)


def _quick_facts(v: np.ndarray) -> tuple[float, float, float, int]:
    """:func:`erftheory.bounds.vector_facts` with numpy's float64 sum (n - 1 roundings)."""
    return vector_facts(v, accurate=False)


def _each(vectors, function) -> list:
    """``function`` of every vector, once per distinct one (isotropic stacks share one)."""
    done = {}
    for v in vectors:
        if id(v) not in done:
            done[id(v)] = function(v)
    return [done[id(v)] for v in vectors]
