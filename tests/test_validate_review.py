"""`validate` against a second review: alignment fit, layout, area ratio, phases, errors.

Every expected value is computed here, apart from the module: ERFs as repeated numpy
convolutions of the kernels, RepLKNet's ``get_rectangle`` as published, sums by brute force.
"""

from __future__ import annotations

import json
import time
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import get_rectangle as _get_rectangle

import erftheory as et
from erftheory.cli import main
from erftheory.empirical import aggregate
from erftheory.validate import validate


def _path_counts(kernel, depth: int) -> np.ndarray:
    """The 1-d ERF of ``depth`` stacked convs with ``kernel``: repeated convolution."""
    g = np.array([1.0])
    for _ in range(depth):
        g = np.convolve(g, kernel)
    return g


def _sq2d(depth: int) -> np.ndarray:
    """E[g^2] of conv3*depth with unit-variance random weights: the 2-d path counts."""
    a = _path_counts(np.ones(3), depth)
    return np.outer(a, a)


def _tv(p, q) -> float:
    p, q = np.abs(p) / np.abs(p).sum(), np.abs(q) / np.abs(q).sum()
    return 0.5 * float(np.abs(p - q).sum())


def _replknet(m):
    data = np.log10(m + 1)
    data = data / data.max()
    return [_get_rectangle(data, t) for t in (0.2, 0.3, 0.5, 0.99)]


# -- 2: the field's position is fitted -------------------------------------------------------


def test_a_skewed_map_missing_its_faintest_pixel_is_placed_where_it_lies():
    g = _path_counts([1.0, 2.0, 4.0], 5)  # 11 taps, heavy on one side
    m = np.zeros(40)
    m[10:21] = g
    m[10] = 0.0  # 1 / 7^5 of the mass
    v = validate(m, "1d: conv3/w[1,2,4]*5", aggregate="raw")
    # the map is the theory without that pixel: tv is that pixel's share, renormalised
    expected = _tv(m[10:21], g)
    assert v.tv == pytest.approx(expected, rel=1e-9) and expected < 1e-4
    assert v.field_start == (10,) and v.field_centre == (15.0,)


@settings(max_examples=25, deadline=None)
@given(depth=st.integers(2, 12), cut=st.integers(1, 24), side=st.sampled_from("tblr"))
def test_a_field_cut_by_any_edge_is_found_exactly(depth, cut, side):
    th = _sq2d(depth)
    r = th.shape[0]
    cut = min(cut, r - 2)
    m = np.zeros((r + 20, r + 20))
    part = {"t": th[cut:], "b": th[: r - cut], "l": th[:, cut:], "r": th[:, : r - cut]}[side]
    if side == "t":
        m[: r - cut, 10 : 10 + r] = part
    elif side == "b":
        m[-(r - cut) :, 10 : 10 + r] = part
    elif side == "l":
        m[10 : 10 + r, : r - cut] = part
    else:
        m[10 : 10 + r, -(r - cut) :] = part
    v = validate(m, f"conv3*{depth}", aggregate="none", theory="random")
    assert v.tv == pytest.approx(0.0, abs=1e-12)
    assert v.correlation == pytest.approx(1.0, abs=1e-9) or part.size < 8


def test_the_fit_is_fast_on_a_large_map():
    th = _sq2d(50)  # 101 x 101
    m = np.zeros((1024, 1024))
    m[300:401, 500:601] = th
    m *= 1 + 0.05 * np.random.default_rng(0).standard_normal(m.shape)
    start = time.perf_counter()
    v = validate(m, "conv3*50", aggregate="none", theory="random")
    assert time.perf_counter() - start < 3.0
    assert v.field_start == (300, 500) and v.window_start == (300, 500)


def test_a_declared_unit_is_not_fitted():
    th = _sq2d(4)
    m = np.zeros((30, 30))
    m[5:14, 7:16] = th
    v = validate(m, "conv3*4", aggregate="none", theory="random", unit=(9, 11))
    assert v.field_start == (5, 7) and v.alignment.startswith("declared")
    with pytest.raises(et.ERFError, match="outside the receptive field"):
        validate(m, "conv3*4", aggregate="none", theory="random", unit=(10, 11))


# -- 1: layout --------------------------------------------------------------------------------


def test_channels_last_is_read_as_such_and_refused_read_channels_first():
    rng = np.random.default_rng(0)
    nchw = rng.normal(size=(6, 3, 19, 19)) * np.pad(np.sqrt(_sq2d(3)), 6)[None, None]
    nhwc = nchw.transpose(0, 2, 3, 1)
    first = validate(nchw, "conv3*3", aggregate="sq")
    last = validate(nhwc, "conv3*3", aggregate="sq", layout="channels_last")
    np.testing.assert_allclose(last.empirical, first.empirical, rtol=1e-12)
    expected = (nchw**2).sum(axis=1).mean(axis=0)  # brute force
    m, text = aggregate(nhwc, 2, "sq", layout="channels_last")
    np.testing.assert_allclose(m, expected, rtol=1e-12)
    assert "6 images x 3 channels of 19 x 19 (channels last)" in text
    assert (last.images, last.channels) == (6, 3)
    with pytest.raises(et.ERFError, match="layout='channels_last'"):
        validate(nhwc, "conv3*3", aggregate="sq")
    with pytest.raises(et.ERFError, match="layout="):
        validate(nchw, "conv3*3", layout="NHWC")


