"""Path groups and their algebra: the terms a network's linearised model is a sum of.

A :class:`Term` is a group of paths through a network (random mode: paths that share their
random layers and differ only in the offsets of fixed layers, so they correlate), held as
factors (:class:`erftheory.compose.Factor`) still to be composed. Following one group by
another (:func:`_product`) multiplies their coefficients, merges their factors and places
their fixed blocks; equal groups are recognised by the multiset of their factors
(:meth:`Term.key`) and merge. :mod:`erftheory.linearize` builds the groups of a network.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .factor import Factor

__all__ = ["Term"]


@dataclass(frozen=True, eq=False)
class Term:
    """A group of paths: ``coef * compose(random) * compose(fixed) ** 2`` (random mode).

    While a network is being linearised a group may also hold ``closed`` blocks of fixed
    factors, each composed and squared on its own (the pairs of paths it counts agree in
    their displacement at a gate between the blocks), and ``closes``: its paths pass such a
    gate before any fixed factor of their own, so the fixed factors below it, in whatever
    precedes the group, become a closed block (see :func:`_product`). In random mode a group
    is then ``coef * compose(random) * C_1^2 * ... * compose(fixed)^2`` over its closed blocks
    ``C_b``; ``closes`` is resolved by the time :func:`erftheory.linearize.linearize` returns.
    """

    coef: float | Fraction
    random: tuple  # ((Factor), ...)
    fixed: tuple
    shift: tuple = ()  # input offset of the group's index 0 within the whole field
    closed: tuple = ()  # ((Factor, ...), ...): fixed blocks squared apart
    closes: bool = False

    def key(self):
        """Identity of the factor multiset and position (for merging equal groups)."""
        blocks = tuple(_multiset(b) for b in self.closed)
        return (_multiset(self.random), _multiset(self.fixed), self.shift, blocks, self.closes)


def _fkey(f: Factor):
    support = None if f.support is None else tuple(f.support.flat)
    accuracy = (f.roundings, f.tiny, support, f.cancels, f.l1, f.exponent, f.total)
    return (f.scale, f.kernel.shape, tuple(f.kernel.flat), accuracy)


def _multiset(factors) -> frozenset:
    powers = defaultdict(int)
    for f in factors:
        powers[_fkey(f)] += f.power
    return frozenset(powers.items())


def _merge_factors(factors) -> tuple:
    kept = {}
    for f in factors:
        k = _fkey(f)
        kept[k] = dataclasses.replace(f, power=kept[k].power + f.power) if k in kept else f
    return tuple(kept.values())


def _powered(factors, n: int) -> tuple:
    return tuple(dataclasses.replace(f, power=f.power * n) for f in factors)


def _add(a: tuple, b: tuple) -> tuple:
    return tuple(x + y for x, y in zip(a, b)) if a and b else (a or b)


def _joined(a: tuple, b: tuple) -> tuple:
    """The factors of two groups, equal ones merged (a group's own factors are distinct)."""
    return _merge_factors(a + b) if a and b else (a or b)


def _product(s: Term, t: Term) -> Term:
    """The group of ``s``'s paths followed by ``t``'s.

    ``s``'s open fixed factors join ``t``'s first fixed block, unless ``t`` closes them (its
    pairs of paths agree in displacement at a gate before any fixed factor of ``t``): then
    they are a block of their own. A group with no fixed factor yet passes ``t``'s closing on.
    """
    if t.closes and s.fixed:
        closed, fixed = s.closed + (s.fixed,) + t.closed, t.fixed
    elif t.closed:
        closed = s.closed + (_joined(s.fixed, t.closed[0]),) + t.closed[1:]
        fixed = t.fixed
    else:
        closed, fixed = s.closed, _joined(s.fixed, t.fixed)
    return Term(
        s.coef * t.coef,
        _joined(s.random, t.random),
        fixed,
        _add(s.shift, t.shift),
        closed,
        s.closes or (t.closes and not s.fixed and not s.closed),
    )


def _shifted(term: Term, shift: tuple) -> Term:
    return dataclasses.replace(term, shift=_add(term.shift, shift))


def _unique_displacements(factors, dims: int) -> bool:
    """Whether every displacement through the factors is reached by one choice of taps.

    Then squaring the composition equals composing the squares, at any split: a gate's
    split group equals its group. Per axis, for factors whose supports are products of
    per-axis supports (others: False); counts are capped at 2 (only ``<= 1`` matters).
    """
    counts = [np.ones(1, dtype=np.int64) for _ in range(dims)]
    for f in factors:
        support = np.asarray(f.kernel != 0)
        lines = [support.any(axis=tuple(b for b in range(dims) if b != a)) for a in range(dims)]
        if np.count_nonzero(support) != math.prod(map(np.count_nonzero, lines)):
            return False  # not a product of per-axis supports
        for axis, line in enumerate(lines):
            taps = np.zeros((line.size - 1) * f.scale[axis] + 1, dtype=np.int64)
            taps[:: f.scale[axis]] = line
            for _ in range(min(f.power, 2)):  # (a second copy of 2+ taps repeats a sum)
                counts[axis] = np.minimum(np.convolve(counts[axis], taps), 2)
                if counts[axis].max() > 1:
                    return False
    return True
