"""Rank-one kernels: per-axis vectors whose outer product is an N-d kernel.

Separable kernels are composed one axis at a time (:mod:`erftheory.compose`), so a factor's
kernel is split into vectors once (:attr:`erftheory.factor.Factor.split`): exactly, as
integer vectors, for integer-valued kernels (their layers then compose exactly), else to
rounding, with the roundings that stand for the replacement counted in the error bound.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .bounds import U as _U
from .bounds import significant_bits


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


def _outer(vectors: list[np.ndarray]) -> np.ndarray:
    out = vectors[0]
    for v in vectors[1:]:
        out = np.multiply.outer(out, v)
    return out


def _power_of_two(x: float) -> float:
    """The power of two in [x, 2x)."""
    mantissa, exponent = math.frexp(x)
    return math.ldexp(1.0, exponent - (mantissa == 0.5))
