"""Layer coverage: pass-through layers, groups, the identity opt-in, refusals with reasons."""

from __future__ import annotations

import json
import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import erftheory as et
from erftheory.cli import main


def test_pass_through_layers_do_not_change_the_erf():
    plain = et.erf("conv3*2").values
    for spec in ["conv3, bn, conv3", "conv3, batchnorm, layernorm, conv3", "conv3, id, conv3"]:
        np.testing.assert_array_equal(et.erf(spec).values, plain)
        np.testing.assert_array_equal(et.erf(spec, weights="random").values, plain)


def test_grouped_and_depthwise_convs_are_spatially_plain():
    spec = {"dims": 2, "layers": [{"type": "conv", "kernel": 7, "groups": 96}]}
    np.testing.assert_array_equal(et.erf(spec).values, et.erf("conv7").values)
    net = et.as_network("conv7/g96")
    assert net.layers[0].groups == 96 and et.from_compact(et.to_compact(net)) == net


@pytest.mark.parametrize("kind", ["linear", "flatten", "attention", "se"])
def test_unmodelled_layers_are_refused_by_name_with_a_reason(kind):
    spec = {"dims": 2, "layers": [{"type": "conv", "kernel": 3}, {"type": kind}]}
    with pytest.raises(et.ERFError, match=f"'{kind}' is not modelled: .*--as-identity {kind}"):
        et.as_network(spec)


def test_identity_opt_in_is_recorded():
    spec = {"dims": 2, "layers": [{"type": "conv", "kernel": 3}, {"type": "se"}]}
    net = et.as_network(spec, identity=["se"])
    assert net.treated_as_identity == ("se",)
    rf = et.receptive_field(net)
    assert rf.treated_as_identity == ("se",) and "treated as identity" in str(rf)
    assert et.erf(net).to_dict()["treated_as_identity"] == ["se"]
    assert et.to_dict(net)["layers"][1]["type"] == "se"
    with pytest.raises(et.ERFError, match="unknown layer type 'mystery'"):
        et.as_network({"dims": 1, "layers": [{"type": "mystery"}]})


