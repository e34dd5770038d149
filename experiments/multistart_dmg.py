#!/usr/bin/env python
"""Multi-start and polish on the paper's Double Motion Grid (d'Auvergne & Gooley 2008; 1,936 points of
model m5, noise-free, so χ² = 0 at the truth): fit every point from one grid start (11 increments, the
paper's bounds), with and without ``polish=True``; then refit the points that the single start did not
bring below χ² 1e-20 with ``fit(starts=K)``, with and without ``polish=True``. Counts how many reach
χ² < 1e-20 in each case, how many are flagged ``multiple_minima``, the cost (wall time, iterations and
evaluations; the polish's own counts separately), and classifies what is left by the Hessian spectrum at
the end point (``mfjax.covariance_errors``) and whether the polish could lower it (see ``classify``).
Records the load average before and after (shared machine). ``--whole``: instead, fit the whole grid
once with ``starts=K, polish=True`` and count the points below 1e-20. ``--time-polish``: instead, time
the polish stage alone (``mfjax.polish.polish``) on the single-start fits of the grid, first call and
warm (wall and CPU seconds).

    python experiments/multistart_dmg.py [--starts 8] [--kind mixed] [--quick 200] [--whole | --time-polish]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import paper_grids  # noqa: E402
from bench_fit import cpu_info, device_info, jsonable, subset_indices, versions  # noqa: E402

import mfjax  # noqa: E402
from mfjax import covariance, models, polish  # noqa: E402
from mfjax.objective import residue_problem  # noqa: E402
from mfjax.status import status_names  # noqa: E402

KW = dict(diffusion=paper_grids.DIFFUSION, r=paper_grids.R_NH, csa=paper_grids.CSA, grid_inc=11, grid_bounds="paper")
SMALL = 1e-20
STUCK = 1e-3


def timed(data, **kw):
    t0 = time.perf_counter()
    res = mfjax.fit(data, "m5", **KW, **kw)
    return res, time.perf_counter() - t0


def costs(res, seconds):
    out = dict(seconds=seconds, iterations=int(res.iterations.sum()), f_count=int(res.f_count.sum()),
               g_count=int(res.g_count.sum()), h_count=int(res.h_count.sum()),
               below_1e_20=int((res.chi2 < SMALL).sum()))
    if res.polish is not None:
        p = res.polish
        out["polish"] = dict(iterations=int(p["iterations"].sum()), f_count=int(p["f_count"].sum()),
                             g_count=int(p["g_count"].sum()), improved=int(p["improved"].sum()),
                             status=dict(zip(*np.unique(status_names(p["status"]), return_counts=True))),
                             never_worse=bool(np.all(res.chi2 <= p["chi2_before"])))
    return out


def classify(data, res, rows, truth, idx):
    """Rows of ``res`` above 1e-20: the truth, χ², the Hessian's condition number and undetermined
    combinations at the end point, and the class: a *local minimum* where the polish (when run) could not
    lower χ² by more than STUCK relative (with or without an undetermined direction of the Hessian),
    otherwise an *undetermined flat valley* where the Hessian's condition number is ≥ 1/RCOND (a fit
    stalled along the undetermined direction) or a determined *local minimum*."""
    if len(rows) == 0:
        return []
    sub = data.subset(rows)
    part = mfjax.FitResult(**{**res.__dict__, "residues": sub.residues, "chi2": res.chi2[rows],
                              "params": {k: v[rows] for k, v in res.params.items()}, "status": res.status[rows]})
    cov = mfjax.covariance_errors(sub, part)
    out = []
    for j, i in enumerate(rows):
        flat = bool(cov.condition[j] >= 1.0 / covariance.RCOND)
        before = None if res.polish is None else float(res.polish["chi2_before"][i])
        if before is not None and before - res.chi2[i] <= STUCK * before:     # the polish cannot go down
            kind = "local minimum" + (" with an undetermined direction" if flat else ", determined")
        else:
            kind = "undetermined flat valley" if flat else "local minimum"
        out.append(dict(s2f=float(truth["s2f"][idx][i]), s2s=float(truth["s2s"][idx][i]),
                        ts_ps=float(truth["ts"][idx][i] * 1e12), chi2=float(res.chi2[i]),
                        fitted={k: float(v[i]) for k, v in res.params.items()}, status=res.status_names[i],
                        hessian_condition=float(cov.condition[j]), undetermined=cov.undetermined[j],
                        chi2_before_polish=before, kind=kind))
    return out


def time_polish(data):
    """Wall and CPU seconds of the polish stage alone on the single-start fits (first call, then warm)."""
    model = models.get_model("m5")
    single = mfjax.fit(data, model, **KW)
    problem = residue_problem(data, model, diffusion=KW["diffusion"], r=KW["r"], csa=KW["csa"])
    x = np.stack([single.params[p] for p in model.params], axis=1) / np.asarray(problem.scales)
    A, b = models.linear_constraints(model, tm=paper_grids.TM)
    out = {}
    for call in ("first", "warm", "warm_again"):
        wall, cpu = time.perf_counter(), time.process_time()
        res = polish.polish(problem.fun, problem.args, model, x, single.chi2, A, b)
        out[call] = dict(seconds=time.perf_counter() - wall, cpu_seconds=time.process_time() - cpu)
    out.update(fit_seconds_note="the fit itself: see single.seconds in multistart_dmg.json",
               f_count=int(res.f_count.sum()), below_1e_20_before=int((single.chi2 < SMALL).sum()),
               below_1e_20_after=int((res.chi2 < SMALL).sum()))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=8)
    parser.add_argument("--kind", default="mixed")
    parser.add_argument("--quick", type=int, default=None, help="only this many points, spread over the grid")
    parser.add_argument("--whole", action="store_true", help="the whole grid with starts=K and polish=True")
    parser.add_argument("--time-polish", action="store_true", help="time the polish stage alone")
    args = parser.parse_args()
    load_before = list(os.getloadavg())
    _, truth, data = paper_grids.double_motion_grid()
    idx = subset_indices(data.n_residues, args.quick)
    data = data.subset(idx)
    if args.time_polish:
        print(json.dumps(jsonable(dict(versions=versions(), device=device_info(), cpu=cpu_info(),
                                       load_average_before=load_before, points=len(idx), **time_polish(data),
                                       load_average_after=list(os.getloadavg()))), indent=1))
        return
    if args.whole:
        res, t = timed(data, starts=args.starts, start_kind=args.kind, seed=0, polish=True)
        left = np.flatnonzero(~(res.chi2 < SMALL))
        out = dict(versions=versions(), device=device_info(), cpu=cpu_info(), load_average_before=load_before,
                   points=len(idx), starts=args.starts, start_kind=args.kind,
                   whole_multi_polish=dict(costs(res, t), still_above=len(left),
                                           flagged_multiple_minima=int(res.multiple_minima.sum()),
                                           worst_chi2=float(res.chi2.max()),
                                           left_above_1e_20=classify(data, res, left, truth, idx)),
                   load_average_after=list(os.getloadavg()))
        print(json.dumps(jsonable(out), indent=1))
        return
    single, t_single = timed(data)
    single_p, t_single_p = timed(data, polish=True)
    bad = np.flatnonzero(~(single.chi2 < SMALL))
    out = dict(versions=versions(), device=device_info(), cpu=cpu_info(), load_average_before=load_before,
               points=len(idx), starts=args.starts, start_kind=args.kind, single=costs(single, t_single),
               single_polish=costs(single_p, t_single_p))
    out["single"]["above_1e_20"] = len(bad)
    out["single_polish"]["left_above_1e_20"] = classify(data, single_p, np.flatnonzero(~(single_p.chi2 < SMALL)),
                                                        truth, idx)
    if len(bad):
        sub = data.subset(bad)
        multi, t_multi = timed(sub, starts=args.starts, start_kind=args.kind, seed=0)
        multi_p, t_multi_p = timed(sub, starts=args.starts, start_kind=args.kind, seed=0, polish=True)
        out["refitted"] = len(bad)
        out["s2f_of_refitted"] = sorted({float(v) for v in truth["s2f"][idx][bad]})
        for name, res, t in (("multi", multi, t_multi), ("multi_polish", multi_p, t_multi_p)):
            left = np.flatnonzero(~(res.chi2 < SMALL))
            out[name] = dict(costs(res, t), still_above=len(left),
                             flagged_multiple_minima=int(res.multiple_minima.sum()),
                             never_worse_than_single=bool(np.all(res.chi2 <= single.chi2[bad] * (1 + 1e-9) + 1e-30)),
                             worst_chi2_after=float(res.chi2.max()), worst_chi2_before=float(single.chi2[bad].max()),
                             left_above_1e_20=classify(sub, res, left, truth, idx[bad]))
        out["multi_polish"]["same_as_multi_before_polish"] = bool(np.array_equal(multi_p.polish["chi2_before"],
                                                                                 multi.chi2))
    out["load_average_after"] = list(os.getloadavg())
    print(json.dumps(jsonable(out), indent=1))


if __name__ == "__main__":
    main()
