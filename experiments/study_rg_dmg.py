"""Part ``rg_dmg`` of the paper's study: every configuration of ``study_configs.CONFIGS`` over the full Rex
Grid (RG, model m4) and Double Motion Grid (DMG, model m5), every point either recovered or classified
by the cause of its failure.

Rules (written into the results too, ``RULES``):

- recovered: χ² < 1e-20 and every parameter (RG: S2, τe, Rex; DMG: S2f, S2s, τs) within 1e-6 of the
  truth, relative (absolute 1e-9 where the truth is 0, i.e. Rex = 0).
- flat_valley: χ² < 1e-20 but a parameter outside 1e-6, and the data cannot separate the parameters
  at that level: from the Hessian H of χ² at the truth (scaled coordinates, where χ² = 0 and the
  gradient is 0, so χ² ≈ ½·δᵀHδ), the χ² = 1e-20 contour reaches further than the tolerance along some
  fitted parameter j: sqrt(2·1e-20·(H⁻¹)_jj) > tol_j.
- exact_fit_elsewhere: χ² < 1e-20, a parameter outside 1e-6, and the truth's Hessian says the
  parameters are determined to better than 1e-6 (a second exact fit away from the truth).
- singular_matrix: the solver's status says the Levenberg–Marquardt matrix was singular.
- on_bound: χ² ≥ 1e-20 and the solver says it stopped on a bound (a BOUND status), or the end point lies on a constraint (|A·x − b| ≤ 1e-6·max(1, |b|), relax's
  A·x ≥ b plus the paper's grid box 0 ≤ τ ≤ 10 ns, 0 ≤ Rex ≤ 20 s⁻¹) on which the truth does not lie.
- local_minimum: χ² ≥ 1e-20, not on a bound, and relax's optimiser started from the end point
  (``POLISH``: Newton–GMW–backtracking–MoM, at most 20,000 iterations) lowers χ² by less than 1e-6
  relative: the point is a stationary point the best local method cannot leave (its scaled gradient
  is recorded too).
- stop_tolerance / stop_iteration_limit: χ² ≥ 1e-20, not on a bound, relax's optimiser started there
  does lower χ² (by more than 1e-6 relative): the run stopped part-way, by its tolerance (status
  CONVERGED) or by its iteration limit (status MAX_ITERATIONS).
- stop_other: as stop_tolerance, but the solver stopped part-way with another status
  (LINE_SEARCH_ERROR, MU_TOO_SMALL, DEGENERATE_CORNER, NOT_FINITE, …); the statuses are counted per
  configuration and grid (``other_statuses``) and listed under the table.
"""
from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import paper_grids  # noqa: E402
import study_configs  # noqa: E402

from mfjax import models, sanity  # noqa: E402
from mfjax.objective import residue_problem  # noqa: E402
from mfjax.status import Status  # noqa: E402

FIT = importlib.import_module("mfjax.fit").fit
COMMON = dict(diffusion=paper_grids.DIFFUSION, r=paper_grids.R_NH, csa=paper_grids.CSA, grid_bounds="paper")
REL_TOL, ABS_TOL_ZERO, CHI2_SMALL = 1e-6, 1e-9, 1e-20
BOUND_TOL = 1e-6
POLISH = dict(study_configs.RELAX, max_iter=20_000)
POLISH_REL = 1e-6
WARMUP_POINTS = 128     # > 64 slots: the warm-up compiles every program the full run uses

# grid -> (model, generator, parameters compared with the truth, axes in the grid's order: slowest first)
GRIDS = {"RG": ("m4", paper_grids.rex_grid, ("s2", "te", "rex"), ("rex", "te", "s2")),
         "DMG": ("m5", paper_grids.double_motion_grid, ("s2f", "s2s", "ts"), ("s2s", "ts", "s2f"))}
CLASSES = ("recovered", "flat_valley", "exact_fit_elsewhere", "singular_matrix", "on_bound", "local_minimum",
           "stop_tolerance", "stop_iteration_limit", "stop_other")
