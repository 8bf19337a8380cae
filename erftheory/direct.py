"""The direct method: kernels applied by shift-and-add, with every rounding counted.

Used by :mod:`erftheory.compose` for exact (object) arrays, non-separable N-d kernels and
the 1-D axes of separable ones. A run of an integer-valued kernel is applied in blocks
``w^b`` that float64 holds exactly (:func:`_run_plan`); in 1-D a long run of a positive
three-tap kernel goes to the O(n) recurrence of :mod:`erftheory.recurrence` where that is
faster than the layers (:func:`_recurrence_pays`). Arrays are kept near unit peak by exact
powers of two (:func:`_recentred`), so deep stacks neither overflow nor underflow; the
roundings and underflow events each step adds are returned for the error bound (see
:class:`erftheory.compose.Composition`).
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

import numpy as np

from .bounds import TINY as _TINY
from .bounds import underflow_fraction
from .progress import progress
from .recurrence import power_three_tap

if TYPE_CHECKING:
    from .factor import Factor

# 1-D runs of a positive 3-tap kernel go to the recurrence (O(n) per run, about this many
# multiply-adds per entry) where it is faster than applying the layers (or exact blocks of
# them). Costs in numpy calls on small arrays (~3 us each): a layer applied is one call plus
# its multiply-adds at _FLOPS_PER_CALL a call; the recurrence a fixed _RECURRENCE_CALLS per
# half (a symmetric kernel needs one) plus 1 per _RECURRENCE_ENTRIES entries. Measured (with
# the recurrence's exponents planned once, :func:`erftheory.recurrence._exponents`): blocks of
# all-ones win to ~150-190 layers, [1, 2, 1] to ~140, float kernels applied one by one to ~25.
_RECURRENCE_POWER = 16
_RECURRENCE_OPS = 12
_FLOPS_PER_CALL = 10_000
_RECURRENCE_CALLS = 12
_RECURRENCE_ENTRIES = 40


def _exact_block(kernel: np.ndarray, power: int) -> tuple[np.ndarray | None, int, int]:
    """``(B, b, t)`` with ``w^b = B * 2^t`` held exactly by float64, or ``(None, 1, 0)``.

    The top of :func:`_exact_ladder`: ``b`` is the largest power of two at most ``power``
    whose ``w^b`` float64 holds exactly, when at least 4. ``B`` peaks in [1/2, 1).
    """
    ladder = _exact_ladder(kernel, power)
    if len(ladder) < 3:
        return None, 1, 0
    block, t = ladder[-1]
    return block, 1 << (len(ladder) - 1), t


def _exact_ladder(kernel: np.ndarray, power: int) -> tuple[tuple[np.ndarray, int], ...]:
    """``((B_0, t_0), (B_1, t_1), ...)``: ``w^(2^j) = B_j * 2^(t_j)`` exactly, ``2^j <= power``.

    For a kernel whose entries are integers times one power of two (all-ones, small integer
    weights), ``w^b`` is an integer polynomial power, computed by squaring, so a run of ``b``
    layers can be applied as one kernel without a rounding of its own. Float64 holds it
    exactly while every product and partial sum of the squarings is an integer below 2^53:
    for non-negative weights, while the largest entry is (the terms of each sum are
    non-negative, so every partial sum is at most its entry); for signed ones, while
    ``L1^b`` is. The ``B_j`` peak in [1/2, 1); empty where the kernel is not of that kind.
    """
    if power < 2 or kernel.ndim != 1:
        return ()
    return _exact_ladder_memo(np.asarray(kernel, dtype=float).tobytes(), power.bit_length())


@functools.lru_cache(maxsize=256)
def _exact_ladder_memo(data: bytes, rungs: int) -> tuple[tuple[np.ndarray, int], ...]:
    """:func:`_exact_ladder` of a 1-D kernel for ``2^j < 2^rungs``, memoised by value."""
    kernel = np.frombuffer(data)
    if np.count_nonzero(kernel) < 2 or not np.isfinite(kernel).all():
        return ()
    ratios = [float(w).as_integer_ratio() for w in kernel]
    den = max(d for _, d in ratios)
    exact = [n * (den // d) for n, d in ratios]
    l1 = sum(map(abs, exact))
    if l1 >= 2**26:  # not even w^2 fits in float64's integers
        return ()
    nonneg = min(exact) >= 0
    block, b, ladder = np.array(exact, dtype=float), 1, []
    while True:
        top = math.frexp(float(np.abs(block).max()))[1]
        scaled = np.ldexp(block, -top)
        if np.abs(scaled[scaled != 0]).min() < _TINY:  # subnormal entries would not be exact
            break
        scaled.flags.writeable = False
        ladder.append((scaled, top - b * (den.bit_length() - 1)))
        if 2 * b >= 1 << rungs or (not nonneg and l1 ** (2 * b) >= 2.0**53):
            break
        square = np.convolve(block, block)
        if nonneg and square.max() >= 2.0**53:  # (rounding is monotone: never below it)
            break
        block, b = square, 2 * b
    return tuple(ladder)


def _run_plan(kernel: np.ndarray, power: int) -> tuple[tuple[np.ndarray, int, int, int], ...]:
    """A run of ``power`` layers as steps ``(K, repeats, t, taps)``: ``K 2^t``, ``repeats`` times.

    The largest exact block (:func:`_exact_ladder`, at least 4 layers) as often as it fits,
    then the rest in binary (``w^4, w^2, w``, one convolution each): a run of 100 all-ones
    layers is 3 ``w^32`` and one ``w^4``, 4 convolutions instead of 100. Kernels with no
    exact blocks: ``((kernel, power, 0, taps),)``. ``taps``: the non-zero entries of ``K``
    (the roundings of one application). Cached per factor (:attr:`Factor.plan`).
    """
    ladder = _exact_ladder(kernel, power)
    if len(ladder) < 3:
        return ((kernel, power, 0, int(np.count_nonzero(kernel))),)
    b = 1 << (len(ladder) - 1)
    steps = [(len(ladder) - 1, power // b)]
    steps += [(j, 1) for j in reversed(range(len(ladder) - 1)) if power % b >> j & 1]
    return tuple(
        (ladder[j][0], repeats, ladder[j][1], int(np.count_nonzero(ladder[j][0])))
        for j, repeats in steps
    )


def _direct(factors: list[Factor], shape: tuple[int, ...]):
    """Shift-and-add composition: ``(array, shift, roundings, tiny_fraction)``.

    The result is ``array * 2**shift``. Float arrays are rescaled by powers of two (exactly)
    whenever their peak drifts far from 1, so that deep stacks neither underflow nor
    overflow; exact object arrays never are. ``roundings`` and ``tiny_fraction`` are as in
    :class:`erftheory.compose.Composition` (for non-negative kernels). Used for exact arrays
    and non-separable N-d kernels; float axes (every 1-D kernel is one) go to
    :func:`_direct_1d`.
    """
    dtype = factors[0].kernel.dtype if factors else float
    out = np.zeros(shape, dtype=dtype)
    out[(0,) * len(shape)] = 1
    extent, shift = [1] * len(shape), 0
    step = roundings = events = 0
    plan = []  # one entry per layer applied, with the kernel's non-zero taps
    for f in factors:
        taps = [(idx, w) for idx, w in np.ndenumerate(f.kernel) if w != 0]
        plan += [(f, taps)] * f.power
    widest = max((len(taps) for _, taps in plan), default=0)
    exact = dtype == np.dtype(object)  # Python numbers: seconds, so a bar on a terminal
    for f, taps in progress(plan, label="exact composition", enabled=None if exact else False):
        step += 1
        roundings += len(taps)  # per term: its product, then at most len - 1 sums
        events += len(taps) + 1  # products and the rescaling that may underflow
        new_extent = [e + (k - 1) * s for e, k, s in zip(extent, f.kernel.shape, f.scale)]
        acc = np.zeros(new_extent, dtype=dtype)
        src = out[tuple(slice(0, e) for e in extent)]
        for idx, w in taps:
            acc[tuple(slice(i * s, i * s + e) for i, s, e in zip(idx, f.scale, extent))] += w * src
        if not exact and step % 4 == 0:
            acc, shift = _recentred(acc, shift)
        extent = new_extent
        out[tuple(slice(0, e) for e in extent)] = acc
    if exact:
        return out, shift, 0, 0.0
    # kernels of L1 norm in (1/2, 1] have a tap >= 1/(2 taps): a step shrinks the peak by at
    # most 2 taps, and every 4th step brings it back to >= 2^-8 (after its products)
    floor = 2.0**-8 / (2.0 * max(widest, 1)) ** 4
    return out, shift, roundings, underflow_fraction(events, floor)


def _direct_1d(factors: list[Factor], n: int, run=None):
    """1-D :func:`_direct`, one ``np.convolve`` per layer (or per exact block of layers).

    Per entry, the same products and sums as shift-and-add, so the same bound. Kernels come
    with their peak in [1/2, 1) (:func:`erftheory.compose._compose_axes`), as blocks do, so
    a step shrinks the peak by at most 2. ``run``, from :func:`_recurrence_run`, is a run of
    a positive three-tap kernel already composed in O(n) (about twice the blocks' bound); the
    other layers are applied to it.
    """
    out, shift, step = None, 0, 0  # None: the delta (nothing applied yet)
    roundings = events = 0
    if run is not None:  # the longest run of a positive 3-tap kernel: O(n), no cancellation
        chosen, (values, shift, roundings) = run
        scale = factors[chosen].scale[0]
        if scale == 1:
            out = values
        else:
            out = np.zeros((values.size - 1) * scale + 1)
            out[::scale] = values
        events = 1  # its last scaling, at peak >= 1/2, may underflow
        factors = factors[:chosen] + factors[chosen + 1 :]
    for f in factors:
        scale = f.scale[0]
        for kernel, power, kernel_shift, width in f.plan:
            if scale != 1:  # upsampled: one slice per tap (zeros between taps would cost scale x)
                taps = [(m, w) for m, w in enumerate(kernel.tolist()) if w != 0]
            for _ in range(power):
                # every 4th step's array recentred, before the next step uses it (the last
                # one is left to the caller, who scales the vector to peak 1 anyway)
                if step and step % 4 == 0:
                    out, shift = _recentred(out, shift)
                step += 1
                roundings += width
                events += width + 1
                if scale == 1:
                    out = kernel if out is None else np.convolve(out, kernel)
                else:
                    out = np.ones(1) if out is None else out
                    acc = np.zeros(out.size + (kernel.size - 1) * scale)
                    for m, w in taps:
                        acc[m * scale : m * scale + out.size] += w * out
                    out = acc
                shift += kernel_shift
    out = np.ones(1) if out is None else out
    assert out.shape == (n,), (out.shape, n)
    return out, shift, roundings, underflow_fraction(events, 2.0**-12)


def _recurrence_run(factors: list[Factor], weigh: bool = True):
    """``(index, power_three_tap(...))`` for the run the O(n) recurrence composes, or None.

    The longest run of a 1-D kernel ``[a, b, c]`` with ``a, c > 0`` and ``b >= 0``, of at
    least ``_RECURRENCE_POWER`` layers, unless applying its layers costs less (with
    ``weigh``: :func:`_recurrence_pays`) or :func:`power_three_tap` declines it (a kernel too
    lopsided for float64). Computed before the method is chosen, so that a declined run is
    costed as the layers it leaves to apply one by one.
    """
    runs = [
        (f.power, i)
        for i, f in enumerate(factors)
        if f.kernel.shape == (3,)
        and f.power >= _RECURRENCE_POWER
        and f.kernel[0] > 0
        and f.kernel[2] > 0
        and f.kernel[1] >= 0
    ]
    if not runs:
        return None
    chosen = max(runs)[1]
    if weigh and not _recurrence_pays(factors[chosen]):
        return None
    power = run_power(factors[chosen])
    return None if power is None else (chosen, power)


def run_power(f: Factor):
    """:func:`power_three_tap` of a 1-D factor's kernel and power (None where it declines)."""
    return power_three_tap(f.kernel, f.power)


def _recurrence_pays(f: Factor) -> bool:
    """Whether the recurrence composes the run ``f`` faster than its layers applied in turn.

    The layers (or exact blocks of them, :func:`_run_plan`) cost a call each plus their
    multiply-adds on an array of about ``power`` entries on average; the recurrence a fixed
    cost per half plus a little per entry (see ``_RECURRENCE_CALLS``).
    """
    p = f.power
    applied = sum(repeats for _, repeats, _, _ in f.plan)
    taps = sum(repeats * width for _, repeats, _, width in f.plan)
    # a dense kernel is one np.convolve an application; an upsampled one a slice per tap
    calls = applied if f.scale[0] == 1 else taps
    direct = calls + taps * p * f.scale[0] / _FLOPS_PER_CALL
    halves = 1 if f.kernel[0] == f.kernel[2] else 2
    return halves * (_RECURRENCE_CALLS + p / _RECURRENCE_ENTRIES) < direct


def _recentred(acc: np.ndarray, shift: int) -> tuple[np.ndarray, int]:
    """Rescale by a power of two (exactly) when the peak leaves [2^-8, 2^8].

    Keeping the peak near 1 leaves tails 300 orders of magnitude below it inside float64; a
    step shrinks the peak by at most 2k (unit-ish L1 norm), so looking every 4th step loses
    at most a few bits of that range.
    """
    peak = float(np.abs(acc).max())
    if peak and not 2.0**-8 < peak < 2.0**8:
        k = math.frexp(peak)[1]
        return np.ldexp(acc, -k), shift + k
    return acc, shift
