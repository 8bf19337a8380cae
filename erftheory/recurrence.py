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
estimate of ``p_k``: scaling a row by a power of two is exact, and the ``q_k`` stay within a
few hundred bits of 1. Blocks of 16 entries share one exponent, read from a table of the
estimate's shape that depends on the kernel alone (a numpy call costs about as much on 60
points as on 1,000: this one runs on every call); lopsided kernels fall back to one exponent
per entry. The roundings counted do not depend on the exponents chosen.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .bounds import significant_bits

__all__ = ["power_three_tap"]

# unknowns stay well inside float64 (the estimate is within a few bits; this is the guard),
# and so do the scaled coefficients: their products with the unknowns are normal numbers
_Q_RANGE = 2.0**400
_COEFFICIENT_LOG2 = 500
_BLOCK = 16  # entries sharing one exponent (at least 3: see _half)
# blocks' exponents from a per-kernel table of the estimate (:func:`_profile`) up to this depth
_PROFILE_POINTS = 1025
_PROFILE_X = np.linspace(0.0, 1.0, _PROFILE_POINTS)
_PROFILE_MAX_N = 1 << 17


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
    a, b, c = kernel.tolist()
    if not (n >= 1 and 0 < a < math.inf and 0 < c < math.inf and 0 <= b < math.inf):
        return None
    forward = _half(a, b, c, n)
    backward = forward if a == c else _half(c, b, a, n)  # symmetric: a mirror
    if forward is None or backward is None:
        return None
    (q1, e1, r1), (q2, e2, r2) = forward, backward
    # p_0 .. p_n from the forward half, p_(n+1) .. p_2n the backward one's p_(n-1) .. p_0,
    # each written once into the result (a symmetric kernel's second half is a copy)
    tops = [e + np.frexp(q)[1] for q, e in ({id(q1): (q1, e1), id(q2): (q2, e2)}.values())]
    top = max(int(t.max() if b else t[::2].max()) for t in tops)  # (odd p_k are 0 if b = 0)
    out = np.empty(2 * n + 1)
    np.ldexp(q1, e1 - np.intc(top), out=out[: n + 1])
    if backward is forward:
        out[n + 1 :] = out[n - 1 :: -1]
    else:
        np.ldexp(q2[-2::-1], e2[-2::-1] - np.intc(top), out=out[n + 1 :])
    return out, top, max(r1, r2)


def _half(a: float, b: float, c: float, n: int, block: int = _BLOCK):
    """``(q, e, roundings)`` for ``p_0 .. p_n``, ``p_k = q_k 2^(e_k)``, or None.

    One exponent per ``block`` entries (see :func:`_exponents`); where blocks leave the
    guards, one exponent per entry.
    """
    from scipy.linalg.blas import dtbsv  # scipy.linalg costs ~0.3 s to import: only here

    m = n + 1
    tabled = block > 1 and n <= _PROFILE_MAX_N
    plan = (_exponents_memo if tabled else _exponents)(a, b, c, n, block, tabled)
    if plan is None:
        return _half(a, b, c, n, 1) if block > 1 else None
    q0, e0, rho, blocks = plan
    e = np.repeat(blocks, block)[:m] if block > 1 else blocks.copy()
    e[0] = e0
    # row k: a k q_k 2^e_k - b (n-k+1) 2^e_(k-1) q_(k-1) - c (2n-k+2) 2^e_(k-2) q_(k-2) = 0,
    # scaled by 2^-e_k (exact); dtbsv's lower band storage: band[d, j] = A[j + d, j]. With
    # m = n + 1, n + 1 - k over k = 1 .. n is k reversed, and 2n + 2 - k over 2 .. n is n plus
    # k reversed (exact small integers)
    k = np.arange(m, dtype=float)
    band = np.zeros((3, m), order="F")
    np.multiply(k, a, out=band[0])
    band[0, 0] = 1.0
    near, far = band[1, :-1], band[2, :-2]
    np.multiply(k[:0:-1], -b, out=near)
    np.ldexp(near, e[:-1] - e[1:], out=near)
    np.add(k[:1:-1], n, out=far)
    far *= -c
    np.ldexp(far, e[:-2] - e[2:], out=far)
    rhs = np.zeros(m)
    rhs[0] = q0
    q = dtbsv(2, band, rhs, lower=1)
    # the q_k are the p_k over their estimates: near 1, and exactly 0 for odd k when b = 0
    nonzero = q if b else q[::2]
    if not (1 / _Q_RANGE < nonzero.min() and q.max() < _Q_RANGE):
        return _half(a, b, c, n, 1) if block > 1 else None
    return q, e, rho + _step_roundings(a, b, c, n) * (m - 1)


