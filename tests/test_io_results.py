"""Results to CSV and JSON and back (mfjax.io.results): exact round trips, units in the column names,
settings recorded, NaN for residues that were not fitted, readable by pandas."""
import json

import numpy as np
import pytest

import mfjax
from mfjax.diffusion import Sphere
from mfjax.fit import FitResult, fit
from mfjax.io import read_results_csv, read_results_json, write_results_csv, write_results_json
from mfjax.io._files import parse_label
from mfjax.io.results import column
from mfjax.status import Status

TRICKY = np.array([0.1 + 0.2, 0.9699999999999994, np.nan, 1e-300])


def _handmade():
    return FitResult(model="m4", residues=("1 GLY", "2 ALA", "7", "A12 x"),
                     params={"s2": TRICKY, "te": TRICKY * 2048.000000000045e-12, "rex": np.array([0.0, 0.149, np.nan, 5.0])},
                     chi2=np.array([1.5e-25, 3.0, np.nan, 0.1]), iterations=np.array([3, 40, 0, 7]),
                     f_count=np.array([4, 50, 0, 8]), g_count=np.array([4, 41, 0, 8]), h_count=np.array([3, 40, 0, 7]),
                     status=np.array([Status.CONVERGED, Status.MAX_ITERATIONS, Status.SKIPPED_NO_DATA, Status.CONVERGED],
                                     dtype=np.int32),
                     grid_count=np.array([1331, 1331, 0, 1331]), n_points=np.array([6, 6, 0, 3]),
                     settings={"diffusion": Sphere(tm=10e-9), "r": 1.02 * 1e-10, "csa": -160 * 1e-6,
                               "grid_bounds": {"te": (0.0, 1e-8)}, "func_tol": 1e-25, "grad_tol": None})


def _assert_same(read, result, errors=None):
    got = read.result
    assert got.model == result.model and got.residues == result.residues
    assert list(got.params) == list(result.params)
    for name in result.params:
        np.testing.assert_array_equal(got.params[name], result.params[name])    # bit for bit, NaN where NaN
    np.testing.assert_array_equal(got.chi2, result.chi2)
    for name in ("iterations", "f_count", "g_count", "h_count", "grid_count", "n_points", "status"):
        np.testing.assert_array_equal(getattr(got, name), getattr(result, name))
    assert got.status_names == result.status_names
    for name, values in (errors or {}).items():
        np.testing.assert_array_equal(read.errors[name], values)
    assert got.settings["diffusion"] == result.settings["diffusion"]
    assert got.settings["r"] == result.settings["r"] and got.settings["csa"] == result.settings["csa"]
    assert got.settings["versions"]["numpy"] == np.__version__
    assert got.settings["versions"]["mfjax"] == mfjax.__version__


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_round_trip_is_exact(tmp_path, fmt):
    result = _handmade()
    errors = {"s2": np.array([0.01, 1 / 3, np.nan, 0.02]), "te": np.array([1e-12, 2e-12, np.nan, 3e-12])}
    path = tmp_path / f"results.{fmt}"
    write = write_results_csv if fmt == "csv" else write_results_json
    read = read_results_csv if fmt == "csv" else read_results_json
    write(path, result, errors=errors, settings={"command": "mfjax fit"})
    back = read(path)
    _assert_same(back, result, errors)
    assert back.models == ["m4"] * 4 and back.result.settings["command"] == "mfjax fit"
    assert not list(tmp_path.glob("*.tmp-*"))


def test_csv_columns_units_and_pandas(tmp_path):
    pd = pytest.importorskip("pandas")
    path = tmp_path / "results.csv"
    write_results_csv(path, _handmade(), errors={"rex": np.array([0.1, 0.2, np.nan, 0.3])},
                      models=["m4", "m2", "m4", "m1"])
    text = path.read_text()
    assert f'# csa: {-160 * 1e-6!r}' in text and '# diffusion: {"type": "Sphere", "tm": 1e-08}' in text
    frame = pd.read_csv(path, comment="#")
    assert list(frame.columns[:6]) == ["res_num", "res_name", "model", "s2", "te_s", "rex_s-1"]
    assert "rex_err_s-1" in frame.columns and "chi2" in frame.columns
    assert frame["res_num"].tolist()[:3] == [1, 2, 7] and np.isnan(frame["res_num"][3])
    assert frame["res_name"].tolist()[:2] == ["GLY", "ALA"] and frame["model"].tolist() == ["m4", "m2", "m4", "m1"]
    np.testing.assert_array_equal(frame["s2"].to_numpy(), TRICKY)
    assert np.isnan(frame["chi2"][2]) and frame["status"][2] == "SKIPPED_NO_DATA"
    back = read_results_csv(path)
    assert back.models == ["m4", "m2", "m4", "m1"] and back.result.model == "m4"


def test_names_and_labels():
    assert column("te") == "te_s" and column("rex") == "rex_s-1" and column("s2") == "s2"
    assert column("local_tm", error=True) == "local_tm_err_s"
    assert parse_label("2 ALA") == (2, "ALA") and parse_label("7") == (7, "") and parse_label("02 X") == (None, "02 X")


def test_real_fit_round_trips_with_its_settings(tmp_path):
    exp = mfjax.Experiment(["R1", "R2", "NOE"] * 2, [600.0] * 3 + [500.0] * 3)
    truth = {"s2": np.array([0.85, 0.6, 0.7])}
    values = mfjax.back_calc(exp, "m1", truth, diffusion=Sphere(10e-9), csa=-160e-6)
    mask = np.ones(values.shape, bool)
    mask[2, 2:] = False                                            # 2 points: not fitted
    data = mfjax.RelaxationData(exp, values, values * 0.02, mask, ["3 LYS", "4 GLU", "5 ASP"])
    result = fit(data, "m1", diffusion=Sphere(10e-9), csa=-160e-6)
    np.testing.assert_allclose(result.params["s2"][:2], truth["s2"][:2], rtol=1e-8)
    write_results_json(tmp_path / "r.json", result)
    back = read_results_json(tmp_path / "r.json")
    _assert_same(back, result)
    assert back.result.status_names[2] == "SKIPPED_TOO_FEW_DATA" and np.isnan(back.result.params["s2"][2])
    document = json.loads((tmp_path / "r.json").read_text())
    assert document["settings"]["func_tol"] == 1e-25 and document["residues"][2]["s2"] is None


def test_not_a_results_file(tmp_path):
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="x.csv: not an mfjax results file"):
        read_results_csv(bad)


def test_summary_counts_statuses_and_medians():
    text = _handmade().summary()
    assert "model m4: 4 residues" in text
    assert "CONVERGED              2" in text and "SKIPPED_NO_DATA        1" in text and "MAX_ITERATIONS         1" in text
    # medians over the fitted residues 0, 1, 3 (residue 2 is NaN): s2 of [0.3, 0.97, 1e-300] is 0.3
    assert f"median s2        {0.30000000000000004:.6g}" in text and "median chi2      0.1" in text
    assert "median te        6.144e-10 s" in text
    assert _handmade()._repr_html_().startswith("<pre>model m4")
