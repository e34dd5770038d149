#!/usr/bin/env python
"""The constrained Newton (``algorithm="projected_newton"``) against relax's Method of Multipliers (Newton–GMW–backtracking inside minfx's MoM,
the default) on the paper's grids, side by side.

Both methods run through ``mfjax.fit`` exactly as ``experiments/bench_fit.py`` runs it: the Rex Grid
(2,640 points, model m4) and the Double Motion Grid (1,936 points, m5), sphere τm 10 ns, r 1.02 Å,
CSA −160 ppm, an 11-increment grid search over the paper's bounds, then the minimiser from the grid's
best point (the same starts for both methods).

A point is RECOVERED when χ² < 1e-20 and every compared parameter (RG: S2, τe, Rex; DMG: S2f, S2,
τs and the derived S2s) is within 1e-6 relative of the truth, or within 1e-9 absolute where the truth
is 0 (Rex = 0 on the RG; bench_fit.py's rule). The looser 1e-6-absolute-at-0 count is reported too.

Prints ONE JSON document: versions, device, CPU, per grid and method: recovered, χ² < 1e-20, total /
median / max iterations, f/g/h counts, status counts, first-call and warm wall times (with the load
average before each call; the warm calls' CPU seconds of the process too, steadier than wall time on a
shared machine), and the points that one method recovers and the other does not. The Method of Multipliers' DMG run takes 20–40 s on
two shared cores: its per-point results and times are cached in ``experiments/results/`` (keyed by the
grid and the number of points) and reused unless ``--refresh``.

    PYTHONPATH=$PWD .venv/bin/python experiments/bench_constrained.py --out experiments/results/constrained.json
    PYTHONPATH=$PWD .venv/bin/python experiments/bench_constrained.py --quick      # 64 points per grid
    PYTHONPATH=$PWD .venv/bin/python experiments/bench_constrained.py --polish     # the new method + polish
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_fit  # noqa: E402  (experiments/bench_fit.py: grids, environment, FIT and its settings)

from mfjax.status import Status, status_names  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
NEW_METHODS = ("projected_newton",)
METHODS = {"mom": {}}          # + the new method chosen with --new
REL_TOL, ABS_TOL_ZERO, ABS_TOL_ZERO_LOOSE, CHI2_SMALL = 1e-6, 1e-9, 1e-6, 1e-20
log = bench_fit.log


MAX_ITER = {}   # method -> max_iter passed to fit (--max-iter); fit's default otherwise


def run_method(grid: str, method: str, quick, repeats: int) -> dict:
    """Per-point arrays and times of one method on one grid (first call, then ``repeats`` warm calls)."""
    model, truth, data, idx = bench_fit.load_grid(grid, quick)
    kwargs = dict(bench_fit.FIT_KWARGS, **METHODS[method])
    if method in MAX_ITER:
        kwargs["max_iter"] = MAX_ITER[method]
    log(f"[{grid}/{method}] {data.n_residues} points: first call ...")
    load_first = os.getloadavg()[0]
    t0 = time.perf_counter()
    res = bench_fit.FIT(data, model, **kwargs)
    first = time.perf_counter() - t0
    warm, warm_cpu, loads = [], [], []
    for _ in range(repeats):
        loads.append(os.getloadavg()[0])
        t0, c0 = time.perf_counter(), time.process_time()
        again = bench_fit.FIT(data, model, **kwargs)
        warm.append(time.perf_counter() - t0)
        warm_cpu.append(time.process_time() - c0)
        assert np.array_equal(again.chi2, res.chi2) and np.array_equal(again.iterations, res.iterations)
    log(f"[{grid}/{method}] first {first:.2f} s, warm {warm} (CPU {warm_cpu})")
    out = {f"param_{p}": np.asarray(v) for p, v in res.params.items()}
    out.update(chi2=res.chi2, iterations=res.iterations, f_count=res.f_count, g_count=res.g_count,
               h_count=res.h_count, status=res.status, grid_index=idx, first_call_s=np.array(first),
               warm_s=np.array(warm), warm_cpu_s=np.array(warm_cpu), load_1min_before_first=np.array(load_first),
               load_1min_before_warm=np.array(loads))
    return out


def cached(grid: str, method: str, quick, repeats: int, refresh: bool) -> dict:
    """MoM results come from the cache file when there is one (its run is the slow one)."""
    if method != "mom":
        return run_method(grid, method, quick, repeats)
    path = RESULTS / f"mom_{grid}_{quick or 'all'}.npz"
    if path.exists() and not refresh:
        log(f"[{grid}/mom] cached: {path}")
        return dict(np.load(path))
    out = run_method(grid, method, quick, repeats)
    RESULTS.mkdir(exist_ok=True)
    np.savez(path, **out)
    return out


def recovered(truth: dict, run: dict, names, abs_tol: float) -> np.ndarray:
    ok = run["chi2"] < CHI2_SMALL
    for p in names:
        t, f = np.asarray(truth[p]), run[f"param_{p}"]
        ok &= np.where(t == 0.0, np.abs(f - t) <= abs_tol, np.abs(f - t) <= REL_TOL * np.abs(t))
    return ok


def summary(run: dict, ok: np.ndarray, ok_loose: np.ndarray) -> dict:
    names = status_names(run["status"])
    warm = [float(t) for t in np.atleast_1d(run["warm_s"])]
    return dict(n_recovered=int(ok.sum()), n_recovered_abs_1e_6_at_0=int(ok_loose.sum()),
                n_chi2_below_1e_20=int((run["chi2"] < CHI2_SMALL).sum()),
                iterations_total=int(run["iterations"].sum()), iterations_median=float(np.median(run["iterations"])),
                iterations_max=int(run["iterations"].max()),
                f_count_total=int(run["f_count"].sum()), g_count_total=int(run["g_count"].sum()),
                h_count_total=int(run["h_count"].sum()),
                status_counts={s: names.count(s) for s in sorted(set(names))},
                first_call_s=float(run["first_call_s"]), warm_s=warm,
                warm_median_s=statistics.median(warm) if warm else None,
                warm_cpu_s=[float(t) for t in np.atleast_1d(run.get("warm_cpu_s", []))],
                load_1min_before_first=float(run.get("load_1min_before_first", np.nan)),
                load_1min_before_warm=[float(v) for v in np.atleast_1d(run.get("load_1min_before_warm", []))])


def compare(grid: str, quick, repeats: int, refresh: bool) -> dict:
    model, truth, data, idx = bench_fit.load_grid(grid, quick)
    names = bench_fit.GRIDS[grid][2]
    runs = {m: cached(grid, m, quick, repeats, refresh) for m in METHODS}
    ok = {m: recovered(truth, r, names, ABS_TOL_ZERO) for m, r in runs.items()}
    ok_loose = {m: recovered(truth, r, names, ABS_TOL_ZERO_LOOSE) for m, r in runs.items()}
    out = dict(model=model, n_points=data.n_residues, methods={m: summary(runs[m], ok[m], ok_loose[m]) for m in runs})
    name = next(m for m in runs if m != "mom")
    new, mom = runs[name], runs["mom"]
    lost = np.flatnonzero(ok["mom"] & ~ok[name])
    gained = np.flatnonzero(~ok["mom"] & ok[name])
    missed = np.flatnonzero(~ok[name])

    def detail(i):
        return dict(grid_index=int(idx[i]), truth={p: float(truth[p][i]) for p in names},
                    **{m: dict(fitted={p: float(r[f"param_{p}"][i]) for p in names}, chi2=float(r["chi2"][i]),
                               iterations=int(r["iterations"][i]), status=Status(int(r["status"][i])).name)
                       for m, r in runs.items()})

    out.update(recovered_by_mom_not_by_new=[detail(i) for i in lost],
               recovered_by_new_not_by_mom=dict(count=int(gained.size), grid_indices=idx[gained].tolist()),
               not_recovered_by_new=dict(count=int(missed.size), first=[detail(i) for i in missed[:20]]),
               iterations_ratio_new_over_mom=int(new["iterations"].sum()) / max(int(mom["iterations"].sum()), 1))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="64 points per grid, spread over the grid")
    parser.add_argument("--quick-n", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="warm calls per method and grid (median)")
    parser.add_argument("--grids", nargs="*", default=["RG", "DMG"], choices=["RG", "DMG"])
    parser.add_argument("--refresh", action="store_true", help="rerun the Method of Multipliers (ignore the cache)")
    parser.add_argument("--max-iter", type=int, help="iteration cap of the new method (default: fit's 1e7)")
    parser.add_argument("--new", default="projected_newton", choices=NEW_METHODS, help="the new method")
    parser.add_argument("--polish", action="store_true",
                        help="the new method with fit(polish=True) (mfjax.polish, docs/polish.md); the MoM unchanged")
    parser.add_argument("--out", type=Path, help="also write the JSON to this file")
    args = parser.parse_args(argv)
    METHODS[args.new] = {"algorithm": args.new, **({"polish": True} if args.polish else {})}
    if args.max_iter:
        MAX_ITER[args.new] = args.max_iter
    quick = args.quick_n if args.quick else None
    doc = dict(benchmark=f"constrained Newton ({args.new}) vs Method of Multipliers on the RG and DMG",
               started=time.strftime("%Y-%m-%d %H:%M:%S"), versions=bench_fit.versions(),
               device=bench_fit.device_info(), cpu=bench_fit.cpu_info(),
               fit_settings=dict(bench_fit.FIT_KWARGS, diffusion=repr(bench_fit.FIT_KWARGS["diffusion"])),
               recovery=dict(chi2_below=CHI2_SMALL, rel_tol=REL_TOL, abs_tol_where_truth_is_0=ABS_TOL_ZERO,
                             loose_abs_tol_where_truth_is_0=ABS_TOL_ZERO_LOOSE),
               quick=bool(args.quick), repeats=args.repeats, new_method_settings=METHODS[args.new], max_iter_new_method=args.max_iter or "fit default (1e7)")
    for grid in args.grids:
        doc[grid] = compare(grid, quick, args.repeats, args.refresh)
    doc["cpu_after"] = bench_fit.cpu_info()
    text = json.dumps(bench_fit.jsonable(doc), indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
