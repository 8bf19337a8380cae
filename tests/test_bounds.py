"""The whole-map passes of :mod:`erftheory.bounds` against plain, independent computations.

Short arrays (the vectors and maps of small ERFs) are read as Python lists, long ones by
numpy in chunks; both routes must give the same minimum, maximum and count as a plain numpy
expression, and sums within their stated rounding count of the exact (rational) sum. Sizes
are drawn on both sides of the cutoff.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from erftheory.bounds import (
    accurate_sum,
    divide_and_count_below,
    gamma,
    map_fraction,
    min_max_sum,
    vector_facts,
)
from erftheory.compose import _peak

_values = st.lists(st.floats(0, 1e300), min_size=1, max_size=300)


def _exact_sum(values) -> Fraction:
    return sum((Fraction(v) for v in values), Fraction(0))


@settings(max_examples=80, deadline=None)
@given(_values)
def test_vector_facts_match_numpy_and_the_exact_sum(values):
    v = np.array(values)
    low, high, total, roundings = vector_facts(v)
    assert (low, high) == (v.min(), v.max())
    exact = _exact_sum(values)
    assert abs(Fraction(total) - exact) <= Fraction(gamma(roundings)) * exact


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(-1e300, 1e300), min_size=1, max_size=300))
def test_min_max_sum_matches_numpy(values):
    v = np.array(values).reshape(len(values), 1)
    low, high, total = min_max_sum(v)
    assert (low, high) == (v.min(), v.max())
    # a float sum: within the pairwise/sequential bound of the exact one (n - 1 roundings)
    exact = _exact_sum(values)
    scale = _exact_sum(abs(x) for x in values)
    assert abs(Fraction(total) - exact) <= Fraction(gamma(len(values))) * scale


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=300),
    st.floats(0.5, 8),
    st.floats(0, 100),
    st.booleans(),
    st.booleans(),
    st.randoms(use_true_random=False),
)
def test_divide_and_count_below_matches_a_numpy_count(values, divisor, floor, masked, nonneg, rnd):
    # nonneg: the caller's promise that no entry is negative (then kept)
    v = np.abs(values) if nonneg else np.array(values)
    support = np.array([rnd.random() < 0.5 for _ in values]) if masked else None
    expected_values = v / divisor
    small = np.abs(expected_values) < floor
    expected = int(np.count_nonzero(small if support is None else small & support))
    got = divide_and_count_below(v, divisor, support, floor, nonneg)
    assert got == expected and isinstance(got, int)
    np.testing.assert_array_equal(v, expected_values)  # divided in place, as numpy divides


def test_map_fraction_adds_an_event_per_product_over_the_maps_l1():
    # an outer product of d axes adds d - 1 products, each u tiny absolute: tiny / L1 of the
    # map's L1 (the product of the axes'); a lower bound on an L1 (a peak) only raises it
    tiny = np.finfo(float).tiny
    got = map_fraction([1e-3, 2e-3, 3e-3], [1.75, 1.75, 50.0])
    expected = sum([1e-3, 2e-3, 3e-3]) + 2 * tiny / (1.75 * 1.75 * 50.0)
    assert got == pytest.approx(expected, rel=1e-15)
    assert map_fraction([0.0] * 3, [0.5, 0.5, 0.5]) > map_fraction([0.0] * 3, [1.75, 1.75, 50.0])
    assert map_fraction([1e-3], [1e-300]) == 1e-3  # one axis: no products
    assert map_fraction([0.0, 0.0], [0.0, 1.0]) == 1.0  # a zero axis: no floor below its L1


_specials = st.sampled_from([np.inf, -np.inf, np.nan, 1e308, -1e308])


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=150),
    st.lists(st.tuples(st.integers(0, 10**6), _specials), min_size=1, max_size=3),
)
@example([0.0, 0.0, 0.0], [(0, -1e308), (1, -1e308), (2, np.inf)])  # -inf + inf: nan
@example([0.0] * 33, [(0, -1e308), (1, -1e308), (32, 1e308)])  # float64 -inf, exact -1e308
def test_non_finite_entries_propagate_as_in_numpy(values, specials):
    # inf, nan and sums past float64's range: what numpy's reductions give, never an exception
    for where, special in specials:
        values[where % len(values)] = special
    v = np.array(values)
    with np.errstate(over="ignore", invalid="ignore"):
        expected = (np.min(v), np.max(v), float(np.sum(v, dtype=np.longdouble)))
    with np.errstate(over="ignore", invalid="ignore"):  # numpy's warnings, as numpy gives
        facts = min_max_sum(v), vector_facts(v), accurate_sum(v), _peak(v)
        quick = vector_facts(v, accurate=False)
    (low, high, total), (low2, high2, total2, _), (total3, _), peak = facts
    # where the finite entries alone overflow float64 (-1e308 twice), a float64 sum is
    # order-dependent: inf, nan (-inf + inf), or finite where the extended-precision
    # reference is (-1e308 - 1e308 + 1e308); only the extremes are then pinned down
    with np.errstate(over="ignore"):
        overflows = not np.isfinite(np.sum(v[np.isfinite(v)]))
    sums = ((low, high, total), (low2, high2, total2), (None, None, total3), quick[:3])
    for lo, hi, tot in sums:
        if lo is not None:
            np.testing.assert_array_equal([lo, hi], expected[:2])
        if not overflows:
            assert np.isfinite(tot) == np.isfinite(expected[2])
            assert np.isnan(tot) == np.isnan(expected[2])
            if np.isinf(expected[2]):
                assert tot == expected[2]
    assert peak == np.abs(v).max() or (np.isnan(peak) and np.isnan(v).any())
