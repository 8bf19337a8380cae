"""Exact arithmetic for an ERF: its cost refused before it starts, exact sums, exact results.

``exact=True`` composes in Python integers and fractions (:func:`_exact_result` turns the
exact map into a result, its floats correctly rounded); :func:`_refuse_slow_exact` refuses
work that would take more than about ten seconds. In float mode the map's sum is still known
exactly where it is a product of its kernels' sums (:func:`_exact_sum`), so normalising to
sum is exact however much the map's signed entries cancel.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np

from .errors import ERFError
from .path_sum import _factors, _terms
from .result import ERFResult

_FLOAT_MAX_LOG10 = math.log10(np.finfo(float).max)
_EXACT_MAX_OPS = 5e6
_EXACT_MAX_WORK = 1e8  # operations times the 64-bit words of their numbers: ~10 s
_ZERO_SUM = (
    "the ERF's signed entries cancel: its sum is exactly zero (the product of its kernels' "
    "sums, as typed), so it cannot be normalised to sum; normalize='peak' (--normalize peak) "
    "divides by the peak"
)
_EXACT_SUM_BITS = 2_000_000  # an exact sum of kernel sums' powers: milliseconds


def _exact_bits(kernel: np.ndarray) -> tuple[int, int]:
    """Bits one application of an exact kernel adds to a path sum's numerator and denominator.

    Those of its L1 norm over a common denominator, and of that denominator.
    """
    weights = [Fraction(w) for w in kernel.flat if w != 0]
    den = math.lcm(*(w.denominator for w in weights)) if weights else 1
    l1 = sum(abs(w.numerator) * (den // w.denominator) for w in weights)
    return max(l1, 1).bit_length(), den.bit_length() - 1


def _refuse_slow_exact(terms, size: int) -> None:
    """Refuse exact arithmetic that would take more than about ten seconds, before it starts.

    The count of operations on Python numbers (entries times taps; random mode's squared
    fixed part is one kernel of its own size), weighted by the size of those numbers.
    """
    ops = size * sum(f.power * np.count_nonzero(f.kernel) for t in terms for f in _factors(t))
    for t in terms:  # random mode: each squared fixed part is one kernel of its own size
        for block in [t.fixed, *t.closed] if t.random or t.closed else []:
            spans = [sum(s) for s in zip(*(f.span for f in block))]
            ops += size * math.prod(n + 1 for n in spans)
    # an operation costs with the size of its numbers: weights typed with many digits
    # (1e-300 is 1/10^300) make every path sum thousands of bits long. A common
    # denominator reduces cheaply against small numerators, so its words count an
    # eighth (measured: 50-200 ns per unit of work, int and Fraction alike)
    num = den = 0
    for t in terms:  # random mode squares the fixed part: its bits count twice
        fixed = t.fixed + sum(t.closed, ())
        times = [1] * len(t.random) + [2 if t.random or t.closed else 1] * len(fixed)
        sizes = [(m * f.power, _exact_bits(f.kernel)) for m, f in zip(times, t.random + fixed)]
        num = max(num, sum(m * b[0] for m, b in sizes))
        den = max(den, sum(m * b[1] for m, b in sizes))
    work = ops * (1 + num / 64 + den / 512)
    if ops > _EXACT_MAX_OPS or work > _EXACT_MAX_WORK:
        sizes = f"integers of up to {num:,} bits" + (
            f" over {den:,}-bit denominators" if den else ""
        )
        over = (
            f"about {ops:.2g} operations, over the limit of {_EXACT_MAX_OPS:.0g}"
            if ops > _EXACT_MAX_OPS
            else f"about {ops:.2g} operations on {sizes}: {work:.2g} operations times their "
            f"64-bit words, over the limit of {_EXACT_MAX_WORK:.0g}"
        )
        raise ERFError(
            f"exact arithmetic would take {over} (about ten seconds); drop exact=True "
            "(--exact) for float64 results with a stated error bound"
        )


@functools.lru_cache(maxsize=64)
def _exact_total(net, weights: str) -> Fraction | None:
    """:func:`_exact_sum` of the network's map in units of 1, memoised (a network's fact)."""
    return _exact_sum(_terms(net, weights, False), weights, 0)


def _float_ratio(x: Fraction, exponent: int) -> float:
    """``x / 2**exponent`` correctly rounded (Python's int division is), for a result in range."""
    num, den = x.numerator, x.denominator
    if exponent >= 0:
        return num / (den << exponent)
    return (num << -exponent) / den


def _exact_sum(terms, weights: str, exponent: int) -> Fraction | None:
    """The map's sum in units of ``2**exponent``, exactly, or None where it is not known.

    A convolution's sum is the product of its factors' sums (:attr:`Factor.total`, the
    kernels as given; a join's is its branches' added), so it is exact however much the
    map's signed entries cancel. None for random weights (squares, not products, of sums), a
    kernel whose sum is not known, or products past ``_EXACT_SUM_BITS`` bits.
    """
    if weights != "ones" or exponent != int(exponent):
        return None
    total, bits = Fraction(0), 0
    for t in terms:
        product = Fraction(t.coef)
        for f in t.fixed:
            if f.total is None:
                return None
            bits += f.power * (f.total.numerator.bit_length() + f.total.denominator.bit_length())
            if bits > _EXACT_SUM_BITS:
                return None
            product *= f.total**f.power
        total += product
    return total / Fraction(2) ** int(exponent)


def _exact_result(values, rf, weights, normalize, net) -> ERFResult:
    flat = list(values.flat)
    total = sum(flat, Fraction(0))
    peak = max(abs(v) for v in flat)
    if peak == 0 and normalize is not None:
        raise ERFError(f"the ERF is identically zero; it cannot be normalised to {normalize}")
    if normalize == "sum" and total == 0:
        raise ERFError(_ZERO_SUM)
    if normalize is not None:
        divisor = total if normalize == "sum" else peak
        values = np.array([Fraction(v) / divisor for v in flat] + [None], dtype=object)[:-1]
        values = values.reshape(rf.size)
        flat = list(values.flat)
    log10_mass = _log10(abs(total)) if total else -math.inf
    exact_flat = flat
    top = max(abs(v) for v in flat)  # after normalising (a sum that cancels lifts it)
    beyond = max(log10_mass if normalize is None else -math.inf, _log10(top) if top else 0)
    if beyond > _FLOAT_MAX_LOG10:
        # raw counts (or a sum's quotients) beyond float64: exact_values keeps them, values
        # their floats at peak 1 (and the result says it is peak-normalised), never inf
        normalize, flat = "peak", [Fraction(v) / top for v in flat]
    floats = np.array([float(v) for v in flat]).reshape(rf.size)
    # rescaled counts are not the counts; otherwise compare every float with its count
    float_exact = exact_flat is flat and all(Fraction(f) == v for f, v in zip(floats.flat, flat))
    simplified = np.array(
        [int(v) if Fraction(v).denominator == 1 else Fraction(v) for v in exact_flat] + [None],
        dtype=object,
    )[:-1].reshape(rf.size)
    return ERFResult(
        values=floats,
        receptive_field=rf,
        weights=weights,
        normalize=normalize,
        method="exact",
        log10_mass=log10_mass,
        abs_error=0.0 if float_exact else float(np.max(np.abs(floats))) * np.finfo(float).eps,
        rel_error=0.0 if float_exact else np.finfo(float).eps / 2,
        exact_values=simplified,
        float_exact=float_exact,
        network=net,
        mass_sign=-1 if total < 0 else 1,
    )


def _log10(x) -> float:
    """log10 of a positive int or Fraction of any size."""
    x = Fraction(x)
    return _ilog10(x.numerator) - _ilog10(x.denominator)


def _ilog10(n: int) -> float:
    shift = max(n.bit_length() - 60, 0)
    return math.log10(n >> shift) + shift * math.log10(2)
