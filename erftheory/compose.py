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

import functools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

import numpy as np

from .bounds import _SMALL, gamma, map_fraction, significant_bits
from .bounds import TINY as _TINY
from .bounds import U as _U
from .direct import _RECURRENCE_OPS, _direct, _direct_1d, _recurrence_run, _run_plan, run_power
from .errors import ERFError
from .progress import progress

__all__ = ["Factor", "Composition", "compose", "composed_shape", "gamma"]

_EPS = np.finfo(float).eps
# auto picks "direct" for 1-D axes when it costs at most this many multiply-adds
_DIRECT_FLOPS = 3e7
_DIRECT_OPS = 4000
# an explicit method="direct" beyond this many multiply-adds (a minute or more) is refused
_DIRECT_LIMIT = 2e9
# axis supports and composition plans are memoised for kernels up to this many entries in
# all (a network's; not a map squared for random weights, a new one each call)
_MEMO_PATTERN = 4096


@dataclass(frozen=True, eq=False)
class Factor:
    """A kernel upsampled by ``scale`` per axis and repeated ``power`` times.

    A kernel that was itself computed (``1/K`` of a pool, a join's sum of branches) says how
    accurate it is: each entry within ``gamma(roundings)`` of the sum of its terms' absolute
    values (relative, unless the sum ``cancels``; None: not known), whose L1 norm is ``l1``,
    above an underflow error of ``u * tiny`` times its L1 norm; ``support`` is its exact
    non-zero pattern where entries may have underflowed to 0. ``total`` is the exact sum of
    the kernel as given (a pool's 1, the weights as typed), where known: a composition's sum
    is the product of its factors' sums, exactly, however much its signed entries cancel.

    A factor is immutable: facts about its kernel (its L1 scale, rank-one split, supports)
    are computed once, so a writeable ``kernel`` or ``support`` given is copied into a
    read-only array; a read-only one is kept as it is.
    """

    kernel: np.ndarray
    scale: tuple[int, ...]
    power: int = 1
    roundings: int | None = 0
    tiny: float = 0.0
    support: np.ndarray | None = None
    cancels: bool = False  # a sum of signed terms: no relative bound, absolute only
    l1: float | None = None  # the L1 norm of those terms' absolute values (>= the kernel's)
    exponent: int = 0  # the kernel stands for ``kernel * 2**exponent`` (and ``l1`` too)
    total: Fraction | None = None  # the exact sum of what it stands for, where known

    def __post_init__(self):
        # facts about the kernel are computed once (below): it must not change afterwards, so a
        # writeable array given is copied into a read-only one (read-only ones are kept)
        for name in ("kernel", "support"):
            array = getattr(self, name)
            if array is not None and array.flags.writeable:
                array = array.copy()
                array.flags.writeable = False
                object.__setattr__(self, name, array)

    @functools.cached_property
    def pattern(self) -> np.ndarray:
        """The exact non-zero pattern of the kernel (bool; computed once)."""
        return self.kernel != 0 if self.support is None else self.support

    # Facts of the kernel, computed once: factors of a network are memoised with it
    # (:func:`erftheory.erf._terms`), so a repeated call reads them instead of recomputing them.

    @functools.cached_property
    def nonneg(self) -> bool:
        """Whether every entry of the kernel is non-negative."""
        return bool((self.kernel >= 0).all())

    @functools.cached_property
    def taps(self) -> int:
        """The kernel's non-zero entries (the multiply-adds of one application)."""
        return int(np.count_nonzero(self.kernel))

    @functools.cached_property
    def abs_sum(self) -> float:
        """The L1 norm of the kernel (float64, rounded)."""
        return float(np.abs(self.kernel).sum())

    @functools.cached_property
    def log2_l1(self) -> int:
        """``k`` with ``2^k`` the power of two in ``[L1, 2 L1)`` (no overflow on the way)."""
        return _log2_l1_bound(self.kernel)

    @functools.cached_property
    def normalised(self) -> Factor:
        """The factor divided by ``2^log2_l1`` (exactly), with the given kernel's pattern.

        Scaling may flush tiny taps to zero, so the pattern is the given kernel's.
        """
        kernel = np.ldexp(self.kernel, -self.log2_l1)
        kernel.flags.writeable = False
        return Factor(kernel, self.scale, self.power, support=self.pattern)

    @functools.cached_property
    def split(self) -> tuple[np.ndarray, ...] | None:
        """Per-axis vectors whose outer product is the kernel (:func:`_rank_one`), or None."""
        vectors = _rank_one(self.kernel)
        return None if vectors is None else tuple(vectors)

    @functools.cached_property
    def split_roundings(self) -> int:
        """Roundings that stand for the kernel's replacement by :attr:`split`."""
        return _rank_one_roundings(self.kernel, self.split)

    @functools.cached_property
    def axis_parts(self) -> tuple[tuple[int, Factor], ...]:
        """Per axis of a rank-one factor, ``(k, f)``: ``f`` its vector over ``2^k``.

        ``f`` peaks in [1/2, 1) (a power of two out of each axis: axes that differ only by it
        share their composition) and keeps the exact pattern of the kernel on its axis.
        """
        parts = []
        for axis, v in enumerate(self.split):
            k = math.frexp(float(np.abs(v).max()))[1]
            others = tuple(a for a in range(self.kernel.ndim) if a != axis)
            pattern = self.pattern.any(axis=others) if others else self.pattern
            vector = np.ldexp(v, -k)
            vector.flags.writeable = False
            parts.append((k, Factor(vector, (self.scale[axis],), self.power, support=pattern)))
        return tuple(parts)

    @functools.cached_property
    def pattern_key(self) -> tuple:
        """The factor's exact pattern, scale and power by value (a dictionary key)."""
        return (self.pattern.tobytes(), self.pattern.shape, self.scale, self.power)

    @functools.cached_property
    def key(self) -> tuple:
        """The factor by value (a dictionary key)."""
        return (self.kernel.tobytes(), self.kernel.shape, self.scale, self.power)

    @functools.cached_property
    def live(self) -> tuple[bool, bool]:
        """Whether the exact pattern, and the float kernel, have a non-zero entry."""
        return bool(self.pattern.any()), bool(self.kernel.any())

    @functools.cached_property
    def plan(self) -> tuple:
        """A 1-D run as exact blocks and layers (:func:`erftheory.direct._run_plan`)."""
        return _run_plan(self.kernel, self.power)

    @functools.cached_property
    def span(self) -> tuple[int, ...]:
        """The size of the factor's composition minus one, per axis."""
        return tuple((k - 1) * s * self.power for k, s in zip(self.kernel.shape, self.scale))


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


