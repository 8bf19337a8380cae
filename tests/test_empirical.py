"""Loading, aggregating and aligning empirical ERF maps."""

from __future__ import annotations

import numpy as np
import pytest

import erftheory as et
from erftheory.empirical import aggregate, align, load_map


def test_formats_round_trip(tmp_path):
    m = np.arange(12.0).reshape(3, 4)
    np.save(tmp_path / "a.npy", m)
    np.savez(tmp_path / "b.npz", grad=m)
    np.savez(tmp_path / "c.npz", one=m, two=m)
    np.savetxt(tmp_path / "d.csv", m, delimiter=",")
    import matplotlib.image

    matplotlib.image.imsave(tmp_path / "e.png", m / 11.0, cmap="gray", vmin=0, vmax=1)
    assert np.array_equal(load_map(tmp_path / "a.npy"), m)
    assert np.array_equal(load_map(tmp_path / "b.npz"), m)
    assert np.array_equal(load_map(tmp_path / "c.npz", key="two"), m)
    assert np.array_equal(load_map(tmp_path / "d.csv"), m)
    grey = load_map(tmp_path / "e.png")
    np.testing.assert_allclose(grey, m / 11.0, atol=1 / 255)
    with pytest.raises(et.ERFError, match="name one with --key"):
        load_map(tmp_path / "c.npz")
    with pytest.raises(et.ERFError, match="unknown map format"):
        load_map(tmp_path / "x.txt")
    with pytest.raises(et.ERFError, match="cannot read"):
        load_map(tmp_path / "missing.npy")
    (tmp_path / "bad.npy").write_text("not numpy")
    with pytest.raises(et.ERFError, match="cannot read"):
        load_map(tmp_path / "bad.npy")
    np.save(tmp_path / "nan.npy", np.array([1.0, np.nan]))
    with pytest.raises(et.ERFError, match="NaN"):
        load_map(tmp_path / "nan.npy")


def test_aggregation_protocols():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(5, 3, 4, 4))  # images, channels, H, W
    m, text = aggregate(g, dims=2, method="sq")
    np.testing.assert_allclose(m, (g**2).sum(axis=1).mean(axis=0))
    assert "g^2" in text
    m, _ = aggregate(g, dims=2, method="relu", log_scale=True)
    np.testing.assert_allclose(m, np.log10(np.maximum(g, 0).sum(axis=1).mean(axis=0) + 1))
    m, _ = aggregate(g[0, 0], dims=2, method="raw")
    np.testing.assert_array_equal(m, g[0, 0])
    with pytest.raises(et.ERFError, match="does not fit a 3-D"):
        aggregate(g[0, 0], dims=3)
    with pytest.raises(et.ERFError, match="aggregate="):
        aggregate(g, dims=2, method="max")


def test_alignment_by_centre_of_mass_and_declared_unit():
    erf = et.erf("conv3*3").values
    big = np.zeros((31, 31))
    big[10:17, 4:11] = erf  # the field's centre sits at (13, 7)
    a = align(big, erf.shape)
    np.testing.assert_array_equal(a.values, erf)
    assert a.centre == pytest.approx((3.0, 3.0))
    b = align(big, erf.shape, unit=(13, 7))
    np.testing.assert_array_equal(b.values, erf)
    with pytest.raises(et.ERFError, match="outside the receptive field"):
        align(big, erf.shape, unit=(14, 7))
    with pytest.raises(et.ERFError, match="all zero"):
        align(np.zeros((5, 5)), (3, 3))
    with pytest.raises(et.ERFError, match="not a position inside"):
        align(big, erf.shape, unit=(40, 7))


def test_a_skewed_map_is_cut_where_it_lies_whole():
    # a map heavier on one side: its centre of mass rounds the window one pixel off, which
    # left 0.5% of the mass outside; the window holding the whole support is the one taken
    from erftheory.empirical import align

    m = np.outer(np.linspace(0.2, 3, 9), np.ones(9)) * np.outer(
        np.hanning(11)[1:-1], np.hanning(11)[1:-1]
    )
    big = np.zeros((21, 21))
    big[5:14, 7:16] = m
    for values, starts in [(m, (0, 0)), (big, (5, 7))]:
        aligned = align(values, (9, 9))
        assert aligned.start == starts and aligned.mass_outside < 1e-15  # (rounding)
        np.testing.assert_array_equal(aligned.values, m)
    with pytest.raises(et.ERFError, match="outside the receptive field"):
        align(big, (7, 7))  # no window of 7 holds a support of 9
