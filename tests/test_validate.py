"""Validation of empirical maps against the theory, on synthetic measurements."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from oracle import get_rectangle as _get_rectangle

import erftheory as et
from erftheory.cli import main
from erftheory.validate import validate


def _simulated_gradients(arch, images, size, rng):
    """Per-image gradients g(p) ~ N(0, E[g^2](p)) placed in an input of ``size`` pixels.

    A Gaussian stand-in for a measured stack: its E[g^2] is the analytic map by construction,
    so the validation must find agreement within Monte-Carlo noise.
    """
    var = et.erf(arch, weights="random", normalize="sum").values
    r = var.shape[0]
    out = np.zeros((images, size, size))
    start = (size - r) // 2
    out[:, start : start + r, start : start + r] = rng.normal(size=(images, r, r)) * np.sqrt(var)
    return out, start + (r - 1) / 2


def test_square_protocol_agrees_within_noise():
    rng = np.random.default_rng(0)
    stack, centre = _simulated_gradients("conv3*4", 4000, 25, rng)
    v = validate(stack, "conv3*4", aggregate="sq")
    # each pixel is a mean of 4000 chi-square(1) draws: relative noise sqrt(2/4000) ~ 2.2%
    assert v.tv < 0.03
    assert v.empirical_std == pytest.approx(v.theoretical_std, rel=0.02)
    assert v.correlation > 0.99
    assert v.gaussian_fit["r2"] > 0.95
    by_unit = validate(stack, "conv3*4", aggregate="sq", unit=(centre, centre))
    assert by_unit.tv == pytest.approx(v.tv, abs=1e-12)


def test_abs_protocol_compares_with_the_square_root():
    rng = np.random.default_rng(1)
    stack, _ = _simulated_gradients("conv3*6", 3000, 21, rng)
    v = validate(stack, "conv3*6", aggregate="abs")
    assert "sqrt" in v.theory and v.tv < 0.03


def test_a_wider_measured_map_reports_a_larger_std():
    wide = et.erf("conv3*6", weights="random").values  # field 13x13
    m = np.zeros((13, 13))
    m[:] = wide
    narrow_theory = validate(m, "conv3*6", aggregate="none", theory="random")
    assert narrow_theory.tv == pytest.approx(0.0, abs=1e-12)
    flat = np.ones((13, 13))
    v = validate(flat, "conv3*6", aggregate="none", theory="random")
    assert all(e > t for e, t in zip(v.empirical_std, v.theoretical_std))
    assert v.empirical_std[0] == pytest.approx(np.sqrt((13**2 - 1) / 12), rel=1e-12)


def test_bad_maps():
    with pytest.raises(et.ERFError, match="all zero"):
        validate(np.zeros((9, 9)), "conv3*2")
    with pytest.raises(et.ERFError, match="outside the receptive field"):
        validate(np.ones((30, 30)), "conv3*2", aggregate="none")
    with pytest.raises(et.ERFError, match="does not fit a 2-D"):
        validate(np.ones(9), "conv3*2")
    with pytest.raises(et.ERFError, match="NaN"):
        validate(np.full((5, 5), np.nan), "conv3*2")


def test_cli(tmp_path, capsys):
    rng = np.random.default_rng(2)
    stack, _ = _simulated_gradients("conv3*3", 500, 15, rng)
    path, png = tmp_path / "g.npy", tmp_path / "v.png"
    np.save(path, stack)
    status = main(
        [
            "validate",
            str(path),
            "--arch",
            "conv3*3",
            "--aggregate",
            "sq",
            "--json",
            "--plot",
            str(png),
        ]
    )
    assert status == 0
    data = json.loads(capsys.readouterr().out)
    assert {"empirical_std", "theoretical_std", "tv"} <= set(data)
    assert png.stat().st_size > 1000
    assert main(["validate", str(tmp_path / "missing.npy"), "--arch", "conv3"]) == 2
    assert "cannot read" in capsys.readouterr().err


def _replknet(m, log=True):
    """Their pipeline on the whole map: log10(x + 1), divided by its maximum, then rectangles."""
    data = np.log10(np.abs(m) + 1) if log else np.abs(m)
    data = data / data.max()
    out = [_get_rectangle(data, t) for t in (0.2, 0.3, 0.5, 0.99)]
    return [None if r is None else r[0] for r in out], [None if r is None else r[1] for r in out]


def test_replknet_area_ratio_reads_the_whole_map_at_its_own_scale():
    m = np.zeros((21, 21))
    m[5:16, 5:16] = et.erf("conv3*5", weights="random").values
    for scale in (1.0, 1e4):
        v = validate(scale * m, "conv3*5", aggregate="none", theory="random")
        sides, ratios = _replknet(scale * m)
        assert v.metrics["empirical"]["area_ratio_side"] == sides
        assert v.metrics["empirical"]["area_ratio"] == pytest.approx(ratios, rel=1e-12)
        assert v.metrics["empirical"]["area_ratio_map_shape"] == [21, 21]
    small = validate(m, "conv3*5", aggregate="none", theory="random").metrics["empirical"]
    large = validate(1e4 * m, "conv3*5", aggregate="none", theory="random").metrics["empirical"]
    assert small["area_ratio_side"] != large["area_ratio_side"]  # scale-dependent, as stated
    assert small["area_ratio_raw_side"] == large["area_ratio_raw_side"]  # scale-free
    # --log-scale: the metrics read the map from before the log step; the comparison carries a note
    logged = validate(1e4 * m, "conv3*5", aggregate="none", theory="random", log_scale=True)
    assert logged.metrics["empirical"]["area_ratio_side"] == large["area_ratio_side"]
    assert "log-scaled" in logged.note and "note" in logged.to_dict()


def test_log_scale_metrics_read_the_map_from_before_the_log_step():
    from erftheory.metrics import all_metrics

    # values near 1e-12: log10(x + 1) keeps about 4 of their 16 digits, so a map recovered
    # from it as 10^y - 1 would be off in the fifth digit; the metrics must see the map itself
    field = 1e-12 * et.erf("conv3*5", weights="random", normalize="peak").values
    m = np.zeros((25, 27))
    m[6:17, 9:20] = field
    v = validate(m, "conv3*5", aggregate="none", theory="random", log_scale=True)
    window = {k: x for k, x in all_metrics(field).items() if not k.startswith("area_ratio")}
    assert {k: v.metrics["empirical"][k] for k in window} == window
    assert v.metrics["empirical"]["area_ratio_side"] == _replknet(m)[0]  # the whole map
    plain = validate(m, "conv3*5", aggregate="none", theory="random")
    assert {k: plain.metrics["empirical"][k] for k in window} == window
    logged = np.log10(field + 1)
    assert v.empirical == pytest.approx(logged / logged.sum(), rel=1e-12)
    assert v.protocol.endswith("then log10(x + 1)")


def test_aligned_map_records_its_window():
    from erftheory.empirical import align

    m = np.zeros((15, 20))
    m[2:9, 11:18] = 1.0
    aligned = align(m, (7, 7))
    assert aligned.start == (2, 11) and np.all(aligned.values == 1.0)
    assert align(m, (9, 9), unit=(5, 14)).start == (1, 10)


def test_moments_and_gaussian_fit_of_a_sampled_gaussian():
    # a sheared Gaussian sampled on the field of conv3*10 (21 x 21): the fit finds it again
    mean, cov = np.array([10.3, 9.6]), np.array([[4.0, 1.5], [1.5, 3.0]])
    grid = np.indices((21, 21)).reshape(2, -1).T - mean
    m = np.exp(-0.5 * np.sum(grid @ np.linalg.inv(cov) * grid, axis=1)).reshape(21, 21)
    v = validate(3.0 * m, "conv3*10", aggregate="none", theory="random")
    p = m / m.sum()
    x = np.arange(21)
    mu = [p.sum(axis=1) @ x, p.sum(axis=0) @ x]
    cross = (x - mu[0]) @ p @ (x - mu[1])
    assert v.empirical_mean == pytest.approx(mu, rel=1e-12)
    assert v.empirical_covariance[0][1] == pytest.approx(cross, rel=1e-12)
    assert v.empirical_std[1] == pytest.approx(math.sqrt(p.sum(axis=0) @ (x - mu[1]) ** 2))
    fit = v.gaussian_fit
    assert fit["mean"] == pytest.approx(mean, rel=1e-8)
    assert np.array(fit["covariance"]) == pytest.approx(cov, rel=1e-7)
    assert fit["r2"] == pytest.approx(1.0, abs=1e-12)


def _sheared(d):
    """A lower-triangular L with a positive diagonal and shear, and a mean off the grid points."""
    lower = np.tril(np.full((d, d), -0.07)) + np.diag([0.31, 0.22, 0.26][:d])
    return lower, np.array([6.3, 5.6, 4.8][:d])


def _gaussian_on_grid(shape, amp, mean, lower):
    """``amp exp(-|L^T (x - m)|^2 / 2)`` on the grid, written out apart from the module's."""
    x = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    z = np.einsum("...i,ij->...j", x - mean, lower)
    return amp * np.exp(-0.5 * np.einsum("...j,...j->...", z, z))


