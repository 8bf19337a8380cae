"""The command line: outputs, files, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import erftheory as et
from erftheory.cli import main


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_rf_json(capsys):
    status, out, _ = run(capsys, "rf", "conv7/s2/p3, maxpool3/s2/p1, conv3*4", "--json")
    data = json.loads(out)
    assert status == 0
    # 1 + 6 + 2*2 + 4*2*4 (k-1) d J by hand
    assert data["receptive_field"] == [1 + 6 + 4 + 32] * 2
    assert data["effective_stride"] == [4, 4]
    assert len(data["layers"]) == 3


@pytest.mark.parametrize("fmt, marker", [("markdown", "|---|"), ("csv", "index,layer")])
def test_rf_formats(capsys, fmt, marker):
    status, out, _ = run(capsys, "rf", "conv3*2, maxpool2", "--format", fmt)
    assert status == 0 and marker in out


def test_erf_json_save_and_plot(capsys, tmp_path):
    npy, csv, png = tmp_path / "e.npy", tmp_path / "e.csv", tmp_path / "e.png"
    status, out, _ = run(
        capsys, "erf", "conv3*10", "--json", "--save", str(npy), "--plot", str(png)
    )
    assert status == 0
    data = json.loads(out)
    assert data["receptive_field"] == [21, 21]
    assert data["std"] == pytest.approx([np.sqrt(10 * 8 / 12)] * 2, rel=1e-12)
    saved = np.load(npy)
    assert saved.dtype == np.float64 and saved.shape == (21, 21)
    assert png.stat().st_size > 1000
    assert run(capsys, "erf", "1d: conv3*3", "--save", str(csv))[0] == 0
    assert np.loadtxt(csv, delimiter=",").tolist() == [1, 3, 6, 7, 6, 3, 1]


def test_erf_normalize_and_exact(capsys):
    status, out, _ = run(capsys, "erf", "conv3*800", "--normalize", "sum", "--json")
    data = json.loads(out)
    assert status == 0 and data["log10_mass"] == pytest.approx(1600 * np.log10(3))
    status, out, _ = run(capsys, "erf", "1d: conv3*3", "--exact")
    assert status == 0 and "[1 3 6 7 6 3 1]" in out


def test_json_file_argument(capsys, tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"dims": 1, "layers": [{"type": "conv", "kernel": 3, "repeat": 2}]}))
    status, out, _ = run(capsys, "erf", str(path), "--json")
    assert status == 0 and json.loads(out)["receptive_field"] == [5]


@pytest.mark.parametrize(
    "argv",
    [
        ["erf", "conv3*1000"],  # overflow without --normalize
        ["erf", "conb3"],
        ["erf", "conv0"],
        ["erf", "conv3*5000", "--normalize", "sum"],  # memory budget
        ["erf", "conv3*30", "--max-memory", "1kB"],
        ["erf", "conv3", "--weights", "uniform"],
        ["erf", "conv3", "--save", "out.txt"],
        ["erf", "conv3", "--max-memory", "lots"],
        ["rf", "missing-file.json"],
        ["rf", "res(conv3/s2)"],
        ["rf"],
        ["frobnicate"],
    ],
)
def test_bad_input_exit_2_one_line(capsys, argv):
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert err.startswith("erftheory: error:") and err.count("\n") == 1
    assert "Traceback" not in err


def test_memory_flag_raises_budget(capsys):
    assert run(capsys, "erf", "conv3*30", "--max-memory", "1kB")[0] == 2
    assert run(capsys, "erf", "conv3*30", "--max-memory", "1GB")[0] == 0


def test_module_entry_point_and_help():
    done = subprocess.run(
        [sys.executable, "-m", "erftheory", "--help"], capture_output=True, text=True, check=True
    )
    assert "compact string" in done.stdout and "res(" in done.stdout
    done = subprocess.run(
        [sys.executable, "-m", "erftheory", "erf", "{"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_import_is_light():
    heavy = "('sympy', 'matplotlib', 'scipy.signal', 'scipy.stats')"
    code = f"import sys, erftheory; print(any(m in sys.modules for m in {heavy}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_cli_matches_api(capsys):
    status, out, _ = run(capsys, "erf", "conv3/s2, conv5/d2", "--weights", "random", "--json")
    api = et.erf("conv3/s2, conv5/d2", weights="random")
    assert json.loads(out)["std"] == pytest.approx(list(api.std))


def test_erf_json_has_the_gaussian_side(capsys):
    assert main(["erf", "conv3x5*6", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    for key in ("mean", "std", "covariance", "predicted_std", "gaussian", "metrics"):
        assert key in data
    # the kernels alone predict the std of the composed ERF: n (k^2 - 1) / 12 per axis
    assert data["predicted_std"] == pytest.approx([np.sqrt(6 * 8 / 12), np.sqrt(6 * 24 / 12)])
    assert data["predicted_std"] == pytest.approx(data["std"], rel=1e-12)
    assert data["covariance"][0][1] == pytest.approx(0.0, abs=1e-12)
    assert 0 < data["gaussian"]["tv_gaussian"] < 0.05
    assert data["metrics"]["area_ratio_thresholds"] == [0.2, 0.3, 0.5, 0.99]


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--thresholds", "0.5,1.5"),
        ("--thresholds", "0"),
        ("--luo-fraction", "-1"),
        ("--mass-fraction", "2"),
    ],
)
def test_metric_options_outside_the_unit_interval(capsys, flag, value):
    assert main(["erf", "conv3*3", flag, value]) == 2
    assert "outside (0, 1]" in capsys.readouterr().err
