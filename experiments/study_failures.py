"""Part ``failures`` of the paper's study: its four failure modes, each on its own point (d'Auvergne &
Gooley 2008, "Failure of optimisation"), each printing the end point, its χ² and the true minimum's χ².

1. limits: the Fig. 2 point (S2 0.970, τe 2048 ps, Rex 0.149 s⁻¹), Modelfree4-style run (steps cut
   flush at the box, no sliding): does it stop on the τe upper limit of 10 ns?
2. low precision: the Fig. 3 point (S2f 0.952, S2s 0.582, τs 32 ps), the low-precision presets.
3. singular matrix: Levenberg–Marquardt's SINGULAR_MATRIX status counted over the RG and the DMG
   (configurations with algorithm "lm"; the 20-increment ones are the paper's Table 2 set-up).
4. the Fig. 4 point (S2 0.388, τe 128 ps, Rex 0.223 s⁻¹): the 20-increment grid search alone (the
   paper's Modelfree4 failed in its first iteration, so its answer is the grid's best point).

End points come from the rg_dmg part's per-point results where that part ran the configuration;
otherwise the configuration is fitted to the single point here.
"""
from __future__ import annotations

import sys
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import paper_grids  # noqa: E402
import study_configs  # noqa: E402
import study_rg_dmg as rg  # noqa: E402

from mfjax import models  # noqa: E402
from mfjax.solvers import grid as grid_solver  # noqa: E402
from mfjax.status import Status  # noqa: E402

FIG2 = ("RG", dict(s2=0.970, te=2048 * 1e-12, rex=0.149))
FIG3 = ("DMG", dict(s2f=0.952, s2s=0.582, ts=32 * 1e-12))
FIG4 = ("RG", dict(s2=0.388, te=128 * 1e-12, rex=0.223))
TE_LIMIT = 10.0 * 1e-9       # the paper's upper τe limit (grid box)


def grid_index(grid: str, point: dict) -> int:
    _, truth, _, _ = rg.load_grid(grid)
    hit = np.ones(len(truth["s2" if grid == "RG" else "s2f"]), bool)
    for name, value in point.items():
        hit &= np.isclose(truth[name], value, rtol=1e-12, atol=0.0)
    (index,) = np.flatnonzero(hit)
    return int(index)


def end_point(config, grid: str, index: int, points: dict | None = None) -> dict:
    """The configuration's end point on grid point ``index``: parameters (SI), χ², status, iterations."""
    names = ("s2", "te", "rex") if grid == "RG" else ("s2f", "s2s", "s2", "ts")
    pts = (points or {}).get((config.name, grid))
    if pts is not None and index in set(pts["indices"].tolist()):
        k = int(np.flatnonzero(pts["indices"] == index)[0])
        out = {p: float(pts[f"fit_{p}"][k]) for p in names}
        out.update(chi2=float(pts["chi2"][k]), status=Status(int(pts["status"][k])).name,
                   iterations=int(pts["iterations"][k]), source="rg_dmg")
        return out
    model, truth, data, _ = rg.load_grid(grid, [index])
    res = rg.FIT(data, model, grid_inc=config.grid_inc, **rg.COMMON, **config.kwargs)
    out = {p: float(res.params[p][0]) for p in names}
    out.update(chi2=float(res.chi2[0]), status=Status(int(res.status[0])).name,
               iterations=int(res.iterations[0]), source="fitted alone")
    return out


def truth_chi2(grid: str, index: int) -> float:
    model, truth, data, _ = rg.load_grid(grid, [index])
    problem = rg._problem(data, model)
    f, _, _ = rg.derivatives(problem, rg.scaled(model, truth))
    return float(f[0])


def _configs(roles=None, names=None):
    return [c for c in study_configs.CONFIGS if (roles and c.role in roles) or (names and c.name in names)]


def _run_points(grid, point, configs, points, skipped):
    index = grid_index(grid, point)
    out = dict(grid=grid, grid_index=index, truth=point, truth_chi2=truth_chi2(grid, index), end_points={})
    for config in configs:
        if config.name in skipped:
            out["end_points"][config.name] = f"skipped: {skipped[config.name]}"
            continue
        try:
            out["end_points"][config.name] = end_point(config, grid, index, points)
        except (ValueError, TypeError, NotImplementedError) as err:
            skipped[config.name] = f"{type(err).__name__}: {err}"
            out["end_points"][config.name] = f"skipped: {skipped[config.name]}"
        except Exception as err:  # noqa: BLE001 - a broken configuration is reported, not fatal
            out["end_points"][config.name] = f"error: {type(err).__name__}: {err}"
    return out


def limits_failure(points=None, skipped=None) -> dict:
    skipped = {} if skipped is None else skipped
    grid, point = FIG2
    out = _run_points(grid, point, _configs(roles=("modelfree4", "dasha", "relax", "cnewton")), points, skipped)
    for name, ep in out["end_points"].items():
        if isinstance(ep, dict):
            ep["at_te_limit_10ns"] = bool(abs(ep["te"] - TE_LIMIT) <= 1e-6 * TE_LIMIT)
    return out


