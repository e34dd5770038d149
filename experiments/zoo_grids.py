#!/usr/bin/env python
"""Every algorithm of the zoo over the paper's grids (d'Auvergne & Gooley 2008: the Rex Grid, model
m4, and the Double Motion Grid, model m5) through ``mfjax.fit``: the paper's 11-increment grid search
(0 ≤ S2 ≤ 1, 0 ≤ τ ≤ 10 ns, 0 ≤ Rex ≤ 20 s⁻¹), then the algorithm.

Writes ONE JSON document (versions, device, cores, and per grid and algorithm: points recovered (every
fitted parameter within 1e-6 relative, 1e-9 absolute where the truth is 0) in %, points with
χ² < 1e-20, status counts, iterations median and max, f/g/h counts median and total, wall time of the
fit (the first call includes compilation; ``--warm`` adds a second, warm call).

    .venv/bin/python experiments/zoo_grids.py --quick 64 --out experiments/results/zoo_grids.json
    .venv/bin/python experiments/zoo_grids.py --algorithms newton bfgs:more_thuente --grids RG

An entry is "algorithm[:line_search[:hessian_mod[:constraints]]]" (defaults backtrack, gmw, mom) or
"preset:<name>" (Newton–GMW–backtracking with that precision preset). ``--max-iter`` caps every run
(default 10,000: steepest and coordinate descent need millions of iterations on some points).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_fit  # noqa: E402  (experiments/bench_fit.py: grids, recovery criteria, environment)

from mfjax.status import status_names  # noqa: E402

ZOO = [
    "newton", "newton:more_thuente", "newton:backtrack:none", "newton:backtrack:eigen", "newton:backtrack:chol",
    "newton_cg", "sd", "sd:more_thuente", "cd", "cd:more_thuente", "bfgs", "bfgs:more_thuente",
    "lbfgs:more_thuente", "fr:more_thuente", "pr:more_thuente", "pr+:more_thuente", "hs:more_thuente",
    "pcg_diag:more_thuente", "gauss_newton:backtrack:gmw:dasha", "lm:backtrack:gmw:dasha",
    "simplex:backtrack:gmw:dasha", "annealing:backtrack:gmw:dasha", "adam:backtrack:gmw:dasha",
    "newton:backtrack:gmw:modelfree4", "preset:modelfree4", "preset:dasha",
]


def settings(entry: str, max_iter: int) -> dict:
    if entry.startswith("preset:"):
        return dict(preset=entry.split(":", 1)[1])
    parts = entry.split(":") + [None] * 3
    algorithm, line_search, hessian_mod, constraints = parts[:4]
    return dict(algorithm=algorithm, line_search=line_search or "backtrack", hessian_mod=hessian_mod or "gmw",
                constraints=constraints or "mom", max_iter=max_iter)


def run(entry: str, grid: str, quick: int | None, max_iter: int, warm: bool) -> dict:
    model, truth, data, idx = bench_fit.load_grid(grid, quick)
    names, axes = bench_fit.GRIDS[grid][2:]
    kwargs = dict(bench_fit.FIT_KWARGS, **settings(entry, max_iter))
    t0 = time.perf_counter()
    res = bench_fit.FIT(data, model, **kwargs)
    first = time.perf_counter() - t0
    out = dict(settings=settings(entry, max_iter), n_points=data.n_residues, wall_first_call_s=first)
    if warm:
        t0 = time.perf_counter()
        bench_fit.FIT(data, model, **kwargs)
        out["wall_warm_s"] = time.perf_counter() - t0
    rec = bench_fit.recovery(truth, res.params, names, axes, np.asarray(res.chi2), np.asarray(res.status), idx, res)
    stat = status_names(res.status)
    out.update(
        recovered_percent=100.0 * rec["n_recovered"] / data.n_residues, n_recovered=rec["n_recovered"],
        n_chi2_below_1e_20=rec["n_chi2_below_1e_20"], status_counts={s: stat.count(s) for s in sorted(set(stat))},
        iterations_median=float(np.median(res.iterations)), iterations_max=int(np.max(res.iterations)),
        **{f"{c}_median": float(np.median(getattr(res, c))) for c in ("f_count", "g_count", "h_count")},
        **{f"{c}_total": int(np.sum(getattr(res, c))) for c in ("f_count", "g_count", "h_count")})
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--algorithms", nargs="*", default=ZOO)
    ap.add_argument("--grids", nargs="*", default=["RG", "DMG"], choices=["RG", "DMG"])
    ap.add_argument("--quick", type=int, default=None, help="points per grid, spread evenly (default: all)")
    ap.add_argument("--max-iter", type=int, default=10_000)
    ap.add_argument("--warm", action="store_true", help="time a second, warm call too")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    doc = dict(versions=bench_fit.versions(), device=bench_fit.device_info(), cpu=bench_fit.cpu_info(),
               quick=args.quick, max_iter=args.max_iter,
               recovery_criteria=dict(rel_tol=bench_fit.REL_TOL, abs_tol_where_truth_is_0=bench_fit.ABS_TOL_ZERO),
               results={})
    for grid in args.grids:
        doc["results"][grid] = {}
        for entry in args.algorithms:
            bench_fit.log(f"[{grid}] {entry} ...")
            try:
                doc["results"][grid][entry] = r = run(entry, grid, args.quick, args.max_iter, args.warm)
                bench_fit.log(f"[{grid}] {entry}: {r['recovered_percent']:.1f} % recovered, iterations median "
                              f"{r['iterations_median']:g} max {r['iterations_max']}, {r['wall_first_call_s']:.1f} s")
            except ValueError as err:       # a combination the zoo refuses
                doc["results"][grid][entry] = dict(error=str(err))
    text = json.dumps(bench_fit.jsonable(doc), indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