def _exponents(a: float, b: float, c: float, n: int, block: int, tabled: bool):
    """``(q0, e0, rho, blocks)``: the exponents of :func:`_half`'s unknowns, or None.

    ``a^n = q0 2^e0`` within ``gamma(rho)`` (:func:`_power`); ``blocks`` (read-only) holds
    one exponent per ``block`` entries, the estimate at the block's centre (from the kernel's
    table if ``tabled``, else from the saddle formula): within a block ``p_k`` moves by at
    most ``block / 2`` times log2 of the largest ratio of neighbours (about ``2 b n / a`` at
    the tails), inside the unknowns' guard for all but lopsided kernels. None where the
    scaled coefficients would leave float64 (the caller retries with one exponent per entry,
    ``block = 1``, or declines). A plan of the kernel and the depth alone: memoised for the
    tabled depths (:data:`_exponents_memo`).
    """
    m = n + 1
    q0, e0, rho = _power(a, n)
    centres = np.arange(block // 2, m + block - 1, block, dtype=float)
    centres[0] = max(centres[0], 1.0)  # (k = 0 is a^n, taken exactly)
    np.minimum(centres, n, out=centres)  # (the last block's centre: inside it)
    if tabled:
        estimate = _profile_estimate(a, b, c, n, centres)
    else:
        estimate = np.empty(centres.size)
        _log2_estimate(a, b, c, n, centres, out=estimate)
    low, high = float(estimate.min()), float(estimate.max())  # (NaN if any entry is)
    if not -(2.0**30) <= low <= high <= 2.0**30:
        return None  # beyond any exponent the scaled unknowns could use
    blocks = np.rint(estimate, out=estimate).astype(np.intc)
    # every coefficient (and so every product with an unknown) a normal number: no scaling
    # or product underflows or overflows, so the roundings counted are all. Checked on the
    # coefficients' ranges: near = b (n-k+1) 2^-d_k for k in [1, m), far = c (2n-k+2)
    # 2^-(d_k + d_(k-1)) for k in [2, m), with d_k = e_k - e_(k-1); the diagonal a k. With
    # blocks of 3 or more, the steps d_k are 0 but at k = 1 and at the blocks' first entries,
    # never two in a row: a far coefficient's pair sums to one of them or to 0.
    if block >= 3:
        steps = [int(blocks[0]) - e0, 0, *(blocks[1:] - blocks[:-1]).tolist()]
        d_low, d_high = min(steps), max(steps)
        pair = (d_low, d_high)
    else:
        e = blocks.copy()
        e[0] = e0
        steps = e[1:] - e[:-1]
        d_low, d_high = int(steps.min()), int(steps.max())
        pair = (2 * d_low, 2 * d_high)
    ranges = [(math.log2(a), math.log2(a * n))]
    if b:
        ranges.append((math.log2(b) - d_high, math.log2(b * n) - d_low))
    if m > 2:
        ranges.append((math.log2(c * (n + 2)) - pair[1], math.log2(c * 2 * n) - pair[0]))
    if not all(-_COEFFICIENT_LOG2 < lo and hi < _COEFFICIENT_LOG2 for lo, hi in ranges):
        return None
    blocks.flags.writeable = False
    return q0, e0, rho, blocks


# (a repeated call reads its blocks' exponents: their n / block integers, at most ~8,000 for
# the tabled depths, are a small fraction of the result; one exponent per entry, the rare
# retry, and the deeper untabled runs are planned afresh)
_exponents_memo = functools.lru_cache(maxsize=128)(_exponents)


@functools.lru_cache(maxsize=256)
def _step_roundings(a: float, b: float, c: float, n: int) -> int:
    """Roundings of one step of the recurrence.

    Two products and their sum, a division (perhaps as a reciprocal and a product), and the
    coefficients' own roundings where they are not exact.
    """
    width = (2 * n + 2).bit_length()
    exact = significant_bits((b, c)) + width <= 53
    exact_diag = significant_bits((a,)) + width <= 53
    return 4 + (not exact) + (not exact_diag)


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


def _log2_estimate(a: float, b: float, c: float, n: int, k: np.ndarray, out: np.ndarray) -> None:
    """Saddle-point estimate of ``log2 p_k`` (``k >= 1``) into ``out``.

    ``n log2 W(t) - k log2 t`` with ``t W'/W = k/n``.

    In the variable ``t = sqrt(a / c) u`` the saddle equation reads
    ``(2n - k) u^2 + (n - k) beta u - k = 0`` with ``beta = b / sqrt(a c)``, whose positive
    root is taken without cancellation (and ``hypot`` for its square root where ``(n beta)^2``
    would overflow), so lopsided kernels neither underflow nor overflow here. For ``1 <= k
    <= n`` the root is positive and ``u <= 1``: no step warns, except past that overflow
    guard. Non-finite entries: no usable estimate.
    """
    beta = b / math.sqrt(a) / math.sqrt(c)
    log2_a = math.log2(a)
    if beta * n >= 2.0**500:  # (n - k) beta may overflow: the caller sees the non-finite
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return _saddle(beta, log2_a, math.log2(c), n, k, out, huge=True)
    return _saddle(beta, log2_a, math.log2(c), n, k, out, huge=False)


@functools.lru_cache(maxsize=64)
def _profile(beta: float) -> np.ndarray:
    """The estimate's shape ``F(x) = log2(1 + beta u + u^2) - x log2 u`` at ``x = j / 1024``.

    :func:`_log2_estimate` is ``n F(k / n) + n log2 a - k log2(a / c) / 2``: ``F`` depends on
    the kernel alone (through ``beta``), so one table serves every depth. Read-only.
    """
    x = np.linspace(0.0, 1.0, _PROFILE_POINTS)
    table = np.zeros(_PROFILE_POINTS)  # F(0) = 0
    # (the saddle equation over n: n = 1, k = x; a = c = 1 leaves beta as the only parameter)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        _saddle(beta, 0.0, 0.0, 1, x[1:], table[1:], huge=beta >= 2.0**500)
    table.flags.writeable = False
    return table


def _profile_estimate(a: float, b: float, c: float, n: int, k: np.ndarray) -> np.ndarray:
    """:func:`_log2_estimate` at ``k`` from the kernel's :func:`_profile`, interpolated.

    Linear interpolation of ``F`` is off by at most ``0.53 h`` in the first cell (``F`` is
    ``x log2(1/x)``-like there; ``h = 1/1024``) and far less beyond, so the estimate is off
    by at most about ``n / 1930`` bits (as measured on lopsided kernels): within the
    unknowns' guard up to ``_PROFILE_MAX_N`` (the solve's checks catch any kernel for which
    it is not, and the caller retries).
    """
    beta = b / math.sqrt(a) / math.sqrt(c)
    log2_a, log2_c = math.log2(a), math.log2(c)
    x = k * (1.0 / n)
    estimate = np.interp(x, _PROFILE_X, _profile(beta))
    estimate *= n
    estimate += n * log2_a
    estimate -= k * (0.5 * (log2_a - log2_c))
    return estimate


def _saddle(beta, log2_a, log2_c, n, k, out, huge: bool) -> None:
    # (in place, a few passes fewer: this runs on every call, over the whole half)
    s = np.multiply(n - k, beta, out=out)
    root = (2 * n - k) * k
    root *= 4
    if huge:
        np.hypot(s, np.sqrt(root, out=root), out=root)
    else:  # s^2 stays finite
        root += s * s
        np.sqrt(root, out=root)
    root += s
    u = np.divide(2 * k, root, out=root)
    estimate = np.multiply(u, beta, out=out)
    estimate += 1
    estimate += u * u
    np.log2(estimate, out=estimate)
    estimate *= n
    estimate += n * log2_a
    log2_u = np.log2(u, out=u)
    log2_u += 0.5 * (log2_a - log2_c)
    log2_u *= k
    estimate -= log2_u