CODE = {name: i for i, name in enumerate(CLASSES)}
RULES = {
    "recovered": f"chi2 < {CHI2_SMALL:g} and every parameter within {REL_TOL:g} relative of the truth "
                 f"({ABS_TOL_ZERO:g} absolute where the truth is 0)",
    "flat_valley": "chi2 < 1e-20, not recovered, and sqrt(2*1e-20*(H^-1)_jj) > tol_j for some fitted parameter j "
                   "(H: Hessian of chi2 at the truth, scaled coordinates)",
    "exact_fit_elsewhere": "chi2 < 1e-20, not recovered, and the truth's Hessian pins every parameter to within tol",
    "singular_matrix": "the solver's status is a singular-matrix status (Levenberg–Marquardt)",
    "on_bound": f"chi2 >= 1e-20 and a BOUND status, or |A x - b| <= {BOUND_TOL:g}*max(1,|b|) for a constraint row (relax's A x >= b "
                "plus the paper's grid box) that the truth is not on",
    "local_minimum": f"chi2 >= 1e-20, not on a bound, and relax's optimiser started there (at most "
                     f"{POLISH['max_iter']} iterations) lowers chi2 by less than {POLISH_REL:g} relative",
    "stop_tolerance": "chi2 >= 1e-20, not on a bound, relax's optimiser started there lowers chi2 further; status CONVERGED",
    "stop_iteration_limit": "as stop_tolerance, status MAX_ITERATIONS",
    "stop_other": "chi2 >= 1e-20, not on a bound, relax's optimiser started there lowers chi2 further, and the "
                  "solver stopped with another status (LINE_SEARCH_ERROR, MU_TOO_SMALL, DEGENERATE_CORNER, "
                  "NOT_FINITE, ...): counted per status in other_statuses",
}


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


def load_grid(name: str, indices=None):
    """(model, truth dict SI, RelaxationData, grid indices) of the whole grid or of ``indices``."""
    model, generator = GRIDS[name][:2]
    _, truth, data = generator()
    idx = np.arange(data.n_residues) if indices is None else np.asarray(indices)
    return model, {k: v[idx] for k, v in truth.items()}, data.subset(idx), idx


def recovered_mask(truth, params, names):
    ok = np.ones(len(truth[names[0]]), bool)
    for p in names:
        t, f = truth[p], np.asarray(params[p])
        ok &= np.where(t == 0.0, np.abs(f - t) <= ABS_TOL_ZERO, np.abs(f - t) <= REL_TOL * np.abs(t))
    return ok


def _problem(data, model):
    with jax.enable_x64(True):
        return residue_problem(data, model, diffusion=COMMON["diffusion"], r=COMMON["r"], csa=COMMON["csa"])


_DERIVS = {}


def _derivatives(fun):
    if fun not in _DERIVS:
        both = lambda x, a: (fun(x, a), jax.grad(fun)(x, a), jax.hessian(fun)(x, a))
        _DERIVS[fun] = jax.jit(jax.vmap(both))
    return _DERIVS[fun]


def derivatives(problem, x_scaled):
    """(χ², gradient, Hessian) at scaled points x (N, n), one per residue of ``problem``."""
    with jax.enable_x64(True):
        out = _derivatives(problem.fun)(jnp.asarray(x_scaled, jnp.float64), problem.args)
    return [np.asarray(a) for a in out]


def scaled(model, params):
    model = models.get_model(model)
    return np.stack([np.asarray(params[p], float) / models.SCALES[p] for p in model.params], axis=1)


