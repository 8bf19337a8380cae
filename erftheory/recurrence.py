"""Powers of a positive three-tap kernel in O(n), by a recurrence with no cancellation.

The coefficients ``p_k`` of ``P = (a + b x + c x^2)^n`` satisfy ``P' W = n W' P``, which reads,
at ``x^(k-1)``::

    a k p_k = b (n - k + 1) p_(k-1) + c (2 n - k + 2) p_(k-2)

For ``k <= n + 1`` both coefficients on the right are non-negative, so with ``a, c > 0`` and
``b >= 0`` every ``p_k`` of the first half is a sum of two non-negative terms: no cancellation,
and a relative error that grows by a few roundings per step, ``gamma(rho + r k)`` at entry
``k`` (``rho``: the rounding of ``a^n``; ``r``: the roundings of one step, see
:func:`power_three_tap`). The second half is the first half of the reversed kernel. A run of
``n`` layers then costs ``O(n)`` (one banded triangular solve per half, BLAS ``dtbsv``) instead
of ``O(n^2)`` for applying the layers one by one, and keeps a relative bound on every entry,
tails included, which an FFT cannot.

The values span far more than float64's range (``p_0 / p_n`` is about ``3^-n`` for all-ones),
so the unknowns are ``q_k = p_k / 2^(e_k)`` with ``e_k`` the integer log2 of a saddle-point
estimate of ``p_k``: scaling a row by a power of two is exact, and the ``q_k`` stay near 1.
"""

from __future__ import annotations

import math

import numpy as np

from .bounds import significant_bits

__all__ = ["power_three_tap"]

# unknowns stay well inside float64 (the estimate is within a few bits; this is the guard),
# and so do the scaled coefficients: their products with the unknowns are normal numbers
_Q_RANGE = 2.0**400
_COEFFICIENT_LOG2 = 500


def power_three_tap(kernel: np.ndarray, n: int):
    """``(values, exponent, roundings)`` with ``(a + b x + c x^2)^n = values * 2**exponent``.

    Parameters
    ----------
    kernel : ndarray
        ``[a, b, c]`` with ``a, c > 0`` and ``b >= 0``, finite.
    n : int
        The power, at least 1.

    Returns
    -------
    tuple or None
        ``values`` peaks in [1/2, 1) and every entry at or above float64's normal range is
        within ``gamma(roundings)`` relative of the exact coefficient; below it, within
        ``u * tiny`` absolute (one underflowing scaling at a peak >= 1/2). None where the
        recurrence does not apply (a kernel outside the conditions, or so lopsided that its
        scaled coefficients would leave float64), for the caller to compose another way.

    Examples
    --------
    >>> values, e, _ = power_three_tap(np.array([1.0, 1.0, 1.0]), 2)
    >>> (values * 2.0**e).tolist()
    [1.0, 2.0, 3.0, 2.0, 1.0]
    """
    a, b, c = (float(w) for w in kernel)
    if not (n >= 1 and 0 < a < math.inf and 0 < c < math.inf and 0 <= b < math.inf):
        return None
    forward = _half(a, b, c, n, n + 1)
    backward = forward if a == c else _half(c, b, a, n, n + 1)  # symmetric: a mirror
    if forward is None or backward is None:
        return None
    (q1, e1, r1), (q2, e2, r2) = forward, backward
    q = np.concatenate([q1, q2[-2::-1]])
    e = np.concatenate([e1, e2[-2::-1]])
    top = e + np.frexp(q)[1]
    top = int(top.max() if b else top[::2].max())  # (odd entries are 0 when b = 0)
    e -= np.intc(top)
    return np.ldexp(q, e), top, max(r1, r2)


