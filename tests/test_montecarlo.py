"""The Monte-Carlo cross-check: the real network agrees with the theory where it is exact."""

from __future__ import annotations

import json

import numpy as np
import pytest

import erftheory as et
from erftheory.cli import main
from erftheory.montecarlo import check, monte_carlo, with_activation

LINEAR = [
    "1d: conv3*4",
    "conv3/s2, conv3/d2, conv3",
    "1d: conv3, avgpool3/s1, conv3, avgpool3/s1, conv3",  # THEORY.md's weight-sharing example
    "conv3, avgpool2, conv3/w[[1,2,1],[2,4,2],[1,2,1]], conv3",
    "conv3, dropout0.3, conv3",
    "conv3, res(conv3, conv3)*2",
    "1d: conv3, res(avgpool3/s1, conv3), conv3",
    "conv3, add(conv3/s2, conv3 | conv1/s2), conv3",
    "3d: conv3*2",
]


@pytest.mark.parametrize("arch", LINEAR)
def test_linear_networks_agree_within_monte_carlo_error(arch):
    c = check(arch, samples=3000, seed=11, channels=2)
    assert c.linear and c.verdict == "agree", str(c)
    assert c.l1 <= 3 * c.noise_l1


def test_ones_init_is_exact():
    c = check("conv3/s2, conv5, avgpool2", samples=8, init="ones", statistic="mean")
    np.testing.assert_allclose(c.empirical, et.erf("conv3/s2, conv5, avgpool2").values)
    assert c.verdict == "agree" and c.l1 < 1e-12


def test_zero_mean_weights_have_zero_mean_gradient():
    c = check("conv3*3", samples=3000, seed=2, statistic="mean")
    assert c.verdict == "agree"


def test_the_check_can_fail_the_per_layer_shortcut():
    # THEORY.md section 4: squaring each fixed kernel before composing (the shortcut) is wrong
    # when pools overlap; the Monte-Carlo estimate must tell it from the exact rule.
    arch = "1d: conv3, avgpool3/s1, conv3, avgpool3/s1, conv3"
    mc = monte_carlo(arch, samples=20000, seed=3)
    shortcut = np.ones(1)
    for kernel in ([1, 1, 1], [1 / 9] * 3, [1, 1, 1], [1 / 9] * 3, [1, 1, 1]):
        shortcut = np.convolve(shortcut, kernel)
    exact = et.erf(arch, weights="random").values
    noise = np.sqrt(2 / np.pi) * mc.sq_se.sum() / mc.sq.sum()
    p = mc.sq / mc.sq.sum()
    assert np.abs(p - exact / exact.sum()).sum() < 3 * noise
    assert np.abs(p - shortcut / shortcut.sum()).sum() > 3 * noise
    # and the total mass: 6.33 (exact rule) against 3.0 (shortcut); measured within 4 SE
    se_total = np.sqrt((mc.sq_se**2).sum())  # pixels' errors are correlated: a rough bound
    assert abs(mc.sq.sum() - exact.sum()) < 4 * mc.sq_se.sum()
    assert abs(mc.sq.sum() - 3.0) > 4 * se_total


def test_relu_gap_is_reported():
    c = check("conv3, res(conv3, relu, conv3)*2", samples=2000, seed=5, channels=4)
    d = c.to_dict()
    assert not c.linear and c.verdict in ("agree", "gap")
    assert d["gap"] >= 0 and "l1" in d and "noise_l1" in d


def test_activation_override():
    net = with_activation(et.as_network("conv3*2, relu, res(conv3)"), "tanh")
    assert et.to_compact(net) == "2d: (conv3, tanh)*2, res(conv3, tanh)"
    assert et.to_compact(with_activation(net, "linear")) == "2d: (conv3)*2, res(conv3)"
    c = check("conv3*3", samples=500, activation="sigmoid", channels=2)
    assert "linear network" in c.theory


def test_user_input_and_bad_input():
    size = (7, 7)  # conv3*3 needs a 7x7 input
    c = check("conv3*3", samples=500, input=np.ones(size), init="he")
    assert c.samples == 500
    with pytest.raises(et.ERFError, match="this unit needs"):
        check("conv3*3", samples=10, input=np.ones((5, 5)))
    for kwargs in (
        {"samples": 0},
        {"channels": -1},
        {"init": "glorot"},
        {"statistic": "max"},
        {"activation": "softsign"},
    ):
        with pytest.raises(et.ERFError):
            check("conv3", **kwargs)