def truth_analysis(grid: str, indices=None) -> dict:
    """Hessian spectrum at the truth and the flat-valley flag of every point (see the module docstring)."""
    model, truth, data, idx = load_grid(grid, indices)
    problem = _problem(data, model)
    x = scaled(model, truth)
    f, g, H = derivatives(problem, x)
    lam, vec = np.linalg.eigh(H)
    lam_max = lam[:, -1]
    safe = np.where(lam > lam_max[:, None] * 1e-300, lam, np.nan)
    inv_diag = np.einsum("nij,nj->ni", vec ** 2, 1.0 / safe)           # (H^-1)_jj; NaN where singular
    half_width = np.sqrt(2.0 * CHI2_SMALL * inv_diag)
    names = models.get_model(model).params
    tol = np.stack([np.where(truth[p] == 0.0, ABS_TOL_ZERO, REL_TOL * np.abs(truth[p])) / models.SCALES[p]
                    for p in names], axis=1)
    flat = np.any(~(half_width <= tol), axis=1)                         # NaN (singular) counts as flat
    return dict(chi2_truth=f, eig_min=lam[:, 0], eig_max=lam_max, eig_ratio=lam[:, 0] / lam_max,
                half_width=half_width, tol=tol, flat=flat, indices=idx)


def _bounds(model, tm):
    """Rows A·x ≥ b in scaled coordinates: relax's constraints plus the paper's grid box."""
    A, b = models.linear_constraints(model, tm=tm)
    lo, hi = models.grid_bounds(model, "paper")
    scales = np.array([models.SCALES[p] for p in models.get_model(model).params])
    eye = np.eye(len(scales))
    return np.vstack([A, eye, -eye]), np.concatenate([b, lo / scales, -hi / scales])


def on_bound(model, x_end, x_true):
    A, b = _bounds(model, paper_grids.TM)
    tol = BOUND_TOL * np.maximum(1.0, np.abs(b))
    act_end = np.abs(x_end @ A.T - b) <= tol
    act_true = np.abs(x_true @ A.T - b) <= tol
    return np.any(act_end & ~act_true, axis=1)


def _status_codes(word):
    """Status codes whose name contains ``word`` (e.g. SINGULAR_MATRIX, BOUND_STOP where mfjax has them)."""
    return [int(s) for s in Status if word in s.name]


def classify(grid, model, truth, result, flat, polish_chi2):
    """Class code per point (``CLASSES``); ``polish_chi2`` (N,) is NaN where no polish was needed."""
    names = GRIDS[grid][2]
    chi2 = np.asarray(result.chi2)
    status = np.asarray(result.status)
    rec = recovered_mask(truth, result.params, names)
    small = chi2 < CHI2_SMALL
    bound = on_bound(model, scaled(model, result.params), scaled(model, truth))
    improved = polish_chi2 < chi2 * (1.0 - POLISH_REL)
    code = np.full(chi2.shape, CODE["stop_other"], np.int8)
    rest = ~rec & ~small
    code[rest & (status == Status.CONVERGED)] = CODE["stop_tolerance"]
    code[rest & (status == Status.MAX_ITERATIONS)] = CODE["stop_iteration_limit"]
    code[rest & ~improved] = CODE["local_minimum"]
    code[rest & (bound | np.isin(status, _status_codes("BOUND")))] = CODE["on_bound"]
    code[rest & np.isin(status, _status_codes("SINGULAR"))] = CODE["singular_matrix"]
    code[~rec & small & ~flat] = CODE["exact_fit_elsewhere"]
    code[~rec & small & flat] = CODE["flat_valley"]
    code[rec] = CODE["recovered"]
    return code, rec, small, bound


def polish(model, data, result, need):
    """χ² after relax's optimiser started at the end points ``need`` (bool mask); NaN elsewhere."""
    out = np.full(data.n_residues, np.nan)
    rows = np.flatnonzero(need)
    if rows.size:
        x0 = {p: np.asarray(result.params[p])[rows] for p in models.get_model(model).params}
        with sanity.allow("s2", "tau", "rex"):     # an unconstrained run may end outside the bounds
            res = FIT(data.subset(rows), model, x0=x0, **COMMON, **POLISH)
        out[rows] = res.chi2
    return out


def run_config(config, grid, indices=None, warmup=False):
    """Fit one configuration over one grid. Returns (summary dict, per-point arrays dict) or raises
    ValueError/TypeError/NotImplementedError when this mfjax lacks the configuration."""
    model, truth, data, idx = load_grid(grid, indices)
    kwargs = dict(COMMON, grid_inc=config.grid_inc, **config.kwargs)
    warm_s = None
    if warmup and data.n_residues > WARMUP_POINTS:
        t0 = time.perf_counter()
        FIT(data.subset(np.arange(WARMUP_POINTS)), model, **kwargs)
        warm_s = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    result = FIT(data, model, **kwargs)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return model, truth, data, idx, result, (wall, cpu), warm_s


