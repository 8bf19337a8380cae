"""Review findings on :func:`check` and the Monte-Carlo network, each against an independent
computation: exhaustive enumeration of dropout masks, hand-derived closed forms, exact
integer path counts.
"""

from __future__ import annotations

import importlib
import itertools
import json
import math
import warnings
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from erftheory import autograd as ag
from erftheory.architecture import Conv
from erftheory.blocks import _map_layers
from erftheory.crosscheck import check
from erftheory.errors import ERFError
from erftheory.montecarlo import monte_carlo
from erftheory.parse import as_network
from erftheory.verdicts import _L1_FACTOR, _MIN_SAMPLES, _RESOLVABLE_L1

QUIET = dict(show_progress=False)
# the module (the package re-exports its function under the same name)
erf_module = importlib.import_module("erftheory.erf")


# --- an independent oracle: a 1-channel linear network with explicit dropout masks --------


def _conv(x, w):
    return np.array([np.dot(w, x[i : i + len(w)]) for i in range(len(x) - len(w) + 1)])


def _pool(x, k):
    return _conv(x, np.full(k, 1.0 / k))


def _exact_sq(ops, n_in):
    """E[g^2] of the output unit 0 of a chain of ``ops`` on ``n_in`` inputs, by enumeration.

    ``ops``: ("conv", w), ("pool", k) or ("drop", p). Every dropout unit keeps with
    probability 1 - p, scaled by 1 / (1 - p); all mask combinations are enumerated.
    """
    sizes, n = [], n_in
    for kind, arg in ops:
        sizes.append(n)
        n = n - len(arg) + 1 if kind == "conv" else (n - arg + 1 if kind == "pool" else n)
    drops = [(i, arg, sizes[i]) for i, (kind, arg) in enumerate(ops) if kind == "drop"]
    units = [(i, u) for i, _, size in drops for u in range(size)]
    rate = {i: p for i, p, _ in drops}
    total, mean = np.zeros(n_in), np.zeros(n_in)
    for keep in itertools.product((0, 1), repeat=len(units)):
        masks = {i: np.ones(size) for i, _, size in drops}
        prob = 1.0
        for (i, u), k in zip(units, keep):
            p = rate[i]
            masks[i][u] = k / (1 - p)
            prob *= (1 - p) if k else p
        g = np.empty(n_in)
        for j in range(n_in):  # linear: the gradient's pixel j is the response to e_j
            x = np.eye(n_in)[j]
            for i, (kind, arg) in enumerate(ops):
                x = (
                    _conv(x, arg)
                    if kind == "conv"
                    else (_pool(x, arg) if kind == "pool" else x * masks[i])
                )
            g[j] = x[0]
        total += prob * g * g
        mean += prob * g
    return total, mean


ORACLE = [
    # chain: E[g^2] = n^2 + n p / (1 - p), n = [1, 2, 3, 2, 1] (derived by hand as well)
    (
        "1d: conv3, dropout0.5, conv3",
        [("conv", np.ones(3)), ("drop", 0.5), ("conv", np.ones(3))],
        5,
    ),
    # dropout between overlapping pools: fixed kernels on both sides of the masks
    (
        "1d: conv3, avgpool2/s1, dropout0.3, avgpool2/s1, conv2",
        [("conv", np.ones(3)), ("pool", 2), ("drop", 0.3), ("pool", 2), ("conv", np.ones(2))],
        6,
    ),
    # signed explicit kernel, two dropout layers
    (
        "1d: conv3/w[1,-2,1], dropout0.4, conv2, dropout0.2",
        [("conv", np.array([1.0, -2, 1])), ("drop", 0.4), ("conv", np.ones(2)), ("drop", 0.2)],
        4,
    ),
]


def test_the_oracle_matches_the_hand_derived_chain():
    sq, mean = _exact_sq(ORACLE[0][1], 5)
    n = np.array([1, 2, 3, 2, 1.0])
    np.testing.assert_allclose(sq, n**2 + n * 0.5 / 0.5)  # [2, 6, 12, 6, 2]
    np.testing.assert_allclose(mean, n)  # inverted dropout keeps E[g]


def _fixed(arch):
    def fix(layer):
        if isinstance(layer, Conv) and layer.weights is None:
            return replace(layer, weights=np.ones(layer.kernel).tolist())
        return layer

    net = as_network(arch)
    return replace(net, layers=_map_layers(net.layers, fix))


