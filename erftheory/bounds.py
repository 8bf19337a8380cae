"""Error accounting: the bounds every float ERF carries, and the passes that keep them.

Every direct composition counts its roundings ``R`` and reports Higham's
``gamma(R) = R u / (1 - R u)`` (``u = 2^-53``) as the relative error of every entry above an
underflow floor; see :mod:`erftheory.compose` for the counting. This module holds the pieces
that the composition and :func:`erftheory.erf` share:

- :func:`gamma`, the bound itself;
- :func:`split_coefficient`, an exact path coefficient as a float times a power of two, with
  its rounding;
- :func:`accurate_sum`, a sum of non-negative values with the roundings that bound it;
- :func:`underflow_fraction` and :func:`map_fraction`, the floor above which relative bounds
  hold, for a direct composition and for an outer product of axes;
- whole-map passes (:func:`min_max_sum`, :func:`divide_and_count_below`, and for outer products
  :func:`count_below_outer`) that read a map once, chunk by chunk,
  and count the entries below the floor instead of zeroing them silently.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np

from .errors import ERFError

__all__ = [
    "U",
    "TINY",
    "gamma",
    "split_coefficient",
    "accurate_sum",
    "vector_facts",
    "significant_bits",
    "underflow_fraction",
    "map_fraction",
    "min_max_sum",
    "divide_and_count_below",
    "count_below_outer",
]

U = 2.0**-53  # unit roundoff of float64
TINY = float(np.finfo(float).tiny)  # smallest normal float64
_LONG_EPS = float(np.finfo(np.longdouble).eps)  # 2^-63 on x86 (80-bit), else float64's
# Up to this many entries a Python list's min, max and fsum beat numpy's per-call cost (four
# reductions of a 3-entry array: ~5 us; its list: ~0.4 us; even at 64 entries, 3.7 us)
_SMALL = 64


def _list_facts(x: list[float]) -> tuple[float, float, float] | None:
    """``(min, max, fsum)`` of a short list, or None where numpy's reductions must answer.

    ``math.fsum`` raises on overflow and on inf - inf, and ``min``/``max`` order nan
    arbitrarily; a finite sum means every entry is finite, else numpy's propagation of
    inf and nan (and its error for an empty array) is kept.
    """
    try:
        total = math.fsum(x)
    except (OverflowError, ValueError):
        return None
    if not x or not math.isfinite(total):
        return None
    return min(x), max(x), total


def gamma(roundings: float) -> float:
    """``n u / (1 - n u)``: bounds ``|prod (1 + d_i) - 1|`` over ``n`` factors, ``|d_i| <= u``.

    Higham's gamma_n (Accuracy and Stability of Numerical Algorithms, 2nd ed., Lemma 3.1),
    with ``u = 2^-53`` the unit roundoff of float64.

    Examples
    --------
    >>> gamma(0)
    0.0
    >>> gamma(1000) > 1000 * 2.0**-53
    True
    """
    nu = roundings * U
    if nu >= 1:  # reached by a user's network (joined branches that cancel): said so
        raise ERFError(
            f"the float error bound of this ERF is lost: {roundings:.3g} roundings leave no "
            "relative bound (n u >= 1), its rounding errors may be as large as its values "
            "(deep signed branches that cancel, then joined); use exact=True (--exact)"
        )
    return nu / (1 - nu)


def split_coefficient(coef) -> tuple[float, int, int]:
    """An exact coefficient as ``(m, e, r)`` with ``coef ~ m 2^e``.

    ``|m|`` is in [1/2, 1) (or 1 for a power of two, which needs no product) and ``r``
    counts its roundings (0 when ``m 2^e`` is ``coef`` exactly, else 1: correctly rounded).
    Path coefficients (``0.5^n`` for n ReLUs, ``(1 - p)^-n`` for dropout) run far outside
    float64 in deep nets; their power of two joins the exponent instead.

    Examples
    --------
    >>> split_coefficient(3)  # 3 = 0.75 * 2^2, exactly
    (0.75, 2, 0)
    >>> split_coefficient(Fraction(1, 3))[1:]  # 1/3 ~ 0.666... * 2^-1, rounded once
    (-1, 1)
    """
    c = coef if isinstance(coef, Fraction) else Fraction(coef)
    return _split_ratio(c.numerator, c.denominator)


# a network's path coefficients, on every call: memoised by their integers (a Fraction's
# own hash takes a modular inverse, microseconds)
@functools.lru_cache(maxsize=1024)
def _split_ratio(num: int, den: int) -> tuple[float, int, int]:
    """:func:`split_coefficient` of ``num / den`` (``den > 0``), in integers."""
    sign = -1.0 if num < 0 else 1.0
    num = abs(num)  # in integers: Fraction arithmetic is slow
    if num == 0:
        return 0.0, 0, 0
    e = num.bit_length() - den.bit_length()  # num / den / 2^e in (1/2, 2)
    if e >= 0:
        den <<= e
    else:
        num <<= -e
    if num >= den:  # to [1/2, 1)
        den, e = den << 1, e + 1
    elif 2 * num < den:
        num, e = num << 1, e - 1
    if 2 * num == den:  # a power of two
        return sign, e - 1, 0
    rounded = num / den  # int / int: correctly rounded
    p, q = rounded.as_integer_ratio()
    return sign * rounded, e, int(p * den != q * num)


def accurate_sum(values: np.ndarray) -> tuple[float, int]:
    """The sum of non-negative ``values`` and the roundings that bound its relative error.

    Summed in extended precision where numpy has it (x86 ``longdouble``, 64-bit mantissa):
    whatever the order, at most ``(n - 1) 2^-64`` relative, then one rounding to float64 (up
    to 2^21 values: at most 1,025 roundings in all, ~1 ms); else, and for a few values,
    ``math.fsum`` (correctly rounded, but ~60 ns a value).

    Examples
    --------
    >>> total, roundings = accurate_sum(np.full(10, 0.1))
    >>> abs(total - 1.0) <= gamma(roundings) * 1.0
    True
    """
    flat = values.reshape(-1)
    if flat.size <= _SMALL and (facts := _list_facts(flat.tolist())) is not None:
        return facts[2], 1  # correctly rounded, and cheaper than numpy's call
    if _LONG_EPS <= 2.0**-63 and flat.size <= 1 << 21:
        extra = math.ceil((flat.size - 1) * (_LONG_EPS / 2) / U)
        return float(np.sum(flat, dtype=np.longdouble)), 1 + extra
    try:
        return math.fsum(flat), 1
    except (OverflowError, ValueError):  # inf or nan entries, or a sum past float64's range
        return float(np.sum(flat)), 1


def vector_facts(v: np.ndarray, accurate: bool = True) -> tuple[float, float, float, int]:
    """``(min, max, sum, roundings)`` of a float vector, the sum as :func:`accurate_sum`'s.

    ``roundings`` bounds the sum's relative error for non-negative entries. Short vectors
    (the per-axis vectors of small ERFs) are read as a Python list, once for all four. With
    ``accurate=False`` a longer vector's sum is numpy's float64 sum, one pass and half the
    cost: ``n - 1`` roundings, as any order of summing ``n`` non-negative values.

    Examples
    --------
    >>> vector_facts(np.array([0.25, 1.0, 0.5]))
    (0.25, 1.0, 1.75, 1)
    """
    if v.size <= _SMALL and (facts := _list_facts(v.tolist())) is not None:
        return (*facts, 1)
    if not accurate:  # (the ufuncs' reductions called directly: ndarray.min's wrapper costs)
        low, high = float(np.minimum.reduce(v)), float(np.maximum.reduce(v))
        return low, high, float(np.add.reduce(v)), max(v.size - 1, 0)
    return (float(v.min()), float(v.max()), *accurate_sum(v))


def significant_bits(v) -> int:
    """The most significant bits (first to last set bit) of any entry's mantissa.

    ``v``: a float array, or a sequence of Python floats.
    """
    most = 0
    for x in v.tolist() if isinstance(v, np.ndarray) else v:
        n = abs(x.as_integer_ratio()[0])  # an odd numerator, or an integer
        if n:
            most = max(most, (n >> ((n & -n).bit_length() - 1)).bit_length())
    return most


def underflow_fraction(events: int, floor: float) -> float:
    """``tiny_fraction`` of a direct composition: ``events * tiny / floor``.

    Gradual underflow makes sums exact and gives each product (or rescaling) an absolute
    error below ``u * tiny``; carried to the end by non-negative kernels, one made at a step
    whose array peaks above ``floor`` grows to at most ``u * tiny * L1 / floor`` at any
    entry (``L1``: the final sum; the kernels are shift-invariant, and the whole array, which
    holds the peak, reaches ``L1``).
    """
    return events * TINY / floor


def map_fraction(fractions: list[float], l1s: list[float]) -> float:
    """Underflow fraction of an outer product from its axes'.

    An axis's absolute underflow error (at most ``u`` times its fraction times its L1), times
    the other axes' values (each at most their L1), is at most ``u`` times its fraction times
    the map's L1 norm; the products add one event each, ``u tiny`` absolute, a fraction
    ``tiny / L1`` of the map's L1. (The fraction is the one of
    :class:`erftheory.compose.Composition`.) ``l1s`` are the axes' L1 norms, or lower bounds
    on them (such as their peaks): a smaller L1 only makes the fraction larger.

    Examples
    --------
    >>> map_fraction([0.0, 0.0], [0.5, 0.5]) == 4 * TINY
    True
    """
    if len(l1s) == 1:  # no products: nothing to add
        return sum(fractions)
    return sum(fractions) + (len(l1s) - 1) * TINY / max(math.prod(l1s), TINY)


# Whole-map passes go chunk by chunk (2^18 entries, cache-sized): at 4001 x 4001 a map-sized
# temporary or a separate pass per reduction costs more than the composition itself.
_CHUNK = 1 << 18


def min_max_sum(values: np.ndarray) -> tuple[float, float, float]:
    """``(min, max, sum)`` of a float map in one cache-friendly pass."""
    flat = values.reshape(-1)
    if flat.size <= _SMALL and (facts := _list_facts(flat.tolist())) is not None:
        return facts
    if flat.size <= _CHUNK:  # one chunk
        return float(flat.min()), float(flat.max()), float(flat.sum())
    low, high, total = math.inf, -math.inf, 0.0
    for i in range(0, flat.size, _CHUNK):
        part = flat[i : i + _CHUNK]
        low, high = float(np.minimum(low, part.min())), float(np.maximum(high, part.max()))
        total += float(part.sum())
    return low, high, total


def divide_and_count_below(
    values: np.ndarray, divisor: float, support, floor: float, nonneg: bool = False
) -> int:
    """Divide ``values`` in place; count the entries (inside ``support``) then below ``floor``.

    ``nonneg``: the caller knows no entry is negative (their magnitudes need no pass).
    """
    flat = values.reshape(-1)
    mask = None if support is None else support.reshape(-1)
    if flat.size <= _SMALL:  # a list: cheaper than numpy's calls
        if divisor != 1:
            flat /= divisor
        x = flat.tolist()
        if mask is None:
            return sum(abs(a) < floor for a in x)
        return sum(abs(a) < floor and m for a, m in zip(x, mask.tolist()))
    count = 0
    for i in range(0, flat.size, _CHUNK):
        part = flat[i : i + _CHUNK]
        if divisor != 1:
            part /= divisor
        small = (part if nonneg else np.abs(part)) < floor
        if mask is not None:
            small &= mask[i : i + _CHUNK]
        count += int(np.count_nonzero(small))
    return count


def count_below_outer(vectors, floor: float) -> int:
    """Entries of the outer product of non-negative vectors below ``floor`` (>= tiny).

    Without forming or reading it: the leading axes' products (as numpy forms them) against
    the sorted last vector. fl(h b) is monotone in b, so each count is a bisection on the
    products themselves (exact, ties and rounding included).
    """
    if len(vectors) == 1:
        return int(np.count_nonzero(vectors[0] < floor))
    head = vectors[0]
    for v in vectors[1:-1]:
        head = np.multiply.outer(head, v).ravel()
    last = np.sort(vectors[-1])
    low, high = np.zeros(head.size, dtype=np.int64), np.full(head.size, last.size)
    while np.any(low < high):  # first index with fl(h * b) >= floor, for every h at once
        mid = (low + high) // 2
        below = head * last[np.minimum(mid, last.size - 1)] < floor
        active = low < high
        low = np.where(active & below, mid + 1, low)
        high = np.where(active & ~below, mid, high)
    return int(low.sum())
