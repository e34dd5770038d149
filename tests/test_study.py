"""The paper's study scripts (experiments/study*.py) on a small slice: two configurations, a few grid
points whose outcome is known (bench_fit.py and the paper's numbers), so a broken study shows
in CI without running it all."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
import study  # noqa: E402
import study_configs  # noqa: E402
import study_failures  # noqa: E402
import study_maps  # noqa: E402
import study_readme  # noqa: E402
import study_rg_dmg  # noqa: E402

import mfjax  # noqa: E402

CONFIGS = ["relax", "relax_lowprec_20it"]
DMG_FLAT = 882     # S2f 0.582, S2s 0.831, τs 0.1 ps: relax ends at χ² ~1e-23 with S2f 0.5812 (a flat valley)


@pytest.fixture(scope="module")
def slice_run():
    fig2 = study_failures.grid_index(*study_failures.FIG2)
    fig4 = study_failures.grid_index(*study_failures.FIG4)
    fig3 = study_failures.grid_index(*study_failures.FIG3)
    indices = {"RG": np.array([fig2, fig4]), "DMG": np.array([fig3, DMG_FLAT])}
    doc, points = study_rg_dmg.run(CONFIGS, indices=indices)
    return doc, points, dict(fig2=fig2, fig3=fig3, fig4=fig4)


def test_grid_points_are_the_papers(slice_run):
    _, _, idx = slice_run
    assert idx == dict(fig2=329, fig3=438, fig4=452)   # Rex outermost, then τe, S2 innermost (paper_grids)


def test_classification_of_known_points(slice_run):
    doc, points, _ = slice_run
    cls = lambda cfg, grid: [study_rg_dmg.CLASSES[c] for c in points[(cfg, grid)]["code"]]
    assert cls("relax", "RG") == ["recovered", "recovered"]
    assert cls("relax", "DMG") == ["recovered", "flat_valley"]
    # 20 iterations stop the Fig. 3 point in the tunnel (χ² 5.55e-3); relax's optimiser from there goes on
    assert cls("relax_lowprec_20it", "DMG")[0] == "stop_iteration_limit"
    low = points[("relax_lowprec_20it", "DMG")]
    assert low["iterations"][0] == 20
    assert low["chi2"][0] == pytest.approx(5.5515e-3, rel=1e-3)
    assert low["polish_chi2"][0] < 1e-20
    assert doc["configs"]["relax"]["DMG"]["n_recovered"] == 1
    assert doc["configs"]["relax"]["RG"]["classes"]["recovered"] == 2
    assert doc["grids"]["DMG"]["n_flat_at_truth"] == 1          # the flat-valley point, not the Fig. 3 point
    assert doc["grids"]["RG"]["chi2_truth_max"] < 1e-25


def test_flat_valley_rule_matches_the_fitted_spread(slice_run):
    """At the flat point relax ends at χ² < 1e-20 with S2f 8e-4 away from the truth: the rule must say
    that the data allow it (the χ² = 1e-20 contour is wider than the 1e-6 tolerance) and deny it at the
    Fig. 3 point (narrower in every parameter)."""
    info = study_rg_dmg.truth_analysis("DMG", [study_failures.grid_index(*study_failures.FIG3), DMG_FLAT])
    assert list(info["flat"]) == [False, True]
    fitted = slice_run[1][("relax", "DMG")]["fit_s2f"][1]
    assert abs(fitted - 0.582) > 1e-4
    assert info["half_width"][1, 0] > 100 * info["tol"][1, 0]          # S2f: far wider than 1e-6 relative
    assert np.all(info["half_width"][0] < info["tol"][0])
    assert fitted_chi2(slice_run) < 1e-20


def fitted_chi2(slice_run):
    return slice_run[1][("relax", "DMG")]["chi2"][1]


def test_fig4_grid_search_lands_on_the_papers_point():
    doc = study_failures.fig4_grid_search()
    ep = doc["end_point"]
    assert ep["s2"] == pytest.approx(5 / 19, rel=1e-12)                 # 0.263
    assert ep["te"] == pytest.approx(10e-9 / 19, rel=1e-12)             # 526.316 ps
    assert ep["rex"] == pytest.approx(20 / 19, rel=1e-12)               # 1.053 s^-1
    assert round(ep["chi2"], 2) == 1370.16                              # the paper's Fig. 4 Modelfree4 end point, relax's constants
    assert doc["n_grid_points"] == 20 ** 3


def test_chi2_map_matches_mfjax_chi2():
    model, data, problem = study_maps.space_problem("fig2_m4")
    axes = [(0.95, 0.99), (1000.0, 3000.0), (0.1, 0.2)]          # scaled: S2, τe in ps, Rex
    ticks, chi2 = study_maps.chi2_map(problem, axes, n=4)
    i, j, k = 1, 2, 3
    ref = mfjax.chi2(data, "m4", dict(s2=[ticks[0][i]], te=[ticks[1][j] * 1e-12], rex=[ticks[2][k]]),
                     diffusion=study_rg_dmg.COMMON["diffusion"], r=study_rg_dmg.COMMON["r"],
                     csa=study_rg_dmg.COMMON["csa"])
    assert chi2.shape == (4, 4, 4)
    assert chi2[i, j, k] == pytest.approx(float(ref[0]), rel=1e-12)


def test_tm2_double_minimum():
    """The paper's Fig. 5 double minimum (tm2, 600 MHz data): the broad minimum 7.106 ns, 0.749, 0.888 ns, χ² 8.268; the narrow one
    6.509 ns, 0.791, 0.096 ns, χ² ~1e-29 (600 MHz data alone)."""
    minima = study_maps.tm2_minima(study_maps.double_minimum_data())
    b, n = minima["broad"], minima["narrow"]
    assert (round(b["local_tm"] * 1e9, 3), round(b["s2"], 3), round(b["te"] * 1e9, 3), round(b["chi2"], 3)) == \
        (7.106, 0.749, 0.888, 8.268)
    assert (round(n["local_tm"] * 1e9, 3), round(n["s2"], 3), round(n["te"] * 1e9, 3)) == (6.509, 0.791, 0.096)
    assert n["chi2"] < 1e-25


def test_failures_and_readme_from_the_slice(slice_run, tmp_path, monkeypatch):
    doc, points, _ = slice_run
    monkeypatch.setattr(study_configs, "CONFIGS", [study_configs.BY_NAME[c] for c in CONFIGS])
    fail = study_failures.run(points, doc)
    relax = fail["limits"]["end_points"]["relax"]
    assert relax["source"] == "rg_dmg" and relax["chi2"] < 1e-20 and not relax["at_te_limit_10ns"]
    assert fail["low_precision"]["end_points"]["relax_lowprec_20it"]["status"] == "MAX_ITERATIONS"
    study.write_json(tmp_path / "rg_dmg.json", doc)
    study.write_json(tmp_path / "failures.json", fail)
    (tmp_path / "rg_dmg.md").write_text(study_rg_dmg.markdown_table(doc))
    text = study_readme.render(tmp_path)
    assert "χ² 1370.16" in text
    assert "| relax | 11 | 2 | 0 |" in text                          # the RG row of the table
    assert json.loads((tmp_path / "rg_dmg.json").read_text())["configs"]["relax"]["DMG"]["classes"]["flat_valley"] == 1