@pytest.mark.parametrize("shape", [(15,), (13, 11), (11, 9, 10)])
def test_gaussian_fit_jacobian_matches_finite_differences(shape):
    from erftheory.gaussian_fit import _GaussianResidual

    d = len(shape)
    lower, mean = _sheared(d)
    tri = np.tril_indices(d)
    rng = np.random.default_rng(d)
    p = rng.uniform(0, 1, shape)

    def model(theta):
        lo = np.zeros((d, d))
        lo[tri] = theta[1 + d :]
        return _gaussian_on_grid(shape, theta[0], theta[1 : 1 + d], lo).reshape(-1)

    theta = np.concatenate([[1.7], mean, lower[tri]])
    residual = _GaussianResidual(p)
    assert residual(theta) == pytest.approx(model(theta) - p.reshape(-1), rel=1e-13, abs=1e-15)
    jac = residual.jacobian(theta)
    assert jac.shape == (theta.size, p.size)
    for k in range(theta.size):  # central differences, column by column
        h = 1e-6 * max(1.0, abs(theta[k]))
        step = np.zeros_like(theta)
        step[k] = h
        column = (model(theta + step) - model(theta - step)) / (2 * h)
        assert np.abs(jac[k] - column).max() <= 1e-7 * np.abs(column).max(), k
    # asked again at the same point (as the solver does): the same numbers
    residual(theta + 0.01)
    assert np.array_equal(residual.jacobian(theta), jac)


