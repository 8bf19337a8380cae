"""Validation of empirical maps against the theory, on synthetic measurements."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

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


def test_replknet_area_ratio_reads_the_map_at_its_own_scale():
    from erftheory.metrics import area_ratio

    m = np.zeros((21, 21))
    m[5:16, 5:16] = et.erf("conv3*5", weights="random").values
    for scale in (1.0, 1e4):
        v = validate(scale * m, "conv3*5", aggregate="none", theory="random")
        # the log-scaled area ratio of the aligned map at its own scale, by the metrics module
        expected = [area_ratio(scale * m[5:16, 5:16], t).side for t in (0.2, 0.3, 0.5, 0.99)]
        assert v.metrics["empirical"]["area_ratio_side"] == expected
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
    assert v.metrics["empirical"] == all_metrics(field)
    plain = validate(m, "conv3*5", aggregate="none", theory="random")
    assert plain.metrics["empirical"] == all_metrics(field)
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
