"""The direct engine's error accounting against exact rational arithmetic.

Every claim of :mod:`erftheory.compose` about a direct composition is checked here against
Python integers and fractions, an independent route to the same numbers: the exact blocks
``w^b``, the relative bound ``gamma(roundings)`` for every entry above the underflow floor
(deep stacks, kernels with far tails, dilations, separable kernels with inexact vectors), and
the extended-precision sums that normalise a map.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from oracle import assert_within_relative_bound
from strategies import architecture

import erftheory as et
from erftheory.bounds import accurate_sum, gamma
from erftheory.compose import Factor, compose
from erftheory.direct import _exact_block, _run_plan


def _power(weights: list, n: int) -> list:
    """Coefficients of ``(sum_m w_m x^m)^n`` in exact arithmetic, by squaring."""

    def times(a, b):
        out = [0] * (len(a) + len(b) - 1)
        for i, x in enumerate(a):
            if x:
                for j, y in enumerate(b):
                    out[i + j] += x * y
        return out

    result, base = [1], list(weights)
    while n:
        if n & 1:
            result = times(result, base)
        n >>= 1
        if n:
            base = times(base, base)
    return result


def _upsample(coefficients: list, scale: int) -> list:
    out = [0] * ((len(coefficients) - 1) * scale + 1)
    out[::scale] = coefficients
    return out


def _check_relative(values: np.ndarray, exponent: float, exact: list, comp) -> int:
    """Assert the bound on every entry above the floor; return how many entries were checked."""
    scale = Fraction(2) ** int(exponent)
    floor = comp.tiny_fraction * float(np.sum(values))
    checked = 0
    for v, e in zip(values, exact):
        if e == 0:
            assert v == 0  # a true zero is computed as zero
            continue
        true = Fraction(e) / scale
        if true < Fraction(floor) * (1 + Fraction(1, 10**9)):
            continue
        assert abs(Fraction(float(v)) - true) <= Fraction(comp.rel_error) * true
        checked += 1
    return checked


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 6), min_size=2, max_size=5).filter(lambda w: sum(w) > 0),
    st.integers(0, 3),
    st.integers(4, 300),
)
def test_exact_blocks_are_the_exact_power(ints, exponent, power):
    # small integers times a power of two: w^b is an integer polynomial power
    kernel = np.ldexp(np.array(ints, dtype=float), -exponent)
    block, b, t = _exact_block(kernel, power)
    if block is None:
        assert np.count_nonzero(kernel) < 2 or sum(ints) ** 4 >= 2**53
        return
    assert 4 <= b <= power and b & (b - 1) == 0
    # the largest exact block: non-negative weights, while w^b's largest entry is an integer
    # below 2^53 (its partial sums are no larger)
    assert 2 * b > power or max(_power(ints, 2 * b)) >= 2**53
    want = [Fraction(c, 2 ** (exponent * b)) for c in _power(ints, b)]
    got = [Fraction(float(x)) * Fraction(2) ** t for x in block]
    assert got == want
    assert 0.5 <= float(np.max(block)) < 1


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-6, 6), min_size=2, max_size=5).filter(lambda w: sum(map(abs, w)) > 0),
    st.integers(0, 3),
    st.integers(1, 400),
)
def test_a_run_plan_is_the_exact_power_of_its_kernel(ints, exponent, power):
    # the steps of a run (blocks as often as they fit, the rest in binary) compose, in exact
    # arithmetic, to w^power; each block holds its power exactly, signed weights included
    kernel = np.ldexp(np.array(ints, dtype=float), -exponent)
    plan = _run_plan(kernel, power)
    total = [Fraction(1)]
    for block, repeats, t, taps in plan:
        assert taps == np.count_nonzero(block)
        exact = [Fraction(float(x)) * Fraction(2) ** t for x in block]
        for _ in range(repeats):
            total = _times(total, exact)
    want = [Fraction(c, 2 ** (exponent * power)) for c in _power(ints, power)]
    assert total == want
    blocks = [len(block) for block, *_ in plan]
    if len(plan) > 1 or plan[0][1] < power:  # blocked: at most one of each smaller size
        assert len(set(blocks[1:])) == len(blocks[1:]) and all(r == 1 for _, r, *_ in plan[1:])
    if min(ints) < 0:  # signed: the squarings' partial sums are bounded by L1^b only
        layers = (max(blocks) - 1) // (len(ints) - 1)
        assert (sum(map(abs, ints)) // math.gcd(*ints)) ** layers < 2**53  # in lowest terms


def _times(a: list, b: list) -> list:
    out = [Fraction(0)] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            out[i + j] += x * y
    return out


def test_kernels_float64_cannot_block_exactly_are_applied_layer_by_layer():
    assert _exact_block(np.array([0.1, 0.7, 0.2]), 1000)[0] is None  # 53-bit mantissas
    assert _exact_block(np.array([1.0]), 1000)[0] is None  # one tap: nothing to sum
    assert _exact_block(np.ones(3), 3)[0] is None  # a short run


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 5), min_size=1, max_size=4).filter(lambda w: sum(w) > 0),
    st.integers(1, 700),
    st.integers(1, 3),
)
def test_direct_1d_within_its_bound_above_the_floor(ints, power, scale):
    # blocked and unblocked runs, dilated or not: every entry above the floor, tails included
    comp = compose([Factor(np.array(ints, dtype=float), (scale,), power)], 1, "direct")
    exact = _power(_upsample(ints, scale), power)
    assert comp.method == "direct" and comp.values.size == len(exact)
    _check_relative(comp.values, comp.exponent, exact, comp)


def test_deep_tails_and_gradual_underflow_stay_inside_the_bound():
    # taps 1 and 2^-30: entry m of the 40-fold power is C(40, m) 2^(-30 m), so the tail
    # crosses the normal range (2^-1022) and intermediate layers underflow on the way
    ints = [2**30, 1]
    comp = compose([Factor(np.ldexp(np.array(ints, dtype=float), -30), (1,), 40)], 1, "direct")
    exact = _power(ints, 40)
    checked = _check_relative(comp.values, comp.exponent + 30 * 40, exact, comp)
    assert checked >= 30  # all but the entries below the floor
    # the floor is a small multiple of float64's normal range, not a loose cut
    assert comp.tiny_fraction < 1e-295


def test_separable_kernels_with_inexact_vectors_keep_a_true_bound():
    # [1, 0.1] x [1, 0.3] holds 0.03 rounded: its vectors reproduce it only to rounding, which
    # costs 6 roundings a layer; integer kernels split exactly ([1, 3, 1] x [1, 3, 1] too)
    k = np.outer([1.0, 0.1], [1.0, 0.3])
    comp = compose([Factor(k, (1, 1), 10)], 2, "direct")
    ones = compose([Factor(np.ones((2, 2)), (1, 1), 10)], 2, "direct")
    assert comp.roundings >= ones.roundings + 6 * 10
    integer = compose([Factor(np.outer([1.0, 3, 1], [1.0, 3, 1]), (1, 1), 10)], 2, "direct")
    assert integer.roundings == compose([Factor(np.ones((3, 3)), (1, 1), 10)], 2).roundings
    exact = compose([Factor(np.vectorize(Fraction, otypes=[object])(k), (1, 1), 10)], 2, "exact")
    scale = Fraction(2) ** int(comp.exponent)
    for got, want in zip(comp.values.flat, exact.values.flat):
        true = Fraction(want) / scale
        assert abs(Fraction(float(got)) - true) <= Fraction(comp.rel_error) * true


def test_nearly_rank_one_kernels_are_not_split():
    # off by 1e-14 relative in one entry: the outer product of vectors would not be the kernel
    k = np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0])
    k[0, 0] *= 1 + 1e-14
    comp = compose([Factor(k, (1, 1), 3)], 2, "direct")
    exact = compose([Factor(np.array(k, dtype=object), (1, 1), 3)], 2, "exact")
    # direct N-d shift-and-add composition of the true kernel, checked entry by entry
    scale = Fraction(2) ** int(comp.exponent)
    for got, want in zip(comp.values.flat, exact.values.flat):
        true = Fraction(want) / scale
        assert abs(Fraction(float(got)) - true) <= Fraction(comp.rel_error) * true


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1e300), min_size=1, max_size=3000))
def test_accurate_sums_within_their_rounding_count(values):
    total, roundings = accurate_sum(np.array(values))
    exact = sum(Fraction(v) for v in values)
    assert abs(Fraction(total) - exact) <= Fraction(gamma(roundings)) * exact


def test_accurate_sums_of_millions_stay_within_their_rounding_count():
    # beyond 2^16 values (a deep 1-D stack's vector) the extended-precision sum still holds
    # its count: integers up to 2^52 sum past 2^64, so the long double rounds on the way
    rng = np.random.default_rng(3)
    values = rng.integers(0, 2**52, size=1_500_000).astype(float)
    values[::7] *= 2.0**-40  # and fractions far below the rest
    total, roundings = accurate_sum(values)
    exact = sum(Fraction(v) for v in values[::7]) + sum(
        int(v) for v in np.delete(values, np.s_[::7])
    )
    assert abs(Fraction(total) - exact) <= Fraction(gamma(roundings)) * exact
    assert roundings <= 1025


def test_gamma_is_higham_gamma():
    u = 2.0**-53
    assert gamma(10) == pytest.approx(10 * u / (1 - 10 * u), rel=1e-15)
    with pytest.raises(et.ERFError, match="no relative bound"):
        gamma(2**53)


def test_separable_depth_1000_normalised_map_is_within_1e12():
    # the 2-D map of 1000 three-tap layers, to sum 1: every entry above the floor, against
    # exact trinomial counts (the map is their outer product over 9^1000)
    r = et.erf("2d: conv3*1000", normalize="sum")
    assert r.rel_error < 1e-12
    line = _power([1, 1, 1], 1000)
    total = Fraction(3**1000)
    rows = [0, 100, 400, 700, 1000]
    floor = Fraction(r.underflow_floor)
    for i in rows:
        for j in range(0, 2001, 50):
            true = Fraction(line[i] * line[j]) / total**2
            if true < floor * 2:
                continue
            got = Fraction(float(r.values[i, j]))
            assert abs(got - true) <= Fraction(r.rel_error) * true


def test_joins_with_cancelling_terms_claim_no_relative_bound():
    # x - 0.5 x: the sum of signed terms can lose every digit; only the absolute bound stays
    r = et.erf("1d: res(conv3/w[-0.25,-0.5,-0.25])")
    assert r.rel_error is None and math.isfinite(r.abs_error)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    architecture(max_layers=4),
    st.sampled_from(["ones", "random"]),
    st.sampled_from([None, "sum", "peak"]),
)
def test_every_direct_erf_is_within_its_bound_of_the_exact_one(spec, weights, normalize):
    # the whole pipeline (joins, pools, gates, random-mode squares, normalisation) against
    # Python integers and fractions, entry by entry
    net = et.as_network(spec)
    assume(math.prod(et.receptive_field(net).size) <= 3000)
    try:
        exact = et.erf(net, weights=weights, normalize=normalize, exact=True)
    except et.ERFError:
        return  # refused in exact mode (e.g. an all-zero map cannot be normalised)
    r = et.erf(net, weights=weights, normalize=normalize, method="direct")
    if r.rel_error is None:
        return
    assume(exact.normalize == normalize)  # raw counts beyond float64 come back at peak 1
    assert_within_relative_bound(r, exact.exact_values)


@pytest.mark.parametrize("normalize", [None, "sum", "peak"])
@pytest.mark.parametrize("arch", ["1d: conv2/w[1,0.001]", "1d: conv3*40", "2d: conv3/d2*3"])
def test_absolute_bound_covers_every_entry_after_normalising(arch, normalize):
    # a map concentrated on one entry: normalising moves it by its relative bound, which the
    # absolute bound must cover too (the raw composition's bound over the divisor did not)
    r = et.erf(arch, normalize=normalize, method="direct")
    exact = et.erf(arch, normalize=normalize, exact=True).exact_values
    errors = [abs(Fraction(float(v)) - Fraction(e)) for v, e in zip(r.values.flat, exact.flat)]
    assert max(errors) <= Fraction(r.abs_error)
    assert r.abs_error >= r.rel_error * float(np.max(r.values))


def test_deep_gated_stacks_keep_their_coefficient_in_the_exponent():
    # 0.5 per ReLU: 0.5^700 times 3^700 paths fits float64 though 0.5^1100 alone would not
    r = et.erf("1d: (conv3, relu)*700")
    counts = _power([1, 1, 1], 700)
    for i in (0, 100, 350, 700):
        true = Fraction(counts[i], 2**700)
        if true < Fraction(r.underflow_floor):  # 2^-700: below the floor, and counted
            assert r.values[i] < r.underflow_floor and r.underflow > 0
            continue
        assert abs(Fraction(float(r.values[i])) - true) <= Fraction(r.rel_error) * true
    assert r.log10_mass == pytest.approx(700 * math.log10(1.5), rel=1e-12)
    deep = et.erf("1d: dropout0.5*1100, conv3", weights="random", normalize="sum")
    assert deep.values.tolist() == pytest.approx([1 / 3] * 3, rel=1e-15)


def test_joins_count_their_branches_roundings():
    # five tiny branches beside [1, 1]: each sum rounds, and the bound must say so
    tiny = " | ".join(["conv2/w[0,1.1e-16]"] * 5)
    r = et.erf(f"1d: add(conv2/w[1,1] | {tiny})*200", method="direct")
    kernel = [Fraction(1), 1 + 5 * Fraction(1.1e-16)]
    exact = _power(kernel, 200)
    scale = max(exact)
    for got, want in zip(r.values, exact):
        assert abs(Fraction(float(got)) - want) <= Fraction(r.rel_error) * want, scale


def test_joins_that_cancel_in_float_claim_an_absolute_bound_only():
    big = "conv1/w[9007199254740992]"
    for middle, true in (("conv1/w[3]", 3), ("conv1/w[1]", 1)):
        r = et.erf(f"1d: add({big} | {middle} | conv1/w[-9007199254740992])")
        assert r.rel_error is None
        assert abs(float(r.values[0]) - true) <= r.abs_error


def test_tails_flushed_by_squares_or_scaling_are_counted():
    # the exact pattern of a kernel survives squaring and scaling by powers of two
    assert et.erf("1d: conv2/w[1,1e-200]", weights="random").underflow == 1
    assert et.erf("1d: conv2/w[1e300,1e-300]").underflow == 1


@pytest.mark.parametrize(
    "arch, normalize, true",
    [
        # a branch product far below float64 (1e-400) lifted back by later layers
        ("1d: add(conv1/w[1e-200], conv1/w[1e-200] | conv1/w[0]), conv1/w[1e300]*2", None, 1e200),
        # a branch sum above float64 (2e308), normalised
        ("1d: add(conv1/w[1e308] | conv1/w[1e308])", "peak", 1.0),
        ("1d: res(conv1/w[1e200], conv1/w[1e200]), conv1/w[1e-300]", None, 1e100),
    ],
)
def test_joins_keep_one_exponent_for_branches_beyond_float64(arch, normalize, true):
    r = et.erf(arch, normalize=normalize)
    assert abs(float(r.values[0]) - true) <= r.rel_error * true


def test_extreme_weights_give_results_or_clear_errors():
    # no traceback: a kernel below float64's range, wide dynamic range repeated, an adjoint
    # pass that overflows
    with pytest.raises(et.ERFError, match="subnormal"):  # 1e-309 is not one rounding away
        et.erf("1d: conv1/w[1e-309]")
    with pytest.raises(et.ERFError, match="outside float64"):  # 1e-400, of normal weights
        et.erf("1d: conv1/w[1e-200]*2")
    r = et.erf("1d: conv2/w[1e-200,1e100]*8", normalize="peak")
    assert r.values[-1] == 1.0 and np.isfinite(r.values).all()
    with pytest.raises(et.ERFError, match="overflows float64"):
        et.erf("1d: conv1/w[1e200]*2, up2", normalize="sum")
    # an FFT result's power of two: its fraction moves into the values, within the bound
    f = et.erf("1d: conv3/w[1e146,1,1.62]", method="fft")
    assert abs(Fraction(float(f.values[0])) - Fraction(1e146)) <= Fraction(f.abs_error)


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    count=st.integers(1, 3),
    product=st.booleans(),
)
def test_supports_are_minkowski_sums(data, count, product):
    # the exact non-zero pattern of a composition against sets of offsets summed in Python;
    # product patterns (per-axis sets) take the per-axis path, the others the 2-d dilation
    from erftheory.support import _support

    factors, sums = [], {(0, 0)}
    for _ in range(count):
        if product:
            rows = data.draw(st.lists(st.booleans(), min_size=1, max_size=4).filter(any))
            cols = data.draw(st.lists(st.booleans(), min_size=1, max_size=4).filter(any))
            pattern = np.multiply.outer(np.array(rows), np.array(cols))
        else:
            cells = data.draw(st.lists(st.booleans(), min_size=6, max_size=6).filter(any))
            pattern = np.array(cells).reshape(2, 3)
        scale = tuple(data.draw(st.integers(1, 3)) for _ in range(2))
        power = data.draw(st.integers(1, 3))
        factors.append(Factor(pattern.astype(float), scale, power))
        taps = {(i * scale[0], j * scale[1]) for i, j in zip(*np.nonzero(pattern))}
        for _ in range(power):
            sums = {(a + c, b + d) for a, b in sums for c, d in taps}
    shape = tuple(
        1 + sum((f.kernel.shape[a] - 1) * f.scale[a] * f.power for f in factors) for a in range(2)
    )
    expected = np.zeros(shape, dtype=bool)
    expected[tuple(np.array(sorted(sums)).T)] = True
    assert np.array_equal(_support(factors, shape), expected)


@settings(max_examples=300, deadline=None)
@given(
    num=st.integers(-(10**30), 10**30),
    den=st.integers(1, 10**30),
    shift=st.integers(-1200, 1200),
)
def test_split_coefficient_is_exact_or_rounded_once(num, den, shift):
    from erftheory.bounds import split_coefficient

    coef = Fraction(num, den) * Fraction(2) ** shift
    m, e, rounded = split_coefficient(coef)
    if coef == 0:
        assert (m, e, rounded) == (0.0, 0, 0)
        return
    exact = coef / Fraction(2) ** e
    assert Fraction(1, 2) <= abs(Fraction(m)) < 1 or abs(m) == 1.0
    # correctly rounded (within half an ulp of a mantissa in [1/2, 1): 2^-54), flagged iff not exact
    assert abs(Fraction(m) - exact) <= Fraction(1, 2**54) * (1 if rounded else 0)


def test_a_factor_keeps_its_kernel_when_the_callers_array_changes():
    # facts about a kernel are computed once: a caller's array changed in place afterwards
    # must not leave the factor composing an old kernel under a new one (or the reverse)
    k = np.ones(3)
    f = Factor(k, (1,), 3)
    assert not f.kernel.flags.writeable
    first = compose([f], 1)
    k[:] = [1.0, 2.0, 1.0]
    again = compose([f], 1)
    want = _power([1, 1, 1], 3)  # the kernel the factor was given
    for c in (first, again):
        assert [v * 2.0**c.exponent for v in c.values.tolist()] == want


def test_random_weights_do_not_fill_the_memos():
    # random weights square a map-sized fixed part on every call: its support must not be
    # memoised once per call (the memo held ~6 MB per call of this network)
    from erftheory.plan import _plan_memo
    from erftheory.support import _axis_support_memo

    # (nor do the path groups made afresh on every call: a variance kernel's, the moments')
    memos = (_axis_support_memo, _plan_memo)
    arch = "1d: conv3, avgpool3/s1*2000"
    calls = [
        lambda: et.erf(arch, weights="random", normalize="sum"),
        lambda: et.erf(arch, weights="random", variance=lambda layer: np.ones(3)),
        lambda: et.predicted_moments("2d: conv3, avgpool3/s1*20", weights="random"),
        lambda: et.predicted_moments("2d: res(conv3/p1*2), conv3*3"),  # a join's branches
    ]
    for call in calls:
        call()
        sizes = [memo.cache_info().currsize for memo in memos]
        for _ in range(3):
            call()
        assert [memo.cache_info().currsize for memo in memos] == sizes


@pytest.mark.parametrize("method", ["auto", "fft"])
@pytest.mark.parametrize(
    "arch", ["1d: conv3*1000", "1d: conv3*300, conv5/d2*3", "2d: conv3*40", "3d: conv3/s2*3"]
)
def test_a_repeated_call_composes_afresh(arch, method):
    # what a network's factors decide is memoised, never what they compose: a result changed
    # in place must not reach the next call (the recurrence's values once did)
    first = et.erf(arch, normalize="sum", method=method)
    want = first.values.copy()
    first.values[...] = -1.0
    again = et.erf(arch, normalize="sum", method=method)
    np.testing.assert_array_equal(again.values, want)
    assert again.values.min() >= 0


def test_a_run_left_to_its_layers_does_not_cost_an_axis_its_relative_bound():
    # 5 x 760 + 3 x 200 taps are over the direct limit; with the 200-layer run composed by the
    # recurrence they are under it: the axis stays direct, with a relative bound, rather than
    # going to the FFT (absolute bound, round-off in the tails)
    for dims in (1, 2):
        r = et.erf(f"{dims}d: conv5*760, conv3*200", normalize="sum")
        assert r.method == "direct" and r.rel_error is not None and r.rel_error < 1e-11
        # the corner is 5^-760 3^-200 of the total (~1e-627): below the floor, not FFT noise
        corner = r.values[(0,) * dims]
        assert r.values.min() >= 0 and corner <= r.underflow_floor and r.underflow > 0
