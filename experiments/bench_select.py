#!/usr/bin/env python
"""Benchmark of ``mfjax.select`` over m0–m9 (AIC) on the paper's Rex Grid (d'Auvergne & Gooley 2008;
2,640 residues, noise-free m4 data, sphere τm = 10 ns, 11-increment grids over the paper's bounds).

Times, in one process: the first selection (compilation included), then warm selections with
``prune=True`` (the default: models fitted in order of k, residues skipped where a model cannot win);
with ``--no-prune`` also ``prune=False`` (every model fitted to every residue), checking that both
choose the same model for every residue. ``--batched k|width`` times ``select(batched=...)`` instead
of model after model (``no``, the default) and checks its choices against it point by point. With ``--grids`` also times each model's grid search, direct (``mfjax.solvers.grid``)
against linear (``mfjax.linear_grid``), warm, and counts the residues where they choose different
points. Prints ONE JSON document (versions, device, load averages before and after).

    flock /tmp/bench.lock python experiments/bench_select.py [--batched no|k|width] [--grids] [--no-prune] [--repeats 2]
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
from bench_fit import cpu_info, device_info, jsonable, log, versions  # noqa: E402

import mfjax  # noqa: E402
from mfjax import linear_grid, models  # noqa: E402
from mfjax.fit import _grid_inc  # noqa: E402
from mfjax.objective import residue_problem  # noqa: E402
from mfjax.solvers import grid  # noqa: E402

KW = dict(diffusion=paper_grids.DIFFUSION, r=paper_grids.R_NH, csa=paper_grids.CSA, grid_inc=11, grid_bounds="paper")
MODELS = [f"m{i}" for i in range(10)]


def timed(function):
    t0, c0 = time.perf_counter(), time.process_time()
    out = function()
    return out, time.perf_counter() - t0, time.process_time() - c0


def grids(data) -> dict:
    """Warm grid searches per model: direct and linear, seconds and differing points."""
    out = {}
    for name in MODELS[1:]:
        model = models.get_model(name)
        problem = residue_problem(data, model, diffusion=paper_grids.DIFFUSION, r=paper_grids.R_NH, csa=paper_grids.CSA)
        scales = np.asarray(problem.scales)
        lower, upper = (v / scales for v in models.grid_bounds(model, "paper"))
        inc = _grid_inc(11, model)
        A, b = models.linear_constraints(model, tm=paper_grids.TM)
        direct = lambda: grid.grid_search(problem.fun, problem.args, lower, upper, inc, A, b)
        linear = lambda: linear_grid.grid_search(problem, model, data.experiment, lower, upper, inc, A, b)
        direct(), linear()                                               # compile
        (x_d, _, _), t_d, _ = timed(direct)
        (x_l, _, _), t_l, _ = timed(linear)
        out[name] = dict(points=int(np.prod(inc)), direct_s=t_d, linear_s=t_l,
                         residues_with_another_point=int((~np.all(x_d == x_l, axis=1)).sum()))
        log(f"grid {name}: direct {t_d:.2f} s, linear {t_l:.2f} s")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", action="store_true", help="also time every model's grid, direct vs linear")
    parser.add_argument("--repeats", type=int, default=2, help="warm selections timed (prune=True)")
    parser.add_argument("--no-prune", action="store_true", help="also time select(prune=False) and compare")
    parser.add_argument("--batched", default="no", choices=["width", "k", "no"],
                        help="select(batched=...): one engine call per shared width, per k, or model after model")
    args = parser.parse_args()
    _, truth, data = paper_grids.rex_grid()
    out = dict(versions=versions(), device=device_info(), cpu=cpu_info(), residues=data.n_residues,
               load_before=os.getloadavg())
    out["batched"] = batched = False if args.batched == "no" else args.batched
    select = lambda **k: mfjax.select(data, models=MODELS, criterion="AIC", batched=batched, **KW, **k)
    sel, wall, cpu = timed(select)
    out["first_s"] = dict(wall=wall, cpu=cpu)
    warm = []
    for _ in range(args.repeats):
        sel, wall, cpu = timed(select)
        warm.append(dict(wall=wall, cpu=cpu))
        log(f"select (prune): {wall:.2f} s")
    out["select"] = dict(warm_prune_s=warm, chosen={m: int((sel.model == m).sum()) for m in MODELS + [""]},
                         fitted_per_model={m: int((~sel.pruned[j]).sum()) for j, m in enumerate(MODELS)},
                         iterations_per_model={m: int(sel.fits[m].iterations.sum()) for m in MODELS},
                         m4_exact_points_of_fitted=int((sel.fits["m4"].chi2 < 1e-20).sum()),
                         rex0_points_chosen={m: int(((truth["rex"] == 0) & (sel.model == m)).sum()) for m in MODELS})
    if batched:                      # the same choices, point by point, as model after model?
        seq = mfjax.select(data, models=MODELS, criterion="AIC", batched=False, **KW)
        out["select"]["same_choice_as_sequential"] = bool(np.array_equal(seq.model, sel.model))
    if args.no_prune:
        timed(lambda: select(prune=False))                       # compiles the fits that pruning skipped
        full, wall, cpu = timed(lambda: select(prune=False))
        log(f"select (no prune): {wall:.2f} s")
        out["select"].update(warm_no_prune_s=dict(wall=wall, cpu=cpu),
                             same_choice_as_no_prune=bool(np.array_equal(sel.model, full.model)),
                             same_chi2_of_winner=bool(np.array_equal(sel.chi2, full.chi2, equal_nan=True)))
    if args.grids:
        out["grids"] = grids(data)
    out["load_after"] = os.getloadavg()
    print(json.dumps(jsonable(out), indent=1))


if __name__ == "__main__":
    main()