@pytest.mark.parametrize("arch, ops, n_in", ORACLE)
def test_ones_weights_with_dropout_predict_the_enumerated_second_moment(arch, ops, n_in):
    exact, exact_mean = _exact_sq(ops, n_in)
    # the theory the check uses: the random-mode ERF with every conv fixed
    theory = erf_module.erf(_fixed(arch), weights="random", normalize="sum").values
    np.testing.assert_allclose(theory, exact / exact.sum(), rtol=1e-10, atol=1e-14)
    c = check(arch, samples=4000, seed=1, init="ones", batch=1000, **QUIET)
    np.testing.assert_allclose(c.predicted / c.predicted.sum(), exact / exact.sum(), rtol=1e-10)
    assert c.verdict == "agree", str(c)
    # the estimate itself, against the enumeration: within 5 standard errors per pixel
    assert np.all(np.abs(c.empirical - exact) <= 5 * c.standard_error + 1e-12), str(c)
    assert not any("heavy-tailed" in note for note in c.notes)  # no random weights here
    mean = check(arch, samples=4000, seed=2, init="ones", statistic="mean", batch=1000, **QUIET)
    np.testing.assert_allclose(
        mean.predicted / np.abs(mean.predicted).sum(), exact_mean / np.abs(exact_mean).sum()
    )
    assert mean.verdict == "agree", str(mean)


def test_abs_with_dropout_and_non_negative_kernels_is_the_mean():
    # g >= 0 for every mask: E|g| = E[g] = n exactly
    c = check(
        "1d: conv3, dropout0.5, conv3",
        samples=4000,
        seed=3,
        init="ones",
        statistic="abs",
        batch=1000,
        **QUIET,
    )
    np.testing.assert_allclose(c.predicted / c.predicted.sum(), np.array([1, 2, 3, 2, 1]) / 9)
    assert c.verdict == "agree", str(c)
    # a signed kernel: no closed form, compared with sqrt(E[g^2]) and reported as a gap at most
    s = check(
        "1d: conv3/w[1,-2,1], dropout0.5, conv3",
        samples=2000,
        seed=3,
        init="ones",
        statistic="abs",
        batch=1000,
        **QUIET,
    )
    assert s.verdict in ("agree", "gap", "inconclusive") and "sqrt(E[g^2])" in s.theory


def test_a_residual_with_dropout_in_its_body_is_measured_not_mispredicted():
    c = check("1d: res(conv3, dropout0.5)", samples=300, seed=0, init="ones", **QUIET)
    assert c.verdict == "unmodelled" and "dropout masks" in c.notes[0]


# --- B: fixed convs run depthwise ---------------------------------------------------------


def test_fixed_convs_with_channels_follow_the_one_channel_theory():
    # y_0 = x_0 + ones * x_0 (depthwise): g_0 = delta + ones = [1, 2, 1], channel 1 unread
    c = check("1d: res(conv3)", samples=40, init="ones", channels=2, statistic="mean", **QUIET)
    np.testing.assert_allclose(c.empirical, [1, 2, 1])
    assert c.verdict == "agree"
    # g_0 = delta + [1, 2, 1] = [1, 3, 1]: E sum_c g_c^2 = [1, 9, 1]
    c = check("1d: res(conv3/w[1,2,1])", samples=40, channels=2, **QUIET)
    np.testing.assert_allclose(c.empirical, [1, 9, 1])
    assert c.verdict == "agree"


@settings(max_examples=15, deadline=None)
@given(
    channels=st.integers(1, 4),
    arch=st.sampled_from(
        [
            "1d: conv3*3",
            "1d: res(conv3)*2, conv2",
            "1d: add(conv3 | avgpool3/s1/p1), conv3",
            "1d: cat(conv3 | id), conv3/g2",
        ]
    ),
)
def test_a_fixed_network_on_c_channels_is_c_copies_of_the_one_channel_network(channels, arch):
    one = monte_carlo(arch, samples=2, init="ones", **QUIET)
    many = monte_carlo(arch, samples=2, init="ones", channels=channels, **QUIET)
    np.testing.assert_array_equal(many.mean, one.mean)
    np.testing.assert_array_equal(many.sq, one.sq)


def test_conv3_stack_path_counts_are_exact_on_any_channel_count():
    # E[g] of an all-ones conv3*3 is the trinomial row [1, 3, 6, 7, 6, 3, 1] on 3 channels
    mc = monte_carlo("1d: conv3*3", samples=2, init="ones", channels=3, **QUIET)
    np.testing.assert_array_equal(mc.mean, [1, 3, 6, 7, 6, 3, 1])


