"""The O(n) three-tap power against exact arithmetic, and where the engine uses it.

The exact coefficients come from one big-integer power (Kronecker substitution: evaluate the
kernel at ``x = 2^B`` with ``B`` wider than any coefficient, raise it to the ``n``-th power,
read the coefficients off in ``B``-bit digits), a route that shares nothing with the
recurrence. Every entry at or above float64's normal range must be within the reported
``gamma(roundings)``; below it, within that plus ``u * tiny`` (the one underflowing scaling).
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
import erftheory.direct as direct_module
import erftheory.plan as plan_module
from erftheory.bounds import TINY, U, gamma
from erftheory.recurrence import power_three_tap


def exact_power(kernel: list[int], n: int) -> list[int]:
    """Coefficients of ``(a + b x + c x^2)^n`` for non-negative integers, by Kronecker."""
    bits = n * max(sum(kernel), 2).bit_length() + 2  # above every coefficient
    packed = sum(w << (bits * m) for m, w in enumerate(kernel)) ** n
    mask = (1 << bits) - 1
    return [(packed >> (bits * k)) & mask for k in range(2 * n + 1)]


def trinomial(n: int, k: int) -> int:
    """Coefficient of ``x^k`` in ``(1 + x + x^2)^n``: the multinomial sum over ``j`` squares.

    ``sum_j n! / (j! (k - 2j)! (n - k + j)!)``, each term from the last by an exact ratio.
    """
    k = min(k, 2 * n - k)
    term, total, j = math.comb(n, k), 0, 0
    while k - 2 * j >= 0:
        total += term
        term = term * (k - 2 * j) * (k - 2 * j - 1) // ((j + 1) * (n - k + j + 1))
        j += 1
    return total


def assert_within_bound(values, exponent, roundings, exact: list[Fraction]) -> None:
    bound = Fraction(gamma(roundings))
    scale = Fraction(2) ** exponent
    assert len(values) == len(exact)
    for got, true in zip(values.tolist(), exact):
        true = true / scale  # in the units of ``values``
        error = abs(Fraction(got) - true)
        if true == 0:
            assert got == 0
        elif true >= TINY:
            assert error <= bound * true, (float(error / true), float(bound))
        else:
            assert error <= bound * true + Fraction(U) * Fraction(TINY)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(0, 40), st.integers(1, 40), st.integers(1, 120))
def test_integer_kernels_match_exact_powers(a, b, c, n):
    values, exponent, roundings = power_three_tap(np.array([a, b, c], dtype=float), n)
    assert 0.5 <= values.max() < 1
    exact = [Fraction(p) for p in exact_power([a, b, c], n)]
    assert_within_bound(values, exponent, roundings, exact)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(1e-3, 1.0), min_size=3, max_size=3),
    st.booleans(),
    st.integers(1, 60),
)
def test_float_kernels_match_exact_rational_powers(kernel, zero_middle, n):
    # float64 entries are dyadic rationals: scaled to integers, their power is exact
    if zero_middle:
        kernel[1] = 0.0
    ratios = [Fraction(w) for w in kernel]
    den = max(r.denominator for r in ratios)
    ints = [int(r * den) for r in ratios]
    exact = [Fraction(p, den**n) for p in exact_power(ints, n)]
    values, exponent, roundings = power_three_tap(np.array(kernel), n)
    assert_within_bound(values, exponent, roundings, exact)


@pytest.mark.parametrize("kernel, n", [([1, 1, 1], 1000), ([1, 2, 3], 1000), ([2, 1, 1], 1500)])
def test_deep_powers_keep_every_tail_entry(kernel, n):
    # thousands of layers: the tails fall below float64's range and are checked as such
    values, exponent, roundings = power_three_tap(np.array(kernel, dtype=float), n)
    assert roundings <= 4 * n + 3  # a few roundings per step, not per layer and tap
    exact = [Fraction(p) for p in exact_power(kernel, n)]
    assert_within_bound(values, exponent, roundings, exact)


@pytest.mark.parametrize("a, c, n", [(0.5, 0.5, 1000), (2.0**-3, 0.75, 700), (4.0, 2.0**-40, 30)])
def test_power_of_two_outer_taps_match_exact_powers(a, c, n):
    # a^n is then exact, with no rounding of its own (unlike a = 3, whose powers are cut)
    ratios = [Fraction(w) for w in (a, 0.25, c)]
    den = max(r.denominator for r in ratios)
    exact = [Fraction(p, den**n) for p in exact_power([int(r * den) for r in ratios], n)]
    values, exponent, roundings = power_three_tap(np.array([a, 0.25, c]), n)
    assert_within_bound(values, exponent, roundings, exact)


@pytest.mark.parametrize(
    "kernel, n",
    [([0.0, 1.0, 1.0], 5), ([1.0, -0.5, 1.0], 5), ([1.0, 1.0, math.inf], 5), ([1, 1, 1], 0)],
)
def test_kernels_outside_its_conditions_are_left_to_the_caller(kernel, n):
    assert power_three_tap(np.array(kernel, dtype=float), n) is None


def test_a_lopsided_kernel_is_declined():
    # tails 2^-700 below the centre per layer: the scaled coefficients (2^-700 and beyond)
    # leave the range the recurrence keeps its products in, so it hands the run back
    assert power_three_tap(np.array([2.0**-700, 1.0, 2.0**-700]), 3) is None


def test_deep_1d_stacks_get_relative_bounds_from_the_recurrence():
    # 10,000 layers: once an FFT with an absolute bound only; now every entry above the floor
    # within its relative bound, tails included (the normalising sum is exact: 3^n)
    n = 10_000
    r = et.erf(f"1d: conv3*{n}", normalize="sum")
    assert r.method == "direct" and r.rel_error is not None and r.rel_error < 1e-11
    assert trinomial(3, 2) == 6 and trinomial(3, 5) == 3  # (1 + x + x^2)^3 = 1 3 6 7 6 3 1
    total = Fraction(3**n)
    floor = Fraction(r.underflow_floor)
    checked = 0
    for k in [*range(n - 3000, n + 3001, 41), 0, 2 * n]:  # the far tails fall below the floor
        true = trinomial(n, k) / total
        if true >= floor:
            assert abs(Fraction(float(r.values[k])) - true) <= Fraction(r.rel_error) * true
            checked += 1
        else:
            assert float(r.values[k]) <= 2 * float(floor)
    assert checked > 50


def test_a_dilated_run_among_other_layers_matches_exact_counts():
    # the run of conv3/d2 goes to the recurrence (upsampled by 2), the others are applied to it
    arch = "1d: conv5/w[1,2,3,2,1], (conv3/d2/w[1,3,2])*40, conv3"
    r = et.erf(arch)
    exact = et.erf(arch, exact=True).exact_values
    assert r.values.shape == exact.shape
    for got, true in zip(r.values.tolist(), exact.tolist()):
        if true >= Fraction(r.underflow_floor):
            assert abs(Fraction(got) - true) <= Fraction(r.rel_error) * true
        else:
            assert abs(Fraction(got) - true) <= Fraction(r.abs_error)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=architecture(dims=1, max_layers=2),
    tap=st.tuples(st.integers(1, 9), st.integers(0, 9), st.integers(1, 9)),
    dilation=st.integers(1, 3),
    depth=st.integers(16, 60),
    weights=st.sampled_from(["ones", "random"]),
    normalize=st.sampled_from([None, "sum", "peak"]),
)
def test_erf_through_the_recurrence_is_within_its_bound_of_the_exact_one(
    prefix, tap, dilation, depth, weights, normalize
):
    # the whole pipeline with a run the recurrence composes (upsampled by its dilation, after
    # random layers) against Python integers and fractions, entry by entry; at these depths
    # blocks are cheaper, so the recurrence is made free to be sure it is the one tested
    run = {"type": "conv", "kernel": 3, "dilation": dilation, "weights": list(tap)}
    spec = {"dims": 1, "layers": [*prefix["layers"], {**run, "repeat": depth}]}
    net = et.as_network(spec)
    assume(et.receptive_field(net).size[0] <= 2000)
    try:
        exact = et.erf(net, weights=weights, normalize=normalize, exact=True)
    except et.ERFError:
        return  # refused in exact mode (too much work, or an all-zero map to normalise)
    assume(exact.normalize == normalize)  # raw counts beyond float64 come back at peak 1
    plans = plan_module._plan_memo  # plans made at the true cost must not be reused, nor
    plans.cache_clear()  # the plans made free of it kept
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(direct_module, "_RECURRENCE_CALLS", 0)
        patch.setattr(direct_module, "power_three_tap", _counted(calls := []))
        r = et.erf(net, weights=weights, normalize=normalize, method="direct")
    plans.cache_clear()
    assert calls, "the recurrence was not used"
    assert r.rel_error is not None  # non-negative kernels: a relative bound, always
    assert_within_relative_bound(r, exact.exact_values)


def _counted(calls: list):
    """power_three_tap, recording the power of every call in ``calls``."""

    def spy(kernel, n):
        calls.append(n)
        return power_three_tap(kernel, n)

    return spy


def test_the_recurrence_is_what_composes_a_long_1d_run(monkeypatch):
    # an upsampled run (a slice per tap and layer) of an asymmetric kernel goes to the
    # recurrence from a few tens of layers
    monkeypatch.setattr(direct_module, "power_three_tap", _counted(calls := []))
    et.erf("1d: conv5, (conv3/d2/w[1,3,2])*40, conv3", method="direct")
    assert calls == [40]


@pytest.mark.parametrize(
    "arch, used",
    [
        ("1d: conv3*100", []),  # 3 blocks of 32 layers and 4 layers: 7 calls
        ("1d: conv3*1000", [1000]),  # 31 blocks over ~2,000 points: the recurrence
        ("1d: conv3/w[1,2,3]*300", []),  # 41 calls, against a fixed cost of about 70
        ("1d: conv3/w[1,2,3]*600", [600]),
    ],
)
def test_the_recurrence_takes_a_run_where_it_is_cheaper_than_the_layers(monkeypatch, arch, used):
    monkeypatch.setattr(direct_module, "power_three_tap", _counted(calls := []))
    r = et.erf(arch, normalize="sum")
    assert calls == used and r.method == "direct"


def test_axes_of_a_map_too_deep_for_blocks_use_the_recurrence():
    # 2-D, 1,400 layers: blocks would cost over their limit (4,200 taps per axis), so each axis
    # is the recurrence (once: the axes are identical) and the map keeps a relative bound
    # where the FFT used to give an absolute one; entries against the exact trinomials
    n = 1400
    r = et.erf(f"2d: conv3*{n}", normalize="sum")
    assert r.method == "direct" and r.rel_error < 1e-11
    total = Fraction(9**n)
    floor = Fraction(r.underflow_floor)
    line = {k: trinomial(n, k) for k in [0, 300, 900, 1200, 1400, 1650, 2799]}
    checked = 0
    for i, a in line.items():
        for j, b in line.items():
            true = a * b / total
            if true >= floor * 2:
                assert abs(Fraction(float(r.values[i, j])) - true) <= Fraction(r.rel_error) * true
                checked += 1
    assert checked >= 16


def test_a_run_the_recurrence_declines_is_costed_as_its_layers():
    # tails 1e-200 below the centre: the scaled coefficients leave float64, so the run would be
    # applied layer by layer (30,000 taps on 200,001 points: seconds); auto must see that and
    # take the FFT, as it did before the recurrence existed
    kernel = np.array([1e-200, 1.0, 1e-200])
    assert power_three_tap(kernel / 2, 100_000) is None  # declined (as normalised by compose)
    assert et.erf("1d: conv3/w[1e-200,1,1e-200]*100000", normalize="sum").method == "fft"


@pytest.mark.parametrize("plan", ["table", "direct estimate", "one exponent per entry"])
@settings(max_examples=25, deadline=None)
@given(st.integers(1, 40), st.integers(0, 40), st.integers(1, 40), st.integers(1, 400))
def test_every_exponent_plan_gives_the_exact_power_within_its_bound(plan, a, b, c, n):
    # blocks of exponents from the per-kernel table, from the saddle formula itself, or one
    # exponent per entry (the retry for lopsided kernels): all three must be exact to the bound
    import erftheory.recurrence as recurrence

    with pytest.MonkeyPatch.context() as patch:
        if plan != "table":
            patch.setattr(recurrence, "_PROFILE_MAX_N", 0)
        if plan == "one exponent per entry":
            patch.setattr(recurrence, "_BLOCK", 1)
            patch.setattr(recurrence._half, "__defaults__", (1,))
        values, exponent, roundings = power_three_tap(np.array([a, b, c], dtype=float), n)
    exact = [Fraction(p) for p in exact_power([a, b, c], n)]
    assert_within_bound(values, exponent, roundings, exact)


@settings(max_examples=60, deadline=None)
@given(st.floats(1e-6, 1e3), st.floats(0, 1e3), st.floats(1e-6, 1e3), st.integers(2, 20_000))
def test_the_tabled_estimate_follows_the_saddle_formula(a, b, c, n):
    # interpolated from one table per kernel, within n / 1800 bits (+ rounding) of the
    # formula evaluated at each point, which is what keeps the unknowns inside their guard
    from erftheory.recurrence import _log2_estimate, _profile_estimate

    k = np.unique(np.linspace(1, n, 200).round())
    direct = np.empty(k.size)
    _log2_estimate(a, b, c, n, k, out=direct)
    tabled = _profile_estimate(a, b, c, n, k)
    assume(np.all(np.isfinite(direct)))
    slack = n / 1800 + 1e-9 * np.abs(direct).max() + 1e-6
    assert np.abs(tabled - direct).max() <= slack
