"""Depth sweeps: rows against closed forms, the fitted exponent against the theory's -1/2."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import erftheory as et
from erftheory.cli import main
from erftheory.sweep import parse_depths, sweep


def test_rows_match_closed_forms():
    s = sweep("1d: conv5*n", "1:41:10")
    for row in s.rows:
        n = row.depth
        assert row.receptive_field == (4 * n + 1,)
        assert row.std[0] == pytest.approx(math.sqrt(n * 24 / 12), rel=1e-12)
        assert row.erf_trf[0] == pytest.approx(math.sqrt(2 * n) / (4 * n + 1), rel=1e-12)


def test_exponent_tends_to_minus_half():
    # std/TRF = sqrt(n (k^2-1)/12) / (n (k-1) + 1): its log-log slope tends to -1/2
    deep = sweep("1d: conv3*n", "200:1000:200")
    assert deep.exponent == pytest.approx(-0.5, abs=0.005)
    shallow = sweep("1d: conv3*n", "1:10")
    assert -0.5 < shallow.exponent < -0.2  # the +1 of the TRF bends the short range


def test_marked_block_and_whole_network():
    marked = sweep("1d: conv7/s2/p3, (conv3, relu)*n", [1, 3])
    assert [r.receptive_field for r in marked.rows] == [(7 + 4,), (7 + 12,)]
    whole = sweep("1d: conv3/s2", [1, 2, 3])  # the whole net repeated: strides compound
    assert [r.receptive_field for r in whole.rows] == [(3,), (7,), (15,)]
    spec = {"dims": 1, "layers": [{"type": "conv", "kernel": 3, "repeat": "n"}]}
    assert sweep(spec, [4]).rows[0].receptive_field == (9,)


@pytest.mark.parametrize(
    "text, says",
    [
        ("5:1", "is empty"),
        ("a:b", "is not START:STOP"),
        ("1:10:0", "step must be a positive integer"),
        ("1:10:-2", "step must be a positive integer"),
        ("0:3", "depths start at 1"),
        ("1:2:3:4", "is not START:STOP"),
    ],
)
def test_bad_ranges(text, says):
    # each names its own fault (ERFError is a ValueError: the step's message once got
    # swallowed into the generic one)
    with pytest.raises(et.ERFError, match=says):
        parse_depths(text)


def test_cli_json_plot_and_budget(tmp_path, capsys):
    png = tmp_path / "s.png"
    assert main(["sweep", "conv3*n", "--depth", "1:21:10", "--json", "--plot", str(png)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["depth"] for r in data["rows"]] == [1, 11, 21]
    assert isinstance(data["exponent"], float) and png.stat().st_size > 1000
    assert main(["sweep", "conv3*n", "--depth", "1:5000"]) == 2
    assert "budget" in capsys.readouterr().err


def test_an_error_at_one_depth_names_the_architecture_as_typed():
    # the parser saw 'conv3*3*3'; the user typed 'conv3*n*n'
    with pytest.raises(et.ERFError, match=r"'conv3\*n\*n' at depth n = \d+"):
        et.sweep("conv3*n*n", "1:3")


def test_a_fit_over_shallow_depths_is_noted_and_matches_the_closed_form():
    # std/TRF of n 3-tap layers is sqrt(2n/3) / (2n + 1): its least-squares log-log slope over
    # 1..5 is about -0.31, not the asymptotic -1/2, and the sweep says why
    n = np.arange(1, 6)
    closed = np.polyfit(np.log(n), np.log(np.sqrt(2 * n / 3) / (2 * n + 1)), 1)[0]
    shallow = sweep("1d: conv3*n", list(range(1, 6)))
    assert shallow.exponent == pytest.approx(closed, rel=1e-9)
    assert shallow.note is not None and "asymptotic" in shallow.to_dict()["note"]
    deep = sweep("1d: conv3*n", [10, 20, 40])
    assert deep.note is None and deep.to_dict()["note"] is None


def test_a_huge_depth_range_is_refused_before_it_is_listed():
    # 1:10^9 used to build a billion-entry list: the kernel killed the process at 24 GB
    import tracemalloc

    tracemalloc.start()
    with pytest.raises(et.ERFError, match=r"1,000,000,000 depths, over 10,000; give a step"):
        et.sweep("conv3*n", "1:1000000000")
    with pytest.raises(et.ERFError, match=r"1,000,000,000 depths, over 10,000"):
        et.sweep("conv3*n", range(1, 10**9 + 1))
    assert tracemalloc.get_traced_memory()[1] < 10 * 2**20
    tracemalloc.stop()
