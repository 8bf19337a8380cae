"""The Gaussian side: moments, predictions, distances and CLT rates against closed forms."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.polynomial import polynomial as P
from scipy import integrate, stats
from scipy.special import logsumexp

import erftheory as et
from erftheory.errors import ERFError
from erftheory.gaussian import (
    compare_to_gaussian,
    distances,
    edgeworth_prediction,
    gaussian_prediction,
    moments,
)
from erftheory.rates import BERRY_ESSEEN_C, berry_esseen_bound, clt_rates


def ones_stack(k: int, n: int) -> np.ndarray:
    """Coefficients of (1 + x + ... + x^(k-1))^n: the 1-d all-ones ERF, built independently."""
    return P.polypow(np.ones(k), n)


def law(kernel, n: int) -> np.ndarray:
    w = np.asarray(kernel, dtype=float)
    return P.polypow(w / w.sum(), n)


# ----------------------------------------------------------------------------- moments


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("n", [1, 4, 9])
def test_moments_of_all_ones_stacks(k, n):
    m = moments(ones_stack(k, n))
    assert m.mean[0] == pytest.approx(n * (k - 1) / 2, rel=1e-12)
    assert m.covariance[0][0] == pytest.approx(n * (k * k - 1) / 12, rel=1e-12)
    assert m.std[0] == pytest.approx(math.sqrt(n * (k * k - 1) / 12), rel=1e-12)
    assert m.skewness[0] == pytest.approx(0, abs=1e-12)
    # excess kurtosis of a uniform kernel, -6 (k^2 + 1) / (5 (k^2 - 1)), divided by n
    assert m.excess_kurtosis[0] == pytest.approx(
        -6 * (k * k + 1) / (5 * (k * k - 1)) / n, rel=1e-10
    )


def test_moments_of_a_skewed_kernel():
    # [1, 2, 4] / 7: mean 10/7, variance 18/7 - 100/49 = 26/49
    m = moments(law([1, 2, 4], 6))
    assert m.mean[0] == pytest.approx(6 * 10 / 7, rel=1e-12)
    assert m.covariance[0][0] == pytest.approx(6 * 26 / 49, rel=1e-12)
    x, w = np.arange(3), np.array([1, 2, 4]) / 7
    k3 = w @ (x - 10 / 7) ** 3  # third cumulant of one layer; cumulants add
    assert m.skewness[0] == pytest.approx(6 * k3 / (6 * 26 / 49) ** 1.5, rel=1e-10)


def test_outer_products_have_zero_covariance():
    a, b, c = ones_stack(3, 4), ones_stack(2, 5), ones_stack(4, 2)
    m2 = moments(np.outer(a, b))
    assert m2.covariance[0][1] == pytest.approx(0, abs=1e-12)
    assert m2.covariance[1][1] == pytest.approx(5 * 3 / 12, rel=1e-12)
    m3 = moments(np.einsum("i,j,k->ijk", a, b, c))
    cov = np.array(m3.covariance)
    assert np.allclose(cov - np.diag(np.diag(cov)), 0, atol=1e-12)
    assert np.diag(cov) == pytest.approx([4 * 8 / 12, 5 * 3 / 12, 2 * 15 / 12], rel=1e-12)


def test_sheared_map_covariance_by_hand():
    # two points: (0, 0) and (1, 2) -> mean (1/2, 1), var 1/4 and 1, covariance 1/2
    two = np.zeros((2, 3))
    two[0, 0] = two[1, 2] = 1.0
    m = moments(two)
    assert m.mean == pytest.approx((0.5, 1.0))
    assert np.array(m.covariance) == pytest.approx(np.array([[0.25, 0.5], [0.5, 1.0]]))
    # row i of u (x) v shifted right by i: y = i + j with i ~ u, j ~ v independent, so
    # Var x = Var u, Cov(x, y) = Var u, Var y = Var u + Var v
    u, v = np.array([1.0, 2.0, 1.0]), np.ones(4)  # variances 1/2 and (16 - 1) / 12
    sheared = np.zeros((3, 6))
    for i in range(3):
        sheared[i, i : i + 4] = u[i] * v
    m = moments(sheared)
    assert m.mean == pytest.approx((1.0, 1.0 + 1.5))
    assert np.array(m.covariance) == pytest.approx(np.array([[0.5, 0.5], [0.5, 1.75]]))
    assert m.skewness[0] == pytest.approx(0, abs=1e-12)


def test_moments_use_absolute_values_and_reject_bad_maps():
    assert moments([-1, -2, -1]).covariance == moments([1, 2, 1]).covariance
    for bad in ([0, 0, 0], [1, np.nan], [1, np.inf], [], np.ones((2, 2, 2, 2)), "abc"):
        with pytest.raises(ERFError):
            moments(bad)


# -------------------------------------------------------------------------- predictions


def test_cell_gaussian_matches_normal_cdf_differences():
    mean, sd, n = 6.3, 2.1, 13
    edges = (np.arange(n + 1) - 0.5 - mean) / sd
    expected = np.diff(stats.norm.cdf(edges))
    raw = gaussian_prediction(n, mean, sd**2, normalise=False)
    assert raw.values == pytest.approx(expected, rel=1e-12, abs=1e-300)
    assert raw.values.sum() + raw.outside_mass == pytest.approx(1, abs=1e-14)
    g = gaussian_prediction(n, mean, sd**2)
    assert g.values.sum() == pytest.approx(1, abs=1e-14)
    assert g.values == pytest.approx(expected / expected.sum(), rel=1e-12)
    # 2-d diagonal: a product of the two axes' differences
    ey = np.diff(stats.norm.cdf((np.arange(8) - 0.5 - 3.0) / 1.5))
    g2 = gaussian_prediction((n, 7), (mean, 3.0), [sd**2, 1.5**2], normalise=False)
    assert g2.values == pytest.approx(np.outer(expected, ey), rel=1e-12, abs=1e-300)


def test_point_gaussian_samples_the_density():
    g = gaussian_prediction(9, 4.2, 2.0, "point", normalise=False)
    assert g.values == pytest.approx(stats.norm.pdf(np.arange(9), 4.2, math.sqrt(2)))
    cov = np.array([[2.0, 0.8], [0.8, 1.5]])
    g2 = gaussian_prediction((6, 7), (2.5, 3.1), cov, "point", normalise=False)
    grid = np.stack(np.indices((6, 7)), -1)
    assert g2.values == pytest.approx(stats.multivariate_normal([2.5, 3.1], cov).pdf(grid))
    assert g2.outside_mass == pytest.approx(
        1 - gaussian_prediction((6, 7), (2.5, 3.1), cov, normalise=False).values.sum(), abs=1e-8
    )


@pytest.mark.parametrize(
    "cov", [[[1.0, 0.5], [0.5, 1.0]], [[0.36, 0.324], [0.324, 0.36]], [[4.0, -1.4], [-1.4, 1.0]]]
)
def test_full_covariance_cells_match_adaptive_quadrature(cov):
    mean = np.array([3.3, 2.8])
    g = gaussian_prediction((7, 6), mean, cov, normalise=False)
    mvn = stats.multivariate_normal(mean, cov)
    for i, j in [(3, 3), (2, 2), (4, 3), (1, 4), (3, 1)]:
        ref = integrate.dblquad(
            lambda y, x: mvn.pdf([x, y]), i - 0.5, i + 0.5, j - 0.5, j + 0.5, epsabs=1e-14
        )[0]
        assert g.values[i, j] == pytest.approx(ref, rel=1e-8, abs=1e-13)
    assert g.values.sum() + g.outside_mass == pytest.approx(1, abs=1e-12)
    assert gaussian_prediction((7, 6), mean, cov).values.sum() == pytest.approx(1, abs=1e-14)


def test_prediction_errors():
    with pytest.raises(ERFError, match="positive definite"):
        gaussian_prediction((5, 5), (2, 2), [[1.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ERFError, match="positive definite"):
        gaussian_prediction(5, 2, -1.0)
    with pytest.raises(ERFError, match="discretisation"):
        gaussian_prediction(5, 2, 1.0, "midpoint")
    with pytest.raises(ERFError, match="shape"):
        gaussian_prediction((0, 3), (0, 1), [1, 1])
    with pytest.raises(ERFError, match="not diagonal"):
        edgeworth_prediction((5, 5), (2, 2), [[1.0, 0.3], [0.3, 1.0]], 0, 0)


# ---------------------------------------------------------------------------- Edgeworth


def test_edgeworth_check_of_theory_section_6():
    exact = ones_stack(3, 5)  # coefficients of (1 + x + x^2)^5
    assert exact.sum() == 3**5 and exact[5] == 51
    m = moments(exact)
    assert m.excess_kurtosis[0] == pytest.approx(-1.5 / 5, rel=1e-12)
    gauss = gaussian_prediction(11, m.mean, m.covariance, "point", normalise=False)
    edge = edgeworth_prediction(
        11, m.mean, m.covariance, m.skewness, m.excess_kurtosis, "point", normalise=False
    )
    exact_ratio = exact[5] / 3**5 / gauss.values[5]
    predicted_ratio = edge.values[5] / gauss.values[5]
    assert exact_ratio == pytest.approx(0.9605, abs=5e-5)
    assert predicted_ratio == pytest.approx(1 - 1.5 * 3 / (24 * 5), abs=1e-12)
    assert abs(predicted_ratio - exact_ratio) < 0.1 * abs(1 - exact_ratio)


def test_edgeworth_cells_integrate_the_density():
    mean, var, g1, g2 = 4.3, 1.7, 0.4, -0.2
    cells = edgeworth_prediction(9, mean, var, g1, g2, "cell", normalise=False)
    sd = math.sqrt(var)

    def density(x):
        z = (x - mean) / sd
        he3, he4 = z**3 - 3 * z, z**4 - 6 * z**2 + 3
        he6 = z**6 - 15 * z**4 + 45 * z**2 - 15
        return stats.norm.pdf(z) / sd * (1 + g1 / 6 * he3 + g2 / 24 * he4 + g1**2 / 72 * he6)

    for i in range(9):
        assert cells.values[i] == pytest.approx(integrate.quad(density, i - 0.5, i + 0.5)[0])
    # the Hermite terms integrate to zero over the line
    assert cells.values.sum() + cells.outside_mass == pytest.approx(1, abs=1e-12)


@pytest.mark.parametrize("n", [10, 20, 40])
def test_edgeworth_beats_the_gaussian_on_a_skewed_kernel(n):
    c = compare_to_gaussian(law([1, 2, 4], n))
    assert abs(c.moments.skewness[0]) > 0.1
    assert c.edgeworth.sup < c.gaussian.sup / 3
    assert c.edgeworth.total_variation < c.gaussian.total_variation / 3


def test_edgeworth_product_over_axes_in_2d():
    a, b = law([1, 2, 4], 12), law([1, 1, 1], 9)
    c2 = compare_to_gaussian(np.outer(a, b))
    assert c2.edgeworth is not None
    assert c2.edgeworth.sup < c2.gaussian.sup / 3


# ---------------------------------------------------------------------------- distances


pair = (
    st.integers(1, 12)
    .flatmap(
        lambda n: st.tuples(
            arrays(float, n, elements=st.floats(0, 10)), arrays(float, n, elements=st.floats(0, 10))
        )
    )
    .filter(lambda t: t[0].sum() > 1e-3 and t[1].sum() > 1e-3)
)


@settings(max_examples=200, deadline=None)
@given(pair)
def test_hellinger_and_total_variation_bounds(maps):
    p, q = maps
    d = distances(p, q)
    assert d.hellinger**2 <= d.total_variation + 1e-12
    assert d.total_variation <= math.sqrt(2) * d.hellinger + 1e-12
    assert 0 <= d.total_variation <= 1 and 0 <= d.hellinger <= 1 and 0 <= d.sup <= 1
    assert d.kl >= 2 * d.total_variation**2 - 1e-12  # Pinsker
    assert distances(q, p).total_variation == pytest.approx(d.total_variation)


def test_distances_by_hand():
    d = distances([1, 1, 0, 0], [0, 1, 1, 0])
    assert (d.total_variation, d.sup, d.kl) == (0.5, 0.5, math.inf)
    assert d.hellinger == pytest.approx(math.sqrt(0.5))
    d = distances([3, 1], [1, 1])  # normalised: [3/4, 1/4] vs [1/2, 1/2]
    assert d.kl == pytest.approx(0.75 * math.log(1.5) + 0.25 * math.log(0.5))
    assert distances([2, 2], [5, 5]).total_variation == 0
    with pytest.raises(ERFError, match="shapes"):
        distances([1, 2], [1, 2, 3])
    with pytest.raises(ERFError, match="all zero"):
        distances([1, 2], [0, 0])


def test_kl_survives_gaussian_underflow():
    # a tiny mass 50 std from the mean: the density underflows, its logarithm does not
    x = np.arange(201)
    p = stats.norm.pdf(x, 150, 3.0)
    p[0] = 1e-300
    p /= p.sum()
    g = gaussian_prediction(201, 150, 9.0, "point")
    assert g.values[0] == 0
    log_q = stats.norm.logpdf(x, 150, 3.0)
    log_q -= logsumexp(log_q)
    mask = p > 0
    expected = float(np.sum(p[mask] * (np.log(p[mask]) - log_q[mask])))
    d = distances(p, g)
    assert d.kl == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert distances(p, g.values).kl == math.inf  # documented: plain arrays have q = 0 there


# -------------------------------------------------------------------- distance to Gaussian


@pytest.mark.parametrize("k", [3, 5])
def test_distance_to_gaussian_decays_like_one_over_n_for_symmetric_kernels(k):
    tv = [compare_to_gaussian(ones_stack(k, n)).gaussian.total_variation for n in (8, 16, 32, 64)]
    ratios = np.array(tv[1:]) / np.array(tv[:-1])
    assert np.all(ratios > 0.4) and np.all(ratios < 0.6)  # 1/n halves; 1/sqrt(n) would be 0.71


def test_comparison_dict_is_json_and_handles_degenerate_axes():
    c = compare_to_gaussian(np.outer(ones_stack(3, 6), ones_stack(3, 6)), "cell")
    data = json.loads(json.dumps(c.to_dict(), allow_nan=False))
    assert set(data) >= {"tv_gaussian", "kl_gaussian", "hellinger_gaussian", "sup_edgeworth"}
    line = compare_to_gaussian(ones_stack(3, 6)[None, :])  # one row: that axis is a point mass
    flat = compare_to_gaussian(ones_stack(3, 6))
    assert line.gaussian.total_variation == pytest.approx(flat.gaussian.total_variation)
    assert compare_to_gaussian([[5.0]]).gaussian.total_variation == 0
    sheared = np.zeros((3, 6))
    for i in range(3):
        sheared[i, i : i + 4] = [1, 2, 2, 1]
    assert compare_to_gaussian(sheared).edgeworth is None


def test_gridded_maps_are_compared_on_their_lattice():
    # every layer dilated by 2: the same law on even offsets, so the same distances
    plain = ones_stack(3, 9)
    gridded = np.zeros(2 * plain.size - 1)
    gridded[::2] = plain
    a, b = compare_to_gaussian(plain), compare_to_gaussian(gridded)
    assert b.lattice_span == (2,) and a.lattice_span == (1,) and "sublattice" in b.note
    for key, value in a.to_dict().items():
        if key in ("lattice_span", "note"):  # what differs, reported above
            continue
        assert b.to_dict()[key] == (
            value if key == "discretisation" else pytest.approx(value, rel=1e-9)
        )


def test_three_d_full_covariance_cell():
    cov = np.array([[1.0, 0.5, 0.2], [0.5, 1.5, 0.4], [0.2, 0.4, 0.8]])
    mean = np.array([3.0, 3.5, 2.5])
    g = gaussian_prediction((7, 8, 6), mean, cov, normalise=False)
    mvn = stats.multivariate_normal(mean, cov)
    ref = integrate.tplquad(
        lambda z, y, x: mvn.pdf([x, y, z]), 2.5, 3.5, 2.5, 3.5, 1.5, 2.5, epsabs=1e-12
    )[0]
    assert g.values[3, 3, 2] == pytest.approx(ref, rel=1e-8)
    point = gaussian_prediction((7, 8, 6), mean, cov, "point")
    assert g.values.sum() + g.outside_mass == pytest.approx(1, abs=1e-12)
    assert point.outside_mass == pytest.approx(g.outside_mass, abs=1e-7)
    json.dumps(moments(g.values).to_dict(), allow_nan=False)


# --------------------------------------------------------------------------------- rates


def test_berry_esseen_closed_form_and_bound():
    # uniform on {0, 1, 2}: sigma^2 = 2/3, rho = E|X - 1|^3 = 2/3
    expected = BERRY_ESSEEN_C * (2 / 3) / ((2 / 3) ** 1.5 * math.sqrt(25))
    assert berry_esseen_bound([1, 1, 1], 25) == pytest.approx(expected, rel=1e-12)
    for kernel in ([1, 1], [1, 1, 1], [1, 2, 4], [1, 0, 1], [5, 1, 0, 0, 1]):
        for n in (1, 3, 10, 50):
            r = clt_rates(kernel, n)
            assert r.kolmogorov <= r.berry_esseen


def test_kolmogorov_distance_of_a_fair_coin():
    # one fair 0/1 step: mean 1/2, sigma 1/2; the worst gap is Phi(1) - 1/2 next to an atom
    assert clt_rates([1, 1], 1).kolmogorov == pytest.approx(stats.norm.cdf(1) - 0.5, rel=1e-12)


def test_local_clt_rates():
    def local(kernel, n):
        return clt_rates(kernel, n).local_error

    # symmetric: O(1/n); skewed: O(1/sqrt(n))
    assert local([1, 1, 1], 400) / local([1, 1, 1], 100) == pytest.approx(0.25, rel=0.05)
    assert local([1, 2, 4], 400) / local([1, 2, 4], 100) == pytest.approx(0.5, rel=0.05)
    gridded = clt_rates([1, 0, 1], 100)  # support on even offsets only
    assert gridded.lattice_span == 2
    assert gridded.local_error < 0.01
    # direct check at small n: sigma_n P(S_n = x) - phi(z) over the support
    p = law([1, 2, 4], 7)
    sigma = math.sqrt(7 * 26 / 49)
    z = (np.arange(p.size) - 7 * 10 / 7) / sigma
    assert local([1, 2, 4], 7) == pytest.approx(np.max(np.abs(sigma * p - stats.norm.pdf(z))))


@pytest.mark.parametrize("kernel", [[1], [0, 3, 0], [-1, 2], [], [[1, 1]], [0, 0]])
def test_rate_errors(kernel):
    with pytest.raises(ERFError):
        clt_rates(kernel, 4)
    with pytest.raises(ERFError, match="depth"):
        berry_esseen_bound([1, 1], 0)


@pytest.mark.parametrize("display", ["raw", "peak", "log"])
def test_plot_erf_draws_the_clt_gaussian_beside_the_profiles(display):
    from scipy.stats import norm

    from erftheory.normalization import normalize_map
    from erftheory.plot import plot_erf

    n = 12  # 12 all-ones 3x3 layers: std sqrt(12 * 8 / 12) = sqrt(8) per axis, mean 12
    r = et.erf(f"conv3*{n}")
    ax = plot_erf(r, display=display)
    lines = {line.get_label(): line.get_ydata() for a in ax.figure.axes for line in a.get_lines()}
    gaussian_row = lines["Gaussian, same mean and covariance, row"]
    # independent: the map's total times the cell integrals of N(12, 8) per axis (closed form)
    edges = np.arange(2 * n + 2) - 0.5
    cells = np.diff(norm.cdf(edges, loc=n, scale=math.sqrt(8)))
    cells /= cells.sum()
    expected = r.values.sum() * cells[n] * cells
    scale = normalize_map(r.values, display)[0].max() / r.values.max()
    want = {"raw": expected, "peak": expected * scale, "log": np.log10(expected + 1)}[display]
    np.testing.assert_allclose(gaussian_row, want, rtol=1e-9)
    # and the CLT makes it close to the exact centre row (within 3% of the peak; the log
    # display magnifies the tails, where the relative gap is larger)
    shown = lines["row through the centre"]
    assert display == "log" or np.max(np.abs(gaussian_row - shown)) < 0.03 * shown.max()


def test_plot_erf_has_no_gaussian_for_signed_maps():
    from erftheory.plot import plot_erf

    ax = plot_erf(et.erf("1d: conv3/w[1,-2,1]*2"))
    assert all("Gaussian" not in line.get_label() for line in ax.get_lines())


@pytest.mark.parametrize("spec", ["1d: conv3*2000", "2d: conv3*1000"])
def test_plot_erf_zooms_on_a_deep_erf_and_says_so(spec):
    from erftheory.plot import plot_erf

    # n three-tap layers: mean n, std sqrt(n (3^2 - 1) / 12) = sqrt(2n / 3) (closed form)
    n = int(spec.split("*")[1])
    std = math.sqrt(2 * n / 3)
    ax = plot_erf(et.erf(spec, normalize="sum"))
    low, high = ax.get_xlim()
    assert low == pytest.approx(n - 6 * std, abs=0.51) and high == pytest.approx(
        n + 6 * std, abs=0.51
    )
    extent = f"spans 0 to {2 * n}" if spec.startswith("1d") else f"is {2 * n + 1} x {2 * n + 1}"
    assert f"the RF {extent}" in ax.get_xlabel()
    small = plot_erf(et.erf("1d: conv3*10"))
    assert (
        small.get_xlim()[0] <= 0
        and small.get_xlim()[1] >= 20
        and "zoomed" not in small.get_xlabel()
    )


def test_comparison_without_edgeworth_keeps_the_gaussian_distances():
    law = np.outer(ones_stack(3, 6), ones_stack(3, 5))
    full, short = compare_to_gaussian(law, "cell"), compare_to_gaussian(law, "cell", False)
    assert short.edgeworth is None and short.gaussian == full.gaussian


# ------------------------------------------------------------------- one prepared map for all


def test_distances_of_a_prepared_map_to_a_prediction_by_formula():
    from erftheory.distribution import _prepare

    values = np.random.default_rng(6).random((30, 40)) ** 4
    values[3, :] = 0  # pixels off the support of p
    mean, var = (14.0, 21.0), (30.0, 50.0)
    g = gaussian_prediction(values.shape, mean, var, "point")
    p = values / values.sum()
    log_q = np.add.outer(
        *[
            stats.norm.logpdf(np.arange(n), m, math.sqrt(v))
            for n, m, v in zip(values.shape, mean, var)
        ]
    )
    log_q -= logsumexp(log_q)
    q = np.exp(log_q)
    support = p > 0
    for d in (distances(_prepare(values), g), distances(values, g)):
        assert d.total_variation == pytest.approx(0.5 * np.abs(p - q).sum(), rel=1e-12)
        assert d.sup == pytest.approx(np.abs(p - q).max(), rel=1e-12)
        hellinger = math.sqrt(0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2))
        assert d.hellinger == pytest.approx(hellinger, rel=1e-12)
        kl = np.sum(p[support] * (np.log(p[support]) - log_q[support]))
        assert d.kl == pytest.approx(kl, rel=1e-10)


def edgeworth_points(n: int, mean: float, var: float, g1: float, g2: float) -> np.ndarray:
    """The Edgeworth series phi(z) / sd (1 + g1/6 He3 + g2/24 He4 + g1^2/72 He6) at 0..n-1."""
    sd = math.sqrt(var)
    z = (np.arange(n) - mean) / sd
    he3, he4, he6 = z**3 - 3 * z, z**4 - 6 * z**2 + 3, z**6 - 15 * z**4 + 45 * z**2 - 15
    return stats.norm.pdf(z) / sd * (1 + g1 / 6 * he3 + g2 / 24 * he4 + g1**2 / 72 * he6)


def test_edgeworth_in_2d_clips_the_negative_series_by_formula():
    # a strongly negative kurtosis makes the series negative beyond |z| = 3 on both axes:
    # negative on the edges, positive again in the corners (a product of two negatives)
    shape, mean, var, g1, g2 = (21, 25), (10.0, 12.5), (4.0, 6.0), (0.5, 0.0), (-1.0, -1.2)
    raw = np.multiply.outer(*[edgeworth_points(*args) for args in zip(shape, mean, var, g1, g2)])
    assert np.any(raw < 0) and raw[0, 0] > 0
    series = edgeworth_prediction(shape, mean, var, g1, g2, normalise=False)
    assert series.values == pytest.approx(raw, rel=1e-12, abs=1e-300)
    assert series.negative_mass == pytest.approx(-raw[raw < 0].sum(), rel=1e-12)
    e = edgeworth_prediction(shape, mean, var, g1, g2)
    expected = np.clip(raw, 0, None) / np.clip(raw, 0, None).sum()
    assert e.values == pytest.approx(expected, rel=1e-12, abs=1e-300)
    assert e.negative_mass == series.negative_mass
    assert np.all(np.isneginf(e.log_values[raw <= 0]))
    assert np.exp(e.log_values[raw > 0]) == pytest.approx(expected[raw > 0], rel=1e-12)


def test_comparison_of_a_prepared_map_is_that_of_the_array():
    from erftheory.distribution import _prepare

    for values in (np.outer(law([1, 2, 4], 12), law([1, 1, 1], 9)), ones_stack(3, 6)[None, :]):
        prepared = _prepare(values)
        for discretisation in ("point", "cell"):
            assert compare_to_gaussian(prepared, discretisation) == compare_to_gaussian(
                values, discretisation
            )
        assert moments(prepared) == moments(values) == prepared.moments


def test_gridding_is_reported_in_text_and_json():
    # dilation 2 throughout: the map is zero at every odd offset (THEORY 6: report it)
    gridded = et.erf("1d: conv3/d2*3")
    assert np.all(gridded.values[1::2] == 0)
    assert gridded.analysis()["gaussian"]["lattice_span"] == [2]
    assert "gridding" in gridded.text()
    plain = et.erf("1d: conv3*3")
    assert plain.analysis()["gaussian"]["lattice_span"] == [1]
    assert "gridding" not in plain.text()


def test_signed_maps_are_compared_as_magnitudes_and_say_so():
    # THEORY 6: signed kernels are not distributions; the comparison is of |erf| and says so
    signed = compare_to_gaussian(np.array([1.0, -4.0, 6.0, -4.0, 1.0]))
    plain = compare_to_gaussian(np.array([1.0, 4.0, 6.0, 4.0, 1.0]))
    assert "signed" in signed.note and "signed" not in plain.note
    assert signed.gaussian.total_variation == plain.gaussian.total_variation  # same |erf|


@settings(max_examples=60, deadline=None)
@given(
    row=st.integers(0, 4),
    values=st.lists(st.floats(1e-3, 1e3), min_size=6, max_size=6),
)
def test_mass_on_one_row_has_that_row_as_its_mean_and_no_spread(row, values):
    # a third of such maps used to get a variance of ~1e-31 on the row axis (the weighted mean
    # one ulp off the row) and compare_to_gaussian refused them as not positive definite
    a = np.zeros((5, 6))
    a[row] = values
    m = moments(a)
    assert m.mean[0] == row
    assert m.covariance[0] == (0.0, 0.0) and m.covariance[1][0] == 0.0
    comparison = compare_to_gaussian(a)
    assert comparison.moments.std[0] == 0.0


def test_a_map_too_skewed_for_any_positive_edgeworth_mass_is_compared_without_it():
    # one pixel holding nearly all the mass at an end: skewness ~ 150 makes the Edgeworth
    # series negative on every grid point; the comparison used to raise instead of noting it
    p = np.array([170.0, 2.0**-7, 2.0**-9, 2.0**-9, 2.0**-9, 2.0**-9])
    c = compare_to_gaussian(p)
    assert c.edgeworth is None and c.edgeworth_negative_mass is None
    assert "Edgeworth series not positive" in c.note
    assert c.gaussian.total_variation >= 0  # the Gaussian comparison itself is still made


def test_extreme_weights_give_moments_in_range_and_no_warnings():
    # weights up to 1e308: the kernel's sum is beyond float64 and the map's variance is
    # ~6e-308, whose 1.5th power underflows; the moments themselves are in range. The
    # skewness and kurtosis here come from exact fractions (RuntimeWarnings are errors here)
    from fractions import Fraction

    p = np.array([1.0, 2.0, 1e308])
    m = moments(p)
    w = [Fraction(x) for x in p.tolist()]
    total = sum(w)
    mean = sum(i * x for i, x in enumerate(w)) / total
    central = [sum((i - mean) ** k * x for i, x in enumerate(w)) / total for k in (2, 3, 4)]
    var, m3, m4 = central
    assert m.covariance[0][0] == pytest.approx(float(var), rel=1e-12)
    skew = float(m3 / var) / math.sqrt(float(var))
    assert m.skewness[0] == pytest.approx(skew, rel=1e-12)
    assert m.excess_kurtosis[0] == pytest.approx(float(m4 / var / var) - 3, rel=1e-12)
    c = compare_to_gaussian(p)  # its Edgeworth terms (skewness ~ -7e153) pass float64
    assert c.edgeworth is None and "beyond float64" in c.note
    # the kernels' own sum is beyond float64; their moments are not (a 3-tap uniform kernel)
    arch = {"dims": 1, "layers": [{"type": "conv", "kernel": 3, "weights": [1e308] * 3}]}
    predicted = et.predicted_moments(arch)
    assert predicted.covariance[0][0] == pytest.approx(2 / 3, rel=1e-15)
    assert predicted.log10_mass == pytest.approx(math.log10(3) + 308, rel=1e-15)


def test_a_log_plot_says_when_negative_entries_are_not_drawn():
    from erftheory.plot import plot_erf

    signed = et.erf("1d: conv3/w[1,-3,1]*2")  # [1, -6, 11, -6, 1]
    assert "negative entries not drawn" in plot_erf(signed, log=True).get_title()
    assert "negative" not in plot_erf(signed).get_title()
    assert "negative" not in plot_erf(et.erf("1d: conv3*2"), log=True).get_title()
