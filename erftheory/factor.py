"""A factor of a composition: a kernel upsampled by its scale and repeated ``power`` times.

A :class:`Factor` is immutable, and the facts about its kernel that composing it needs (its
L1 scale, rank-one split, exact pattern, exact blocks) are computed once and kept on it, so a
network's memoised factors (:func:`erftheory.path_sum._terms`) cost only their arithmetic when
composed again. :mod:`erftheory.compose` composes lists of factors.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .direct import _run_plan
from .rank_one import _rank_one, _rank_one_roundings


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
    # (:func:`erftheory.path_sum._terms`), so a repeated call reads them instead of
    # recomputing them.

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


def _log2_l1_bound(kernel: np.ndarray) -> int:
    """``k`` with ``2^k`` the power of two in ``[L1, 2 L1)``, without overflowing the sum."""
    top = math.frexp(float(np.abs(kernel).max()))[1]
    mantissa, exponent = math.frexp(float(np.abs(np.ldexp(kernel, -top)).sum()))
    return top + exponent - (mantissa == 0.5)