# --- C and J: the verdict's power ---------------------------------------------------------


def test_a_wide_threshold_is_inconclusive_with_the_samples_needed():
    c = check("1d: conv3*3", samples=200, seed=0, **QUIET)
    threshold = 2 * c.noise_l1
    assert threshold > 0.25 and c.verdict == "inconclusive"
    needed = math.ceil(200 * (threshold / 0.25) ** 2)
    assert any(f"about {needed} samples" in note for note in c.notes)
    assert c.to_dict()["verdict"] == "inconclusive" and "inconclusive" in str(c)
    assert (_L1_FACTOR, _RESOLVABLE_L1, _MIN_SAMPLES) == (2.0, 0.25, 30)


def test_a_wrong_shape_is_still_rejected_when_the_test_can_resolve_it(monkeypatch):
    # E[g]^2 (the ones-mode square) for conv3*3 with random weights: wrong, L1 = 0.39
    right = erf_module.erf("1d: conv3*3", weights="random").values
    wrong = erf_module.erf("1d: conv3*3").values ** 2
    assert np.abs(right / right.sum() - wrong / wrong.sum()).sum() > 0.3
    original = erf_module.erf

    def fake(*args, **kwargs):
        result = original(*args, **kwargs)
        return replace(result, values=wrong) if kwargs.get("weights") == "random" else result

    monkeypatch.setattr(erf_module, "erf", fake)
    c = check("1d: conv3*3", samples=1000, seed=0, batch=1000, **QUIET)
    assert c.verdict == "disagree", str(c)


def test_too_few_samples_are_inconclusive_not_disagree():
    verdicts = [check("1d: conv3*3", samples=2, seed=s, **QUIET).verdict for s in range(30)]
    assert set(verdicts) == {"inconclusive"}
    c = check("1d: conv3*3", samples=29, **QUIET)
    assert c.verdict == "inconclusive" and any("at least 30" in n for n in c.notes)
    # a deterministic network is exact at any sample count
    assert (
        check("1d: conv3*2", samples=2, init="ones", statistic="mean", **QUIET).verdict == "agree"
    )


def test_correct_theories_rarely_disagree_at_factor_two():
    verdicts = [
        check("1d: res(conv3, conv3)*2", samples=500, seed=s, batch=500, **QUIET).verdict
        for s in range(20)
    ]
    assert verdicts.count("disagree") == 0, verdicts


# --- D and F: overflow, underflow, zero estimates -------------------------------------------


def _trinomial_row(layers: int) -> list[int]:
    row = [1]
    for _ in range(layers):
        row = [sum(row[max(0, i - 2) : i + 1]) for i in range(len(row) + 2)]
    return row


def test_huge_gradients_give_finite_exact_estimates_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mc = monte_carlo("1d: conv3*200", samples=70, init="ones", batch=64, **QUIET)
    exact = np.array([float(v) for v in _trinomial_row(200)])
    np.testing.assert_allclose(mc.mean, exact, rtol=1e-12)
    np.testing.assert_allclose(mc.sq, exact**2, rtol=1e-12)  # ~1e188: squares would overflow
    assert np.isfinite(mc.sq_se).all() and np.isfinite(mc.mean_se).all()


@pytest.mark.parametrize(
    "arch, init, message",
    [
        (
            "1d: conv3/w[1e200,1e200,1e200]*2",
            "normal",
            r"gradients overflow float64 \(about 10\^400;",
        ),
        ("1d: conv3*700", "ones", r"gradients overflow float64 \(about 10\^33[0-9];"),
        (
            "1d: conv3/w[1e-200,1e-200,1e-200]*2",
            "normal",
            r"gradients underflow float64 \(about 10\^-400;",
        ),
    ],
)
def test_non_finite_gradients_are_refused_in_one_line(arch, init, message):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ERFError, match=message) as info:
            check(arch, samples=40, init=init, statistic="mean", **QUIET)
    assert (
        "\n" not in str(info.value)
        and "init='he'" in str(info.value)
        or "larger weights" in str(info.value)
    )


