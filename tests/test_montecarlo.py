"""The Monte-Carlo cross-check: the real network agrees with the theory where it is exact."""

from __future__ import annotations

import json

import numpy as np
import pytest

import erftheory as et
from erftheory.cli import main
from erftheory.crosscheck import check
from erftheory.montecarlo import monte_carlo, with_activation

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
    assert c.l1 <= 2 * c.noise_l1


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


# Concatenations with random weights. The expected maps below are derived by hand: summed over
# input channels, E[g^2] crosses a random conv reading a group of C channels (one branch of a
# concatenation) with gain C Var(w) per tap, and the groups' weights are independent, so their
# second moments add; a fixed layer enters by its kernel squared after composing.
DELTA, POOL3, POOL5 = np.array([0.0, 1.0, 0.0]), np.full(3, 1 / 3), np.full(5, 1 / 5)
ONES3 = np.ones(3)


def _centred(*kernels):
    """The sum of centred odd-sized 1-D or 2-D kernels, on the largest one's grid."""
    shape = tuple(max(k.shape[a] for k in kernels) for a in range(kernels[0].ndim))
    out = np.zeros(shape)
    for k in kernels:
        where = tuple(slice((n - m) // 2, (n - m) // 2 + m) for n, m in zip(shape, k.shape))
        out[where] += k
    return out


def _normalised(values):
    values = np.asarray(values, dtype=float)
    return values / values.sum()


CONCAT_CASES = {
    # cat(pool | id), conv3: the groups' squares add; the add version squares their sum
    "1d: cat(avgpool3/s1/p1 | id), conv3": (
        np.convolve(ONES3, _centred(POOL3**2, DELTA**2)),
        {"add": np.convolve(ONES3, _centred(POOL3, DELTA) ** 2)},
    ),
    # nested: three groups of C channels with unit weight each, not the outer branches
    "1d: cat(avgpool3/s1/p1 | cat(id | avgpool5/s1/p2)), conv3": (
        np.convolve(ONES3, _centred(POOL3**2, DELTA**2, POOL5**2)),
        {
            "add": np.convolve(ONES3, _centred(POOL3, DELTA, POOL5) ** 2),
            "outer branches weighed alike": np.convolve(
                ONES3, _centred(POOL3**2, 0.5 * DELTA**2, 0.5 * POOL5**2)
            ),
        },
    ),
    # every branch random: cat and add agree; a fixed-weight model's E[g]^2 does not
    "1d: cat(conv1 | conv3 | avgpool3/s1, conv1), conv3": (
        np.convolve(ONES3, _centred(DELTA, ONES3, POOL3**2)),
        {"E[g]^2 of ones weights": np.convolve(ONES3, _centred(DELTA, ONES3, POOL3)) ** 2},
    ),
    # read by explicit weights, the same for every channel: the groups add before the
    # random conv (keeping them apart would add their squares instead)
    "1d: cat(avgpool3/s1/p1 | id), conv3/w[1,-1,1], conv3": (
        np.convolve(ONES3, np.convolve([1.0, -1.0, 1.0], _centred(POOL3, DELTA)) ** 2),
        {
            "groups apart": np.convolve(
                ONES3,
                np.convolve([1.0, -1.0, 1.0], POOL3) ** 2
                + np.convolve([1.0, -1.0, 1.0], DELTA) ** 2,
            )
        },
    ),
    # a concatenation repeated doubles its channels: 4 groups, pool*pool, pool, pool, id
    "1d: cat(avgpool5/s1/p2 | id)*2, conv1": (
        _centred(np.convolve(POOL5, POOL5) ** 2, POOL5**2, POOL5**2, DELTA**2),
        {"add": np.convolve(_centred(POOL5, DELTA), _centred(POOL5, DELTA)) ** 2},
    ),
}


@pytest.mark.parametrize("arch", list(CONCAT_CASES))
def test_concatenations_with_random_weights_agree_and_a_wrong_theory_is_detected(arch):
    expected, wrong = CONCAT_CASES[arch]
    theory = et.erf(arch, weights="random").values
    np.testing.assert_allclose(_normalised(theory), _normalised(expected), rtol=1e-12)
    if "add" in wrong:  # the add version's theory is the squared sum, derived independently
        added = et.erf(arch.replace("cat", "add"), weights="random").values
        np.testing.assert_allclose(_normalised(added), _normalised(wrong["add"]), rtol=1e-12)
    c = check(arch, samples=30000, seed=7, channels=2, batch=500)
    assert c.linear and c.verdict == "agree" and c.z_tested, str(c)
    p = c.empirical / c.empirical.sum()
    assert np.abs(p - _normalised(expected)).sum() <= 3 * c.noise_l1
    for name, values in wrong.items():
        distance = np.abs(p - _normalised(values)).sum()
        assert distance > 5 * c.noise_l1, (name, distance, c.noise_l1)


def test_inception_module_with_he_weights_agrees():
    # He draws Var(w) = 2 / (C_in K): the branches' gains C Var(w) per tap are 2 (conv1),
    # 2/9 (conv3), 2/25 (conv5) and 2 times the pool's 1/81 (pool, conv1); the conv1 after the
    # concatenation reads 4C channels, a gain common to every branch, as is the last conv3's
    arch = "cat(conv1 | conv3 | conv5 | avgpool3/s1, conv1), conv1, conv3"
    one = np.ones((1, 1))
    branches = _centred(
        2 * one, 2 / 9 * np.ones((3, 3)), 2 / 25 * np.ones((5, 5)), 2 / 81 * np.ones((3, 3))
    )
    expected = _full_conv2d(branches, np.ones((3, 3)))
    wrong = {
        "unit variances": _full_conv2d(
            _centred(one, np.ones((3, 3)), np.ones((5, 5)), np.ones((3, 3)) / 81),
            np.ones((3, 3)),
        ),
        "E[g]^2 of ones weights": _full_conv2d(
            _centred(one, np.ones((3, 3)), np.ones((5, 5)), np.ones((3, 3)) / 9),
            np.ones((3, 3)),
        )
        ** 2,
    }
    c = check(arch, samples=4000, seed=3, channels=2, init="he", batch=250)
    assert c.linear and c.verdict == "agree" and c.z_tested, str(c)
    np.testing.assert_allclose(_normalised(c.predicted), _normalised(expected), rtol=1e-12)
    p = c.empirical / c.empirical.sum()
    assert np.abs(p - _normalised(expected)).sum() <= 3 * c.noise_l1
    for name, values in wrong.items():
        distance = np.abs(p - _normalised(values)).sum()
        assert distance > 5 * c.noise_l1, (name, distance, c.noise_l1)


@pytest.mark.parametrize(
    "arch, init, channels, body",
    [
        # body gain: conv3 group C Var = 2/3 (He) or 1/3 (Xavier) per tap, pool group 1/9;
        # the conv1 reading the 2C concatenated channels: C 2/(2C) = 1 (He), C 2/(3C) = 2/3
        # (Xavier); a second conv1 reads C: 2 (He), 1 (Xavier)
        ("1d: res(cat(conv3 | avgpool3/s1), conv1)", "he", 3, (2 / 3 + 1 / 9, 2 * (2 / 3 + 1 / 9))),
        ("1d: res(cat(conv3 | avgpool3/s1), conv1*2)", "he", 2, (2 * (2 / 3 + 1 / 9), 4 * (7 / 9))),
        (
            "1d: res(cat(conv3 | avgpool3/s1), conv1*2)",
            "xavier",
            2,
            (2 / 3 * (1 / 3 + 1 / 9), 1 / 3 + 1 / 9),
        ),
    ],
)
def test_xavier_and_he_scale_by_the_channels_a_conv_reads(arch, init, channels, body):
    # a residual weighs the identity (gain 1) against the body: the fan-in of the conv after
    # the concatenation (2C channels, not C) shows in the shape. The wrong theory takes every
    # conv to read C channels.
    right, wrong = ([body_gain, 1 + body_gain, body_gain] for body_gain in body)
    c = check(arch, samples=16000, seed=2, channels=channels, init=init, batch=500)
    assert c.verdict == "agree", str(c)
    np.testing.assert_allclose(_normalised(c.predicted), _normalised(right), rtol=1e-12)
    p = c.empirical / c.empirical.sum()
    distance = np.abs(p - _normalised(wrong)).sum()
    assert distance > 5 * c.noise_l1, (distance, c.noise_l1)


def test_a_fixed_conv_after_a_concatenation_sums_its_groups():
    # a fixed conv runs depthwise: output channel 0 reads channel 0 of each concatenated
    # block (the pool's and the identity's), so only input channel 0 reaches the unit, with
    # the one-channel gradient g (no random weight anywhere: the same every sample)
    arch = "1d: cat(avgpool3/s1/p1 | id), conv3/w[1,2,1]"
    mc = monte_carlo(arch, samples=2, seed=0, channels=2, init="normal")
    g = np.convolve([1.0, 2.0, 1.0], _centred(POOL3, DELTA))
    np.testing.assert_allclose(mc.sq, g**2, rtol=1e-12)
    np.testing.assert_allclose(mc.mean, g, rtol=1e-12)
    assert not mc.sq_se.any()


def test_ones_weights_run_a_concatenation_as_the_sum_of_its_branches():
    # the concatenation runs as the sum of its branches and the all-ones conv depthwise:
    # channel 0 of the output reads channel 0 of (pool + id) only, on any channel count
    mc = monte_carlo("1d: cat(avgpool3/s1/p1 | id), conv3", samples=2, channels=3, init="ones")
    np.testing.assert_allclose(mc.mean, np.convolve(ONES3, _centred(POOL3, DELTA)))
    assert not mc.mean_se.any()


def test_a_network_ending_in_a_concatenation_is_refused_with_random_weights(capsys):
    with pytest.raises(et.ERFError, match="4 channels, not channels=2") as info:
        monte_carlo("1d: conv3, cat(conv1 | avgpool3/s1)", samples=10, channels=2)
    assert "end the network with a conv after the concatenation" in str(info.value)
    with pytest.raises(et.ERFError, match="output is a concatenation"):
        monte_carlo("1d: cat(conv1 | id), avgpool3", samples=10, init="he")
    # with ones weights it is the sum of its branches; a conv after it makes it runnable
    ones = monte_carlo("1d: conv3, cat(conv1 | avgpool3/s1)", samples=2, init="ones")
    np.testing.assert_allclose(ones.mean, np.convolve(ONES3, _centred(DELTA, POOL3)))
    assert check("1d: conv3, cat(conv1 | avgpool3/s1), conv1", samples=600).verdict == "agree"
    assert main(["check", "1d: cat(conv1 | conv3)", "--samples", "10"]) == 2
    assert "output is a concatenation" in capsys.readouterr().err


@pytest.mark.parametrize(
    "arch, message",
    [
        (
            "1d: add(cat(conv1 | id) | conv3), conv1",
            "layers[0]: an add join cannot sum branch 0 (4 channels) and branch 1 (2 channels)",
        ),
        (
            "1d: cat(conv1 | id), res(conv3)",
            "layers[1]: a residual block cannot add its input (4 channels) to its body's output "
            "(2 channels)",
        ),
    ],
)
def test_adding_different_channel_counts_is_refused(arch, message):
    with pytest.raises(et.ERFError) as info:
        monte_carlo(arch, samples=10, channels=2)
    assert message in str(info.value)
    # init="ones" runs the concatenation as a sum: the counts agree
    assert monte_carlo(arch, samples=2, channels=2, init="ones").samples == 2


def test_mean_gradient_keeps_the_paths_without_a_random_conv():
    # add(conv3 | avgpool3): the random conv's path has mean 0, the pool's keeps its kernel,
    # so E[g] = [1/3, 1/3, 1/3], not 0 (a zero theory is far outside the noise here)
    c = check("1d: add(conv3 | avgpool3/s1/p1)", samples=3000, seed=4, statistic="mean")
    assert c.theory.startswith("E[g], ones weights") and c.verdict == "agree", str(c)
    np.testing.assert_allclose(c.predicted / c.predicted.sum(), np.full(3, 1 / 3), rtol=1e-12)
    assert np.abs(c.empirical / c.standard_error).min() > 10  # zero: rejected at every pixel
    # no random conv at all: the gradient is the fixed network's, the same every sample
    fixed = check("1d: avgpool3, conv3/w[1,2,1]", samples=600, statistic="mean")
    assert fixed.verdict == "agree" and not fixed.standard_error.any()
    # the stride-3 pool spreads each tap of w over 3 pixels: kron(w, pool)
    np.testing.assert_allclose(fixed.empirical, np.kron([1.0, 2.0, 1.0], POOL3), rtol=1e-12)


def test_a_deterministic_non_zero_pixel_fails_the_zero_mean_check():
    from erftheory.crosscheck import _zero_mean_check
    from erftheory.montecarlo import MonteCarlo

    mean = np.array([0.0, 0.5, 0.0])
    zeros = np.zeros(3)
    net = et.as_network("1d: conv3")
    mc = MonteCarlo(mean, zeros, zeros, zeros, zeros, zeros, 600, 0, net)
    c = _zero_mean_check(mc, "E[g] = 0", linear=True)
    assert c.verdict == "disagree" and "deterministic non-zero" in " ".join(c.notes)
    fine = MonteCarlo(zeros, zeros, zeros, zeros, zeros, zeros, 600, 0, net)
    assert _zero_mean_check(fine, "E[g] = 0", linear=True).verdict == "agree"


def test_a_network_the_theory_refuses_is_still_measured(tmp_path, capsys):
    # a max pool path with a mean beside a residual: the random theory refuses it by name,
    # so the check reports the estimate alone instead of failing
    arch = "1d: add(maxpool3/s1/p1, res(conv3) | id), conv3"
    with pytest.raises(et.ERFError, match="mean is not zero"):
        et.erf(arch, weights="random")
    c = check(arch, samples=200, seed=1)
    assert c.verdict == "unmodelled" and "mean is not zero" in c.notes[0]
    assert np.isnan(c.predicted).all() and np.isnan(c.l1) and c.empirical.sum() > 0
    assert "no analytic theory" in str(c)
    png = tmp_path / "c.png"
    assert main(["check", arch, "--samples", "100", "--json", "--plot", str(png)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "unmodelled" and data["l1"] is None and data["max_abs_z"] is None
    assert png.stat().st_size > 1000


@pytest.mark.parametrize(
    ("arch", "channels", "per_output"),
    [
        ("1d: res(conv3/g4)", 4, 1),  # depthwise: each output channel reads its own
        ("1d: res(conv3/g2)", 4, 2),  # two groups of two
        ("1d: res(conv3/g32)", 4, 1),  # a depthwise conv of a 32-channel network
        ("1d: res(conv3)", 4, 4),  # dense
    ],
)
def test_grouped_convs_run_grouped(arch, channels, per_output):
    # res(conv3) with unit-variance weights: g = delta + w over the channels an output reads,
    # so E[g^2] summed over input channels is delta + (C / groups) * [1, 1, 1]
    expected = _centred(DELTA) + per_output * ONES3
    c = check(arch, samples=4000, seed=2, channels=channels)
    np.testing.assert_allclose(c.predicted / c.predicted.sum(), _normalised(expected), rtol=1e-12)
    assert c.verdict == "agree", str(c)
    dense = _normalised(_centred(DELTA) + channels * ONES3)
    if per_output != channels:  # running it dense would be far outside the noise
        p = c.empirical / c.empirical.sum()
        assert np.abs(p - dense).sum() > 5 * c.noise_l1


def test_grouped_convs_the_network_cannot_run_are_refused():
    with pytest.raises(et.ERFError, match="groups=3 cannot run on channels=4"):
        monte_carlo("1d: res(conv3/g3)", samples=10, channels=4)
    with pytest.raises(et.ERFError, match="reads a concatenation"):
        monte_carlo("1d: cat(id | id), conv3/g2", samples=10, channels=2)
