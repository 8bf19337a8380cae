"""Input-resolution diagnostics against hand computations."""

from __future__ import annotations

import json

import pytest

import erftheory as et
from erftheory.cli import main
from erftheory.resolution import output_shape, resolution_report


def test_output_sizes_follow_the_framework_rule():
    net = et.as_network("conv7/s2/p3, maxpool3/s2/p1, conv3/d2, res(conv3)")
    # 224 -> (224 + 6 - 6 - 1)//2 + 1 = 112 -> (112 + 2 - 2 - 1)//2 + 1 = 56 -> 56 - 4 = 52
    assert output_shape(net.layers, (224, 224)) == (52, 52)
    with pytest.raises(et.ERFError, match=r"layer 2 .* gets a \[2, 2\] .* would output \[-2, -2\]"):
        output_shape(net.layers, (8, 8))


def test_unproductive_layers_and_minimum_input():
    r = resolution_report("1d: conv3/p1*10", (12,))
    # TRF after layer i is 2i + 3; layer i is unproductive when the TRF entering it (2i + 1)
    # reaches the image (12): from i = 6 (entering 13) on
    assert [row.unproductive for row in r.rows] == [False] * 6 + [True] * 4
    assert r.min_input_no_unproductive == (2 * 9 + 1 + 1,)
    # ERF width 4 sigma with sigma^2 = 2 n / 3 after n layers
    assert r.rows[5].erf_width[0] == pytest.approx(4 * (2 * 6 / 3) ** 0.5)
    assert r.rows[5].trf_fraction[0] == pytest.approx(13 / 12)