def test_cli_identity_opt_in_and_inline_json(capsys):
    inline = json.dumps({"dims": 1, "layers": [{"type": "conv", "kernel": 3}, {"type": "se"}]})
    assert main(["rf", inline]) == 2
    assert "--as-identity se" in capsys.readouterr().err
    assert main(["rf", inline, "--as-identity", "se", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["treated_as_identity"] == ["se"]
    assert main(["erf", "conv3, se", "--as-identity", "se", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["receptive_field"] == [3, 3]


def test_display_normalisations():
    from erftheory.normalization import NORMALIZATIONS, normalize_map
    from erftheory.plot import plot_erf

    v = np.array([[0.0, 2.0], [6.0, 8.0]])
    assert normalize_map(v, "sum")[0].sum() == pytest.approx(1.0)
    assert normalize_map(v, "peak")[0].max() == 1.0
    assert normalize_map(v, "minmax")[0].tolist() == [[0, 0.25], [0.75, 1]]
    np.testing.assert_allclose(normalize_map(v, "log")[0], np.log10(v + 1))
    np.testing.assert_allclose(normalize_map(v, "pow0.25")[0], v**0.25)
    # the RepLKNet log map depends on the scale; the others are scale-free
    assert not np.allclose(
        normalize_map(10 * v, "log")[0] / normalize_map(10 * v, "log")[0].max(),
        normalize_map(v, "log")[0] / normalize_map(v, "log")[0].max(),
    )
    for name in NORMALIZATIONS:
        ax = plot_erf(et.erf("conv3*3"), display=name)
        assert name == "raw" or "shown as" in ax.get_title()
    with pytest.raises(et.ERFError, match="not one of"):
        normalize_map(v, "zscore")


def test_global_and_adaptive_pooling_at_a_resolution():
    # valid conv3/s2 on 11 pixels: map of (11 - 3) // 2 + 1 = 5; global pool averages them
    expected = np.zeros(11)
    for i in range(5):
        expected[2 * i : 2 * i + 3] += 1 / 5
    np.testing.assert_allclose(et.erf("1d: conv3/s2, gap", input_shape=(11,)).values, expected)
    rf = et.receptive_field("1d: conv3/s2, gap", input_shape=(11,))
    assert rf.size == (11,)  # the whole image
    # adaptive pooling to 2 of a 4-wide map: kernel and stride 2
    net = et.as_network("1d: conv3, aap2")
    np.testing.assert_allclose(
        et.erf(net, input_shape=(6,)).values, np.convolve(np.ones(3), [0.5, 0.5])
    )
    with pytest.raises(et.ERFError, match="give the input resolution"):
        et.erf("conv3, gap")
    with pytest.raises(et.ERFError, match="windows of different sizes"):
        et.erf("1d: conv3, aap3", input_shape=(9,))
    assert et.to_compact(et.as_network("conv3, gap, aap2x1")) == "2d: conv3, gap, aap2x1"


@pytest.mark.parametrize("display", ["sum", "peak", "log", "minmax"])
def test_comparison_plots_take_a_named_display(display, capsys):
    from erftheory.cli import main
    from erftheory.plot import plot_comparison

    measured, theory = np.array([1.0, 3.0, 4.0]), np.array([2.0, 2.0, 4.0])
    ax = plot_comparison(measured, theory, "t", display=display)
    shown = ax.get_lines()[0].get_ydata()
    base = measured / measured.sum()  # both maps are compared at sum 1, then displayed
    expected = {
        "sum": base,
        "peak": base / base.max(),
        "log": np.log10(base + 1),
        "minmax": (base - base.min()) / (base.max() - base.min()),
    }[display]
    np.testing.assert_allclose(shown, expected)
    assert display == "sum" or "shown as" in ax.get_title()
    assert main(["check", "1d: conv3*3", "--samples", "1000", "--display", display]) == 0
    capsys.readouterr()


def test_gelu_and_silu_are_pointwise_for_the_trf_and_measured_by_monte_carlo(capsys):
    from erftheory.cli import main

    plain = et.receptive_field("conv3, conv5")
    for arch in ("conv3, gelu, conv5, silu", "conv3, swish, conv5"):
        assert et.receptive_field(arch).size == plain.size
        with pytest.raises(et.ERFError, match="no closed form for gelu|no closed form for silu"):
            et.erf(arch)
    argv = ["check", "1d: conv3*2", "--activation", "gelu", "--samples", "1000", "--json"]
    assert main(argv) == 0
    assert main(["rf", "conv3", "--as-identity", "conv"]) == 2  # a modelled type: refused
    capsys.readouterr()
    assert main(["rf", "conv3, mish"]) == 2
    assert "--as-identity mish" in capsys.readouterr().err  # the opt-in is named


def test_random_concat_keeps_its_branches_apart():
    # cat(avgpool3 | id) feeds conv3 through independent weights per channel group: no cross
    # term between the branches, E[g^2] = v * (A^2 + delta^2) with A = [1/3]*3, v = [1, 1, 1]
    third = Fraction(1, 3)
    fixed = [third**2, third**2 + 1, third**2]
    expected = [sum(fixed[i - j] for j in range(3) if 0 <= i - j < 3) for i in range(5)]
    got = et.erf("1d: cat(avgpool3/s1/p1 | id), conv3", weights="random").values
    assert np.allclose(got, [float(x) for x in expected], rtol=1e-14, atol=0)
    # an add shares the conv's weights: the branches' sum is squared, (A + delta)^2
    added = [third**2, (third + 1) ** 2, third**2]
    expected = [sum(added[i - j] for j in range(3) if 0 <= i - j < 3) for i in range(5)]
    got = et.erf("1d: add(avgpool3/s1/p1 | id), conv3", weights="random").values
    assert np.allclose(got, [float(x) for x in expected], rtol=1e-14, atol=0)


def test_random_max_pool_beside_a_skip_is_refused():
    # routing has mean 1/K: E[(1 + R)^2] = [1/3, 2, 1/3] at the centre, not 1 + E[R^2]; not
    # modelled, so refused by name rather than answered with [1/3, 4/3, 1/3]
    with pytest.raises(et.ERFError, match="max pool"):
        et.erf("1d: res(maxpool3/s1/p1)", weights="random")
    # with a zero-mean conv on the pooled path the cross term vanishes: modelled
    got = et.erf("1d: res(conv3, maxpool3/s1/p1)", weights="random").values
    # delta + (conv3 then routing 1/3 per tap): [1,1,1] * [1/3]*3 = [1,2,3,2,1]/3 + delta
    assert np.allclose(got, [1 / 3, 2 / 3, 1 + 1, 2 / 3, 1 / 3], rtol=1e-14)


@pytest.mark.parametrize(
    "spec",
    [
        "1d: add(avgpool3/s1/p1 | cat(id | avgpool5/s1/p2)), conv3",
        "1d: add(conv3 | avgpool3/s1/p1, cat(id | avgpool5/s1/p2) | avgpool3/s1/p1), conv3",
    ],
)
def test_random_sum_of_a_fixed_concatenation_is_refused(spec):
    # each channel group of the cat would get the other path added on its own: summing the
    # cat's branches into one fixed kernel first would square their cross term, silently
    assert et.erf(spec).values.sum() > 0  # weights='ones' sums over the channels
    with pytest.raises(et.ERFError, match="adds a concatenation"):
        et.erf(spec, weights="random")


def _conv(a, b):
    return [
        sum(a[i] * b[k - i] for i in range(len(a)) if 0 <= k - i < len(b))
        for k in range(len(a) + len(b) - 1)
    ]


def test_random_concat_read_by_explicit_weights_is_a_sum():
    # conv3/w[1,2,1] reads every channel of cat(avgpool3 | id) with the same weights: the
    # branches add, g = w * (A + delta), deterministic; a random conv3 after it squares that
    third = Fraction(1, 3)
    summed = _conv([1, 2, 1], [third, third + 1, third])
    squared = [v * v for v in summed]
    got = et.erf("1d: cat(avgpool3/s1/p1 | id), conv3/w[1,2,1]", weights="random").values
    assert np.allclose(got, [float(x) for x in squared], rtol=1e-14, atol=0)
    got = et.erf("1d: cat(avgpool3/s1/p1 | id), conv3/w[1,2,1], conv3", weights="random").values
    expected = _conv([1, 1, 1], squared)
    assert np.allclose(got, [float(x) for x in expected], rtol=1e-14, atol=0)
    # an average pool between them acts alike on every channel: still a sum
    pooled = et.erf("1d: cat(avgpool3/s1/p1 | id), avgpool1, conv3/w[1,2,1]", weights="random")
    assert np.allclose(pooled.values, [float(x) for x in squared], rtol=1e-14, atol=0)


@pytest.mark.parametrize("gate", ["relu", "dropout0.5", "maxpool3/s1/p1"])
def test_random_concat_read_by_explicit_weights_after_a_gate_is_refused(gate):
    # each channel group passes its own random mask: neither a sum nor apart
    spec = f"1d: cat(avgpool3/s1/p1 | id), {gate}, conv3/w[1,2,1], conv3"
    with pytest.raises(et.ERFError, match="its own random"):
        et.erf(spec, weights="random")
    assert et.erf(spec).values.sum() > 0  # the expectation (weights='ones') is exact


def test_a_total_stride_beyond_any_input_is_refused_quickly():
    # 100,000 stride-3 pools: the field's integers would grow by a digit every other layer
    # (minutes of big-integer arithmetic) for a network no input can feed
    with pytest.raises(et.ERFError, match="2\\^256"):
        et.receptive_field("1d: conv3, avgpool3*100000")
    with pytest.raises(et.ERFError, match="2\\^256"):
        et.erf("conv3, (conv3/s2, conv3)*300")
    assert et.receptive_field("1d: (conv3/s2)*200").effective_stride == (2**200,)  # below the limit


def test_a_network_hashes_like_its_fields_and_compares_by_them():
    # the hash is memoised (networks key every memo cache): equal networks, however built,
    # must still hash alike, and the memo must not enter equality or the repr
    a, b = et.Network([et.Conv(3) * 4], dims=1), et.from_compact("1d: conv3*4")
    assert a == b and hash(a) == hash(b) == hash((a.layers, a.dims))
    assert a != et.Network([et.Conv(3) * 5], dims=1)
    assert "_hash" not in repr(a) and {a: 1}[b] == 1


def test_a_pickled_network_does_not_carry_its_hash_memo():
    import pickle

    net = et.from_compact("conv3/circular*2, conv3")
    hash(net)
    copy = pickle.loads(pickle.dumps(net))
    assert copy == net and "_hash" not in copy.__dict__ and hash(copy) == hash(net)


def test_weights_in_any_nesting_of_lists_and_tuples_give_the_same_layer():
    # a tuple of lists did not hash (TypeError from erf); the outer product is the exact ERF
    rows = [[1, 2, 1], [2, 4, 2], [1, 2, 1]]
    forms = [rows, tuple(rows), tuple(map(tuple, rows)), np.array(rows)]
    for form in forms:
        layer = et.Conv(3, weights=form)
        assert layer == et.Conv(3, weights=rows) and hash(layer) == hash(et.Conv(3, weights=rows))
        result = et.erf(et.Network((layer, layer), 2), normalize=None)
        axis = np.convolve([1, 2, 1], [1, 2, 1])
        np.testing.assert_array_equal(result.values, np.outer(axis, axis))


@pytest.mark.parametrize("weights", [[[1, 2], [1]], ("a", "b", "c"), ((1, 2), (1,)), ([1], "x")])
def test_weights_that_are_not_a_numeric_array_are_refused_by_value(weights):
    with pytest.raises(et.ERFError, match="not a rectangular array of numbers"):
        et.Conv(3, weights=weights)


_BAD_FIELDS = [
    (et.Conv, {"kernel": 0}, "kernel=0 is not a positive integer"),
    (et.Conv, {"kernel": (3, -1)}, "-1 is not a positive integer"),
    (et.Conv, {"stride": 0}, "stride=0"),
    (et.Conv, {"dilation": 1.5}, "dilation=1.5"),
    (et.Conv, {"groups": 0}, "groups=0"),
    (et.Conv, {"padding": -1}, "-1 is not an integer >= 0"),
    (et.Conv, {"padding": "full"}, "padding='full'"),
    (et.Conv, {"padding_mode": "wrap"}, "padding_mode='wrap'"),
    (et.Conv, {"weights": [1.0, float("nan"), 1.0]}, "NaN or inf"),
    (et.ConvTranspose, {"weights": [1.0, float("inf")]}, "NaN or inf"),
    (et.AvgPool, {"kernel": 0}, "kernel=0"),
    (et.MaxPool, {"stride": -2}, "stride=-2"),
    (et.Upsample, {"factor": 0}, "factor=0"),
    (et.Upsample, {"mode": "cubic"}, "mode='cubic'"),
    (et.AdaptiveAvgPool, {"output": 0}, "output=0"),
    (et.Dropout, {"p": 1}, "p=1 is outside [0, 1)"),
    (et.Dropout, {"p": -0.1}, "p=-0.1"),
    (et.ReLU, {"repeat": 0}, "repeat=0"),
    (et.Block, {"layers": None}, "layers=None is not a sequence"),
    (et.Branches, {"branches": [[et.Conv(3)], [et.Conv(1)]], "join": "mul"}, "join='mul'"),
]


@pytest.mark.parametrize(("cls", "fields", "message"), _BAD_FIELDS)
def test_a_layer_refuses_what_no_network_could_take_when_it_is_made(cls, fields, message):
    # at construction, naming the class and the value; dims-free checks only
    with pytest.raises(et.ERFError, match=rf"^{cls.__name__}: .*{re.escape(message)}"):
        cls(**fields)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"type": "conv", "kernel": 0}, "layers[1]: kernel=0 is not a positive integer"),
        ({"type": "dropout", "p": 1}, "layers[1]: dropout p=1 is outside [0, 1)"),
        (
            {"type": "residual", "layers": [{"type": "conv", "kernel": 3, "stride": 0}]},
            "layers[1].layers[0]: stride=0 is not a positive integer",
        ),
    ],
)
def test_a_description_places_a_refused_layer_by_its_position_not_its_class(item, message):
    spec = {"dims": 2, "layers": [{"type": "conv", "kernel": 3}, item]}
    with pytest.raises(et.ERFError) as err:
        et.from_dict(spec)
    assert str(err.value) == message
    compact = "conv3, conv0" if item["type"] == "conv" else None
    if compact:
        with pytest.raises(et.ERFError, match=r"^layers\[1\]: kernel=0 .* at column 8"):
            et.as_network(compact)