@pytest.mark.parametrize("arch", ["1d: conv3*20", "conv3*20", "conv5*6,conv3/s2*3", "conv3x3x3*5"])
@pytest.mark.parametrize("weights", ["ones", "random"])
def test_gaussian_fit_finds_the_finite_difference_fit(arch, weights):
    # the fit as it was made before the analytic Jacobian: least_squares(method="lm") with
    # finite differences, on a model written apart; the two must find the same optimum
    from scipy.optimize import least_squares

    from erftheory.gaussian import moments
    from erftheory.gaussian_fit import _fit_gaussian

    p = et.erf(arch, weights=weights, normalize="sum").values
    d = p.ndim
    mom = moments(p)
    mean0, cov0 = np.array(mom.mean), np.array(mom.covariance)
    tri = np.tril_indices(d)

    def residual(theta):
        lo = np.zeros((d, d))
        lo[tri] = theta[1 + d :]
        return _gaussian_on_grid(p.shape, theta[0], theta[1 : 1 + d], lo).reshape(-1) - p.ravel()

    chol0 = np.linalg.cholesky(np.linalg.inv(cov0 + 1e-9 * np.eye(d)))
    theta0 = np.concatenate([[p.max()], mean0, chol0[tri]])
    reference = least_squares(residual, theta0, method="lm").x
    lower = np.zeros((d, d))
    lower[tri] = reference[1 + d :]
    cov = np.linalg.inv(lower @ lower.T)
    fit = _fit_gaussian(p, mean0, cov0)
    assert fit["mean"] == pytest.approx(reference[1 : 1 + d], rel=1e-8)
    assert np.abs(np.array(fit["covariance"]) - cov).max() <= 1e-8 * np.abs(cov).max()
    total = ((p - p.mean()) ** 2).sum()
    r2 = 1 - float(residual(reference) @ residual(reference)) / total
    assert fit["r2"] == pytest.approx(r2, abs=1e-12)