def test_the_causes_of_a_zero_estimate_are_named():
    with pytest.raises(
        ERFError,
        match=r"dropout \(p=0.9999\) dropped every sample's path.*more samples or a smaller p",
    ):
        check("1d: conv3, dropout0.9999, conv3", samples=100, **QUIET)
    with pytest.raises(ERFError, match="the input holds nan: a fixed input must be finite"):
        check("1d: conv3, relu, conv3", input=np.full(5, np.nan), samples=40, **QUIET)


# --- E: signed maps ---------------------------------------------------------------------


def test_a_signed_mean_summing_to_zero_is_compared_by_its_l1_norm():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = check("1d: conv3/w[1,0,-1]", samples=40, statistic="mean", **QUIET)
        assert c.verdict == "agree" and c.l1 == 0
        np.testing.assert_allclose(c.empirical, [1, 0, -1])
        r = check(
            "1d: res(conv3), conv3/w[1,0,-1]",
            samples=6000,
            seed=1,
            statistic="mean",
            batch=1000,
            **QUIET,
        )
    # E[g]: only the identity path keeps a mean, [1, 0, -1] placed at the centre
    np.testing.assert_allclose(
        r.predicted / np.abs(r.predicted).sum(), [0, 0.5, 0, -0.5, 0], atol=1e-12
    )
    assert r.verdict == "agree", str(r)


def test_a_sign_flipped_theory_fails(monkeypatch):
    original = erf_module.erf
    monkeypatch.setattr(
        erf_module,
        "erf",
        lambda *a, **k: replace(original(*a, **k), values=-original(*a, **k).values),
    )
    c = check("1d: conv3/w[1,0,-1]", samples=40, statistic="mean", **QUIET)
    assert c.verdict == "disagree" and c.l1 == pytest.approx(2.0)


# --- G, H, K: one-line errors -------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(variance_map="abc"), "the variance map 'abc' is not an array of numbers"),
        (dict(input=["a", "b", "c"]), r"the input \['a', 'b', 'c'\] is not an array of numbers"),
        (
            dict(init="ones", variance_map=[1, 2, 1]),
            "variance_map scales random conv weights, but init='ones'",
        ),
    ],
)
def test_bad_arguments_are_one_line_erf_errors(kwargs, message):
    with pytest.raises(ERFError, match=message) as info:
        check("1d: conv3", samples=40, **kwargs, **QUIET)
    assert "\n" not in str(info.value)


def test_a_global_pool_is_refused_with_a_correct_message():
    with pytest.raises(
        ERFError, match="does not run globalavgpool.*an input array does not change that"
    ):
        check("1d: conv3, gap", samples=40, input=np.ones(8), **QUIET)


# --- I, L: what the result records ----------------------------------------------------------


def test_batch_and_identity_opt_ins_are_recorded():
    net = as_network(
        {
            "dims": 1,
            "layers": [
                {"type": "conv", "kernel": 3},
                {"type": "se"},
                {"type": "conv", "kernel": 3},
            ],
        },
        identity=("se",),
    )
    c = check(net, samples=40, batch=16, **QUIET)
    d = json.loads(json.dumps(c.to_dict()))
    assert d["batch"] == 16 and d["treated_as_identity"] == ["se"]
    assert "batch 16" in str(c) and "identity (opt-in) se" in str(c)
    # the batch is part of the run: the same seed and batch reproduce it
    again = check(net, samples=40, batch=16, **QUIET)
    np.testing.assert_array_equal(c.empirical, again.empirical)
    assert check("1d: conv3", samples=40, **QUIET).to_dict()["treated_as_identity"] == []


# --- N: autograd max pool -------------------------------------------------------------------


def test_max_pool_padding_of_a_kernel_or_more_is_refused():
    with pytest.raises(ERFError, match=r"padding \(2, 0\) on axis 0 is not below its kernel 2"):
        ag.max_pool(ag.Tensor(np.zeros((1, 1, 4))), (2,), (1,), ((2, 0),))


def test_an_activation_rewrite_is_named_in_the_notes():
    # --activation puts one activation after every conv (the last too): the check's theory is
    # of that network, which the notes now spell out
    from erftheory import erf as erf_of

    c = check("1d: conv3*2", activation="relu", samples=50, seed=0)
    (note,) = [n for n in c.notes if n.startswith("activation='relu'")]
    ran = note.split("predicted is ", 1)[1]
    same = as_network("1d: conv3, relu, conv3, relu")
    np.testing.assert_array_equal(
        erf_of(ran, weights="random").values, erf_of(same, weights="random").values
    )
    assert not any("activation=" in n for n in check("1d: conv3*2", samples=50).notes)
