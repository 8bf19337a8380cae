"""The effective receptive field of a network's centre output unit, on an unbounded input.

For a linear network ``d y / d x`` is the composition of the layers' kernels, each upsampled by
its dilation times the jump below it::

    g = (w_1 up 1) * (w_2 up d_2 J_1) * ... * (w_L up d_L J_(L-1))

Index 0 of the array on each axis is the first input pixel of the theoretical receptive field.
``weights="ones"`` gives ``E[d y / d x]`` (exact path counts for an all-ones network);
``weights="random"`` gives ``E[(d y / d x)^2]`` for iid zero-mean unit-variance conv weights.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from fractions import Fraction

import numpy as np

from .bounds import TINY as _TINY
from .bounds import U as _U
from .bounds import (
    accurate_sum,
    count_below_outer,
    divide_and_count_below,
    gamma,
    min_max_sum,
    split_coefficient,
    vector_facts,
)
from .budget import _check_budget
from .compose import Factor, _outer, compose
from .errors import ERFError
from .parse import as_network
from .progress import progress
from .receptive_field import ReceptiveField, receptive_field
from .result import ERFResult

__all__ = ["erf", "ERFResult", "DEFAULT_MAX_BYTES"]

DEFAULT_MAX_BYTES = 4 * 2**30
_FLOAT_MAX_LOG10 = math.log10(np.finfo(float).max)
_FLOAT_MIN_LOG10 = math.log10(np.finfo(float).tiny)  # a raw peak below this is all underflow
_EXACT_MAX_OPS = 5e6
_EXACT_MAX_WORK = 1e8  # operations times the 64-bit words of their numbers: ~10 s
_ZERO_SUM = (
    "the ERF's signed entries cancel: its sum is exactly zero (the product of its kernels' "
    "sums, as typed), so it cannot be normalised to sum; normalize='peak' (--normalize peak) "
    "divides by the peak"
)
_EXACT_SUM_BITS = 2_000_000  # an exact sum of kernel sums' powers: milliseconds
_WEIGHTS = ("ones", "random")
_NORMALIZE = (None, "sum", "peak")
_METHODS = ("auto", "direct", "fft")


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
    for t in progress(terms, label="erf: path groups", enabled=None if many else False):
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
            blocks = [fixed] + [compose(list(b), dims, kind, True, memo) for b in t.closed]
            squares = [_squared(b, dims, exact) for b in blocks]
            comp = compose([*t.random, *(f for f, *_ in squares)], dims, kind, outer=not lazy)
            e = comp.exponent + sum(
                2 * b.exponent + e_sq for b, (_, e_sq, *_) in zip(blocks, squares)
            )
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
    :class:`Composition`): at most ``2 max|F| u tiny_F L1(F)`` per entry plus the squaring's
    own, spread through the other factors to that over ``sum F^2``. A trivial fixed part
    (one entry) adds nothing.
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


def _exact_bits(kernel: np.ndarray) -> tuple[int, int]:
    """Bits one application of an exact kernel adds to a path sum's numerator and denominator.

    Those of its L1 norm over a common denominator, and of that denominator.
    """
    weights = [Fraction(w) for w in kernel.flat if w != 0]
    den = math.lcm(*(w.denominator for w in weights)) if weights else 1
    l1 = sum(abs(w.numerator) * (den // w.denominator) for w in weights)
    return max(l1, 1).bit_length(), den.bit_length() - 1


def _factors(term) -> tuple:
    """Every factor of a path group (:class:`erftheory.linearize.Term`)."""
    return term.random + term.fixed + sum(term.closed, ())


def _refuse_slow_exact(terms, size: int) -> None:
    """Refuse exact arithmetic that would take more than about ten seconds, before it starts.

    The count of operations on Python numbers (entries times taps; random mode's squared
    fixed part is one kernel of its own size), weighted by the size of those numbers.
    """
    ops = size * sum(f.power * np.count_nonzero(f.kernel) for t in terms for f in _factors(t))
    for t in terms:  # random mode: each squared fixed part is one kernel of its own size
        for block in [t.fixed, *t.closed] if t.random or t.closed else []:
            spans = [sum(s) for s in zip(*(f.span for f in block))]
            ops += size * math.prod(n + 1 for n in spans)
    # an operation costs with the size of its numbers: weights typed with many digits
    # (1e-300 is 1/10^300) make every path sum thousands of bits long. A common
    # denominator reduces cheaply against small numerators, so its words count an
    # eighth (measured: 50-200 ns per unit of work, int and Fraction alike)
    num = den = 0
    for t in terms:  # random mode squares the fixed part: its bits count twice
        fixed = t.fixed + sum(t.closed, ())
        times = [1] * len(t.random) + [2 if t.random or t.closed else 1] * len(fixed)
        sizes = [(m * f.power, _exact_bits(f.kernel)) for m, f in zip(times, t.random + fixed)]
        num = max(num, sum(m * b[0] for m, b in sizes))
        den = max(den, sum(m * b[1] for m, b in sizes))
    work = ops * (1 + num / 64 + den / 512)
    if ops > _EXACT_MAX_OPS or work > _EXACT_MAX_WORK:
        sizes = f"integers of up to {num:,} bits" + (
            f" over {den:,}-bit denominators" if den else ""
        )
        over = (
            f"about {ops:.2g} operations, over the limit of {_EXACT_MAX_OPS:.0g}"
            if ops > _EXACT_MAX_OPS
            else f"about {ops:.2g} operations on {sizes}: {work:.2g} operations times their "
            f"64-bit words, over the limit of {_EXACT_MAX_WORK:.0g}"
        )
        raise ERFError(
            f"exact arithmetic would take {over} (about ten seconds); drop exact=True "
            "(--exact) for float64 results with a stated error bound"
        )


# Pure functions of an immutable network, memoised: a notebook, a sweep or a check calls erf
# on the same few networks again and again (a zoo network's path groups take milliseconds).
# The cached kernels are read-only, so no caller can change what the next call reads.
@functools.lru_cache(maxsize=64)
def _receptive_field(net) -> ReceptiveField:
    return receptive_field(net)


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


def _check(name, value, valid):
    if value not in valid:
        raise ERFError(f"{name}={value!r} is not one of {', '.join(map(repr, valid))}")


def erf(
    arch,
    weights: str = "ones",
    normalize: str | None = None,
    exact: bool = False,
    method: str = "auto",
    max_bytes: float = DEFAULT_MAX_BYTES,
    input_shape=None,
    unit=None,
    variance=None,
) -> ERFResult:
    """The effective receptive field of the centre output unit.

    Parameters
    ----------
    arch : Network, dict, str or path
        The architecture (network, JSON dict or file, or compact string such as ``"conv3*10"``).
    weights : {"ones", "random"}
        ``"ones"``: ``E[d y / d x]`` with all conv weights 1 (unless explicit), exact path
        counts for an all-ones network. ``"random"``: ``E[(d y / d x)^2]`` for iid zero-mean
        unit-variance conv weights.
    normalize : {None, "sum", "peak"}
        Divide by the total or by the largest absolute value; needed for deep networks whose
        raw values overflow float64 (about 3^646 for 3-tap layers). The total is the product
        of the kernels' sums, exact even where signed entries nearly cancel; the map then
        sums to 1 (a negative total flips its signs); a total of exactly zero is refused, and
        one so small that the quotients leave float64 too (``exact=True`` keeps them).
    exact : bool
        Compute in Python integers / fractions (``exact_values``); for teaching sizes.
        Weights count as typed in every mode (``0.1`` is 1/10; float bounds include the
        rounding of 0.1 to float64).
    method : {"auto", "direct", "fft"}
        Float composition method (see :mod:`erftheory.compose`); the result records it.
    max_bytes : float
        Refuse, before allocating, an ERF whose working memory would exceed this.
    input_shape : sequence of int, optional
        The input resolution, needed (only) to size global and adaptive pooling.
    variance : array or callable, optional
        With ``weights="random"``: the per-offset variance of the conv weights whose kernel
        has this shape (a centre-light or border-heavy initialisation), instead of 1; or a
        function of a conv layer returning its variance kernel (None: unit variances).
    unit : sequence of int, or int for a 1-d network, optional
        The output unit (default 0; indices up to 2^40 in magnitude), where the ERF
        depends on it: upsampling and transposed convs (the unit's phase) and locally
        connected layers. On an unbounded input every other network gives every unit the
        same ERF.

    Returns
    -------
    ERFResult

    Raises
    ------
    ERFError
        Bad input, a raw result beyond float64, or a result beyond the memory budget.

    Examples
    --------
    >>> r = erf("1d: conv3*2")
    >>> r.values.tolist()
    [1.0, 2.0, 3.0, 2.0, 1.0]
    >>> round(float(r.std[0]) ** 2, 12)  # n (k^2 - 1) / 12 = 2 * 8 / 12
    1.333333333333
    >>> erf("conv3*3", exact=True).exact_values[3, 3]  # (7 paths per axis at the centre)^2
    49

    References
    ----------
    W. Luo, Y. Li, R. Urtasun, R. Zemel, "Understanding the Effective Receptive Field in Deep
    Convolutional Neural Networks", NeurIPS 2016.
    """
    _check("weights", weights, _WEIGHTS)
    _check("normalize", normalize, _NORMALIZE)
    _check("method", method, _METHODS)
    if exact and method != "auto":
        raise ERFError(f"exact=True computes exactly; method={method!r} picks a float method")
    _check_budget(max_bytes)
    net = as_network(arch)
    if unit is not None:
        unit = _unit(unit, net.dims)
    if input_shape is not None:
        from .resolution import at_resolution

        net = at_resolution(net, input_shape)
    rf = _receptive_field(net)
    size = math.prod(rf.size)
    needed = size * 8 * (12 if exact else 6)
    if needed > max_bytes:
        raise ERFError(
            f"the ERF is {' x '.join(map(str, rf.size))} = {size:,} values and needs about "
            f"{needed / 2**30:.3g} GiB of working memory, over the budget of "
            f"{max_bytes / 2**30:.3g} GiB; raise it with max_bytes= (--max-memory on the "
            "command line) or describe a shallower network"
        )
    if net.fractional:
        return _fractional_result(net, rf, weights, normalize, exact, unit)
    if variance is not None and weights != "random":
        raise ERFError("variance= applies to weights='random' (the weights' variances)")
    if variance is None:
        terms = _terms(net, weights, exact)
    else:
        from .linearize import _checked_variance, linearize

        variance = _checked_variance(variance, net)  # kept on the result (its analysis)
        terms = linearize(net, weights, exact, variance)
    if exact:
        _refuse_slow_exact(terms, size)
    values, exponent, used, abs_error, count, support, tiny = _evaluate(
        terms, net.dims, weights, exact, method, vectors=True, memo=variance is None
    )
    vectors = values if isinstance(values, tuple) else None
    # per vector (once per distinct one: isotropic stacks share it) min, max, sum, roundings
    facts = None if vectors is None else _each(vectors, vector_facts)
    if vectors is not None and min(f[0] for f in facts) < 0:
        values, vectors = _outer(list(vectors)), None  # signed: the general passes below
        support = None if support is None else _outer(list(support))
        tiny, count = 0.0, None
    shape = tuple(v.size for v in vectors) if vectors is not None else values.shape
    if shape != rf.size:  # the two recurrences must agree: a bug if not
        raise AssertionError(f"ERF shape {shape} != receptive field {rf.size}")
    if exact:
        result = _exact_result(values, rf, weights, normalize, net)
        notes = _model_notes(net) if weights == "random" else ()
        if notes or variance is not None:
            result = dataclasses.replace(result, notes=notes, variance=variance)
        return result
    if vectors is not None:
        # a non-negative outer product: its min, max and sum come from the vectors (fl is
        # monotone, so the extremes are exactly the map's), and the map is formed once
        # (products taken in the outer product's order: exactly the map's entries)
        low, high, total = (math.prod(f[i] for f in facts) for i in (0, 1, 2))
    else:
        values = np.ascontiguousarray(values, dtype=float)  # no copy for fresh arrays
        low, high, total = min_max_sum(values)
    if low < 0:
        count = None  # relative bounds are for non-negative maps
    peak = max(high, -low)
    log2 = math.log10(2)
    log10_mass = math.log10(abs(total)) + exponent * log2 if total else -math.inf
    negative = False  # normalised to sum: whether the sum is negative (signs then flip)
    first_axis = False  # vectors normalised by the exact total: on the first axis alone
    if peak == 0:  # the paths cancel exactly (e.g. x + (-x)): nothing to scale
        if normalize is not None:
            raise ERFError(f"the ERF is identically zero; it cannot be normalised to {normalize}")
        divisor = 1.0  # raw: the bounds keep their scale (2^exponent, below)
    elif normalize is None:
        log10_peak = math.log10(peak) + exponent * log2
        # the map's sums (mass, moments) must stay finite too, hence the mass
        # (a signed map may peak beyond float64 while its sum cancels back inside it)
        if max(log10_mass, log10_peak) > _FLOAT_MAX_LOG10 or log10_peak < _FLOAT_MIN_LOG10:
            where = (
                f"peaks at 10^{log10_peak:.1f}"
                if log10_peak < 0 or log10_peak > _FLOAT_MAX_LOG10
                else (f"sums to 10^{log10_mass:.1f}")
            )
            raise ERFError(
                f"the raw ERF {where}, outside float64 (10^-308 to 10^308); use "
                "normalize='sum' or 'peak' (--normalize), or exact=True (--exact) for the "
                "exact counts (values then at peak 1)"
            )
        # raw: times 2^exponent by scale2 (exact: every method's exponent is an integer; a
        # float 2^exponent itself may be out of range where the values times it are not)
        divisor = 1.0
    elif normalize == "sum":
        divisor, negative = abs(total), total < 0  # to sum 1: a negative sum flips signs
        known = None
        if count is not None:  # non-negative, relative bounds: the exact sum where known
            known = _exact_total(net, weights) if variance is None else None
        if known:  # correctly rounded: the values' errors and 2 roundings (vectors: below)
            divisor, count, first_axis = _float_ratio(known, exponent), count + 2, True
        elif count is not None and vectors is None:  # (vectors are summed one by one below)
            divisor, extra = accurate_sum(values)  # the values' errors, over their sum's
            count = 2 * count + extra + 1
    else:
        divisor = peak
        count = None if count is None else 2 * count + 1  # the peak is one of the values
    raw = normalize is None
    if count is None and not raw:  # an absolute bound only: the divisor's error enters it
        known = None
        if normalize == "sum" and vectors is None:
            known = _exact_sum(terms, weights, exponent)
        if known == 0:
            raise ERFError(_ZERO_SUM)
        if normalize == "sum" and (known or divisor):  # (a float sum of 0 is refused below)
            reach = math.log10(peak) - (_log10(abs(known)) if known else math.log10(divisor))
            if reach > _FLOAT_MAX_LOG10:
                raise ERFError(
                    f"normalised to sum, the ERF's entries would reach 10^{reach:.1f} (its "
                    "signed entries cancel to a sum that much below its peak), beyond float64; "
                    "normalize='peak' (--normalize peak), or exact=True (--exact) for the "
                    "exact values"
                )
        if known is not None:  # correctly rounded: only u off, however much the terms cancel
            divisor = abs(float(known))
            negative = known < 0
        off = None if known is None else _U * divisor
        abs_error = _normalised_error(values, normalize, divisor, peak, abs_error, off)

    def rescale(x: float) -> float:  # a scalar in the units of the result
        return float(scale2(x, exponent)) if raw else x / divisor

    if vectors is not None:
        # each vector to peak 1 (or sum 1): then the map's peak is exactly 1 (its sum 1 to
        # rounding), or the first over the map's exact total (the others at their peak near
        # 1: no product is below the map's entry, so none underflows before it); raw maps
        # share 2^exponent among the vectors (exact for an integer one).
        # The scaled vectors' least entries and sums follow from the vectors' (rounding is
        # monotone: the least quotient is the quotient of the least entry, exactly)
        if raw:
            d = len(vectors)
            shares = [exponent // d + (a < exponent % d) for a in range(d)]
            scaled = [np.ldexp(v, k) for v, k in zip(vectors, shares)]
            lows = [math.ldexp(f[0], k) for f, k in zip(facts, shares)]
            sums = [math.ldexp(f[2], k) for f, k in zip(facts, shares)]
        elif first_axis:  # the map over its exact total: that division on one axis alone
            scaled = [vectors[0] / divisor, *vectors[1:]]
            lows = [facts[0][0] / divisor, *(f[0] for f in facts[1:])]
            sums = [facts[0][2] / divisor, *(f[2] for f in facts[1:])]
        else:
            divisors = {id(v): f[1 if normalize == "peak" else 2] for v, f in zip(vectors, facts)}
            scaled = _each(vectors, lambda v: v / divisors[id(v)])
            lows = [f[0] / divisors[id(v)] for v, f in zip(vectors, facts)]
            sums = [f[2] / divisors[id(v)] for v, f in zip(vectors, facts)]
            if normalize == "sum" and count is not None:  # per vector, as for a map
                count = 2 * count + sum(f[3] + 1 for f in facts)
        values = _outer(scaled)
        # the relative bound holds above the floor (tiny times the map's L1 norm, its
        # rounding covered by the bound's +2 below): count the support's entries below it
        floor = max(_TINY, tiny * math.prod(sums))
        if support is not None:
            scaled = [v[a] for v, a in zip(scaled, support)]
            lows = [f[0] for f in _each(scaled, vector_facts)]
        below = math.prod(lows) < floor  # the map's least entry, exactly
        underflow = count_below_outer(scaled, floor) if below else 0
    else:
        floor = max(_TINY, tiny * rescale(abs(total))) if count is not None else _TINY
        if raw:
            values = scale2(values, exponent)
        underflow = divide_and_count_below(values, divisor, support, floor, low >= 0)
        if negative:  # divided by the sum's magnitude; its sign (exactly) makes the sum 1
            np.negative(values, out=values)
    # entries above the floor: their underflow error is at most u (and u for the floor's)
    rel_error = None if count is None else gamma(count + 2)
    abs_error = rescale(abs_error) if raw or count is not None else abs_error
    if rel_error is not None:  # normalising moved every entry by up to its relative bound
        top = rescale(peak) * (1 + 4 * _U)  # the largest entry, rounding included
        abs_error = max(abs_error, rel_error * top + floor)
    return ERFResult(
        values=values,
        receptive_field=rf,
        weights=weights,
        normalize=normalize,
        method=used,
        log10_mass=log10_mass,
        abs_error=abs_error,
        rel_error=rel_error,
        underflow=int(underflow),
        underflow_floor=float(floor),
        network=net,
        notes=_model_notes(net) if weights == "random" else (),
        variance=variance,
    )


def _model_notes(net) -> tuple[str, ...]:
    """What random mode's model leaves out for this network (:attr:`ERFResult.notes`).

    A max pool routes each window's gradient to one of its inputs, modelled as a random
    kernel of ``1/k`` per tap (THEORY.md section 4's literal rule): the routings of
    different windows get zero covariance, so where a later fixed kernel (an average pool,
    explicit weights) adds them up their cross terms are dropped. That is not a model of
    independent windows (which keeps ``E[r] E[r']`` between them) and real max pools over
    overlapping windows correlate them more: for iid inputs 1-D ``maxpool3/s1,
    avgpool3/s1`` has mass ``1/3`` here, ``0.457`` with independent windows and about
    ``0.60`` for the real pool. Layers are taken in order, blocks included.
    """
    from .architecture import AvgPool, Conv, MaxPool, _all_layers
    from .parse import describe

    pool = None
    for layer in _all_layers(net.layers):
        if isinstance(layer, MaxPool) and math.prod(layer.kernel) > 1:
            pool = pool or layer
        if pool is None:
            continue
        if isinstance(layer, AvgPool):
            taps = math.prod(layer.kernel)
        elif isinstance(layer, Conv) and layer.weights is not None:
            taps = int(np.count_nonzero(layer.weight_array))
        else:
            continue
        if taps > 1:
            return (
                f"{describe(pool)} routes each window to one input, modelled as a 1/k "
                "kernel with zero covariance between different windows' routings (THEORY.md "
                f"section 4), but {describe(layer)} after it adds routes of different "
                "windows, and a real max pool's overlapping windows correlate: the map "
                "leaves those cross terms out (low, for non-negative weights); `erftheory check` "
                "measures the gap",
            )
    return ()


_MAX_UNIT = 2**40  # unit indices: far beyond any feature map, exact in every float step


def _unit(unit, dims: int) -> tuple[int, ...]:
    """An output unit's indices, checked: integers (a bare one for 1-D), one per axis."""
    if isinstance(unit, (int, np.integer)) and not isinstance(unit, bool):
        unit = (unit,)
    try:
        values = list(unit)
    except TypeError:
        values = None
    if values is None or len(values) != dims:
        raise ERFError(f"unit={unit!r} needs {dims} integer indices (dims={dims})")
    for u in values:
        if isinstance(u, bool) or not isinstance(u, (int, np.integer)):
            raise ERFError(f"unit={unit!r}: indices are integers, got {u!r}")
        if abs(u) > _MAX_UNIT:
            raise ERFError(
                f"unit={unit!r}: indices up to 2^40 in magnitude (the ERF depends on the "
                "unit's phase only: an index that large says the same as a small one with "
                "its phase)"
            )
    return tuple(int(u) for u in values)


def _each(vectors, function) -> list:
    """``function`` of every vector, once per distinct one (isotropic stacks share one)."""
    done = {}
    for v in vectors:
        if id(v) not in done:
            done[id(v)] = function(v)
    return [done[id(v)] for v in vectors]


@functools.lru_cache(maxsize=64)
def _exact_total(net, weights: str) -> Fraction | None:
    """:func:`_exact_sum` of the network's map in units of 1, memoised (a network's fact)."""
    return _exact_sum(_terms(net, weights, False), weights, 0)


def _float_ratio(x: Fraction, exponent: int) -> float:
    """``x / 2**exponent`` correctly rounded (Python's int division is), for a result in range."""
    num, den = x.numerator, x.denominator
    if exponent >= 0:
        return num / (den << exponent)
    return (num << -exponent) / den


def _exact_sum(terms, weights: str, exponent: int) -> Fraction | None:
    """The map's sum in units of ``2**exponent``, exactly, or None where it is not known.

    A convolution's sum is the product of its factors' sums (:attr:`Factor.total`, the
    kernels as given; a join's is its branches' added), so it is exact however much the
    map's signed entries cancel. None for random weights (squares, not products, of sums), a
    kernel whose sum is not known, or products past ``_EXACT_SUM_BITS`` bits.
    """
    if weights != "ones" or exponent != int(exponent):
        return None
    total, bits = Fraction(0), 0
    for t in terms:
        product = Fraction(t.coef)
        for f in t.fixed:
            if f.total is None:
                return None
            bits += f.power * (f.total.numerator.bit_length() + f.total.denominator.bit_length())
            if bits > _EXACT_SUM_BITS:
                return None
            product *= f.total**f.power
        total += product
    return total / Fraction(2) ** int(exponent)


def _normalised_error(
    values, normalize, divisor: float, peak: float, error: float, off: float | None = None
) -> float:
    """Absolute bound of a map divided by its sum or peak, both computed, both off.

    For maps with an absolute bound only (signed, or from the FFT). With every entry within
    ``A`` (``error``) and the divisor ``D`` within ``E`` (the sum: ``N A`` plus its own
    rounding, ``gamma(N) sum |v|``; the peak: ``A``), ``|v'/D' - v/D| <= (A + peak E / D) /
    (D - E)``, plus the division's rounding. A divisor that is zero to within ``E`` (signed
    paths that cancel) cannot be divided by: refused. ``values`` is the map, or the
    non-negative vectors of an outer product. ``off``, where given, is ``E`` (an exact
    sum's rounding).
    """
    if off is None and normalize == "sum":
        if isinstance(values, tuple):
            size = math.prod(v.size for v in values)
            l1 = math.prod(float(np.abs(v).sum()) for v in values)
        else:
            size, l1 = values.size, float(np.abs(values).sum())
        off = size * error + gamma(size) * l1
    elif off is None:
        off = error
    if off >= divisor:
        raise ERFError(
            f"the ERF's {normalize} is zero to within its error bound (its signed paths "
            f"cancel), so it cannot be normalised to {normalize}"
            + ("; normalize='peak' (--normalize peak) divides by the peak" * (normalize == "sum"))
            + "; exact=True (--exact) computes it exactly"
        )
    return (error + peak * off / divisor) / (divisor - off) + _U * (peak + error) / (divisor - off)


def _exact_result(values, rf, weights, normalize, net) -> ERFResult:
    flat = list(values.flat)
    total = sum(flat, Fraction(0))
    peak = max(abs(v) for v in flat)
    if peak == 0 and normalize is not None:
        raise ERFError(f"the ERF is identically zero; it cannot be normalised to {normalize}")
    if normalize == "sum" and total == 0:
        raise ERFError(_ZERO_SUM)
    if normalize is not None:
        divisor = total if normalize == "sum" else peak
        values = np.array([Fraction(v) / divisor for v in flat] + [None], dtype=object)[:-1]
        values = values.reshape(rf.size)
        flat = list(values.flat)
    log10_mass = _log10(abs(total)) if total else -math.inf
    exact_flat = flat
    top = max(abs(v) for v in flat)  # after normalising (a sum that cancels lifts it)
    beyond = max(log10_mass if normalize is None else -math.inf, _log10(top) if top else 0)
    if beyond > _FLOAT_MAX_LOG10:
        # raw counts (or a sum's quotients) beyond float64: exact_values keeps them, values
        # their floats at peak 1 (and the result says it is peak-normalised), never inf
        normalize, flat = "peak", [Fraction(v) / top for v in flat]
    floats = np.array([float(v) for v in flat]).reshape(rf.size)
    # rescaled counts are not the counts; otherwise compare every float with its count
    float_exact = exact_flat is flat and all(Fraction(f) == v for f, v in zip(floats.flat, flat))
    simplified = np.array(
        [int(v) if Fraction(v).denominator == 1 else Fraction(v) for v in exact_flat] + [None],
        dtype=object,
    )[:-1].reshape(rf.size)
    return ERFResult(
        values=floats,
        receptive_field=rf,
        weights=weights,
        normalize=normalize,
        method="exact",
        log10_mass=log10_mass,
        abs_error=0.0 if float_exact else float(np.max(np.abs(floats))) * np.finfo(float).eps,
        rel_error=0.0 if float_exact else np.finfo(float).eps / 2,
        exact_values=simplified,
        float_exact=float_exact,
        network=net,
    )


def _adjoint_ops(layers) -> int:
    """Roundings per path of the adjoint pass: taps per layer, nested repeats multiplied."""
    from .architecture import Block, Branches

    total = 0
    for layer in layers:
        if isinstance(layer, Branches):
            own = sum(_adjoint_ops(path) for path in layer.branches) + len(layer.branches)
        elif isinstance(layer, Block):
            own = _adjoint_ops(layer.layers) + 1  # a residual's skip is one more sum
        else:
            taps = getattr(layer, "kernel", None) or getattr(layer, "factor", None) or (1,)
            own = math.prod(taps) if isinstance(taps, tuple) else int(taps)
            own = 2 * own + 1  # a product and a sum per tap (bilinear: a weight each), slack
        total += layer.repeat * own
    return total


def _has_negative_weight(layers) -> bool:
    """Whether any explicit weight (conv, transposed or locally connected) is negative."""
    from .architecture import _all_layers

    return any(
        getattr(layer, "weights", None) is not None and (layer.weight_array < 0).any()
        for layer in _all_layers(layers)
    )


def _log10(x) -> float:
    """log10 of a positive int or Fraction of any size."""
    x = Fraction(x)
    return _ilog10(x.numerator) - _ilog10(x.denominator)


def _ilog10(n: int) -> float:
    shift = max(n.bit_length() - 60, 0)
    return math.log10(n >> shift) + shift * math.log10(2)


def _fractional_result(net, base, weights, normalize, exact, unit) -> ERFResult:
    """The ERF of a network with upsampling/transposed convs (see :mod:`erftheory.adjoint`)."""
    from .adjoint import backpropagate

    if weights != "ones" or exact:
        raise ERFError(
            "networks with upsampling or transposed convs have an analytic ERF in "
            "weights='ones' float mode only (random weights and exact mode are not modelled "
            "for fractional strides yet)"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        values, start = backpropagate(net, unit)
    if not np.isfinite(values).all():
        raise ERFError(
            "the ERF overflows float64 in the backward pass of this network (weights too "
            "large for its depth); scale the explicit weights down"
        )
    rf = ReceptiveField(
        values.shape, base.effective_stride, start, base.rows, base.treated_as_identity
    )
    total = float(values.sum())
    peak = float(np.max(np.abs(values)))
    if peak == 0 and normalize is not None:
        raise ERFError(f"the ERF is identically zero; it cannot be normalised to {normalize}")
    ops = _adjoint_ops(net.layers)
    # the roundings scale with the paths' absolute products, which signed weights can make
    # far larger than the values they cancel down to: a second pass with |w| measures them
    scale = float(np.abs(values).sum())
    if _has_negative_weight(net.layers):
        with np.errstate(over="ignore", invalid="ignore"):
            scale = float(backpropagate(net, unit, absolute=True)[0].sum())
        if not math.isfinite(scale):
            raise ERFError(
                "the error bound of this ERF overflows float64 (its signed paths' absolute "
                "products leave float64 before they cancel); scale the explicit weights down"
            )
        scale *= 1 + gamma(ops + 2)  # the pass's own roundings (non-negative terms)
    error = gamma(ops + 2) * scale
    divisor = 1.0
    if normalize is not None:  # to sum 1 (a negative sum flips the signs) or to peak 1
        divisor = total if normalize == "sum" else peak
        error = _normalised_error(values, normalize, abs(divisor), peak, error)
    values = values / divisor
    return ERFResult(
        values=values,
        receptive_field=rf,
        weights=weights,
        normalize=normalize,
        method="adjoint",
        log10_mass=math.log10(abs(total)) if total else -math.inf,
        # no relative bound: the adjoint does not rescale on the way, so tails may underflow
        # unseen; the absolute bound takes the normalisation's rounding too
        abs_error=error,
        rel_error=None,
        underflow=int(np.count_nonzero((values != 0) & (np.abs(values) < _TINY))),
        network=net,
    )
