"""Composition of upsampled kernels: the engine behind every ERF.

A factor is a kernel ``w`` upsampled by ``scale`` (``scale - 1`` zeros between taps, per axis)
and repeated ``power`` times. The composition of factors is their full convolution, of size
``1 + sum (k - 1) * scale * power`` per axis. Three methods:

``"direct"``
    Shift-and-add over the taps, in float64. With non-negative kernels every entry is a sum of
    non-negative terms, each carrying at most one rounding per tap it crossed (its product and
    the sums after it), whatever the order of the sums: the relative error of every entry is
    at most ``gamma(R) = R u / (1 - R u)`` (``u = 2^-53``; ``R`` = ``roundings``, the taps
    applied), tails included. Long runs of an integer-valued kernel (all-ones, small integer
    weights, scaled by powers of two) are applied in blocks ``w^b`` that float64 holds
    exactly: a block of ``b`` three-tap layers costs ``2b + 1`` roundings instead of ``3b``
    and one ``np.convolve`` call instead of ``b``. In 1-D the longest run of a positive three-tap
    kernel is instead one O(n) recurrence where that is faster (:mod:`erftheory.recurrence`:
    about 4 roundings per entry from the nearer end, twice the blocks' bound; a fixed cost
    that long runs repay). Both live in :mod:`erftheory.direct`. The axes of a separable map
    keep the blocks where they are affordable, since the map's outer product costs more than
    either. Gradual underflow adds an absolute error below ``u * tiny_fraction * L1`` (see
    :class:`Composition`); entries above that floor keep the relative bound.
``"fft"``
    A product of spectra, ``prod W_l(scale_l * omega) ** power_l``: a run of n identical layers
    costs what one costs. Its error is absolute, bounded by about ``(10 log2 N + ops) * eps``
    times the composition of the absolute kernels; the result is cut to its exact support and,
    for non-negative kernels, clipped at zero, so round-off never shows as a negative value or
    as a value where the exact one is zero.
``"exact"``
    Python integers and fractions, shift-and-add: true path counts, for teaching sizes.

Separable (rank-one) kernels are composed one axis at a time and joined by an outer product,
so they never pay for an N-d transform. Kernels are scaled by powers of two to about unit L1
norm while composing and the scale is carried as a base-2 exponent, so nothing overflows on
the way and integer counts stay exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .bounds import _SMALL, gamma, map_fraction
from .bounds import TINY as _TINY
from .bounds import U as _U
from .direct import _direct, _direct_1d, run_power
from .factor import Factor, composed_shape
from .plan import _DIRECT_FLOPS, _DIRECT_OPS, _direct_affordable, _Plan, _plan, _plan_of
from .rank_one import _outer
from .spectral import _clean, _fft
from .support import _support

__all__ = ["Factor", "Composition", "compose", "composed_shape", "gamma"]

_EPS = np.finfo(float).eps


@dataclass(frozen=True, eq=False)
class Composition:
    """A composed kernel as ``values * 2 ** exponent``.

    ``values`` peaks near 1 (float) or is exact (object array, ``exponent`` 0). The direct
    method scales by integer powers of two only, which keeps integer path counts exact in
    float64 up to 2^53; the FFT's exponent is an integer too (its fraction is in the values).
    ``abs_error`` bounds the absolute error of ``values``. Where the method guarantees a
    relative error (direct, non-negative kernels), ``roundings`` counts the roundings any
    entry's terms went through and ``rel_error`` is ``gamma(roundings)``; else both are None.
    Gradual underflow breaks relative bounds: its absolute error is below
    ``u * tiny_fraction * L1`` (L1: the sum of ``|values|``), so the relative bound holds for
    the entries at or above ``tiny_fraction * L1`` (one more rounding covers the
    underflow). With ``vectors`` (``outer=False``), ``support`` is a tuple of per-axis
    supports (or None).
    """

    values: np.ndarray
    exponent: int
    method: str
    abs_error: float
    roundings: int | None
    support: np.ndarray | tuple | None = None  # exact non-zero pattern (bool); None: all
    vectors: tuple | None = None  # with outer=False: values is their outer product (not formed)
    tiny_fraction: float = 0.0

    @property
    def rel_error(self) -> float | None:
        """Bound on the relative error of every entry above the underflow floor, or None."""
        return None if self.roundings is None else gamma(self.roundings)


def compose(
    factors: list[Factor], dims: int, method: str = "auto", outer: bool = True, memo: bool = False
) -> Composition:
    """Compose upsampled kernels (full convolution) into one array.

    Parameters
    ----------
    factors : list of Factor
        Kernels (float arrays, or object arrays of ints/Fractions for ``method="exact"``).
    dims : int
        Number of axes.
    method : {"auto", "direct", "fft", "exact"}
        ``"auto"`` composes separable kernels axis by axis (direct when cheap or when the
        O(n) recurrence takes a 1-D run, else FFT) and non-separable ones by an N-d FFT.
    outer : bool
        With False, a separable result keeps its per-axis vectors (``vectors``) and leaves
        ``values`` None, for a caller that forms the outer product itself (once, after
        scaling a vector instead of the whole map).
    memo : bool
        Whether to memoise what the factors alone decide (:func:`_plan`: sums, shape, the
        axes' methods and supports), for a network's memoised factors composed again and
        again; not for factors made for one call (a squared map, a join's branches, a
        variance kernel's path groups), which would only fill the memo.

    Returns
    -------
    Composition

    Examples
    --------
    >>> ones = Factor(np.ones(3), (1,), power=2)
    >>> c = compose([ones], dims=1)
    >>> [float(v * 2.0**c.exponent) for v in c.values]
    [1.0, 2.0, 3.0, 2.0, 1.0]
    """
    if method == "exact":
        shape = composed_shape(factors, dims)
        values = _direct(factors, shape)[0] if factors else _delta(shape, Fraction)
        return Composition(values, 0, "exact", 0.0, 0)
    plan = _plan(tuple(factors), dims, method) if memo else _plan_of(tuple(factors), dims, method)
    shape, normalised, exponent = plan.shape, plan.normalised, plan.exponent
    if plan.zero == "exact":  # every path crosses an exact zero
        return Composition(np.zeros(shape), 0, "direct", 0.0, 0, np.zeros(shape, dtype=bool))
    if plan.zero:  # zero in float only: terms cancelled
        return _cancelled(factors, shape)
    nonneg, outside, ops = plan.nonneg, exponent, plan.ops
    roundings, tiny, separable = None, 0.0, plan.separable
    if not normalised:
        values, methods, roundings = np.ones((1,) * dims), {"direct"}, 0
    elif plan.recipes:
        vectors, values, support, methods, scale, roundings, tiny = _join_axes(
            plan, dims, outer, nonneg
        )
        exponent += scale
    else:
        separable, normalised = False, list(normalised)
        values, methods, scale, roundings, tiny = _compose_whole(normalised, shape, method, ops)
        exponent += scale
    # L1 norm of the composition of |kernels|, in the units of ``values``: the scale of the
    # rounding errors (for non-negative kernels it is the sum of the values)
    l1 = 2.0 ** (plan.log2_l1 - (exponent - outside))
    if not (separable and normalised):
        support = _support(list(normalised), shape)
        support = None if support.all() else support
        if "fft" in methods:
            values = _clean(values, support, nonneg)
    abs_error, roundings, tiny = _error_bound(plan, methods, l1, roundings, tiny)
    kept = tuple(vectors) if separable and normalised and values is None else None
    used = "+".join(sorted(methods))
    return Composition(values, exponent, used, abs_error, roundings, support, kept, tiny)


def _cancelled(factors: list[Factor], shape: tuple[int, ...]) -> Composition:
    """A composition that is zero in float only (its terms cancelled), within its terms' error."""
    # zero to within the terms' error: bounded in the log domain (no overflow)
    log2_bound = sum(
        f.power * (math.log2(f.l1 or f.abs_sum or _TINY) + f.exponent) for f in factors
    )
    rounded = gamma(sum(f.power * (f.roundings or 0) for f in factors) + 1)
    # an integer exponent like every other (+1 covers the log sum's own rounding)
    exponent = math.ceil(log2_bound) + 1
    return Composition(np.zeros(shape), exponent, "direct", rounded, None)


def _join_axes(plan: _Plan, dims: int, outer: bool, nonneg: bool):
    """A separable plan's axes composed (:func:`_compose_axes`) and joined by an outer product.

    Returns ``(vectors, values, support, methods, scale, roundings, tiny)``: ``values`` is
    None with ``outer=False`` (unless 1-D); ``support`` the exact support (None: full; per
    axis where ``values`` is None); ``roundings`` None where an axis has no relative bound;
    ``tiny`` the map's underflow fraction (see :class:`Composition`).
    """
    roundings = None
    vectors, methods, scale, counts, tiny, supports, peaks = _compose_axes(plan)
    axes, full = zip(*supports)
    if "fft" in methods:  # clear FFT round-off on the vectors: the outer product is clean
        vectors = [_clean(v, s, nonneg) for v, s in zip(vectors, axes)]
    values = _outer(vectors) if outer or dims == 1 else None
    support = None if all(full) else tuple(axes)
    support = _outer(support) if support is not None and values is not None else support
    if None not in counts:
        # each axis, the vectors standing in for the kernels, and the outer product
        roundings = sum(counts) + plan.replaced + dims - 1
    tiny = map_fraction(tiny, peaks)
    return vectors, values, support, methods, scale, roundings, tiny


def _compose_whole(factors: list[Factor], shape: tuple[int, ...], method: str, ops: int):
    """A non-separable composition on its whole grid: ``(values, methods, scale, roundings, tiny)``.

    Direct where ``method="auto"`` finds it cheap, else by an N-d FFT (``roundings`` None
    and ``tiny`` 0: an absolute bound only).
    """
    roundings, tiny = None, 0.0
    chosen = method
    if method == "auto":  # direct when cheap: exact for integers, relative errors
        cheap = ops <= _DIRECT_OPS and ops * math.prod(shape) <= _DIRECT_FLOPS
        chosen = "direct" if cheap else "fft"
    methods = {chosen}
    _direct_affordable(chosen, ops * math.prod(shape))
    if chosen == "direct":
        values, scale, roundings, tiny = _direct(factors, shape)
    else:
        values, scale = _fft(factors, shape)
    return values, methods, scale, roundings, tiny


def _error_bound(plan: _Plan, methods: set, l1: float, roundings: int | None, tiny: float):
    """A composition's absolute error bound, with its roundings and underflow fraction.

    Returns ``(abs_error, roundings, tiny)``. ``l1`` is the L1 norm of the composition of
    the absolute kernels, in the units of its values; the kernels' own roundings
    (``plan.given``) and underflow are added. An FFT's bound is absolute only (roundings
    None), as is a direct composition's of signed kernels.
    """
    if "fft" in methods:
        import scipy.fft

        grid = math.prod(scipy.fft.next_fast_len(n, real=True) for n in plan.shape)
        # (+1: the exponent's fraction moved into the values, one rounding of each entry)
        abs_error = (10 * math.log2(max(grid, 2)) + plan.ops + 11) * _EPS * l1
        abs_error += gamma(plan.given) * l1  # the kernels' own roundings (typed 0.1, a pool's 1/3)
        roundings = None
    else:
        if roundings is not None:
            roundings += plan.given  # the kernels' own roundings, per application
        tiny += plan.given_tiny
        abs_error = (gamma(roundings) + _U * tiny) * l1
        roundings = roundings if plan.nonneg else None
    return abs_error, roundings, tiny


def _compose_axes(plan: _Plan):
    """Compose a separable plan's distinct axes; each axis then takes its own.

    Returns the per-axis vectors (peak 1), their total log2 scale, the methods used, and per
    axis the roundings (None for an FFT axis), the underflow fraction (see
    :class:`Composition`), the exact support with whether it is full (:func:`_axis_support`),
    and the peaks, each in [1/2, 1) (a lower bound on the axis's L1, for the outer product's
    underflow fraction, :func:`erftheory.bounds.map_fraction`).
    """
    done = []
    for factors, n, run, pending, chosen, nonneg, _ in plan.recipes:
        if run is not None:  # (deterministic: the recurrence took this run when planned)
            try:  # (one step: two threads sharing a new plan cannot both take the values)
                values = pending.pop()
            except IndexError:
                values = run_power(factors[run])
            run = (run, values)
        if chosen == "direct":
            vector, scale, count, fraction = _direct_1d(list(factors), n, run)
        else:
            (vector, scale), count, fraction = _fft(list(factors), (n,)), None, 0.0
        # peak 1 on every axis (an exact power of two), so the outer product of the axes
        # cannot underflow where the composed values themselves would not; the scaling
        # itself may underflow a tail (one more event, at peak >= 1/2)
        top = float(np.maximum.reduce(vector)) if nonneg and vector.size > _SMALL else _peak(vector)
        shift = math.frexp(top)[1] if top else 0
        if not vector.flags.writeable:  # a plan's kernel: not ours to scale in place
            vector = np.ldexp(vector, -shift)
        elif shift:  # (a fresh array: callers own it)
            np.ldexp(vector, -shift, out=vector)
        peak = math.ldexp(top, -shift)  # in [1/2, 1): a lower bound on the vector's L1
        done.append((vector, scale + shift, count, fraction + 2 * _TINY, peak))
    axes = [done[i] for i in plan.index]
    log2_scale = plan.axis_scale + sum(a[1] for a in axes)
    vectors, _, roundings, tiny, peaks = zip(*axes)
    supports = plan.axis_supports
    return (
        list(vectors),
        plan.axis_methods,
        log2_scale,
        list(roundings),
        list(tiny),
        supports,
        peaks,
    )


def _peak(vector: np.ndarray) -> float:
    """The largest magnitude in a 1-D float array (a short one read as a list: cheaper)."""
    if vector.size <= _SMALL:
        a = list(map(abs, vector.tolist()))
        return max(a) if not math.isnan(sum(a)) else math.nan  # nan wins, as in numpy
    return float(np.abs(vector).max())


def _delta(shape, kind):
    out = np.empty(shape, dtype=object)
    out.fill(kind(0))
    out[(0,) * len(shape)] = kind(1)
    return out
