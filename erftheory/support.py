"""Exact supports: where a composition of kernels is non-zero, whatever its float values.

The support of a composition is the Minkowski sum of its factors' exact non-zero patterns
(:func:`_support`), so round-off (an FFT's, or a tail's underflow) can be cleared off it and
never shows as a value where the exact one is zero. A separable composition's per-axis
supports are memoised by value for a network's kernels (:func:`_axis_support`).
"""

from __future__ import annotations

import functools

import numpy as np

from .factor import Factor, _upsample
from .rank_one import _outer

# axis supports and composition plans are memoised for kernels up to this many entries in
# all (a network's; not a map squared for random weights, a new one each call)
_MEMO_PATTERN = 4096


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