def low_precision(points=None, skipped=None) -> dict:
    skipped = {} if skipped is None else skipped
    grid, point = FIG3
    configs = _configs(roles=("lowprec", "modelfree4", "dasha", "relax", "cnewton"))
    out = _run_points(grid, point, configs, points, skipped)
    for ep in out["end_points"].values():
        if isinstance(ep, dict):   # the paper's Modelfree4 signs: S2f and S2s swapped, τs 10× too large
            ep.update(delta_chi2=ep["chi2"] - out["truth_chi2"], s2f_s2s_swapped=bool(ep["s2f"] < ep["s2s"]),
                      ts_over_true=ep["ts"] / point["ts"])
    return out


def singular_counts(doc_rg_dmg: dict | None) -> dict:
    """SINGULAR_MATRIX counts of every Levenberg–Marquardt configuration the rg_dmg part ran."""
    out = {}
    for config in study_configs.CONFIGS:
        if config.kwargs.get("algorithm") != "lm":
            continue
        entry = (doc_rg_dmg or {}).get("configs", {}).get(config.name)
        if entry is None:
            reason = (doc_rg_dmg or {}).get("skipped", {}).get(config.name, "not run")
            out[config.name] = f"skipped: {reason}"
            continue
        out[config.name] = {g: dict(n_points=entry[g]["n_points"], grid_inc=config.grid_inc,
                                    singular_matrix=entry[g]["status_counts"].get("SINGULAR_MATRIX", 0),
                                    percent=100.0 * entry[g]["status_counts"].get("SINGULAR_MATRIX", 0)
                                    / entry[g]["n_points"]) for g in ("RG", "DMG") if g in entry}
    return out


def fig4_grid_search(inc: int = 20) -> dict:
    """The 20-increment grid search over the paper's bounds on the Fig. 4 point (constraints on, as fit)."""
    grid, point = FIG4
    index = grid_index(grid, point)
    model, truth, data, _ = rg.load_grid(grid, [index])
    problem = rg._problem(data, model)
    scales = np.asarray(problem.scales)
    lower, upper = models.grid_bounds(model, "paper")
    A, b = models.linear_constraints(model, tm=paper_grids.TM)
    with jax.enable_x64(True):
        x, f, count = grid_solver.grid_search(problem.fun, problem.args, lower / scales, upper / scales,
                                              np.full(3, inc), A, b)
    x = np.asarray(x)[0] * scales
    return dict(grid=grid, grid_index=index, truth=point, truth_chi2=truth_chi2(grid, index), grid_inc=inc,
                n_grid_points=int(np.asarray(count)[0]),
                end_point=dict(s2=float(x[0]), te=float(x[1]), rex=float(x[2]), chi2=float(np.asarray(f)[0])),
                paper_modelfree4_end_point=dict(s2=0.263, te=526.316e-12, rex=1.053, chi2_paper=1371.79))


def run(points=None, doc_rg_dmg=None) -> dict:
    skipped = dict((doc_rg_dmg or {}).get("skipped", {}))
    return dict(limits=limits_failure(points, skipped), low_precision=low_precision(points, skipped),
                singular_matrix=singular_counts(doc_rg_dmg), fig4_grid_search=fig4_grid_search())


def _fmt_point(ep) -> str:
    if not isinstance(ep, dict):
        return str(ep)
    parts = []
    for k, v in ep.items():
        if k in ("te", "ts"):
            parts.append(f"{k} {v * 1e12:.6g} ps")
        elif isinstance(v, float):
            parts.append(f"{k} {v:.6g}")
        else:
            parts.append(f"{k} {v}")
    return ", ".join(parts)


def report(doc: dict) -> str:
    """Plain-text printout: per failure mode the end points, their χ² and the true minimum's χ²."""
    lines = []
    for key in ("limits", "low_precision"):
        part = doc[key]
        lines.append(f"== {key}: {part['grid']} point {part['grid_index']} {part['truth']}; "
                     f"true minimum chi2 {part['truth_chi2']:.6g}")
        for name, ep in part["end_points"].items():
            lines.append(f"   {name}: {_fmt_point(ep)}")
    lines.append("== singular_matrix (Levenberg–Marquardt):")
    for name, entry in doc["singular_matrix"].items():
        lines.append(f"   {name}: {entry}")
    f4 = doc["fig4_grid_search"]
    lines.append(f"== fig4_grid_search: {f4['grid']} point {f4['grid_index']} {f4['truth']}; true minimum chi2 "
                 f"{f4['truth_chi2']:.6g}; {f4['grid_inc']}-increment grid ({f4['n_grid_points']} points) best: "
                 f"{_fmt_point(f4['end_point'])}")
    return "\n".join(lines)
