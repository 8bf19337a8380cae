"""Composition plans: what composing a list of factors does, decided before computing.

A plan (:class:`_Plan`) holds the sums over the factors (exponents, L1 scales, roundings),
the shape, and for a separable composition the distinct axes to compose (:class:`_Recipe`):
each axis's method (direct, FFT, the O(n) recurrence for a 1-D run) and exact support. It
depends on the factors alone, so it is memoised for a network's factors (:func:`_plan`) and a
repeated :func:`erftheory.compose.compose` does only the arithmetic on arrays.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .direct import _RECURRENCE_OPS, _recurrence_run
from .errors import ERFError
from .factor import Factor, composed_shape
from .support import _MEMO_PATTERN, _axis_support

# auto picks "direct" for 1-D axes when it costs at most this many multiply-adds
_DIRECT_FLOPS = 3e7
_DIRECT_OPS = 4000
# an explicit method="direct" beyond this many multiply-adds (a minute or more) is refused
_DIRECT_LIMIT = 2e9


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

    @functools.cached_property
    def axis_methods(self) -> frozenset[str]:
        """The methods the axes of a separable plan take."""
        return frozenset(self.recipes[i].method for i in self.index)

    @functools.cached_property
    def axis_supports(self) -> list[tuple[np.ndarray, bool]]:
        """Per axis, the exact support and whether it is full (its recipe's)."""
        return [self.recipes[i].support for i in self.index]


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


def _direct_affordable(method: str, flops: float) -> None:
    """Refuse an explicit direct composition that would run for minutes."""
    if method == "direct" and flops > _DIRECT_LIMIT:
        raise ERFError(
            f"method='direct' would take about {flops:.2g} multiply-adds here (minutes; the "
            f"limit is {_DIRECT_LIMIT:.0g}): use method='auto' or 'fft' (an absolute error "
            "bound instead of a relative one)"
        )
