"""Finite images against an independent forward pass with framework padding semantics."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from oracle import _correlate

import erftheory as et
from erftheory.finite import border_maps, finite_erf

NP_MODES = {"zeros": "constant", "circular": "wrap", "reflect": "reflect", "replicate": "edge"}


def _forward(layers, x, mode):
    """The linear network on one image (no batch axis), padding as each layer declares."""
    for layer in layers:
        for _ in range(layer.repeat):
            if isinstance(layer, et.Residual):
                x = x + _forward(layer.layers, x, mode)
            elif isinstance(layer, et.Branches):
                x = sum(_forward(b, x, mode) for b in layer.branches)
            elif isinstance(layer, (et.Conv, et.AvgPool, et.MaxPool)):
                if isinstance(layer, et.Conv):
                    w = np.ones(layer.kernel) if layer.weights is None else layer.weight_array
                else:
                    w = np.full(layer.kernel, 1 / math.prod(layer.kernel))
                # a declared mode wins over the network-wide one
                xp = np.pad(x, layer.padding, mode=NP_MODES[layer.padding_mode or mode or "zeros"])
                x = _correlate(xp[None], w, layer.stride, layer.dilation)[0]
            elif isinstance(layer, et.ReLU):
                x = 0.5 * x
    return x


def _jacobian_row(net, shape, unit, mode):
    row = np.zeros(shape)
    for p in itertools.product(*(range(n) for n in shape)):
        x = np.zeros(shape)
        x[p] = 1
        row[p] = _forward(net.layers, x, mode)[unit]
    return row


@st.composite
def finite_case(draw):
    dims = draw(st.integers(1, 2))
    layers = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["conv", "conv", "pool", "res", "add"]))
        if kind == "conv":
            k, s, d = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
            b, a = draw(st.integers(0, 2)), draw(st.integers(0, 2))
            layers.append(f"conv{k}/s{s}/d{d}/p{b}-{a}")
        elif kind == "pool":
            layers.append(f"avgpool2/s{draw(st.integers(1, 2))}/p{draw(st.integers(0, 1))}")
        elif kind == "res":
            layers.append("res(conv3, relu)")
        else:
            layers.append("add(conv3/s2 | conv1/s2)")
    mode = draw(st.sampled_from(list(NP_MODES)))
    n = draw(st.integers(5, 12)) if dims == 1 else draw(st.integers(5, 7))
    return f"{dims}d: " + ", ".join(layers), mode, (n,) * dims


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(finite_case(), st.data())
def test_every_unit_matches_the_brute_force_jacobian(case, data):
    arch, mode, shape = case
    net = et.as_network(arch)
    try:
        out = _forward(net.layers, np.zeros(shape), mode).shape
        unit = tuple(data.draw(st.integers(0, n - 1)) for n in out)
        r = finite_erf(net, shape, unit=unit, padding_mode=mode)
    except (ValueError, AssertionError, et.ERFError):
        assume(False)  # a map that vanished, or reflect padding wider than its map
    np.testing.assert_allclose(r.values, _jacobian_row(net, shape, unit, mode), atol=1e-12)
    maps = border_maps(net, shape, padding_mode=mode)
    ones = _forward(net.layers, np.ones(shape), mode)
    np.testing.assert_allclose(maps.mass, ones, rtol=1e-12, atol=1e-12)
    if r.mass > 1e-9:  # (circular centres live on a circle: compare them modulo n)
        a, b = maps.centre[(slice(None), *unit)], np.array(r.centre)
        assert np.array_equal(np.isnan(a), np.isnan(b))  # both undefined (a flat circle) or not
        diff = np.where(np.isnan(a), 0.0, a - b)
        if mode == "circular":
            diff = (diff + np.array(shape) / 2) % np.array(shape) - np.array(shape) / 2
        np.testing.assert_allclose(diff, 0.0, atol=1e-9 * max(shape))


def test_circular_padding_wraps_the_unbounded_erf():
    arch, n = "conv3/p1*4, conv5/p2", 13  # field 13 = image: wraps exactly once at the edges
    unbounded = et.erf(arch).values  # 13 x 13, centred on the unit
    for unit in [(0, 0), (3, 11), (6, 6)]:
        wrapped = np.zeros((n, n))
        r = unbounded.shape[0]
        for i, j in np.ndindex(r, r):
            wrapped[(unit[0] - r // 2 + i) % n, (unit[1] - r // 2 + j) % n] += unbounded[i, j]
        got = finite_erf(arch, (n, n), unit=unit, padding_mode="circular").values
        np.testing.assert_allclose(got, wrapped, rtol=1e-12)


@pytest.mark.parametrize("n", [8, 13, 32])
def test_a_circular_centre_at_the_origin_is_zero_not_n(n):
    # a field symmetric about pixel 0 on a circle: its circular mean is exactly 0, which
    # arctan2 returns as a tiny negative angle; the centre must stay in [0, n)
    r = finite_erf("conv3/psame*3", (n, n), unit=(0, 0), padding_mode="circular")
    assert all(0 <= c < n for c in r.centre)
    assert max(min(c, n - c) for c in r.centre) < 1e-9


@pytest.mark.parametrize("mode", list(NP_MODES))
def test_far_from_the_borders_every_mode_is_the_unbounded_erf(mode):
    arch = "conv3/p1, conv3/s2/p1, res(conv3), conv3/p1"
    rf = et.receptive_field(arch)
    unbounded = et.erf(arch).values
    r = finite_erf(arch, (41, 41), unit=(10, 10), padding_mode=mode)
    start = [s + 10 * j for s, j in zip(rf.start, rf.effective_stride)]
    inside = r.values[tuple(slice(a, a + n) for a, n in zip(start, unbounded.shape))]
    np.testing.assert_allclose(inside, unbounded, rtol=1e-12)
    assert r.values.sum() == pytest.approx(unbounded.sum(), rel=1e-12)


def test_corner_unit_loses_five_ninths_with_zero_padding():
    b = border_maps("conv3/p1", (6, 6))
    assert b.lost_fraction[0, 0] == pytest.approx(5 / 9)  # 4 of its 9 taps see the image
    assert b.lost_fraction[0, 3] == pytest.approx(3 / 9)
    assert b.lost_fraction[3, 3] == 0
    # the corner ERF's centre sits half a pixel inside the image from the unit's centre
    assert b.pull[0][0, 0] == pytest.approx(0.5) and b.pull[1][0, 0] == pytest.approx(0.5)
    assert border_maps("conv3/p1", (6, 6), padding_mode="replicate").lost_fraction.max() == 0


def test_bad_input_names_the_sizes():
    with pytest.raises(et.ERFError, match=r"unit \[9, 0\] is outside the output of shape \[8, 8\]"):
        finite_erf("conv3", (10, 10), unit=(9, 0))
    with pytest.raises(et.ERFError, match="needs 2 positive sizes"):
        finite_erf("conv3", (10,))
    with pytest.raises(et.ERFError, match=r"gets a \[4, 4\] feature map .* would output"):
        finite_erf("conv3/s2, conv5", (10, 10))
    with pytest.raises(et.ERFError, match="padding mode"):
        border_maps("conv3", (10, 10), padding_mode="mirror")


def test_cli_finite_erf_and_borders(tmp_path, capsys):
    import json

    from erftheory.cli import main

    out = tmp_path / "u.npy"
    status = main(
        [
            "erf",
            "conv3/p1*3",
            "--input",
            "15,15",
            "--padding",
            "circular",
            "--unit",
            "3,5",
            "--save",
            str(out),
            "--json",
        ]
    )
    assert status == 0
    data = json.loads(capsys.readouterr().out)
    assert data["unit"] == [3, 5] and data["lost_fraction"] == pytest.approx(0, abs=1e-12)
    saved = np.load(out)
    assert saved.shape == (15, 15)
    np.testing.assert_allclose(saved, finite_erf("conv3/p1*3", (15, 15), (3, 5), "circular").values)
    assert main(["erf", "conv3/p1*3", "--input", "15,15", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["unit"] == [7, 7]  # the centre unit, n // 2
    png = tmp_path / "b.png"
    assert main(["borders", "conv3/p1*3", "--input", "12,12", "--json", "--plot", str(png)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["units_losing_mass"] == 12 * 12 - 6 * 6 and png.stat().st_size > 1000
    assert main(["erf", "conv3", "--unit", "1,1"]) == 2
    assert main(["erf", "conv3", "--input", "5,5", "--unit", "9,9"]) == 2
    assert "outside the output of shape [3, 3]" in capsys.readouterr().err


def test_network_wide_padding_is_a_default_that_layers_override():
    declared = "1d: conv3/p1/replicate, conv3/p1"
    net = et.as_network(declared)
    for mode in ("zeros", "circular"):
        r = finite_erf(declared, (6,), unit=(0,), padding_mode=mode)
        np.testing.assert_allclose(r.values, _jacobian_row(net, (6,), (0,), mode))
    # the same defaults in the JSON format (top level, and "padding": MODE per layer) and
    # in the compact prefix
    spec = {
        "dims": 1,
        "padding": "circular",
        "layers": [
            {"type": "conv", "kernel": 3, "padding": 1},
            {"type": "conv", "kernel": 3, "padding": "reflect"},
        ],
    }
    modes = [layer.padding_mode for layer in et.as_network(spec).layers]
    assert modes == ["circular", "reflect"]
    assert et.as_network(spec).layers[1].padding == ((1, 1),)  # a mode name means 'same'
    prefixed = et.as_network("1d circular: conv3/p1, conv3/p1/zeros")
    assert [layer.padding_mode for layer in prefixed.layers] == ["circular", "zeros"]
    with pytest.raises(et.ERFError, match="padding mode .mirror. is not one of"):
        et.as_network({"dims": 1, "padding": "mirror", "layers": [{"type": "conv", "kernel": 3}]})


def test_circular_padding_pulls_no_centre():
    # on a torus the ERF is the unbounded one wrapped around: no unit's centre moves
    b = border_maps("conv3/p1*5", (31, 31), "circular")
    assert np.max(np.abs(b.pull)) < 1e-9 and np.max(b.lost_fraction) < 1e-12
    r = finite_erf("conv3/p1*5", (31, 31), unit=(3, 5), padding_mode="circular")
    np.testing.assert_allclose(r.centre, (3.0, 5.0), atol=1e-9)
    # with zero padding the border units are pulled inwards (towards the image)
    z = border_maps("conv3/p1*5", (31, 31))
    assert z.pull[0][0, 15] > 0.5 and z.pull[0][30, 15] < -0.5


def test_locally_connected_layers_on_finite_images():
    w = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    arch = {
        "dims": 1,
        "layers": [{"type": "local", "kernel": 3, "padding": 1, "weights": w.tolist()}],
    }
    # by hand: output unit i reads x[i - 1 + m] with weight w[i, m]; zeros outside 0..2
    for unit in range(3):
        expected = np.zeros(3)
        for m in range(3):
            if 0 <= unit - 1 + m < 3:
                expected[unit - 1 + m] += w[unit, m]
        r = finite_erf(arch, (3,), unit=(unit,))
        np.testing.assert_allclose(r.values, expected)
        assert r.unbounded_mass == w[unit].sum()  # each unit its own kernel's mass
    b = border_maps(arch, (3,))
    np.testing.assert_allclose(b.lost_fraction, [1 / 6, 0.0, 9 / 24])
    with pytest.raises(et.ERFError, match="output positions"):
        finite_erf(arch, (5,))  # the weights cover 3 outputs, a 5-pixel input gives 5


def test_a_field_spread_evenly_round_the_circle_has_no_centre():
    # circular padding and a field covering the whole 6-pixel circle evenly: no direction
    arch = "1d: conv3/d2, avgpool2/s1, conv1"
    r = finite_erf(arch, (6,), unit=(0,), padding_mode="circular")
    assert np.allclose(r.values, 0.5) and math.isnan(r.centre[0])
    assert border_maps(arch, (6,), "circular").to_dict()["max_pull"] == [None]


@pytest.mark.parametrize(
    "spec, unit, expected",
    [
        # frameworks pad a max pool with -inf: each real input of the window is its max with
        # probability 1 / (real inputs), the padding never (iid inputs, by symmetry)
        ("1d: maxpool3/s1/p1", (0,), [1 / 2, 1 / 2, 0, 0, 0]),
        ("1d: maxpool2/s2/p1", (0,), [1, 0, 0, 0, 0]),
        ("1d: maxpool3/s1/p1", (2,), [0, 1 / 3, 1 / 3, 1 / 3, 0]),
        ("1d: avgpool3/s1/p1", (0,), [1 / 3, 1 / 3, 0, 0, 0]),  # zeros do take a share
    ],
)
def test_a_max_pool_never_routes_to_its_padding(spec, unit, expected):
    np.testing.assert_allclose(finite_erf(spec, (5,), unit=unit).values, expected, rtol=1e-15)


def test_a_padded_max_pool_loses_no_mass_at_the_corner():
    # 2-D corner unit: 4 of the 9 window positions are inside, 1/4 each, nothing lost
    r = finite_erf("maxpool3/s1/p1", (4, 4), unit=(0, 0))
    np.testing.assert_allclose(r.values[:2, :2], np.full((2, 2), 0.25), rtol=1e-15)
    assert r.values.sum() == pytest.approx(1.0, rel=1e-15)
    assert np.nanmax(border_maps("maxpool3/s1/p1", (4, 4)).lost_fraction) == 0


def test_a_zero_sum_kernel_has_no_lost_fraction():
    # no mass to lose: undefined, said in words, and null in the dict (never NaN or a warning)
    b = border_maps("1d: conv2/w[1,-1]", (5,))
    assert b.to_dict()["max_lost_fraction"] is None
    assert "undefined" in str(b)


def test_a_dilated_strided_max_pool_shares_among_the_taps_inside():
    # unit 0 of maxpool3/s2/p1/d2 reads positions -1, 1, 3: the two inside get 1/2 each
    np.testing.assert_allclose(
        finite_erf("1d: maxpool3/s2/p1/d2", (7,), unit=(0,)).values, [0, 0.5, 0, 0.5, 0, 0, 0]
    )


def test_borders_plot_scales_start_at_zero_and_say_when_nothing_is_lost():
    # lost mass and the centre's distance cannot be negative: their colour scales start at 0
    # (matplotlib's default centres a constant map's scale on it, showing -0.1 .. 0.1)
    from erftheory.plot import plot_borders

    padded = border_maps("conv3/p1*3", (10, 10))
    ax = plot_borders(padded)
    low, high = ax.images[0].get_clim()
    assert (low, high) == (0.0, float(np.nanmax(padded.lost_fraction)))
    # the second map is the pull's length: at a corner both axes pull by the same amount
    corner = abs(float(padded.pull[0][0, 0]))
    assert corner > 0
    distance = ax.figure.axes[1].images[0].get_array()[0, 0]
    assert distance == pytest.approx(math.sqrt(2) * corner, rel=1e-12)
    assert "none" not in ax.get_title()

    circular = border_maps("conv3/p1*3", (10, 10), "circular")
    ax = plot_borders(circular)
    assert ax.images[0].get_clim() == (0.0, 1.0)
    assert "none: no unit loses mass" in ax.get_title()


def test_a_3d_borders_plot_says_which_slice_it_shows():
    from erftheory.plot import plot_borders

    maps = border_maps("3d: conv3/p1*2", (6, 6, 6))
    ax = plot_borders(maps)
    assert ax.get_title().endswith("(slice 3 of axis 0)")
    np.testing.assert_array_equal(ax.images[0].get_array(), maps.lost_fraction[3])