def test_the_protocol_says_which_axes_were_read():
    m = np.zeros((9, 9))
    m[2:7, 2:7] = _sq2d(2)
    assert "one 9 x 9 map" in validate(m, "conv3*2", aggregate="sq").protocol
    v = validate(np.stack([m] * 4), "conv3*2", aggregate="sq")
    assert "4 images of 9 x 9" in v.protocol and "channels" not in v.protocol.split(";")[0]
    line = validate(m, "1d: conv3*2", aggregate="sq", unit=(4,))
    assert "9 images of 9 (a 2-D array read as a stack of 1-D maps)" in line.protocol


# -- 5, 6: RepLKNet's area ratio on the whole map ---------------------------------------------


def test_the_area_ratio_is_get_rectangle_on_the_whole_map():
    rng = np.random.default_rng(3)
    m = np.zeros((64, 64))
    m[22:43, 22:43] = _sq2d(10) * rng.uniform(0.5, 1.5, (21, 21))
    m *= 1e4 / m.max()
    v = validate(m, "conv3*10", aggregate="none", theory="random")
    got = v.metrics["empirical"]
    expected = _replknet(m)
    assert got["area_ratio_side"] == [None if r is None else r[0] for r in expected]
    assert got["area_ratio"] == pytest.approx([r[1] for r in expected], rel=1e-12)
    assert got["area_ratio_denominator"] == 64 * 64
    # the theory's: the theory placed on the map at the map's total over the field
    canvas = np.zeros((64, 64))
    canvas[22:43, 22:43] = _sq2d(10) / _sq2d(10).sum() * m.sum()
    theory = [
        _get_rectangle(np.log10(canvas + 1) / np.log10(canvas + 1).max(), t)
        for t in (0.2, 0.3, 0.5, 0.99)
    ]
    assert v.metrics["theoretical"]["area_ratio_side"] == [r[0] for r in theory]


def test_the_exact_map_has_the_theory_s_area_ratio():
    m = np.zeros((64, 64))
    m[22:43, 22:43] = _sq2d(10)  # raw path counts, up to 1e8
    v = validate(m, "conv3*10", aggregate="none", theory="random")
    assert v.metrics["empirical"]["area_ratio_side"] == v.metrics["theoretical"]["area_ratio_side"]
    assert "area over the whole 64 x 64 map (4096 pixels)" in str(v)


def test_an_off_centre_field_says_which_centre_the_squares_use():
    m = np.zeros((64, 64))
    m[5:26, 30:51] = _sq2d(10)
    v = validate(m, "conv3*10", aggregate="none", theory="random")
    assert "map's centre [32, 32]" in v.note and v.field_centre == (15.0, 40.0)


# -- 10: no overflow --------------------------------------------------------------------------


