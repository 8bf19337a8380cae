"""Review findings against THEORY.md: each compared with an independent computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import erftheory as et
from erftheory.gaussian import (
    compare_to_gaussian,
    edgeworth_prediction,
    gaussian_prediction,
    moments,
)


def _up(w, a):
    out = np.zeros((len(w) - 1) * a + 1)
    out[::a] = w
    return out


def _abs_std(g):
    """Std of |g| taken as a distribution over its indices (1-d), computed directly."""
    p = np.abs(g) / np.abs(g).sum()
    x = np.arange(p.size)
    m = p @ x
    return math.sqrt(p @ (x - m) ** 2)


# ---------------------------------------------------------------- 1, 7: closed forms


def test_closed_form_refuses_random_weights():
    from erftheory.symbolic import closed_form

    with pytest.raises(et.ERFError, match="weights='ones'"):
        closed_form("1d: (conv3, avgpool3/s1)*3", weights="random")
    with pytest.raises(et.ERFError, match="'foo'"):
        closed_form("1d: conv3*3", weights="foo")
    # the random-mode map really differs from the ones-mode closed form (THEORY 4): V * C^2
    c = np.convolve(np.convolve(np.ones(3), np.ones(3)), np.ones(3)) / 27
    g = np.convolve(np.convolve(np.convolve(np.ones(3), np.ones(3)), np.ones(3)), c**2)
    r = et.erf("1d: (conv3, avgpool3/s1)*3", weights="random")
    assert r.std[0] == pytest.approx(_abs_std(g), rel=1e-12)
    assert r.std[0] ** 2 != pytest.approx(4.0, rel=1e-3)  # the ones-mode 4n/3 at n = 3


def test_zero_variance_axis_is_a_point_mass():
    import sympy

    from erftheory.symbolic import closed_form

    cf = closed_form("conv1x3*5")
    p = sympy.Symbol("p")
    assert cf.variance[0] == 0
    point = cf.gaussian_limit[0].subs(cf.n, 5)
    # exact: all mass (1 per axis-0 factor) at p = 0, nothing elsewhere
    assert point.subs(p, 0) == 1 and point.subs(p, 1) == 0
    text = cf.latex()
    assert "infty" not in text and "point mass" in text
    assert "approx" in text.splitlines()[-1]  # the spread axis keeps its Gaussian limit


# ---------------------------------------------------------------- 2, 4: variance maps


def test_predicted_moments_use_the_variance_map():
    v = np.array([[2.0, 1, 2], [1, 0.5, 1], [2, 1, 2]])
    marginal = v.sum(1) / v.sum()
    x = np.arange(3)
    per_layer = marginal @ (x - marginal @ x) ** 2  # THEORY 4: another variance kernel
    r = et.erf("conv3*3", weights="random", variance=v)
    expected = math.sqrt(3 * per_layer)
    assert r.analysis()["predicted_std"] == pytest.approx([expected] * 2, rel=1e-12)
    m = et.predicted_moments("conv3*3", "random", variance=v)
    assert m.std == pytest.approx((expected, expected), rel=1e-12)
    assert r.std == pytest.approx((expected, expected), rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(0.05, 5), min_size=3, max_size=3),
    st.integers(1, 4),
    st.sampled_from([1, 2]),
)
def test_predicted_moments_with_variance_match_a_direct_convolution(v, n, dilation):
    v = np.array(v)
    arch = f"1d: conv3*{n}, avgpool2/s1, conv3/d{dilation}"
    g = np.ones(1)
    for _ in range(n):
        g = np.convolve(g, v)
    g = np.convolve(np.convolve(g, _up(v, dilation)), np.full(2, 0.25))  # (1/2)^2 per tap
    m = et.predicted_moments(arch, "random", variance=v)
    assert m.std[0] == pytest.approx(_abs_std(g), rel=1e-10)
    assert 10**m.log10_mass == pytest.approx(g.sum(), rel=1e-10)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: et.predicted_moments("conv3*3", weights="foo"), "'foo'"),
        (lambda: et.predicted_moments("conv3*3", weights=None), "None"),
        (lambda: et.erf("1d: conv3*2", weights="random", variance=[5, 5]), r"shape \[2\]"),
        (lambda: et.erf("conv3*2", weights="random", variance=[5, 5, 5]), r"\[3, 3\]"),
        (lambda: et.erf("1d: conv3*2", weights="random", variance="x"), "numeric"),
        (lambda: et.predicted_moments("1d: conv3*2", variance=[1, 1, 1]), "weights='random'"),
    ],
)
def test_bad_weights_and_variances_are_refused(call, match):
    with pytest.raises(et.ERFError, match=match):
        call()


def test_a_variance_function_is_not_checked_against_shapes():
    # a callable may return None for some convs: nothing to match up front
    r = et.erf("1d: conv3*2", weights="random", variance=lambda layer: None)
    np.testing.assert_array_equal(r.values, np.convolve(np.ones(3), np.ones(3)))


# ---------------------------------------------------------------- 3: signed kernels


@pytest.mark.parametrize("w, n", [([1, -3, 1], 2), ([1, -1, 2], 3), ([2, -1, 0.5], 4)])
def test_rf_rows_report_the_std_of_abs_erf(w, n):
    arch = f"1d: conv3/w{w}*{n}".replace(" ", "")
    g = np.ones(1)
    for _ in range(n):
        g = np.convolve(g, w)
    assert et.receptive_field(arch).rows[-1].erf_std[0] == pytest.approx(_abs_std(g), rel=1e-12)
    with pytest.raises(et.ERFError, match="negative weights"):
        et.predicted_moments(arch)


def test_rows_after_a_signed_layer_use_the_map():
    arch = "1d: conv3/w[1,-2,3], conv3, conv3/s2, conv3"
    rows = et.receptive_field(arch).rows
    g = np.convolve(np.convolve([1.0, -2, 3], np.ones(3)), np.ones(3))
    assert rows[2].erf_std[0] == pytest.approx(_abs_std(g), rel=1e-12)
    g = np.convolve(g, _up(np.ones(3), 2))
    assert rows[3].erf_std[0] == pytest.approx(_abs_std(g), rel=1e-12)
    # unsigned rows before it keep the kernel moments: (k^2 - 1) / 12
    assert et.receptive_field("1d: conv3, conv3/w[1,-2,3]").rows[0].erf_std[0] == pytest.approx(
        math.sqrt(8 / 12)
    )


# ---------------------------------------------------------------- 5: max pool note


def test_maxpool_note_describes_zero_cross_window_covariance():
    r = et.erf("1d: maxpool3/s1, avgpool3/s1", weights="random")
    # THEORY 4 literally: v = 1/3 per tap, no cross terms: mass 3 windows * (1/3)^2 * 3 taps/...
    g = np.convolve(np.full(3, 1 / 3), np.full(3, 1 / 3) ** 2)
    np.testing.assert_allclose(r.values, g, rtol=1e-12)
    (note,) = r.notes
    assert "zero covariance between different windows" in note
    assert "independent of the other windows" not in note


# ---------------------------------------------------------------- 6, 11: gridding


def test_checkerboard_support_is_detected():
    r = et.erf("conv3/w[[1,0,1],[0,1,0],[1,0,1]]*6")
    ii, jj = np.indices(r.values.shape)
    assert np.all(r.values[(ii + jj) % 2 == 1] == 0)  # the checkerboard, by construction
    c = compare_to_gaussian(r.values)
    assert c.lattice_index == 2 and c.lattice_span == (1, 1)
    # a lattice of index 2 generated by (1, 1) and (0, 2)
    assert c.lattice_basis == ((1, 1), (0, 2))
    assert "gridding" in r.text() and "index 2" in r.text()
    assert r.analysis()["gaussian"]["lattice_index"] == 2
    # compared on the lattice, the prediction is zero off it
    assert c.gaussian.kl < math.inf


def test_tiny_entries_count_as_support():
    from numpy.polynomial import polynomial as P

    c = compare_to_gaussian(P.polypow([1, 1e-10, 1], 5))
    assert c.lattice_span == (1,) and c.lattice_index == 1
    assert math.isfinite(c.gaussian.kl) and "sublattice" not in c.note


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 4),
    st.integers(1, 4),
    st.integers(0, 3),
    st.integers(2, 5),
)
def test_lattice_index_matches_brute_force(a, b, c, n):
    # support generated by steps (a, 0) and (c, b): lattice index a * b, as a determinant
    from erftheory.lattice import _lattice

    shape = (n * (a + c) + 1, n * b + 1)
    support = np.zeros(shape, dtype=bool)
    for i in range(n + 1):
        for j in range(n + 1):
            x, y = i * a + j * c, j * b
            support[x, y] = True
    spans, mask, index, basis = _lattice(support)
    assert index == (a * b)
    # brute force: every grid point that is an integer combination of the two steps
    if index > 1:
        for x in range(shape[0]):
            for y in range(shape[1]):
                j, r = divmod(y, b)
                member = r == 0 and (x - j * c) % a == 0
                assert mask[x, y] == member


# ---------------------------------------------------------------- 8, 9, 10: predictions


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: gaussian_prediction(2.5, 0, 1), "shape=2.5"),
        (lambda: gaussian_prediction(5, "a", 1), "mean='a'"),
        (lambda: gaussian_prediction((5, "a"), [2, 2], 1), "shape="),
        (lambda: gaussian_prediction((True,), 0, 1), r"shape=\(True,\)"),
        (lambda: edgeworth_prediction(5, 2, 1, [0, 0, 0], 0), "skewness"),
        (lambda: moments([[1, 2], [3]]), "not a numeric array"),
        (lambda: et.receptive_field("1d: conv3/s2").field_of((1, 2)), "1 integer"),
        (lambda: et.receptive_field("conv3/s2").field_of((1,)), "2 integer"),
        (lambda: et.receptive_field("conv3/s2").field_of(3), "2 integer"),
    ],
)
def test_bad_inputs_are_one_line_erf_errors(call, match):
    with pytest.raises(et.ERFError, match=match) as info:
        call()
    assert "\n" not in str(info.value)


def test_field_of_a_bare_integer_on_a_1d_field():
    rf = et.receptive_field("1d: conv3/s2")  # start 0, jump 2, size 3
    assert rf.field_of(3) == rf.field_of((3,)) == [(6, 8)]


@pytest.mark.parametrize("variance", [1e4, 1e12, 1e300])
def test_huge_variance_gives_nearly_uniform_normalised_cells(variance):
    # the cell masses are the density times the width to O(1/variance): independent check
    sd = math.sqrt(variance)
    raw = gaussian_prediction(5, 2.0, variance, normalise=False)
    x = np.arange(5) - 2.0
    midpoint = np.exp(-0.5 * (x / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
    np.testing.assert_allclose(raw.values, midpoint * (1 + (x**2 / sd**2 - 1) / (24 * sd**2)))
    g = gaussian_prediction(5, 2.0, variance)
    assert g.values.sum() == pytest.approx(1.0, abs=1e-12) and g.outside_mass <= 1.0


def test_point_prediction_with_a_tiny_variance_keeps_its_normalisation():
    g = gaussian_prediction(5, 2.5, 1e-300, "point")
    np.testing.assert_allclose(g.values, [0, 0, 0.5, 0.5, 0], atol=1e-15)
    full = gaussian_prediction(
        (4, 4), [1.5, 1.5], [[1e-300, 0.5e-300], [0.5e-300, 1e-300]], "point"
    )
    assert full.values.sum() == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("mu", [0.3, 2.0, 4.7])
def test_narrow_cells_against_mpmath(mu):
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40
    sd = 50.0
    g = gaussian_prediction(8, mu, sd * sd, normalise=False)
    for i in range(8):
        want = mp.ncdf((i + 0.5 - mu) / sd) - mp.ncdf((i - 0.5 - mu) / sd)
        assert g.values[i] == pytest.approx(float(want), rel=1e-13)


def test_full_covariance_cells_hold_the_documented_accuracy():
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 30
    mean = np.array([4.0, 4.0])
    a, b, rho = 0.2, 1.5, 0.5
    cov = np.array([[a * a, rho * a * b], [rho * a * b, b * b]])
    g = gaussian_prediction((9, 9), mean, cov, "cell", normalise=False)
    inv = np.linalg.inv(cov)

    def ref(i, j):
        beta, s = mp.mpf(rho * b / a), mp.mpf(b) * mp.sqrt(1 - mp.mpf(rho) ** 2)

        def f(x):
            c = mean[1] + beta * (x - mean[0])
            return mp.npdf(x, mean[0], a) * (
                mp.ncdf((j + 0.5 - c) / s) - mp.ncdf((j - 0.5 - c) / s)
            )

        return mp.quad(f, [i - 0.5, i - 0.25, i, i + 0.25, i + 0.5])

    checked = 0
    for i, j in np.ndindex(9, 9):
        x = np.array([i, j]) - mean
        if math.sqrt(x @ inv @ x) <= 12 and (i + j) % 3 == 0:  # where 3e-9 is stated
            assert g.values[i, j] == pytest.approx(float(ref(i, j)), rel=3e-9)
            checked += 1
    assert checked >= 8


# ---------------------------------------------------------------- 12: messages


def test_even_residual_body_message_says_padding_cannot_help():
    with pytest.raises(et.ERFError, match="padding cannot align them") as info:
        et.erf("1d: res(conv2)")
    assert "odd" in str(info.value)
    with pytest.raises(et.ERFError, match="pad them so that their centres agree"):
        et.erf("1d: res(conv3/p0)")  # whole-pixel offset: padding does align it


def test_dims_prefix_out_of_range_is_named():
    with pytest.raises(et.ERFError, match="dims must be 1, 2 or 3"):
        et.receptive_field("4d: conv3")