@given(st.integers(-5, 5), st.floats(-1.0, 2.0, allow_nan=False))
def test_construction_accepts_exactly_the_values_a_network_takes(k, p):
    # the constructor's refusal agrees with the oracle: k >= 1, 0 <= p < 1
    for make, valid in ((lambda: et.Conv(k), k >= 1), (lambda: et.Dropout(p), 0 <= p < 1)):
        try:
            layer = make()
        except et.ERFError:
            assert not valid
        else:
            assert valid
            assert et.Network([layer], dims=1).layers[0].repeat == 1


@pytest.mark.parametrize(
    "make",
    [
        lambda: et.Conv(3, padding_mode=np.array(["zeros"])),
        lambda: et.Upsample(2, mode=np.array(["nearest"])),
        lambda: et.Branches([[et.Conv(3)], [et.Conv(1)]], join=np.array(["add"])),
        lambda: et.Block(np.array(5)),
        lambda: et.Conv(1, weights=[10**400]),
        lambda: et.ReLU(repeat=(2,)),
        lambda: et.Conv(3, groups=[2]),
        lambda: et.Identity(origin=5),
        lambda: et.Network([et.Residual([et.Upsample(2, repeat=10**6)])], dims=1),
    ],
)
def test_odd_values_are_refused_in_one_line_not_a_traceback(make):
    with pytest.raises(et.ERFError) as err:
        make()
    assert "\n" not in str(err.value) and len(str(err.value)) < 400