def test_huge_values_are_refused_in_one_line_or_scaled(tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(et.ERFError, match="beyond float64"):
            validate(np.full((2, 3, 3), 1e200), "conv3", aggregate="sq")
        big = np.full((2, 3, 3), 1e150)  # squares 1e300: representable
        m, _ = aggregate(big, 2, "sq")
        assert np.allclose(m, 1e300, rtol=1e-12, atol=0)
        v = validate(np.full((4, 1, 3, 3), 1e308), "conv3", aggregate="abs")  # sum 4e308
        assert v.tv == pytest.approx(_tv(np.ones((3, 3)), np.ones((3, 3))), abs=1e-12)
    path = tmp_path / "huge.npy"
    np.save(path, np.full((2, 3, 3), 1e200))
    assert main(["validate", str(path), "--arch", "conv3", "--aggregate", "sq"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


# -- 3: the output unit's phase ---------------------------------------------------------------


def _unit_erf_by_hand(unit: int) -> np.ndarray:
    """The ERF of ``1d: conv3/s2, up2, conv3``, output ``unit``, by hand (impulse by impulse)."""
    x = np.zeros(12)
    out = np.zeros(12)
    for pos in range(12):
        x[:] = 0
        x[pos] = 1
        first = np.array([x[2 * j : 2 * j + 3].sum() for j in range(5)])
        up = np.repeat(first, 2)
        out[pos] = up[unit : unit + 3].sum()
    nonzero = np.flatnonzero(out)
    return out[nonzero[0] : nonzero[-1] + 1]


def test_the_phase_is_fitted_and_can_be_given():
    g1 = _unit_erf_by_hand(1)
    assert not np.array_equal(g1, _unit_erf_by_hand(0))
    m = np.zeros(30)
    m[10 : 10 + g1.size] = g1
    v = validate(m, "1d: conv3/s2, up2, conv3", aggregate="raw")
    assert v.output_unit == (1,) and v.tv == pytest.approx(0.0, abs=1e-12)
    assert "phase" in v.note
    zero = validate(m, "1d: conv3/s2, up2, conv3", aggregate="raw", output_unit=(0,))
    assert zero.tv == pytest.approx(_tv(g1, _unit_erf_by_hand(0)), abs=1e-12)


# -- 4: padding -------------------------------------------------------------------------------


def test_a_padded_field_beyond_the_map_points_to_the_finite_erf():
    from erftheory.finite import finite_erf

    f = finite_erf("conv3/p1*10", (9, 9))
    v = validate(f.values, "conv3/p1*10", aggregate="raw")
    assert "finite_erf" in v.note and "--input 9x9" in v.note
    unpadded = np.zeros((15, 15))
    unpadded[:, :] = _sq2d(10)[3:18, 3:18]
    assert "finite_erf" not in validate(unpadded, "conv3*10", aggregate="none").note


# -- 8, 7: noise and the verdict --------------------------------------------------------------


def _stack(images, depth, size, rng):
    var = _sq2d(depth)
    r = var.shape[0]
    out = np.zeros((images, size, size))
    lo = (size - r) // 2
    out[:, lo : lo + r, lo : lo + r] = rng.normal(size=(images, r, r)) * np.sqrt(var)
    return out


def test_a_raw_mean_of_zero_mean_gradients_is_flagged():
    stack = _stack(300, 4, 21, np.random.default_rng(5))
    v = validate(stack, "conv3*4", aggregate="raw")
    assert "indistinguishable from zero" in v.note and v.verdict == "undetermined"
    signal = stack + 5 * _stack(1, 4, 21, np.random.default_rng(6))[0] ** 2
    assert "indistinguishable" not in validate(signal, "conv3*4", aggregate="raw").note


def test_the_bootstrap_verdict():
    rng = np.random.default_rng(7)
    stack = _stack(400, 6, 25, rng)
    right = validate(stack, "conv3*6", aggregate="sq", unit=(12, 12))
    assert right.verdict == "consistent"
    assert all(lo < 1 < hi for lo, hi in right.std_ratio_interval)
    # the same map against a deeper (wider) theory: the measured map is narrower
    assert validate(stack, "conv3*10", aggregate="sq").verdict == "narrower"
    few = validate(stack[:5], "conv3*6", aggregate="sq")
    assert few.verdict == "undetermined" and few.std_ratio_interval is None
    d = right.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["verdict"] == "consistent" and d["images"] == 400 and d["channels"] == 0


# -- 11, 12: messages and reported positions --------------------------------------------------


def test_messages_name_what_is_wrong(tmp_path):
    m = np.zeros((64, 64))
    m[22:43, 22:43] = _sq2d(10)
    with pytest.raises(et.ERFError, match=r"unit \[32\] has 1 coordinate; the 2-D map .* needs 2"):
        validate(m, "conv3*10", aggregate="none", unit=(32,))
    with pytest.raises(et.ERFError) as err:
        validate(m, "conv3*10", aggregate="none", unit=(32, 33))
    share = m[:, 22].sum() / m.sum()  # the column left outside
    assert f"{100 * share:.2g}%" in str(err.value) and "0.00%" not in str(err.value)
    # a transposed anisotropic map: its support's extent against the field's
    wide = np.outer(_path_counts(np.ones(3), 4), _path_counts(np.ones(5), 4))  # 9 x 17
    t = np.zeros((40, 40))
    t[5:22, 5:14] = wide.T
    with pytest.raises(et.ERFError, match="17 x 9") as err:
        validate(t, "conv3x5*4", aggregate="none")
    assert "9 x 17" in str(err.value)


def test_positions_are_reported_in_input_coordinates():
    m = np.zeros((30, 40))
    m[4:13, 20:29] = _sq2d(4)
    d = validate(m, "conv3*4", aggregate="none", theory="random").to_dict()
    assert d["field_start"] == [4, 20] and d["window_start"] == [4, 20]
    assert d["field_centre"] == [8.0, 24.0]
    assert d["centre_of_mass"] == pytest.approx([8.0, 24.0], abs=1e-12)
    assert "input position [8.0, 24.0]" in d["alignment"]


def test_a_file_over_the_memory_budget_is_refused_before_loading(tmp_path):
    path = tmp_path / "s.npy"
    np.save(path, np.zeros((8, 64, 64), dtype=np.float32))
    with pytest.raises(et.ERFError, match="over the budget"):
        validate(str(path), "conv3*4", max_bytes=2**20)