def _half(a: float, b: float, c: float, n: int, m: int):
    """``(q, e, roundings)`` for ``p_0 .. p_(m-1)`` (``m <= n + 1``), ``p_k = q_k 2^(e_k)``."""
    from scipy.linalg.blas import dtbsv  # scipy.linalg costs ~0.3 s to import: only here

    q0, e0, rho = _power(a, n)
    k = np.arange(m, dtype=float)
    estimate = _log2_estimate(a, b, c, n, k)
    low, high = float(estimate.min()), float(estimate.max())  # (NaN if any entry is)
    if not -(2.0**30) <= low <= high <= 2.0**30:
        return None  # beyond any exponent the scaled unknowns could use
    e = np.rint(estimate - estimate[0]).astype(np.intc) + np.intc(e0)
    e[0] = e0
    # every coefficient (and so every product with an unknown) a normal number: no scaling
    # or product underflows or overflows, so the roundings counted are all. Checked on the
    # coefficients' ranges: near = b (n-k+1) 2^-d_k for k in [1, m), far = c (2n-k+2)
    # 2^-(d_k + d_(k-1)) for k in [2, m), with d_k = e_k - e_(k-1); the diagonal a k.
    step = e[1:] - e[:-1]
    if m > 1:  # (in log2: the bounds themselves may be beyond float64)
        d_low, d_high = int(step.min()), int(step.max())
        ranges = [(math.log2(a), math.log2(a * (m - 1)))]
        if b:
            ranges.append((math.log2(b * (n + 2 - m)) - d_high, math.log2(b * n) - d_low))
        if m > 2:
            far = (math.log2(c * (2 * n + 3 - m)) - 2 * d_high, math.log2(c * 2 * n) - 2 * d_low)
            ranges.append(far)
        if not all(-_COEFFICIENT_LOG2 < lo and hi < _COEFFICIENT_LOG2 for lo, hi in ranges):
            return None
    # row k: a k q_k 2^e_k - b (n-k+1) 2^e_(k-1) q_(k-1) - c (2n-k+2) 2^e_(k-2) q_(k-2) = 0,
    # scaled by 2^-e_k (exact); dtbsv's lower band storage: band[d, j] = A[j + d, j]
    band = np.zeros((3, m), order="F")
    np.multiply(a, k, out=band[0])
    band[0, 0] = 1.0
    np.ldexp(-b * (n + 1 - k[1:]), -step, out=band[1, :-1])
    np.ldexp(-c * (2 * n + 2 - k[2:]), -(step[1:] + step[:-1]), out=band[2, :-2])
    rhs = np.zeros(m)
    rhs[0] = q0
    q = dtbsv(2, band, rhs, lower=1)
    # the q_k are the p_k over their estimates: near 1, and exactly 0 for odd k when b = 0
    nonzero = q if b else q[::2]
    if not (1 / _Q_RANGE < nonzero.min() and q.max() < _Q_RANGE):
        return None
    # per step: two products and their sum, a division (perhaps as a reciprocal and a
    # product), and the coefficients' own roundings where they are not exact
    width = (2 * n + 2).bit_length()
    exact = significant_bits((b, c)) + width <= 53
    exact_diag = significant_bits((a,)) + width <= 53
    step = 4 + (not exact) + (not exact_diag)
    return q, e, rho + step * (m - 1)


def _power(a: float, n: int) -> tuple[float, int, int]:
    """``(m, e, rho)``: ``a^n = m 2^e`` within ``gamma(rho)``, ``m`` in [1/2, 1).

    Binary powering in Python integers cut to their top 128 bits: each cut is below 2^-127
    relative, and at most ``n - 1`` of them compound (the error of a product tree), far below
    float64's ``u`` for any feasible ``n``; the final cut to 53 bits is below ``2 u``. So
    ``rho`` is 3 (0 when nothing was cut: ``a^n`` is exact in float64).
    """
    num, den = a.as_integer_ratio()  # den is a power of two
    if num == 1:  # a power of two (as a normalised kernel's taps often are): exact
        return 0.5, 1 - n * (den.bit_length() - 1), 0
    cut = False

    def trimmed(m: int, e: int) -> tuple[int, int]:
        nonlocal cut
        extra = m.bit_length() - 128
        if extra <= 0:
            return m, e
        cut = cut or bool(m & ((1 << extra) - 1))
        return m >> extra, e + extra

    result, result_e, base, base_e, power = 1, 0, num, 0, n
    while power:
        if power & 1:
            result, result_e = trimmed(result * base, result_e + base_e)
        power >>= 1
        if power:
            base, base_e = trimmed(base * base, 2 * base_e)
    shift = max(result.bit_length() - 53, 0)
    cut = cut or bool(result & ((1 << shift) - 1))
    m, e = math.frexp(float(result >> shift))
    return m, e + shift + result_e - n * (den.bit_length() - 1), 3 if cut else 0


def _log2_estimate(a: float, b: float, c: float, n: int, k: np.ndarray) -> np.ndarray:
    """Saddle-point estimate of ``log2 p_k``: ``n log2 W(t) - k log2 t``, ``t W'/W = k/n``.

    In the variable ``t = sqrt(a / c) u`` the saddle equation reads
    ``(2n - k) u^2 + (n - k) beta u - k = 0`` with ``beta = b / sqrt(a c)``, whose positive
    root is taken without cancellation (and ``hypot`` for its square root where ``(n beta)^2``
    would overflow), so lopsided
    kernels neither underflow nor overflow here. Non-finite entries: no usable estimate.
    """
    beta = b / math.sqrt(a) / math.sqrt(c)
    log2_a = math.log2(a)
    # (in place, a few passes fewer: this runs on every call, over the whole half)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        s = (n - k) * beta
        root = (2 * n - k) * k
        root *= 4
        if beta * n < 2.0**500:  # s^2 stays finite
            root += s * s
            np.sqrt(root, out=root)
        else:
            np.hypot(s, np.sqrt(root, out=root), out=root)
        root += s
        u = np.divide(2 * k, root, out=root)
        estimate = beta * u
        estimate += 1
        estimate += u * u
        np.log2(estimate, out=estimate)
        estimate *= n
        estimate += n * log2_a
        log2_u = np.log2(u, out=u)
        log2_u += 0.5 * (log2_a - math.log2(c))
        log2_u *= k
        estimate -= log2_u
    estimate[0] = n * math.log2(a)
    return estimate
