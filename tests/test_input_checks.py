"""Bad input to the training experiment, finite-image ERFs and CLT rates: clear ERFErrors.

Each call here used to crash with a raw exception (IndexError, ZeroDivisionError,
TypeError, MemoryError) or to answer silently for a different input (a bool depth taken
as 1, a size 5.5 taken as 5, a string taken as a shape). Expectations are written from the
definitions, not from the library's output.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import erftheory as et
from erftheory.errors import ERFError
from erftheory.finite import border_maps, finite_erf
from erftheory.rates import berry_esseen_bound, clt_rates
from erftheory.training import train_erf_growth

# ------------------------------------------------------------------------------ training


@pytest.mark.parametrize(
    ("setting", "name"),
    [
        ({"steps": 0}, "steps"),
        ({"steps": -3}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"steps": True}, "steps"),
        ({"kernel": 0}, "kernel"),
        ({"kernel": 3.0}, "kernel"),
        ({"layers": 0}, "layers"),
        ({"layers": "6"}, "layers"),
        ({"batch": 0}, "batch"),
        ({"image": 0}, "image"),
        ({"image": 48.0}, "image"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"dims": True}, "dims"),
        ({"dims": 1.0}, "dims"),
        ({"lr": 0}, "lr"),
        ({"lr": -0.01}, "lr"),
        ({"lr": math.nan}, "lr"),
        ({"lr": math.inf}, "lr"),
        ({"lr": True}, "lr"),
        ({"lr": "0.01"}, "lr"),
        ({"batch": 10**6, "image": 10**4, "dims": 2}, "batch"),
    ],
)
def test_training_settings_are_refused_by_name(setting, name):
    with pytest.raises(ERFError, match=name):
        train_erf_growth(**{"steps": 2, **setting})


def test_one_tap_kernel_reports_an_undefined_growth():
    # a 1-tap kernel: every ERF is one pixel, std 0 before and after; 0 / 0 is undefined
    r = train_erf_growth(kernel=1, layers=3, steps=5, image=8)
    assert r.std_before == (0.0,) and r.std_after == (0.0,)
    assert math.isnan(r.growth[0])
    assert r.notes and "kernel=1" in r.notes[0]
    d = r.to_dict()
    assert d["growth"] == [None]
    json.dumps(d, allow_nan=False)


def test_one_step_is_enough_for_a_summary():
    d = train_erf_growth(steps=1).to_dict()
    assert d["loss_first"] == d["loss_last"] and d["notes"] == []


def test_diverging_training_is_an_error():
    with pytest.raises(ERFError, match=r"diverged.*lr=1000000000\.0"):
        train_erf_growth(steps=20, lr=1e9)


def test_a_converging_run_is_not_flagged():
    r = train_erf_growth(layers=4, steps=150, seed=1)
    assert r.losses[-1] < r.losses[0] and r.notes == ()
    assert all(g > 0 for g in r.growth)


# -------------------------------------------------------------------------------- finite


def test_an_int_is_a_1d_shape():
    # zero padding 1, three ones: a border unit sees 2 pixels, an inner one 3
    assert border_maps("1d: conv3/p1", 5).mass.tolist() == [2.0, 3.0, 3.0, 3.0, 2.0]
    assert finite_erf("1d: conv3/p1", 5, unit=0).values.tolist() == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert finite_erf("1d: conv3/p1", np.array([5])).mass == 3.0


@pytest.mark.parametrize(
    ("arch", "shape", "match"),
    [
        ("conv3/p1", 5, "one integer but the network is 2-d"),
        ("1d: conv3/p1", "5", "'5'"),
        ("conv3/p1", "55", "'55'"),
        ("1d: conv3/p1", (5.5,), "5.5"),
        ("1d: conv3/p1", (5.0,), "5.0"),
        ("1d: conv3/p1", np.array([5.5]), "5.5"),
        ("1d: conv3/p1", (True,), "True"),
        ("1d: conv3/p1", None, "None"),
        ("1d: conv3/p1", (0,), "not a positive integer"),
        ("1d: conv3/p1", (5, 5), "needs 1 positive size"),
        ("conv3/p1", (10**6, 10**6), "GiB"),
    ],
)
def test_bad_shapes_are_refused_by_name(arch, shape, match):
    with pytest.raises(ERFError, match=match):
        finite_erf(arch, shape)
    with pytest.raises(ERFError, match=match):
        border_maps(arch, shape)


@pytest.mark.parametrize("unit", [(0.5,), "0", (True,), (-1,), 1.5])
def test_bad_units_are_refused_not_truncated(unit):
    with pytest.raises(ERFError, match="unit"):
        finite_erf("1d: conv3/p1", (5,), unit=unit)


# --------------------------------------------------------------------------------- rates


@pytest.mark.parametrize("n", [True, False, 2.0, 2.5, math.nan, math.inf, "3", None, 0, -1])
def test_bad_depths_are_refused(n):
    with pytest.raises(ERFError, match="depth"):
        clt_rates([1, 1, 1], n)
    with pytest.raises(ERFError, match="depth"):
        berry_esseen_bound([1, 1, 1], n)


@pytest.mark.parametrize(
    "kernel",
    [
        [],
        [1, -1, 1],
        [1, math.nan, 1],
        [1, math.inf],
        "abc",
        "111",
        [True, True],
        [[1, 1], [1]],
        [1 + 1j, 1],
        [1, None],
        None,
        3,
        [[1, 1], [1, 1]],
    ],
)
def test_bad_kernels_are_refused(kernel):
    with pytest.raises(ERFError, match="kernel"):
        clt_rates(kernel, 3)
    with pytest.raises(ERFError, match="kernel"):
        berry_esseen_bound(kernel, 3)


@pytest.mark.parametrize("constant", [0, -1, math.nan, math.inf, True, "0.47"])
def test_bad_berry_esseen_constants_are_refused(constant):
    with pytest.raises(ERFError, match="constant"):
        berry_esseen_bound([1, 1], 4, constant)


def test_numpy_integers_and_extreme_scales_are_fine():
    # uniform on {0, 1}: sigma^2 = 1/4, rho = 1/8, so the bound is C (1/8) / ((1/8) sqrt n)
    expected = 0.4748 / math.sqrt(4)
    assert berry_esseen_bound([1, 1], np.int64(4)) == pytest.approx(expected, rel=1e-12)
    assert berry_esseen_bound([1e308, 1e308], 4) == pytest.approx(expected, rel=1e-12)
    assert berry_esseen_bound([5e-324, 5e-324], 4) == pytest.approx(expected, rel=1e-12)
    assert berry_esseen_bound([1, 1], 10**400) == pytest.approx(0.4748e-200, rel=1e-9)
    assert clt_rates([1, 1], np.int64(1)).n == 1


def test_a_depth_too_deep_for_the_exact_law_is_refused():
    with pytest.raises(ERFError, match="berry_esseen_bound"):
        clt_rates([1, 1, 1], 10**9)


@pytest.mark.parametrize("unit", [(1.5,), ("a",), (True,), (0, 0), 2**41, (-(2**41),)])
def test_a_malformed_or_huge_unit_is_refused_by_value(unit):
    with pytest.raises(et.ERFError, match="unit="):
        et.erf("1d: convtranspose3/s2", unit=unit)


@pytest.mark.parametrize("spec", ["1d: convtranspose3/s2", "1d: up3/bilinear, conv3"])
def test_the_erf_of_a_far_unit_is_that_of_its_phase(spec):
    # the ERF depends on the unit's phase alone: 2^40 and 2^40 - 1 are phases 4 and 3 mod 6
    # strides 2 and 3 (a float ceil once lost the phase past 2^53); a bare int is a 1-D unit
    for far, near in [(2**40, 2**40 % 6), (2**40 - 1, (2**40 - 1) % 6)]:
        np.testing.assert_array_equal(
            et.erf(spec, unit=(far,)).values, et.erf(spec, unit=near).values
        )


def test_api_entry_points_refuse_bad_input_with_one_error_and_take_any_architecture():
    # Network(None) and from_compact(None) raised TypeError, to_compact("conv3") and
    # to_dict("conv3") AttributeError (a review); validate("") named the file '.'
    with pytest.raises(et.ERFError, match="layers=None is not a sequence of layers"):
        et.Network(None, dims=2)
    with pytest.raises(et.ERFError, match="is a string such as 'conv3\\*10', not None"):
        et.from_compact(None)
    assert et.to_compact("conv3*2") == et.to_compact(et.as_network("conv3*2")) == "2d: conv3*2"
    assert et.to_dict("1d: conv3") == et.to_dict(et.from_compact("1d: conv3"))
    with pytest.raises(et.ERFError, match="an empty file name"):
        et.validate("", "conv3")