def evaluate_config(config, grid, truth_info, indices=None, warmup=False):
    model, truth, data, idx, result, (wall, cpu), warm_s = run_config(config, grid, indices, warmup)
    names = GRIDS[grid][2]
    chi2 = np.asarray(result.chi2)
    rec = recovered_mask(truth, result.params, names)
    need = ~rec & ~(chi2 < CHI2_SMALL)
    t0 = time.perf_counter()
    polished = polish(model, data, result, need)
    polish_s = time.perf_counter() - t0
    code, rec, small, bound = classify(grid, model, truth, result, truth_info["flat"], polished)
    problem = _problem(data, model)
    _, grad, _ = derivatives(problem, scaled(model, result.params))
    status = np.asarray(result.status)
    counts = {c: int(np.sum(code == CODE[c])) for c in CLASSES}
    stats = lambda a: dict(median=float(np.median(a)), max=int(np.max(a)), total=int(np.sum(a)))
    details = {}
    for c in CLASSES[1:]:
        sel = code == CODE[c]
        if sel.any():
            details[c] = dict(chi2_min=float(chi2[sel].min()), chi2_median=float(np.median(chi2[sel])),
                              chi2_max=float(chi2[sel].max()), n_chi2_above_1e_10=int(np.sum(chi2[sel] > 1e-10)),
                              n_truth_flat=int(np.sum(truth_info["flat"][sel])),
                              grad_max_median=float(np.median(np.max(np.abs(grad[sel]), axis=1))))
    summary = dict(
        config=config.name, grid=grid, model=model, n_points=int(len(idx)), grid_inc=config.grid_inc,
        n_recovered=counts["recovered"], n_chi2_below_1e_20=int(small.sum()), classes=counts, class_details=details,
        status_counts={Status(int(s)).name: int(np.sum(status == s)) for s in np.unique(status)},
        other_statuses={Status(int(s)).name: int(np.sum(status[code == CODE["stop_other"]] == s))
                        for s in np.unique(status[code == CODE["stop_other"]])},
        iterations=stats(result.iterations), f_count=stats(result.f_count), g_count=stats(result.g_count),
        h_count=stats(result.h_count), wall_s=wall, cpu_s=cpu, warmup_s=warm_s, polish_s=polish_s,
        n_polished=int(need.sum()))
    points = dict(code=code, chi2=chi2, iterations=np.asarray(result.iterations), status=status,
                  polish_chi2=polished, grad_max=np.max(np.abs(grad), axis=1), indices=idx,
                  **{f"fit_{p}": np.asarray(v) for p, v in result.params.items()})
    return summary, points