@pytest.mark.parametrize("shape", [(61,), (41, 37), (25, 21, 19)])
def test_gaussian_fit_recovers_a_sampled_gaussian(shape):
    from erftheory.gaussian_fit import _fit_gaussian

    d = len(shape)
    lower, _ = _sheared(d)
    mean = np.array(shape) / 2 - 0.37
    p = _gaussian_on_grid(shape, 2.5, mean, lower)
    cov = np.linalg.inv(lower @ lower.T)
    # a start off the optimum: moments of the sampled map, nudged
    fit = _fit_gaussian(p, mean + 0.4, 1.3 * cov)
    assert fit["mean"] == pytest.approx(mean, rel=1e-10)
    assert np.abs(np.array(fit["covariance"]) - cov).max() <= 1e-9 * np.abs(cov).max()
    assert fit["r2"] == pytest.approx(1.0, abs=1e-12)


def test_gaussian_fit_jacobian_drops_only_negligible_rows():
    # far in the tails exp(-|z|^2 / 2) is subnormal or zero: those rows are zeroed (they
    # slow the solver's QR down and add nothing to its sums), every other row is kept
    from erftheory.gaussian_fit import _GaussianResidual

    p = np.zeros(2001)
    theta = np.array([1.0, 1000.0, 0.04])
    residual = _GaussianResidual(p)
    jac = residual.jacobian(theta)
    unit = np.exp(-0.5 * ((np.arange(2001) - 1000.0) * 0.04) ** 2)
    kept = unit >= math.sqrt(np.finfo(float).tiny)
    assert 0 < kept.sum() < p.size and np.any(unit[~kept] > 0)
    assert np.all(jac[:, ~kept] == 0)
    assert jac[0, kept] == pytest.approx(unit[kept], rel=1e-14)
    assert np.array_equal(residual(theta)[~kept], unit[~kept])  # the residual keeps them


@pytest.mark.parametrize(
    "shape, arch", [((1, 1), "conv1"), ((3,), "1d: conv3"), ((2, 2), "conv2"), ((5, 5), "conv5")]
)
def test_tiny_or_flat_fields_report_what_is_undefined(shape, arch, capsys, tmp_path):
    # a field with no more pixels than the fit's parameters, a single pixel (no spread) or a
    # constant map (no correlation): those parts are None (null), never a traceback
    path = tmp_path / "map.npy"
    np.save(path, np.ones(shape))
    v = validate(str(path), arch)
    d = v.to_dict()
    pixels, dims = math.prod(shape), len(shape)
    parameters = 1 + dims + dims * (dims + 1) // 2
    assert (d["gaussian_fit"] is None) == (pixels <= parameters)
    assert d["std_ratio"] == [None if n == 1 else 1.0 for n in shape]
    # both maps constant over the field (one pixel too): Pearson's r is undefined
    assert d["correlation"] is None
    json.dumps(d, allow_nan=False)
    assert main(["validate", str(path), "--arch", arch]) == 0
    out = capsys.readouterr()
    assert ("n/a" if pixels == 1 else "undefined") in out.out and out.err == ""