def test_physical_units_and_formats(capsys):
    r = resolution_report("1d: conv5*3", (100,), pixel_size=0.5, unit="mm")
    assert r.to_dict()["layers"][-1]["trf"] == [6.5]  # 13 pixels of 0.5 mm
    assert "TRF (mm)" in r.table("markdown") and r.table("csv").startswith("#,layer")
    assert main(["rf", "conv3*4", "--input", "32,32", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["resolution"]["layers"][0]["feature_map"] == [30, 30]
    assert main(["rf", "conv3*4", "--input", "32"]) == 2
    assert "needs 2 positive sizes" in capsys.readouterr().err
    assert main(["rf", "conv3*20", "--input", "16,16"]) == 2
    assert "too small" in capsys.readouterr().err


def test_rf_growth_plot(tmp_path, capsys):
    png = tmp_path / "g.png"
    assert main(["rf", "conv7/s2/p3, maxpool3/s2/p1, res(conv3)*2", "--plot", str(png)]) == 0
    assert png.stat().st_size > 1000


def test_sizes_on_the_command_line_may_be_written_with_x(capsys, tmp_path):
    # 224x224 is how sizes are written; it reads as 224,224 (the same report)
    assert main(["rf", "conv3*4", "--input", "32,32", "--json"]) == 0
    with_comma = json.loads(capsys.readouterr().out)
    png = tmp_path / "growth.png"
    args = ["rf", "conv3*4", "--input", "32x32", "--json", "--pixel-size", "0.5", "--unit", "mm"]
    assert main([*args, "--plot", str(png)]) == 0
    with_x = json.loads(capsys.readouterr().out)
    assert with_x["resolution"]["input"] == with_comma["resolution"]["input"] == [32, 32]
    assert png.stat().st_size > 1000
    assert main(["rf", "conv3*4", "--input", "32y32"]) == 2
    assert "'32y32' is not a list of integers such as 224,224 or 224x224" in capsys.readouterr().err


@pytest.mark.parametrize(
    "arch, entering",
    [
        ("conv3", 1),  # the TRF entering the last conv or pool (Richter et al.'s rule)
        ("conv3*10", 19),  # 1 + 2 * 9
        ("conv3/p1*20", 39),  # 1 + 2 * 19
        ("conv7/s2/p3, maxpool3/s2/p1, conv3*6", 51),  # 7 + 2 * 2 + 5 * 2 * 4
        ("conv5/s3*2", 5),
    ],
)
def test_the_least_input_without_unproductive_layers_is_one_the_network_runs_on(arch, entering):
    # conv3 was said to be productive 'from an input of 2 pixels on': an unpadded 3x3 conv
    # has no output on 2. The least input is also one on which every feature map has a
    # position, found here by scanning sizes upwards
    net = et.as_network(arch)
    runs = next(n for n in range(1, 1000) if _runs(net, n))
    report = resolution_report(arch, (256, 256))
    assert report.min_input_no_unproductive[0] == max(entering + 1, runs)
    assert report.min_input_erf[0] >= runs and _runs(net, report.min_input_erf[0])


def _runs(net, n: int) -> bool:
    try:
        output_shape(net.layers, (n, n))
    except et.ERFError:
        return False
    return True


def test_the_pixel_size_carries_its_unit(capsys):
    # --unit names the output unit in erf and validate; rf takes its physical unit with the
    # size instead (the old --unit is still read, and must agree)
    def report(*extra):
        assert main(["rf", "conv3*10", "--input", "64,64", "--json", *extra]) == 0
        return json.loads(capsys.readouterr().out)["resolution"]

    together = report("--pixel-size", "0.5mm")
    apart = report("--pixel-size", "0.5", "--unit", "mm")
    assert together == apart and (together["unit"], together["pixel_size"]) == ("mm", 0.5)
    # conv3*10: a 21-pixel TRF, 10.5 mm at 0.5 mm a pixel
    assert together["layers"][-1]["trf"] == [10.5, 10.5]
    micro = report("--pixel-size", "20um")
    assert (micro["unit"], micro["pixel_size"], micro["layers"][-1]["trf"]) == (
        "um",
        20,
        [420, 420],
    )
    assert main(["rf", "conv3", "--input", "8,8", "--pixel-size", "0.5mm", "--unit", "cm"]) == 2
    assert "names the unit 'mm', --unit 'cm'" in capsys.readouterr().err
    assert main(["rf", "conv3", "--input", "8,8", "--pixel-size", "mm"]) == 2
    assert "'mm' is not a pixel size such as 0.5mm" in capsys.readouterr().err


def test_growth_plot_in_physical_units_with_the_input_drawn():
    # conv3*4 after conv7/s2: the TRF is 7 + 2 * 4 * 2 = 23 pixels (each conv3 adds 2 jumps
    # of 2), 11.5 mm at 0.5 mm a pixel; the input's line at 64 * 0.5 = 32 mm
    from erftheory.plot import plot_growth

    rf = et.receptive_field("conv7/s2/p3, conv3*4")
    ax = plot_growth(rf, pixel_size=0.5, unit="mm", input_shape=(64, 48))
    trf, _, line = ax.get_lines()
    assert trf.get_ydata().tolist() == [3.5, 11.5]
    assert list(line.get_ydata()) == [32.0, 32.0]
    assert ax.get_ylabel() == "input size (mm)"
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["conv7/s2/p3", "conv3*4"]


def test_too_small_inputs_name_the_repeat_that_fails():
    # 8 -> 6 -> 4 -> 2 -> 0: the fourth copy of conv3 is the one with no output position
    net = et.as_network("conv3*10")
    with pytest.raises(et.ERFError, match=r"layer 0, copy 4 of 10 .* gets a \[2, 2\]"):
        output_shape(net.layers, (8, 8))


def test_input_sizes_are_integers_not_truncated():
    # 10.5 used to be read as 10 (int(v)); the resolution report now refuses it by name
    with pytest.raises(et.ERFError, match="10.5 is not a positive integer"):
        resolution_report("conv3", (10.5, 10))
    with pytest.raises(et.ERFError, match="one integer but the network is 2-d"):
        et.erf("conv3", input_shape=12)


def test_the_growth_plot_has_a_point_per_layer(monkeypatch, tmp_path):
    # conv3*10 was one point; the plot now unrolls the repeat: TRF 3, 5, ..., 21 (2k + 1)
    import erftheory.plot as plot_module

    seen = []
    real = plot_module.plot_growth
    monkeypatch.setattr(plot_module, "plot_growth", lambda rf, *a, **k: seen.append(rf) or real(rf))
    assert main(["rf", "conv3*10", "--plot", str(tmp_path / "g.png")]) == 0
    assert [row.size[0] for row in seen[0].rows] == [2 * k + 1 for k in range(1, 11)]
