"""The sum of a network's path groups as one array, with its error bound.

A network's linearised model (:mod:`erftheory.linearize`) is a sum of path groups
(:class:`erftheory.terms.Term`); each is composed (:func:`erftheory.compose.compose`), its
fixed part squared in random mode (:func:`_squared`), and the groups are added at their
shifts, times their coefficients (:func:`_evaluate`), the roundings and underflow of every
step counted. A network's path groups are memoised (:func:`_terms`).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .bounds import TINY as _TINY
from .bounds import split_coefficient
from .compose import compose
from .factor import Factor
from .progress import progress


def scale2(values, exponent: float):
    """``values * 2**exponent``, exact (``ldexp``) for the integer part of the exponent."""
    whole = math.floor(exponent)
    frac = exponent - whole
    return np.ldexp(values * 2.0**frac if frac else values, whole)


def _evaluate(
    terms, dims: int, mode: str, exact: bool, method: str, vectors: bool = False, memo: bool = False
):
    """Sum the path groups into one array.

    Returns ``(values, exponent, method, abs, roundings, support, tiny)``: the float result is
    ``values * 2 ** exponent``; ``roundings`` bounds every entry's relative error as
    ``gamma(roundings)`` above the underflow floor ``tiny`` (a fraction of the L1 norm), or
    is None; ``support`` is the exact non-zero pattern, or None where it is the whole box
    (per axis for vectors).

    With ``vectors``, one float path group that is separable comes back as its tuple of
    per-axis vectors instead (``erf`` forms the outer product once, after normalising a
    vector rather than the whole map). ``memo``: the terms are a network's memoised ones, so
    their compositions' plans are worth memoising (:func:`erftheory.compose.compose`).
    """
    parts = []
    lazy = vectors and len(terms) == 1 and not exact
    many = len(terms) >= 16  # random-mode path groups of branched nets: a bar (on a terminal)
    for t in progress(terms, label="erf: path groups") if many else terms:
        kind = "exact" if exact else method
        fixed = compose(list(t.fixed), dims, kind, not (lazy and mode == "ones"), memo)
        if mode == "ones":
            comp, e, abs_e, count, tiny = (
                fixed,
                fixed.exponent,
                fixed.abs_error,
                fixed.roundings,
                fixed.tiny_fraction,
            )
        else:  # the fixed part squared, and each closed block's (linearize.Term)
            comp, e, abs_e, count, tiny = _squared_group(t, fixed, dims, kind, exact, lazy, memo)
        parts.append(
            (
                comp.values if comp.values is not None else comp.vectors,
                e,
                t.coef if exact else split_coefficient(t.coef),
                t.shift or (0,) * dims,
                comp.method,
                abs_e,
                count,
                comp.support,
                tiny,
            )
        )
    if len(parts) == 1 and not exact:  # one path group: no sum to form, no copy to make
        values, e, (coef, shift2, rounded), _, used, abs_e, count, supp, tiny = parts[0]
        if coef != 1:
            values = (values[0] * coef, *values[1:]) if isinstance(values, tuple) else values * coef
            count = None if coef < 0 or count is None else count + 1 + rounded
        return values, e + shift2, used, abs(coef) * abs_e, count, supp, tiny
    return _sum_groups(parts, dims, exact)


def _squared_group(term, fixed, dims: int, kind: str, exact: bool, lazy: bool, memo: bool):
    """A random-mode path group composed: its random factors times its squared fixed blocks.

    ``fixed`` is the group's composed fixed part; it and each closed block (composed here) are
    squared (:func:`_squared`) and composed with the random factors. Returns ``(comp, e,
    abs_e, count, tiny)`` as :func:`_evaluate` takes them from a ones-mode group: the
    composition, its exponent, its absolute error (in its units), the roundings of its
    relative bound (or None) and its underflow fraction.
    """
    blocks = [fixed] + [compose(list(b), dims, kind, True, memo) for b in term.closed]
    squares = [_squared(b, dims, exact) for b in blocks]
    comp = compose([*term.random, *(f for f, *_ in squares)], dims, kind, outer=not lazy)
    e = comp.exponent + sum(2 * b.exponent + e_sq for b, (_, e_sq, *_) in zip(blocks, squares))
    # an entry of a square is off by at most 2 max|F| times F's error (its units);
    # the other factors' L1 norms are at most 1 (in theirs): the errors add
    abs_e = comp.abs_error + sum(
        2 * b.abs_error * peak for b, (*_, peak, _) in zip(blocks, squares)
    )
    rounded = [b.roundings for b in blocks]  # each squared, then rounded
    count = (
        None
        if None in (comp.roundings, *rounded)
        else comp.roundings + sum(2 * r + 1 for r in rounded)
    )
    tiny = comp.tiny_fraction + sum(extra for *_, extra in squares)
    return comp, e, abs_e, count, tiny


def _sum_groups(parts: list, dims: int, exact: bool):
    """The path groups' compositions, each times its coefficient at its shift, summed.

    ``parts`` as :func:`_evaluate` builds them; returns what it returns.
    """
    shape = tuple(max(s[a] + v.shape[a] for v, _, _, s, *_ in parts) for a in range(dims))
    if not exact:  # each group's power of two into its exponent: (values, e + shift, coef)
        parts = [(v, e + c[1], c, *rest) for v, e, c, *rest in parts]
    top = max(p[1] for p in parts)
    out = np.zeros(shape, dtype=object if exact else float)
    support = np.zeros(shape, dtype=bool)
    if exact:
        out.fill(0)
    abs_error, counts, fractions, methods = 0.0, [], [], set()
    for values, e, coef, shift, used, abs_e, count, supp, tiny in parts:
        if not exact:
            coef, rounded = coef[0], coef[2]
            count = None if count is None else count + rounded
        weight = coef if exact else scale2(coef, e - top)
        where = tuple(slice(s, s + n) for s, n in zip(shift, values.shape))
        out[where] += weight * values
        support[where] |= True if supp is None else supp
        abs_error += abs(weight) * abs_e if not exact else 0.0
        counts.append(None if coef < 0 else count)
        fractions.append(tiny)
        methods.add(used)
    count, tiny = (0, 0.0) if exact else (None, 0.0)
    if None not in counts and not exact:
        # an entry takes at most one term per group: a product by its weight, then sums
        count = max(counts) + len(parts)
        # each group's underflow error scales with its own L1, at most the total's; a
        # weight (or its product) below the normal range adds at most u tiny 2^8 per group
        l1 = float(np.sum(out))
        tiny = max(fractions) + len(parts) * 2.0**9 * np.finfo(float).tiny / l1 if l1 else 0.0
    used = "+".join(sorted(methods))
    return out, (0 if exact else top), used, abs_error, count, support, tiny


def _squared(fixed, dims: int, exact: bool):
    """A composed fixed part squared, as a factor: ``(factor, e_sq, peak, tiny)``.

    The square is scaled by ``2**-e_sq`` to an L1 norm in [1/2, 1); ``peak`` is ``max|F|``
    in its units (an entry of the square is off by at most ``2 peak`` times ``F``'s error);
    ``tiny`` the fraction of the result's L1 norm its underflow adds (see
    :class:`erftheory.compose.Composition`): at most ``2 max|F| u tiny_F L1(F)`` per entry
    plus the squaring's own, spread through the other factors to that over ``sum F^2``. A
    trivial fixed part (one entry) adds nothing.
    """
    square = fixed.values * fixed.values
    if exact:
        square.flags.writeable = False
        return Factor(square, (1,) * dims), 0, 0.0, 0.0
    total = float(square.sum())
    e_sq = math.frexp(total)[1]
    # the square's exact pattern is the fixed part's (squares of tails may flush)
    pattern = fixed.support
    if pattern is None:
        pattern = np.ones(square.shape, dtype=bool)
    kernel = scale2(square, -e_sq)
    for local in (kernel, pattern):  # read-only: a Factor then keeps it, uncopied
        local.flags.writeable = False
    f = np.abs(fixed.values)
    peak = float(f.max()) * 2.0**-e_sq
    tiny = 0.0
    if fixed.values.size > 1 and total:  # (all zero: a zero map, no tails)
        tiny = (2 * float(f.max()) * float(f.sum()) * fixed.tiny_fraction + _TINY) / total
    return Factor(kernel, (1,) * dims, support=pattern), e_sq, peak, tiny


def _factors(term) -> tuple:
    """Every factor of a path group (:class:`erftheory.linearize.Term`)."""
    return term.random + term.fixed + sum(term.closed, ())


# A pure function of an immutable network, memoised: a notebook, a sweep or a check calls erf
# on the same few networks again and again (a zoo network's path groups take milliseconds).
# The cached kernels are read-only, so no caller can change what the next call reads.
@functools.lru_cache(maxsize=64)
def _terms(net, weights: str, exact: bool) -> tuple:
    from .linearize import linearize

    terms = tuple(linearize(net, weights, exact))
    for t in terms:
        for f in _factors(t):
            f.kernel.flags.writeable = False
            if f.support is not None:
                f.support.flags.writeable = False
    return terms
