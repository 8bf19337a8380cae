"""Inputs `validate` must refuse, accept, or report on: from a review of `erftheory validate`."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import erftheory as et
from erftheory.cli import main
from erftheory.empirical import aggregate, load_map
from erftheory.validate import validate


def _run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _one_line_error(capsys, *argv) -> str:
    status, _, err = _run(capsys, *argv)
    assert status == 2, err
    assert err.startswith("erftheory: error:") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def _blob(n: int = 41, r: int = 21, sigma2: float = 9.0) -> np.ndarray:
    """A Gaussian blob of side ``r`` centred in an ``n x n`` map of zeros."""
    x = np.arange(r) - (r - 1) / 2
    blob = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma2))
    m = np.zeros((n, n))
    lo = (n - r) // 2
    m[lo : lo + r, lo : lo + r] = blob
    return m


def _tv_and_correlation(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Total variation and Pearson's r of ``|a|`` and ``|b|`` at sum 1, written out here."""
    p, q = np.abs(a) / np.abs(a).sum(), np.abs(b) / np.abs(b).sum()
    return 0.5 * float(np.abs(p - q).sum()), float(np.corrcoef(p.ravel(), q.ravel())[0, 1])


def _std(p: np.ndarray) -> list[float]:
    """Per-axis std of ``p`` taken as a distribution over indices."""
    p = p / p.sum()
    out = []
    for axis in range(p.ndim):
        marginal = p.sum(axis=tuple(a for a in range(p.ndim) if a != axis))
        x = np.arange(marginal.size)
        mean = marginal @ x
        out.append(float(np.sqrt(marginal @ (x - mean) ** 2)))
    return out


# 1. a .npy of strings ------------------------------------------------------------------


def test_a_string_npy_is_refused_in_one_line_naming_its_dtype(tmp_path, capsys):
    path = tmp_path / "s.npy"
    np.save(path, np.array([["a", "b"], ["c", "d"]]))
    err = _one_line_error(capsys, "validate", str(path), "--arch", "conv3*10")
    assert "strings" in err and "<U1" in err and "float" in err
    with pytest.raises(et.ERFError, match="strings"):
        load_map(path)
    with pytest.raises(et.ERFError, match=r"bytes \(dtype \|S1\)"):
        validate(np.array([[b"a", b"b"]]), "conv3")
    with pytest.raises(et.ERFError, match="Python objects"):
        aggregate(np.array([[1.0, None]], dtype=object), dims=2)


# 2. a nested list through the API ------------------------------------------------------


def test_a_nested_list_is_a_map():
    field = et.erf("conv3*2", weights="random").values  # 5 x 5
    listed = validate(field.tolist(), "conv3*2", aggregate="none", theory="random")
    assert listed.tv == pytest.approx(0.0, abs=1e-12)
    assert listed.empirical_std == pytest.approx(_std(field), rel=1e-12)
    # integers are numbers too: a 3 x 3 box against conv3's flat field
    box = validate([[1, 1, 1], [1, 1, 1], [1, 1, 1]], "conv3", aggregate="none")
    assert box.tv == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(et.ERFError, match="not a rectangular array"):
        validate([[1.0, 2.0], [3.0]], "conv3")


# 3. a complex .npy --------------------------------------------------------------------


def test_a_complex_map_is_refused_not_truncated(tmp_path, capsys):
    m = _blob()
    path = tmp_path / "c.npy"
    np.save(path, m + 1j * m)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's ComplexWarning would be an error here
        err = _one_line_error(capsys, "validate", str(path), "--arch", "conv3*10")
        assert "complex" in err and "real" in err
        with pytest.raises(et.ERFError, match="complex"):
            validate(m + 0j, "conv3*10", aggregate="none")


# 4. a colour PNG ----------------------------------------------------------------------


def test_a_colour_png_is_refused_and_a_grey_rgba_png_is_read(tmp_path, capsys):
    import matplotlib.image

    m = _blob()
    colour, grey = tmp_path / "viridis.png", tmp_path / "grey.png"
    matplotlib.image.imsave(colour, m, cmap="viridis")
    matplotlib.image.imsave(grey, m, cmap="gray", vmin=0, vmax=1)  # RGBA, R = G = B
    err = _one_line_error(capsys, "validate", str(colour), "--arch", "conv3*10")
    assert "colour PNG" in err and "grey" in err and ".npy" in err
    read = load_map(grey)
    assert read.shape == m.shape
    np.testing.assert_allclose(read, m, atol=1 / 255)  # a 256-level colormap, 8-bit PNG
    status, out, _ = _run(capsys, "validate", str(grey), "--arch", "conv3*10", "--json")
    assert status == 0 and json.loads(out)["receptive_field"] == [21, 21]


# 5. negative maps ---------------------------------------------------------------------


def test_an_all_negative_map_is_compared_as_its_magnitude_and_says_so(tmp_path, capsys):
    m = _blob()
    v = validate(-m, "conv3*10", aggregate="none", theory="ones")
    theory = et.erf("conv3*10", weights="ones").values
    tv, r = _tv_and_correlation(m[10:31, 10:31], theory)
    assert v.tv == pytest.approx(tv, rel=1e-12) and v.correlation == pytest.approx(r, rel=1e-12)
    assert "negative" in v.note and "|map| = -map" in v.note
    assert "|map| = -map" in str(v) and "|map| = -map" in v.to_dict()["note"]
    path = tmp_path / "neg.npy"
    np.save(path, -m)
    argv = ["validate", str(path), "--arch", "conv3*10", "--aggregate", "none"]
    status, out, _ = _run(capsys, *argv, "--theory", "ones", "--json")
    assert status == 0 and any("negative" in n for n in json.loads(out)["notes"])
    # a positive map carries no such note
    assert validate(m, "conv3*10", aggregate="none", theory="ones").notes == ()