def test_a_description_names_its_first_mistake_first():
    # layer 0 is wrong for dims=1 (a 2-axis kernel), layer 1 wrong whatever the dims: the
    # first is named, as the network would build them in order
    with pytest.raises(et.ERFError, match=r"^layers\[0\]: kernel=\[3, 3\] has 2 entries"):
        et.from_dict(
            {
                "dims": 1,
                "layers": [{"type": "conv", "kernel": [3, 3]}, {"type": "relu", "repeat": 0}],
            }
        )
    with pytest.raises(et.ERFError, match=r"^layers\[0\]: .* at column 5"):
        et.as_network("1d: conv3x3, conv0")
    with pytest.raises(et.ERFError, match=r"^dims=4 is not 1, 2 or 3"):
        et.from_dict({"dims": 4, "layers": [{"type": "conv", "kernel": 0}]})
    with pytest.raises(et.ERFError, match=r"repeat=\(2,\) is not a positive integer"):
        et.from_dict(
            {
                "dims": 1,
                "layers": [{"type": "residual", "layers": [{"type": "relu", "repeat": [2]}]}],
            }
        )
    with pytest.raises(et.ERFError, match="within float64's range"):
        et.from_dict({"dims": 1, "layers": [{"type": "conv", "kernel": 1, "weights": [10**400]}]})