def composed_shape(factors: list[Factor], dims: int) -> tuple[int, ...]:
    """Shape of the composition of ``factors``."""
    shape = [1] * dims
    for f in factors:
        shape = [n + s for n, s in zip(shape, f.span)]
    return tuple(shape)


def _upsample(kernel: np.ndarray, scale: tuple[int, ...]) -> np.ndarray:
    shape = tuple((k - 1) * s + 1 for k, s in zip(kernel.shape, scale))
    out = np.zeros(shape, dtype=kernel.dtype)
    out[tuple(slice(None, None, s) for s in scale)] = kernel
    return out


def _rank_one(kernel: np.ndarray) -> list[np.ndarray] | None:
    """Per-axis vectors whose outer product is ``kernel``, or None if it is not rank one.

    Rank one to rounding, entry by entry: every product of the vectors is within ``4 u`` of
    its kernel entry, relatively (zeros exactly), so a relative error bound survives it
    (see :func:`_rank_one_roundings`).
    """
    if kernel.ndim == 1:
        return [kernel]
    if kernel.dtype != np.dtype(float):
        return _split(kernel)
    vectors = _split_memo(kernel.tobytes(), kernel.shape)
    return None if vectors is None else list(vectors)


@functools.lru_cache(maxsize=256)
def _split_memo(data: bytes, shape: tuple[int, ...]) -> tuple[np.ndarray, ...] | None:
    """:func:`_split` of a float kernel, memoised by value (read-only vectors)."""
    vectors = _split(np.frombuffer(data).reshape(shape))
    if vectors is None:
        return None
    for v in vectors:
        v.flags.writeable = False
    return tuple(vectors)