def test_a_signed_map_reports_its_negative_share():
    m = np.zeros((21, 21))
    m[5:16, 5:16] = 1.0
    m[5:16, 5:8] = -1.0  # 33 of 121 pixels, all of weight 1: 27.3% of the mass
    v = validate(m, "conv3*10", aggregate="raw")
    assert f"{33 / 121:.1%} of its mass is negative" in v.note
    assert "|map|" in v.note


def test_a_signed_theory_reports_its_negative_share():
    from scipy.signal import convolve2d

    kernel = np.array([[1.0, -2.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    field = convolve2d(np.ones((3, 3)), kernel)  # E[g] of the two layers, all-ones weights
    share = -field[field < 0].sum() / np.abs(field).sum()
    arch = "conv3/w[[1,-2,1],[1,1,1],[1,1,1]], conv3"
    v = validate(np.abs(field), arch, aggregate="none", theory="ones")
    assert f"{share:.1%} of its mass is negative" in v.note and "theory" in v.note


def test_the_log_step_refuses_a_negative_map():
    m = _blob(n=21)
    with pytest.raises(et.ERFError, match="values down to -100"):
        validate(-100 * m, "conv3*10", aggregate="none", log_scale=True)


# 6. a map smaller than the receptive field ----------------------------------------------


def test_a_crop_is_compared_over_the_part_it_covers():
    theory = et.erf("conv3*10", weights="random").values  # 21 x 21
    crop = theory[8:13, 8:13]
    v = validate(crop, "conv3*10", aggregate="none", theory="random")
    # the theory cut to the same 5 x 5 window is the crop itself: nothing differs
    assert v.tv == pytest.approx(0.0, abs=1e-12)
    assert v.correlation == pytest.approx(1.0, abs=1e-12)
    assert v.empirical_std == pytest.approx(_std(crop), rel=1e-12)
    assert v.theoretical_std == pytest.approx(_std(crop), rel=1e-12)
    held = crop.sum() / theory.sum()
    assert "5 x 5" in v.note and "21 x 21" in v.note and f"{held:.1%}" in v.note
    assert "21 x 21" in str(v) and "note" in str(v)
    data = v.to_dict()
    assert data["receptive_field"] == [21, 21] and data["compared_shape"] == [5, 5]
    assert "21 x 21" in data["note"]


def test_a_field_cut_by_the_map_edge_is_compared_over_what_the_map_holds():
    theory = et.erf("conv3*10", weights="random").values
    m = np.zeros((30, 30))
    m[0:14, 5:26] = theory[7:21, :]  # the field's top 7 rows lie above the map
    v = validate(m, "conv3*10", aggregate="none", theory="random", unit=(3, 15))
    assert v.tv == pytest.approx(0.0, abs=1e-12)
    assert v.empirical_std == pytest.approx(_std(theory[7:21, :]), rel=1e-12)
    assert "covers only 14 x 21 of the 21 x 21" in v.note
    # a whole field inside the map: no note, the full field compared
    whole = validate(theory, "conv3*10", aggregate="none", theory="random")
    assert whole.notes == () and whole.to_dict()["compared_shape"] == [21, 21]


def test_a_crop_through_the_cli_says_both_sizes(tmp_path, capsys):
    path = tmp_path / "crop.npy"
    np.save(path, _blob()[18:23, 18:23])
    argv = ["validate", str(path), "--arch", "conv3*10", "--aggregate", "none"]
    status, out, _ = _run(capsys, *argv)
    assert status == 0 and "5 x 5" in out and "21 x 21" in out
    status, out, _ = _run(capsys, *argv, "--json")
    data = json.loads(out)
    assert status == 0 and "5 x 5" in data["note"] and "21 x 21" in data["note"]


@pytest.mark.parametrize("unit", [(np.nan, 7), (np.inf, 4), ("a", 4)])
def test_a_unit_that_is_no_finite_position_is_refused(unit):
    m = et.erf("conv3*4", weights="random").values
    with pytest.raises(et.ERFError, match="not a position inside the map"):
        et.validate(m, "conv3*4", unit=unit)


def test_a_one_pixel_map_has_no_correlation():
    # Pearson's r of one point is undefined, as for any constant map; it used to read 1
    v = validate(np.ones((1, 1)), "conv3*4", aggregate="none")
    assert np.isnan(v.correlation) and v.tv == 0
    assert json.loads(json.dumps(v.to_dict()))["correlation"] is None


def test_an_output_unit_that_cannot_matter_is_noted():
    # no upsampling, transposed or locally connected layer: every unit has the same ERF, so
    # output_unit=(99, 99) changed nothing and used to be accepted without a word
    m = np.zeros((15, 15))
    m[4:11, 4:11] = et.erf("conv3*3", weights="random").values
    plain = validate(m, "conv3*3", aggregate="none", theory="random")
    given = validate(m, "conv3*3", aggregate="none", theory="random", output_unit=(99, 99))
    assert given.tv == plain.tv
    assert any("output unit [99, 99] changes nothing" in n for n in given.notes)
    assert not any("changes nothing" in n for n in plain.notes)