def test_cli(tmp_path, capsys):
    out, png = tmp_path / "mc.npy", tmp_path / "mc.png"
    status = main(
        [
            "check",
            "conv3*2",
            "--samples",
            "500",
            "--seed",
            "1",
            "--json",
            "--save-empirical",
            str(out),
            "--plot",
            str(png),
        ]
    )
    assert status == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "agree"
    assert np.load(out).shape == et.erf("conv3*2").values.shape
    assert png.stat().st_size > 1000
    assert main(["check", "conv3", "--channels", "0"]) == 2


def test_cli_variance_map_and_bad_map(tmp_path, capsys):
    light = tmp_path / "light.csv"
    np.savetxt(light, [[1, 1, 1], [1, 0.2, 1], [1, 1, 1]], delimiter=",")
    assert (
        main(["check", "conv3*3", "--samples", "400", "--variance-map", str(light), "--json"]) == 0
    )
    capsys.readouterr()
    wrong = tmp_path / "wrong.csv"
    np.savetxt(wrong, [[1, 1], [1, 1]], delimiter=",")
    assert main(["check", "conv3*3", "--samples", "10", "--variance-map", str(wrong)]) == 2
    assert "variance map has shape [2, 2]" in capsys.readouterr().err


def test_variance_map_theory_is_the_composition_of_variance_kernels():
    light = np.array([[4.0, 0.1, 4.0], [0.1, 0.1, 0.1], [4.0, 0.1, 4.0]])  # corner-heavy
    predicted = et.erf("conv3*4", weights="random", variance=light).values
    # independent: compose the variance kernel four times with numpy
    expected = light
    for _ in range(3):
        expected = _full_conv2d(expected, light)
    np.testing.assert_allclose(predicted, expected, rtol=1e-12)
    c = check("conv3*4", samples=3000, seed=4, variance_map=light)
    assert c.verdict == "agree"
    plain = et.erf("conv3*4", weights="random", normalize="sum").values
    assert np.abs(c.empirical / c.empirical.sum() - plain).sum() > 3 * c.noise_l1


def _full_conv2d(a, b):
    out = np.zeros((a.shape[0] + b.shape[0] - 1, a.shape[1] + b.shape[1] - 1))
    for i, j in np.ndindex(*b.shape):
        out[i : i + a.shape[0], j : j + a.shape[1]] += b[i, j] * a
    return out


@pytest.mark.parametrize("init, channels", [("normal", 2), ("he", 1), ("xavier", 3)])
def test_residual_check_carries_each_convs_gain(init, channels):
    # summed over channels, E[g^2] crosses a random conv with gain C Var(w) per tap but an
    # identity with gain 1: the theory must weigh the two paths of a residual block that way
    arch = "res(conv3)*2"
    c = check(arch, samples=4000, seed=3, channels=channels, init=init)
    assert c.verdict == "agree", c.to_dict()
    # control: unit-variance theory (gain 1) is far outside the Monte-Carlo noise
    unit = et.erf(arch, weights="random", normalize="sum").values
    p = c.empirical / c.empirical.sum()
    assert np.abs(p - unit).sum() > 3 * c.noise_l1


def test_abs_statistic_is_reported_not_failed_and_verdicts_read_z_scores():
    # E|g| vs sqrt(E[g^2]) holds in shape only for Gaussian g: with many samples the gap
    # shows, and is reported as a gap (exit 0), not as a failure of a linear network
    c = check("1d: conv3*2", samples=20000, seed=1, statistic="abs")
    d = c.to_dict()
    assert d["l1"] > 3 * d["noise_l1"]  # the gap of a product of two Gaussians is visible
    assert c.verdict == "gap" and "Gaussian" in c.theory  # reported, not a failure
    # a ReLU net whose L1 is within noise but some pixels are not: a gap, not agreement
    relu = check("conv3*5", activation="relu", samples=8000, seed=5)
    d = relu.to_dict()
    assert d["l1"] <= 3 * d["noise_l1"] and d["max_abs_z"] > 8 and relu.verdict == "gap"
    assert json.loads(json.dumps(check("conv3", samples=64, statistic="mean").to_dict()))


def test_save_z_writes_the_z_score_map(tmp_path, capsys):
    path = tmp_path / "z.npy"
    argv = ["check", "1d: conv3*3", "--samples", "600", "--seed", "2", "--save-z", str(path)]
    assert main(argv) == 0
    capsys.readouterr()
    z = np.load(path)
    np.testing.assert_array_equal(z, check("1d: conv3*3", samples=600, seed=2).z)
    assert z.shape == et.erf("1d: conv3*3").values.shape
    # for a linear network the theory is exact: its z-scores look like standard normals
    big = check("conv3*3", samples=4000, seed=5).z  # 49 pixels
    assert 0.3 < float(np.mean(big**2)) < 2.0 and float(np.max(np.abs(big))) < 5
