"""The three ways to describe an architecture give the same immutable model."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from strategies import architecture

import erftheory as et
from erftheory.zoo import zoo_names, zoo_network

ISSUE_EXAMPLE = {
    "dims": 2,
    "layers": [
        {"type": "conv", "kernel": 3},
        {"type": "conv", "kernel": [3, 5], "stride": 2, "dilation": 1, "repeat": 4},
        {"type": "conv", "kernel": 3, "weights": [[1, 2, 1], [2, 4, 2], [1, 2, 1]]},
        {"type": "relu"},
        {"type": "avgpool", "kernel": 2, "stride": 2},
        {"type": "maxpool", "kernel": 3, "stride": 2},
        {"type": "dropout", "p": 0.5},
        {
            "type": "residual",
            "layers": [
                {"type": "conv", "kernel": 3},
                {"type": "relu"},
                {"type": "conv", "kernel": 3},
            ],
        },
    ],
}


def test_json_python_and_compact_agree(tmp_path):
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(ISSUE_EXAMPLE))
    python = et.Network(
        [
            et.Conv(3),
            et.Conv((3, 5), stride=2) * 4,
            et.Conv(3, weights=[[1, 2, 1], [2, 4, 2], [1, 2, 1]]),
            et.ReLU(),
            et.AvgPool(2, stride=2),
            et.MaxPool(3, stride=2),
            et.Dropout(0.5),
            et.Residual([et.Conv(3), et.ReLU(), et.Conv(3)]),
        ],
        dims=2,
    )
    compact = (
        "conv3, conv3x5/s2*4, conv3/w[[1,2,1],[2,4,2],[1,2,1]], relu, avgpool2, "
        "maxpool3/s2, dropout0.5, res(conv3, relu, conv3)"
    )
    nets = [
        et.as_network(ISSUE_EXAMPLE),
        et.as_network(str(path)),
        et.as_network(path),
        python,
        et.as_network(compact),
    ]
    assert all(n == nets[0] for n in nets)
    assert et.receptive_field(path).size == et.receptive_field(compact).size


def test_defaults():
    net = et.as_network("avgpool3, maxpool2x3, conv3")
    assert net.layers[0].stride == (3, 3) and net.layers[1].stride == (2, 3)
    assert net.layers[2].stride == (1, 1) and net.layers[2].dilation == (1, 1)
    assert net.layers[2].padding == ((0, 0), (0, 0))
    res = et.as_network("res(conv3/d2)").layers[0].layers[0]
    assert res.padding == ((2, 2), (2, 2))  # 'same' inside a residual body


@settings(max_examples=80, deadline=None)
@given(architecture(signed=True))
def test_round_trips(spec):
    net = et.as_network(spec)
    assert et.from_compact(et.to_compact(net)) == net
    assert et.from_dict(json.loads(json.dumps(et.to_dict(net)))) == net


def test_dims_prefix_and_inference():
    assert et.as_network("1d: conv3").dims == 1
    assert et.as_network("conv3x3x3").dims == 3
    assert et.as_network("conv3").dims == 2
    assert et.as_network("(conv3, relu)*4").depth == 4


@pytest.mark.parametrize(
    "arch, needle",
    [
        ({"dims": 2, "layers": [{"type": "conv2d", "kernel": 3}]}, "unknown layer type 'conv2d'"),
        (
            {"dims": 2, "layers": [{"type": "conv", "kernel": 3, "size": 2}]},
            "unknown key(s) ['size']",
        ),
        ({"dims": 2, "layers": [{"type": "conv", "kernel": 0}]}, "kernel=0 is not a positive"),
        ({"dims": 2, "layers": [{"type": "conv", "kernel": 2.5}]}, "kernel=2.5"),
        ({"dims": 2, "layers": [{"type": "conv", "kernel": 3, "stride": -1}]}, "stride=-1"),
        ({"dims": 2, "layers": [{"type": "conv", "kernel": 3, "dilation": 0}]}, "dilation=0"),
        (
            {"dims": 2, "layers": [{"type": "conv", "kernel": [3, 3, 3]}]},
            "has 3 entries but dims=2",
        ),
        ({"dims": 4, "layers": [{"type": "conv", "kernel": 3}]}, "dims=4 is not 1, 2 or 3"),
        ({"dims": 1, "layers": [{"type": "conv", "kernel": 3, "weights": [1, 2]}]}, "shape [2]"),
        (
            {"dims": 1, "layers": [{"type": "conv", "kernel": 2, "weights": [1, float("nan")]}]},
            "NaN",
        ),
        (
            {"dims": 1, "layers": [{"type": "conv", "kernel": 2, "weights": [[1], [2, 3]]}]},
            "rectangular",
        ),
        ({"dims": 1, "layers": [{"type": "dropout", "p": 1.0}]}, "outside [0, 1)"),
        ({"dims": 1, "layers": [{"type": "dropout", "p": -0.1}]}, "outside [0, 1)"),
        (
            {
                "dims": 1,
                "layers": [
                    {"type": "residual", "layers": [{"type": "conv", "kernel": 3, "stride": 2}]}
                ],
            },
            "the residual body has [2]",
        ),
        (
            {
                "dims": 1,
                "layers": [{"type": "residual", "layers": [{"type": "conv", "kernel": 2}]}],
            },
            "misaligned branches",
        ),
        (
            {
                "dims": 1,
                "layers": [
                    {"type": "residual", "layers": [{"type": "conv", "kernel": 3, "padding": 0}]}
                ],
            },
            "misaligned branches",
        ),
        ({"dims": 1, "layers": []}, "no layers"),
        ({"layers": [{"type": "conv"}]}, "needs a 'kernel'"),
        ({"dims": 2, "layer": []}, "unknown top-level key"),
        ("conb3", "unknown layer 'conb'"),
        ("conv3/q2", "unknown option"),
        ("conv3,", "expected a layer name"),
        ("res(conv3", "expected ')'"),
        ("conv3*0", "positive integer"),
        ("conv3/w[1,2", "unbalanced"),
        ("conv3 conv3", "unexpected text"),
    ],
)
def test_bad_architectures_name_the_problem(arch, needle):
    with pytest.raises(et.ERFError) as info:
        et.as_network(arch)
    assert needle in str(info.value)


def test_a_file_named_without_json_is_read_unless_the_name_is_a_description(tmp_path, monkeypatch):
    # a description never looks at the disk: a same-named file (here a binary, as an
    # executable named vgg16 would be) does not shadow it; './name' or a non-description
    # name reads the file
    monkeypatch.chdir(tmp_path)
    five = {"dims": 1, "layers": [{"type": "conv", "kernel": 5}]}
    (tmp_path / "conv3").write_text(json.dumps(five))
    (tmp_path / "mynet").write_text(json.dumps(five))
    (tmp_path / "vgg16").write_bytes(b"\x7fELF\x00\xff")
    assert et.receptive_field(et.as_network("1d: conv3")).size == (3,)
    assert et.receptive_field(et.as_network("./conv3")).size == (5,)
    assert et.receptive_field(et.as_network("mynet")).size == (5,)
    assert et.as_network("vgg16") == zoo_network("vgg16")  # not an error on the binary
    (tmp_path / "{braced}").write_text(json.dumps(five))  # no inline JSON: the file
    assert et.receptive_field(et.as_network("{braced}")).size == (5,)
    (tmp_path / "broken").write_text("{not json")
    with pytest.raises(et.ERFError, match="broken: malformed JSON"):
        et.as_network("broken")


def test_malformed_json_reports_line_and_column(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"dims": 2,\n "layers": [{"type": "conv", "kernel": 3,}]}')
    with pytest.raises(et.ERFError, match="line 2, column"):
        et.as_network(str(path))
    with pytest.raises(et.ERFError, match="cannot read"):
        et.as_network(str(tmp_path / "missing.json"))


def test_compact_errors_point_at_the_token():
    with pytest.raises(et.ERFError, match=r"column 8 \(near 'conv0'\)"):
        et.as_network("conv3, conv0")


@pytest.mark.parametrize(
    "spec",
    ["1d: cat((conv3/s2/p0, relu) | maxpool3/s2/p0)", "2d: add((conv3/d2, relu) | conv5/d1)"]
    + zoo_names(),
)
def test_groups_inside_branches_round_trip(spec):
    # a group inside a branch pads 'same' by default, as the branch does: its written form
    # must keep a padding that differs from that (it used to drop /p0 and misalign)
    net = et.as_network(spec)
    assert et.from_compact(et.to_compact(net)) == net


@pytest.mark.parametrize(
    "spec", ["res(convt2/psame)", "1d: res(convt3/psame)", "add(convt2/psame | id)", "res(convt3)"]
)
def test_transposed_convs_in_residuals_round_trip(spec):
    # a transposed conv pads 0 inside a residual too, so its 'same' must be written out
    net = et.as_network(spec)
    assert et.from_compact(et.to_compact(net)) == net


def test_json_weights_are_numbers_not_strings():
    # ["1", "2", "3"] used to be read as numbers (numpy converts them); the format says numbers
    spec = {"dims": 1, "layers": [{"type": "conv", "kernel": 3, "weights": ["1", "2", "3"]}]}
    with pytest.raises(et.ERFError, match="weights must be numbers, not strings such as '1'"):
        et.as_network(spec)
