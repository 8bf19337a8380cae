"""ERF size measures against closed forms and an independent RepLKNet reference."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from erftheory.errors import ERFError
from erftheory.metrics import (
    all_metrics,
    area_ratio,
    area_ratio_rectangle,
    effective_area,
    luo_size,
    mass_region,
    std_radius,
    trf_fraction_in_sigma_region,
)

LUO_RADIUS = math.sqrt(2 * math.log(1 / 0.0455))  # 2.49 sigma, THEORY.md section 8


def gaussian_map(sigma_x: float, sigma_y: float, half: int) -> np.ndarray:
    x = np.arange(-half, half + 1, dtype=float)
    return np.outer(np.exp(-(x**2) / (2 * sigma_x**2)), np.exp(-(x**2) / (2 * sigma_y**2)))


def replknet_get_rectangle(data, thresh):
    """RepLKNet's erf/analyze_erf.py get_rectangle, transcribed (returns None at the border)."""
    h, w = data.shape
    all_sum = np.sum(data)
    for i in range(1, h // 2):
        selected = data[h // 2 - i : h // 2 + 1 + i, w // 2 - i : w // 2 + 1 + i]
        if np.sum(selected) / all_sum > thresh:
            return i * 2 + 1, (i * 2 + 1) / h * (i * 2 + 1) / w
    return None


# ------------------------------------------------------------------------------ std, Luo


def test_std_of_a_sampled_gaussian():
    r = std_radius(gaussian_map(6.0, 11.0, 80), k=3.0)
    assert r.std == pytest.approx((6.0, 11.0), rel=1e-6)
    assert r.radius == pytest.approx((18.0, 33.0), rel=1e-6)
    with pytest.raises(ERFError, match="k ="):
        std_radius(np.ones(3), k=0)


@pytest.mark.parametrize("sigma", [15.0, 30.0])
@pytest.mark.parametrize("relative_to", ["peak", "centre"])
def test_luo_size_is_a_disc_of_radius_2_49_sigma(sigma, relative_to):
    s = luo_size(gaussian_map(sigma, sigma, int(4 * sigma)), relative_to=relative_to)
    assert s.count == pytest.approx(math.pi * (LUO_RADIUS * sigma) ** 2, rel=0.01)
    assert s.radius / sigma == pytest.approx(LUO_RADIUS, abs=0.01)
    assert s.radius / sigma > 2.4  # not the 2 sigma that "95.45%" suggests


def test_luo_size_centre_of_even_maps_and_errors():
    s = luo_size([1.0, 2.0, 8.0, 1.0], fraction=0.2)  # centre 4 // 2 = 2, value 8: > 1.6
    assert (s.count, s.reference_index, s.reference_value) == (2, (2,), 8.0)
    assert luo_size([5.0, 1.0, 1.0, 0.5], fraction=0.5, relative_to="peak").count == 1
    with pytest.raises(ERFError, match="relative_to='peak'"):
        luo_size([1.0, 0.0, 1.0])
    with pytest.raises(ERFError, match="relative_to"):
        luo_size([1.0, 2.0, 1.0], relative_to="middle")


# ------------------------------------------------------------------------------ mass region


def test_mass_region_of_gaussians():
    x = np.arange(-100, 101)
    line = mass_region(np.exp(-(x**2) / (2 * 20.0**2)), 0.9545)
    assert line.count == pytest.approx(2 * 2 * 20.0, abs=2)  # the 2-sigma interval
    assert line.mass >= 0.9545
    disc = mass_region(gaussian_map(20.0, 20.0, 100), 0.9545)
    # a 2-d Gaussian holds 1 - exp(-r^2 / 2) inside radius r sigma
    assert disc.radius / 20.0 == pytest.approx(LUO_RADIUS, abs=0.02)
    assert mass_region(np.ones(10), 0.5).count == 5  # rounding must not add a pixel
    assert mass_region([1, 2, 4, 2, 1], 1.0).count == 5


# ------------------------------------------------------------------------------ area ratio


def test_area_ratio_of_a_centre_spike_is_the_smallest_square():
    spike = np.zeros((11, 11))
    spike[5, 5] = 7.0
    for t in (0.2, 0.3, 0.5, 0.99):
        for log_scale in (True, False):
            r = area_ratio(spike, t, log_scale=log_scale)
            assert (r.side, r.ratio, r.reached_border) == (3, 9 / 121, False)


def test_area_ratio_of_a_uniform_map():
    # (2i + 1)^2 / 121 > 0.5 first at side 9; > 0.3 at side 7 (49 > 36.3)
    flat = np.ones((11, 11))
    assert area_ratio(flat, 0.5).side == 9
    assert area_ratio(flat, 0.3, log_scale=False).side == 7
    assert area_ratio(flat, 0.5).ratio == pytest.approx(81 / 121)
    line = area_ratio(np.ones(11), 0.5)  # 1-d: a centred interval, 7 / 11 > 0.5
    assert line.side == 7 and line.ratio == pytest.approx(7 / 11)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(3, 15).flatmap(lambda n: arrays(float, (n, n), elements=st.floats(0, 1e3))),
    st.sampled_from([0.2, 0.3, 0.5, 0.99]),
)
def test_area_ratio_agrees_with_replknet(values, t):
    # square maps, as RepLKNet's script assumes (it slices past the edge of others), and not
    # all below 1e-16, where its log10(x + 1) rounds to 0 and it divides 0 by 0
    assume(values.max() > 1e-3)
    data = np.log10(values + 1)
    data = data / np.max(data)
    reference = replknet_get_rectangle(data, t)
    ours = area_ratio(values, t)
    n = values.shape[0]
    if reference is not None:
        assert ours.side == reference[0] and ours.ratio == pytest.approx(reference[1])
        assert not ours.reached_border
    elif n % 2:  # RepLKNet stops two pixels short of the border; the whole map holds 100%
        assert ours.side == n and not ours.reached_border
    else:  # an even map has no centred square of side n: the whole map, flagged
        assert ours.reached_border and ours.side == n and ours.ratio == 1.0


def test_area_ratio_depends_on_scale_only_with_the_log():
    g = gaussian_map(5.0, 5.0, 30)
    for t in (0.3, 0.5):
        assert area_ratio(g, t).side != area_ratio(1000 * g, t).side
        assert area_ratio(g, t, log_scale=False) == area_ratio(1000 * g, t, log_scale=False)
    assert area_ratio(1000 * g, 0.5).side > area_ratio(g, 0.5).side  # the log flattens


def test_area_ratio_at_the_border():
    corner = np.zeros((8, 8))  # centre 4: the largest centred square spans rows 1 to 7
    corner[0, 0] = 1.0
    r = area_ratio(corner, 0.5)
    assert r.reached_border and r.sides == (8, 8) and r.ratio == 1.0 and r.held == 1.0
    odd = np.zeros((9, 9))
    odd[0, 0] = 1.0
    r = area_ratio(odd, 0.5)  # the whole 9 x 9 square is centred and holds it all
    assert r.side == 9 and not r.reached_border
    full = area_ratio(np.ones((9, 9)), 1.0)  # "exceeds" 100% never happens
    assert full.reached_border and full.side == 9
    wide = area_ratio(odd[:, :5], 0.5)  # 9 x 5: the whole, non-square map
    assert wide.reached_border and wide.side is None and wide.sides == (9, 5)


@pytest.mark.parametrize("bad", [0, -0.1, 1.5, float("nan"), "0.5"])
def test_thresholds_outside_the_unit_interval(bad):
    with pytest.raises(ERFError, match="threshold"):
        area_ratio(np.ones((5, 5)), bad)
    with pytest.raises(ERFError, match="threshold"):
        area_ratio_rectangle(np.ones((5, 5)), bad)
    with pytest.raises(ERFError, match="fraction"):
        mass_region(np.ones(5), bad)
    with pytest.raises(ERFError, match="fraction"):
        luo_size(np.ones(5), bad)


def brute_force_rectangle(values: np.ndarray, t: float):
    """Every centred box with half-widths >= 1: the least area whose share exceeds t."""
    p = values / values.sum()
    (h, w), (ch, cw) = p.shape, (p.shape[0] // 2, p.shape[1] // 2)
    best = None
    for i in range(1, min(ch, h - 1 - ch) + 1):
        for j in range(1, min(cw, w - 1 - cw) + 1):
            share = p[ch - i : ch + i + 1, cw - j : cw + j + 1].sum()
            if share > t and (best is None or (2 * i + 1) * (2 * j + 1) < best):
                best = (2 * i + 1) * (2 * j + 1)
    return best


@settings(max_examples=100, deadline=None)
@given(
    st.tuples(st.integers(3, 13), st.integers(3, 13)).flatmap(
        lambda s: arrays(float, s, elements=st.floats(0, 10))
    ),
    st.sampled_from([0.2, 0.5, 0.9]),
)
def test_rectangle_is_the_smallest_box(values, t):
    if values.sum() == 0:
        values[0, 0] = 1.0
    p = values / values.sum()
    (h, w), (ch, cw) = p.shape, (p.shape[0] // 2, p.shape[1] // 2)
    shares = [
        p[ch - i : ch + i + 1, cw - j : cw + j + 1].sum()
        for i in range(min(ch, h - 1 - ch) + 1)
        for j in range(min(cw, w - 1 - cw) + 1)
    ]
    assume(all(abs(s - t) > 1e-9 for s in shares))  # a share equal to t is a round-off tie
    r = area_ratio_rectangle(values, t)
    best = brute_force_rectangle(values, t)
    if best is None:
        assert r.reached_border
    else:
        assert math.prod(r.sides) == best and r.held > t
        assert math.prod(r.sides) <= math.prod(area_ratio(values, t, log_scale=False).sides)


def test_rectangle_follows_an_anisotropic_map():
    g = gaussian_map(2.0, 8.0, 40)
    r = area_ratio_rectangle(g, 0.5)
    assert r.sides[0] < r.sides[1]
    assert r.ratio < area_ratio(g, 0.5, log_scale=False).ratio


# ---------------------------------------------------------------------- entropy, TRF share


def test_effective_area():
    assert effective_area(np.ones((7, 9))) == pytest.approx(63, rel=1e-12)
    assert effective_area(np.ones(5)) == pytest.approx(5, rel=1e-12)
    x = np.arange(-200, 201)
    gauss = np.exp(-(x**2) / (2 * 25.0**2))
    assert effective_area(gauss) == pytest.approx(math.sqrt(2 * math.pi * math.e) * 25.0, rel=1e-4)
    spike = np.zeros((5, 5))
    spike[2, 2] = 1
    assert effective_area(spike) == 1


def test_trf_fraction_in_sigma_region():
    # uniform on n pixels: 2 sigma = 2 sqrt((n^2 - 1) / 12) > n / 2, every pixel inside
    assert trf_fraction_in_sigma_region(np.ones(21)) == 1.0
    g = gaussian_map(10.0, 10.0, 100)
    expected = math.pi * 20.0**2 / 201**2
    assert trf_fraction_in_sigma_region(g) == pytest.approx(expected, rel=0.02)
    assert trf_fraction_in_sigma_region(g, k=1.0) == pytest.approx(expected / 4, rel=0.03)
    with pytest.raises(ERFError, match="positive definite"):
        trf_fraction_in_sigma_region(np.ones((1, 5)))


def test_all_metrics_is_plain_json():
    g = gaussian_map(3.0, 5.0, 30)
    data = all_metrics(g)
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text) == data
    assert data["std"] == pytest.approx([3.0, 5.0], rel=1e-3)
    assert data["area_ratio_thresholds"] == [0.2, 0.3, 0.5, 0.99]
    assert len(data["area_ratio_side"]) == len(data["area_ratio_raw"]) == 4
    assert data["luo_count"] == luo_size(g).count
    assert all_metrics(np.ones((1, 5)))["trf_fraction_2sigma"] is None


# ------------------------------------------------------------------- one prepared map for all


def brute_force_mass_count(values: np.ndarray, fraction: float) -> int:
    """Every pixel sorted, largest first, until their share reaches the fraction."""
    p = np.abs(values) / np.abs(values).sum()
    held = np.cumsum(np.sort(p, axis=None)[::-1])
    return min(int(np.count_nonzero(held < fraction * (1 - 1e-12))) + 1, p.size)


@pytest.mark.parametrize(
    "values",
    [
        gaussian_map(6.0, 9.0, 150),  # 90601 pixels, the mass in a few thousand
        np.random.default_rng(3).random((160, 170)),  # spread out: nearly every pixel needed
        np.random.default_rng(4).random(20000) ** 8,
    ],
)
@pytest.mark.parametrize("fraction", [0.3, 0.9545, 0.999])
def test_mass_region_against_a_full_sort(values, fraction):
    m = mass_region(values, fraction)
    assert m.count == brute_force_mass_count(values, fraction)
    p = np.sort(np.abs(values), axis=None)[::-1] / np.abs(values).sum()
    assert m.mass == pytest.approx(p[: m.count].sum(), rel=1e-9)


def brute_force_box_shares(values: np.ndarray) -> dict:
    """Share of the total in every centred box (half-widths per axis) that fits in the map."""
    p = np.abs(values) / np.abs(values).sum()
    centre = [n // 2 for n in p.shape]
    half = [min(c, n - 1 - c) for c, n in zip(centre, p.shape)]
    return {
        i: p[tuple(slice(c - h, c + h + 1) for c, h in zip(centre, i))].sum()
        for i in np.ndindex(*[h + 1 for h in half])
    }


@pytest.mark.parametrize("shape", [(11,), (8,), (7, 9, 5), (6, 5, 8), (7, 2, 5)])
@pytest.mark.parametrize("t", [0.2, 0.5, 0.9])
def test_boxes_in_one_and_three_dimensions_against_brute_force(shape, t):
    values = np.random.default_rng(sum(shape)).random(shape) ** 3
    shares = brute_force_box_shares(values)
    assert all(abs(s - t) > 1e-9 for s in shares.values())  # no tie up to rounding
    half = [max(axis) for axis in zip(*shares)]
    # half-widths >= 1 wherever the axis allows, and a share above t
    fits = {
        i: s for i, s in shares.items() if s > t and all(a >= min(1, h) for a, h in zip(i, half))
    }
    rectangle = area_ratio_rectangle(values, t)
    if fits:
        least = min(math.prod(2 * a + 1 for a in i) for i in fits)
        assert math.prod(rectangle.sides) == least and rectangle.held > t
    else:
        assert rectangle.reached_border
    squares = [i for i in fits if len(set(i)) == 1 and i[0] >= 1]
    square = area_ratio(values, t, log_scale=False)
    if squares:
        assert square.sides == tuple(2 * a + 1 for a in min(squares))
        assert square.held == pytest.approx(shares[min(squares)], rel=1e-12)
    else:
        assert square.reached_border and square.sides == shape


def test_all_metrics_of_a_prepared_map_by_formula():
    from erftheory.distribution import _prepare

    values = -gaussian_map(4.0, 7.0, 40) * (1 + 0.1 * np.random.default_rng(5).random((81, 81)))
    prepared = _prepare(values)
    assert not prepared.p.flags.writeable and not prepared.absolute.flags.writeable
    data = all_metrics(prepared)
    assert data == all_metrics(values)
    p = np.abs(values) / np.abs(values).sum()
    x, y = np.arange(81), np.arange(81)
    mean = [p.sum(axis=1) @ x, p.sum(axis=0) @ y]
    std = [
        math.sqrt(p.sum(axis=1) @ (x - mean[0]) ** 2),
        math.sqrt(p.sum(axis=0) @ (y - mean[1]) ** 2),
    ]
    assert data["mean"] == pytest.approx(mean, rel=1e-12)
    assert data["std"] == pytest.approx(std, rel=1e-12)
    assert data["effective_area"] == pytest.approx(math.exp(-np.sum(p * np.log(p))), rel=1e-12)
    centre = abs(values[40, 40])
    assert data["luo_count"] == np.count_nonzero(np.abs(values) > 0.0455 * centre)
    peak = np.abs(values).max()
    assert data["luo_peak_count"] == np.count_nonzero(np.abs(values) > 0.0455 * peak)
    assert data["mass_count"] == brute_force_mass_count(values, 0.9545)


@pytest.mark.parametrize(
    "options, words",
    [
        (dict(thresholds=("0.5",)), "not a number"),
        (dict(thresholds=5), "sequence of numbers"),
        (dict(luo_fraction=None), "not a number"),
        (dict(mass_fraction=True), "not a number"),
    ],
)
def test_options_of_the_wrong_type_are_refused_by_value(options, words):
    from erftheory.metrics import check_options

    with pytest.raises(ERFError, match=words):
        check_options(**options)


def test_a_complex_map_is_refused_not_cut_to_its_real_part():
    from erftheory.metrics import all_metrics

    with pytest.raises(ERFError, match="complex"):
        all_metrics(np.ones((5, 5)) * (1 + 1j))