def _split(kernel: np.ndarray) -> list[np.ndarray] | None:
    """The work of :func:`_rank_one` for an N-d kernel."""
    pivot = np.unravel_index(np.argmax(np.abs(kernel)), kernel.shape)
    top = kernel[pivot]
    if top == 0:
        return None
    fibres = []
    for axis in range(kernel.ndim):
        index = list(pivot)
        index[axis] = slice(None)
        fibres.append(kernel[tuple(index)])
    vectors = _integer_split(fibres, pivot, kernel)
    if vectors is None:
        vectors = [fibres[0]] + [f / top for f in fibres[1:]]
        if np.any(np.abs(_outer(vectors) - kernel) > 4 * _U * np.abs(kernel)):
            return None
    # about unit L1 norm on every axis but the first, which carries the kernel's own norm and
    # sign; powers of two keep integer kernels exact
    norms = [_power_of_two(float(np.abs(v).sum())) for v in vectors]
    return [vectors[0] * math.prod(norms[1:])] + [v / n for v, n in zip(vectors[1:], norms[1:])]


def _integer_split(fibres, pivot, kernel) -> list[np.ndarray] | None:
    """Exact vectors for an integer-valued rank-one kernel (times a power of two), or None.

    Every axis but the first takes its fibre through the pivot as a primitive integer
    vector (divided by its gcd); the first axis takes its fibre divided by those vectors'
    pivot entries, an integer again (the kernel's entries are its multiples by products of
    coprime integers). So ``[1, 2, 3] x [1, 2, 3]`` splits into integer vectors, not into
    ``[3, 6, 9]`` and ``[1/3, 2/3, 1]``, and its layers compose exactly.
    """
    if kernel.size > 4096 or not np.all(np.isfinite(kernel)):
        return None
    vectors = [None]
    divisor = 1.0
    for axis, fibre in enumerate(fibres[1:], start=1):
        ratios = [x.as_integer_ratio() for x in fibre.tolist()]
        den = max(d for _, d in ratios)
        ints = [n * (den // d) for n, d in ratios]
        g = math.gcd(*ints)
        if g == 0 or max(map(abs, ints)) >= 2**53:
            return None
        vector = np.array([i // g for i in ints], dtype=float)
        vectors.append(vector)
        divisor *= vector[pivot[axis]]
    vectors[0] = fibres[0] / divisor
    return vectors if np.array_equal(_outer(vectors), kernel) else None


def _rank_one_roundings(kernel: np.ndarray, vectors: list[np.ndarray]) -> int:
    """Roundings that stand for replacing ``kernel`` by the outer product of ``vectors``.

    0 when the product is exact and equal to the kernel (few significant bits, as for
    integer kernels); else 6: the computed product is within ``4 u`` of the kernel
    (:func:`_rank_one`) and within ``u`` of the exact one.
    """
    if len(vectors) == 1:
        return 0
    bits = sum(significant_bits(v) for v in vectors)
    if bits <= 53 and np.array_equal(_outer(vectors), kernel):
        return 0
    return 6


def _fft(factors: list[Factor], shape: tuple[int, ...]) -> tuple[np.ndarray, int]:
    """Product of spectra: ``(array, log2_scale)`` with the result ``array * 2**log2_scale``.

    Separable factors contribute per-axis 1-D spectra. Each spectrum is divided by its
    largest magnitude before it is raised to its power, so powers never underflow. For a
    non-negative kernel that magnitude is its sum (the spectrum at frequency 0), so the small
    kernel is divided before its transform instead of the grid-sized spectrum after it.
    The divisors' logarithms, summed, are off by at most a few ``u`` per layer (each
    ``|log2|`` is at most ``log2`` of the grid): within the ``ops * eps`` of the FFT's bound.
    """
    import scipy.fft  # ~0.2 s to import: only where a transform is taken

    grid = tuple(scipy.fft.next_fast_len(n, real=True) for n in shape)
    half = grid[:-1] + (grid[-1] // 2 + 1,)
    spectrum = np.ones(half, dtype=complex)
    log2_scale = 0.0

    def spectrum_of(kernel, power, transform, size):
        nonlocal log2_scale
        if (kernel >= 0).all():
            top = float(kernel.sum())
            spec = transform(kernel / top, size)
        else:
            spec = transform(kernel, size)
            top = float(np.abs(spec).max())
            spec /= top
        log2_scale += power * math.log2(top)
        return spec**power

    long = math.prod(half) > 2**22  # seconds per transform: a bar (on a terminal)
    for f in progress(factors, label="erf: spectra", enabled=None if long else False):
        vectors = _rank_one(f.kernel)
        if vectors is None:
            up = _upsample(f.kernel, f.scale)
            spectrum *= spectrum_of(up, f.power, scipy.fft.rfftn, grid)
            continue
        for axis, (v, s, n) in enumerate(zip(vectors, f.scale, grid)):
            last = axis == len(grid) - 1
            transform = scipy.fft.rfft if last else scipy.fft.fft
            spec = spectrum_of(_upsample(v, (s,)), f.power, transform, n)
            view = [1] * len(grid)
            view[axis] = spec.size
            spectrum *= spec.reshape(view)
    out = scipy.fft.irfftn(spectrum, grid)[tuple(slice(0, n) for n in shape)]
    # an integer exponent out (the fraction into the values, one more rounding): exponents
    # then add and subtract exactly however large they grow; a float sum of a large integer
    # and a fraction would keep only ulp(exponent) of it, a relative error of the whole map
    whole = math.floor(log2_scale)
    if log2_scale != whole:
        out *= 2.0 ** (log2_scale - whole)
    return out, whole


def _support(factors: list[Factor], shape: tuple[int, ...]) -> np.ndarray:
    """Exact support (Minkowski sum of the factors' supports), by doubling with thresholds.

    Supports that are products of per-axis sets (dense boxes, upsampled or not, as for any
    square kernel) have a Minkowski sum that is the product of the per-axis sums: composed
    in 1-D, however the kernels' values mix (a residual's delta plus a box is not rank one,
    but its support is a box).
    """
    if all(max(f.scale) == 1 and f.pattern.all() for f in factors):
        return np.ones(shape, dtype=bool)  # Minkowski sums of full boxes fill their box
    if len(shape) > 1:
        axes = [_pattern_axes(f.pattern) for f in factors]
        if None not in axes:
            return _outer(
                [
                    _support(
                        [
                            Factor(p[a].astype(float), (f.scale[a],), f.power, support=p[a])
                            for f, p in zip(factors, axes)
                        ],
                        (n,),
                    )
                    for a, n in enumerate(shape)
                ]
            )

    def dilate(a, b):
        import scipy.fft

        size = tuple(x + y - 1 for x, y in zip(a.shape, b.shape))
        grid = tuple(scipy.fft.next_fast_len(n, real=True) for n in size)
        c = scipy.fft.irfftn(scipy.fft.rfftn(a, grid) * scipy.fft.rfftn(b, grid), grid)
        return c[tuple(slice(0, n) for n in size)] > 0.5

    out = np.ones((1,) * len(shape), dtype=bool)
    for f in factors:
        base, n = _upsample(f.pattern, f.scale), f.power
        while n:
            if n & 1:
                out = dilate(out.astype(float), base.astype(float))
            n >>= 1
            if n:
                base = dilate(base.astype(float), base.astype(float))
    return out


class _Recipe(NamedTuple):
    """One distinct axis of a separable :class:`_Plan`: how its vector is composed."""

    factors: tuple[Factor, ...]  # the factors' 1-D parts on this axis
    n: int  # the vector's length
    run: int | None  # the index of the run the O(n) recurrence takes, or None
    pending: list  # that run's values while the planning call has not used them
    method: str  # "direct" or "fft"
    nonneg: bool  # direct from non-negative kernels (the peak is the maximum)
    support: tuple[np.ndarray, bool]  # exact support, and whether it is full


@dataclass(frozen=True, eq=False)
class _Plan:
    """What composing a list of factors does, short of computing: the network's facts.

    Sums over the factors (exponents, L1 scales, roundings), the shape, and for a separable
    composition the distinct axes to compose (``recipes``, :class:`_Recipe`) and which one
    each axis takes (``index``). Memoised for a network's factors (:func:`_plan`), so a
    repeated call does only the arithmetic on arrays.
    """

    shape: tuple[int, ...]
    zero: str | None  # "exact": every path crosses an exact zero; "float": terms cancelled
    normalised: tuple[Factor, ...]
    exponent: int
    log2_l1: float
    given: int
    given_tiny: float
    nonneg: bool
    ops: int
    separable: bool
    axis_scale: int = 0
    recipes: tuple[_Recipe, ...] = ()
    index: tuple[int, ...] = ()
    replaced: int = 0


def _plan(factors: tuple[Factor, ...], dims: int, method: str) -> _Plan:
    """:func:`_plan_of`, memoised for small kernels (a network's, not a squared map)."""
    if sum(f.kernel.size for f in factors) > _MEMO_PATTERN:
        return _plan_of(factors, dims, method)
    return _plan_memo(factors, dims, method)


def _plan_of(factors: tuple[Factor, ...], dims: int, method: str) -> _Plan:
    shape = composed_shape(factors, dims)
    zero = "exact" if any(not f.live[0] for f in factors) else None
    zero = zero or ("float" if any(not f.live[1] for f in factors) else None)
    if zero:  # nothing to compose (and no L1 scale to take of a zero kernel)
        return _Plan(shape, zero, (), 0, 0.0, 0, 0.0, False, 0, False)
    # each kernel over a power of two near its L1 norm: no overflow, integer counts exact
    normalised, exponent, log2_l1, given, given_tiny, ops = [], 0, 0.0, 0, 0.0, 0
    known = nonneg = separable = True
    for f in factors:
        g, k, p = f.normalised, f.log2_l1, f.power
        normalised.append(g)
        exponent += p * (k + f.exponent)
        # L1 norm of |kernel| in the units of ``g``: the scale of the rounding errors (a
        # kernel summed from signed terms: the L1 of the terms, the scale of its errors)
        log2_l1 += p * math.log2(max(g.abs_sum, math.ldexp(f.l1 or 0.0, -k)))
        known = known and f.roundings is not None
        given += p * (f.roundings or 0)
        nonneg = nonneg and f.nonneg and not f.cancels
        given_tiny += p * f.tiny
        ops += p * f.taps
        separable = separable and g.split is not None
    facts = (shape, zero, tuple(normalised), exponent, log2_l1, given if known else 0)
    facts += (given_tiny, known and nonneg, ops, separable)
    if not separable or not normalised or method not in ("auto", "direct", "fft"):
        return _Plan(*facts)
    replaced = sum(f.power * f.split_roundings for f in normalised)
    return _Plan(*facts, *_axes_plan(normalised, shape, method), replaced)


@functools.lru_cache(maxsize=256)
def _plan_memo(factors: tuple[Factor, ...], dims: int, method: str) -> _Plan:
    """:func:`_plan_of`, keyed by the factors themselves (immutable; held while cached)."""
    return _plan_of(factors, dims, method)


def _axes_plan(factors, shape, method) -> tuple[int, tuple, tuple[int, ...]]:
    """The per-axis part of a separable :class:`_Plan`: scale, recipes and index.

    Each factor is split into per-axis vectors (:attr:`Factor.axis_parts`); an isotropic
    stack composes the same vector on every axis, so it has one recipe.
    """
    recipes, index, done, log2_scale = [], [], {}, 0
    for axis, n in enumerate(shape):
        parts = [f.axis_parts[axis] for f in factors]
        log2_scale += sum(f.power * k for f, (k, _) in zip(factors, parts))
        axis_factors = tuple(g for _, g in parts)
        key = (n, tuple((g.key, g.pattern_key) for g in axis_factors))  # values, support
        if key not in done:
            blocks = sum(f.power * f.taps for f in axis_factors)
            cheap = blocks <= _DIRECT_OPS and blocks * n <= _DIRECT_FLOPS
            # a map's outer product costs more than any of its axes: there exact blocks (half
            # the recurrence's bound) wherever they are affordable; in 1-D the O(n) recurrence
            skip = method == "fft" or (len(shape) > 1 and cheap)
            # (weighed against the layers only where those are affordable: else the run's
            # layers would move the axis to the FFT and its relative bound would be lost)
            run = None if skip else _recurrence_run(list(axis_factors), weigh=cheap)
            ops = blocks
            if run is not None:  # its layers cost a few operations per entry in all
                ops += _RECURRENCE_OPS - 3 * axis_factors[run[0]].power
            chosen = method
            if method == "auto":
                chosen = "direct" if ops <= _DIRECT_OPS and ops * n <= _DIRECT_FLOPS else "fft"
            _direct_affordable(chosen, ops * n)
            # (direct from non-negative kernels: no negative entry, the peak is the maximum)
            nonneg = chosen == "direct" and all(g.nonneg for g in axis_factors)
            # the run's index, and its values for this call only (a repeated call computes
            # them afresh: what the plan keeps is the network's, never a result)
            pending = [] if run is None else [run[1]]
            run = None if run is None else run[0]
            support = _axis_support(axis_factors, n)
            done[key] = len(recipes)
            recipes.append(_Recipe(axis_factors, n, run, pending, chosen, nonneg, support))
        index.append(done[key])
    return log2_scale, tuple(recipes), tuple(index)


def _compose_axes(plan: _Plan):
    """Compose a separable plan's distinct axes; each axis then takes its own.

    Returns the per-axis vectors (peak 1), their total log2 scale, the methods used, and per
    axis the roundings (None for an FFT axis), the underflow fraction (see
    :class:`Composition`) and the exact support with whether it is full (:func:`_axis_support`).
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
        top = float(vector.max()) if nonneg and vector.size > _SMALL else _peak(vector)
        shift = math.frexp(top)[1] if top else 0
        if shift or not vector.flags.writeable:  # (a fresh array: callers own it)
            vector = np.ldexp(vector, -shift)
        done.append((vector, scale + shift, count, fraction + 2 * _TINY))
    axes = [done[i] for i in plan.index]
    log2_scale = plan.axis_scale + sum(a[1] for a in axes)
    methods = {plan.recipes[i].method for i in plan.index}
    supports = [plan.recipes[i].support for i in plan.index]
    vectors, _, roundings, tiny = zip(*axes)
    return list(vectors), methods, log2_scale, list(roundings), list(tiny), supports


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
        # zero to within the terms' error: bounded in the log domain (no overflow)
        log2_bound = sum(
            f.power * (math.log2(f.l1 or f.abs_sum or _TINY) + f.exponent) for f in factors
        )
        rounded = gamma(sum(f.power * (f.roundings or 0) for f in factors) + 1)
        # an integer exponent like every other (+1 covers the log sum's own rounding)
        exponent = math.ceil(log2_bound) + 1
        return Composition(np.zeros(shape), exponent, "direct", rounded, None)
    nonneg, given, outside, ops = plan.nonneg, plan.given, exponent, plan.ops
    roundings, tiny, separable = None, 0.0, plan.separable
    if not normalised:
        values, methods, roundings = np.ones((1,) * dims), {"direct"}, 0
    elif plan.recipes:
        vectors, methods, scale, counts, tiny, supports = _compose_axes(plan)
        exponent += scale
        axes, full = zip(*supports)
        if "fft" in methods:  # clear FFT round-off on the vectors: the outer product is clean
            vectors = [_clean(v, s, nonneg) for v, s in zip(vectors, axes)]
        values = _outer(vectors) if outer or dims == 1 else None
        support = None if all(full) else tuple(axes)
        support = _outer(support) if support is not None and values is not None else support
        if None not in counts:
            # each axis, the vectors standing in for the kernels, and the outer product
            roundings = sum(counts) + plan.replaced + dims - 1
        tiny = map_fraction(tiny, vectors)
    else:
        separable, normalised = False, list(normalised)
        chosen = method
        if method == "auto":  # direct when cheap: exact for integers, relative errors
            cheap = ops <= _DIRECT_OPS and ops * math.prod(shape) <= _DIRECT_FLOPS
            chosen = "direct" if cheap else "fft"
        methods = {chosen}
        _direct_affordable(chosen, ops * math.prod(shape))
        if chosen == "direct":
            values, scale, roundings, tiny = _direct(normalised, shape)
        else:
            values, scale = _fft(normalised, shape)
        exponent += scale
    # L1 norm of the composition of |kernels|, in the units of ``values``: the scale of the
    # rounding errors (for non-negative kernels it is the sum of the values)
    l1 = 2.0 ** (plan.log2_l1 - (exponent - outside))
    if not (separable and normalised):
        support = _support(list(normalised), shape)
        support = None if support.all() else support
        if "fft" in methods:
            values = _clean(values, support, nonneg)
    if "fft" in methods:
        import scipy.fft

        grid = math.prod(scipy.fft.next_fast_len(n, real=True) for n in shape)
        # (+1: the exponent's fraction moved into the values, one rounding of each entry)
        abs_error = (10 * math.log2(max(grid, 2)) + ops + 11) * _EPS * l1
        abs_error += gamma(given) * l1  # the kernels' own roundings (typed 0.1, a pool's 1/3)
        roundings = None
    else:
        if roundings is not None:
            roundings += given  # the kernels' own roundings, per application
        tiny += plan.given_tiny
        abs_error = (gamma(roundings) + _U * tiny) * l1
        roundings = roundings if nonneg else None
    kept = tuple(vectors) if separable and normalised and values is None else None
    used = "+".join(sorted(methods))
    return Composition(values, exponent, used, abs_error, roundings, support, kept, tiny)


def _pattern_axes(pattern: np.ndarray) -> list[np.ndarray] | None:
    """The per-axis sets whose product is the boolean ``pattern``, or None if it is not one."""
    axes = [
        pattern.any(axis=tuple(b for b in range(pattern.ndim) if b != a))
        for a in range(pattern.ndim)
    ]
    return axes if np.array_equal(_outer(axes), pattern) else None


def _axis_support(factors: tuple[Factor, ...], n: int) -> tuple[np.ndarray, bool]:
    """:func:`_support` of 1-D factors and whether it is full (read-only).

    Memoised by value for a network's kernels (a few bytes each); not for a map-sized
    pattern (random weights square a composition each call), which would fill the memo.
    """
    if sum(f.pattern.size for f in factors) > _MEMO_PATTERN:
        return _axis_support_of(factors, n)
    return _axis_support_memo(tuple(f.pattern_key for f in factors), n)


def _axis_support_of(factors, n: int) -> tuple[np.ndarray, bool]:
    support = _support(list(factors), (n,))
    support.flags.writeable = False
    return support, bool(support.all())


@functools.lru_cache(maxsize=256)
def _axis_support_memo(key: tuple, n: int) -> tuple[np.ndarray, bool]:
    """:func:`_axis_support_of` of the factors ``key`` describes (patterns, scales, powers)."""
    factors = []
    for data, shape, scale, power in key:
        pattern = np.frombuffer(data, dtype=bool).reshape(shape)
        factors.append(Factor(pattern.astype(float), scale, power, support=pattern))
    return _axis_support_of(factors, n)


def _clean(values: np.ndarray, support: np.ndarray | None, nonneg: bool) -> np.ndarray:
    """FFT round-off removed: zero off the exact support, and no negatives from positive kernels."""
    if support is not None and not support.all():
        values = np.where(support, values, 0.0)
    if nonneg:
        np.maximum(values, 0.0, out=values)
    return values


def _peak(vector: np.ndarray) -> float:
    """The largest magnitude in a 1-D float array (a short one read as a list: cheaper)."""
    if vector.size <= _SMALL:
        a = list(map(abs, vector.tolist()))
        return max(a) if not math.isnan(sum(a)) else math.nan  # nan wins, as in numpy
    return float(np.abs(vector).max())


def _outer(vectors: list[np.ndarray]) -> np.ndarray:
    out = vectors[0]
    for v in vectors[1:]:
        out = np.multiply.outer(out, v)
    return out


def _direct_affordable(method: str, flops: float) -> None:
    """Refuse an explicit direct composition that would run for minutes."""
    if method == "direct" and flops > _DIRECT_LIMIT:
        raise ERFError(
            f"method='direct' would take about {flops:.2g} multiply-adds here (minutes; the "
            f"limit is {_DIRECT_LIMIT:.0g}): use method='auto' or 'fft' (an absolute error "
            "bound instead of a relative one)"
        )


def _log2_l1_bound(kernel: np.ndarray) -> int:
    """``k`` with ``2^k`` the power of two in ``[L1, 2 L1)``, without overflowing the sum."""
    top = math.frexp(float(np.abs(kernel).max()))[1]
    mantissa, exponent = math.frexp(float(np.abs(np.ldexp(kernel, -top)).sum()))
    return top + exponent - (mantissa == 0.5)


def _power_of_two(x: float) -> float:
    """The power of two in [x, 2x)."""
    mantissa, exponent = math.frexp(x)
    return math.ldexp(1.0, exponent - (mantissa == 0.5))


def _delta(shape, kind):
    out = np.empty(shape, dtype=object)
    out.fill(kind(0))
    out[(0,) * len(shape)] = kind(1)
    return out