def run(config_names=None, grids=("RG", "DMG"), indices=None, warmup=False, after_each=None):
    """The whole part: returns (doc, points) where points[(config, grid)] holds per-point arrays.
    ``after_each(doc, points)`` is called after every configuration (e.g. to save what is done)."""
    configs = [study_configs.BY_NAME[n] for n in config_names] if config_names else study_configs.CONFIGS
    doc = dict(rules=RULES, configs={}, skipped={}, grids={})
    points = {}
    truth_infos = {}
    for grid in grids:
        grid_idx = None if indices is None else indices.get(grid)
        t0 = time.perf_counter()
        info = truth_infos[grid] = truth_analysis(grid, grid_idx)
        doc["grids"][grid] = dict(n_points=int(len(info["indices"])), n_flat_at_truth=int(info["flat"].sum()),
                                  eig_ratio_min=float(np.nanmin(info["eig_ratio"])),
                                  chi2_truth_max=float(np.max(info["chi2_truth"])),
                                  truth_analysis_s=time.perf_counter() - t0)
        points[("truth", grid)] = dict(flat=info["flat"], eig_ratio=info["eig_ratio"], indices=info["indices"],
                                       chi2_truth=info["chi2_truth"])
    for config in configs:
        doc["configs"][config.name] = dict(grid_inc=config.grid_inc, role=config.role, note=config.note,
                                           kwargs={k: v for k, v in config.kwargs.items()})
        for grid in grids:
            grid_idx = None if indices is None else indices.get(grid)
            log(f"[rg_dmg] {config.name} on {grid} ...")
            try:
                summary, pts = evaluate_config(config, grid, truth_infos[grid], grid_idx, warmup)
            except (ValueError, TypeError, NotImplementedError) as err:   # fit refuses what it does not have
                doc["skipped"][config.name] = f"{type(err).__name__}: {err}"
                doc["configs"].pop(config.name, None)
                log(f"[rg_dmg] skipped {config.name}: {err}")
                break
            except Exception as err:   # noqa: BLE001 - one broken configuration must not stop the study
                doc.setdefault("errors", {})[config.name] = f"{grid}: {type(err).__name__}: {err}"
                doc["configs"].pop(config.name, None)
                log(f"[rg_dmg] ERROR {config.name} on {grid}: {err!r}")
                break
            doc["configs"][config.name][grid] = summary
            points[(config.name, grid)] = pts
            log(f"[rg_dmg] {config.name} {grid}: {summary['n_recovered']}/{summary['n_points']} recovered, "
                f"{summary['wall_s']:.1f} s; {summary['classes']}")
        if after_each is not None:
            after_each(doc, points)
        jax.clear_caches()   # release each configuration's compiled programs (memory maps: see tests/conftest.py)
    return doc, points


# ---------------------------------------------------------------------------------------------------
# Tables

def markdown_table(doc) -> str:
    short = {"recovered": "rec", "flat_valley": "flat", "exact_fit_elsewhere": "else", "singular_matrix": "sing",
             "on_bound": "bound", "local_minimum": "locmin", "stop_tolerance": "tol",
             "stop_iteration_limit": "iter", "stop_other": "other"}
    lines = []
    for grid in doc["grids"]:
        n = doc["grids"][grid]["n_points"]
        lines += [f"### {grid} ({n} points)", "",
                  "| configuration | grid | " + " | ".join(short[c] for c in CLASSES)
                  + " | iter median / max | f median / max | g median | h median | wall s | CPU s |",
                  "|---|---" + "|---" * len(CLASSES) + "|---|---|---|---|---|---|"]
        for name, entry in doc["configs"].items():
            s = entry.get(grid)
            if s is None:
                continue
            warm = f" ({s['warmup_s']:.1f})" if s["warmup_s"] is not None else ""
            lines.append(
                f"| {name} | {s['grid_inc']} | " + " | ".join(str(s["classes"][c]) for c in CLASSES)
                + f" | {s['iterations']['median']:g} / {s['iterations']['max']} | {s['f_count']['median']:g} / "
                f"{s['f_count']['max']} | {s['g_count']['median']:g} | {s['h_count']['median']:g} | "
                f"{s['wall_s']:.1f}{warm} | {s.get('cpu_s', float('nan')):.1f} |")
        lines.append("")
        others = [f"{name}: " + ", ".join(f"{k} {v}" for k, v in entry[grid]["other_statuses"].items())
                  for name, entry in doc["configs"].items()
                  if entry.get(grid, {}).get("other_statuses")]
        if others:
            lines += [f"Statuses of the {grid} points in 'other': " + "; ".join(others) + ".", ""]
    lines += ["Columns: " + ", ".join(f"{short[c]} = {c}" for c in CLASSES) + "; wall s: the fit call over the "
              "whole grid, compilation included (warm-up call in brackets where run); CPU s: the process's CPU "
              "time over that call (all threads).", ""]
    if doc["skipped"]:
        lines += ["Skipped (not in this mfjax):", ""]
        lines += [f"- {name}: {why}" for name, why in doc["skipped"].items()]
        lines.append("")
    return "\n".join(lines)
