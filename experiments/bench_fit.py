#!/usr/bin/env python
"""Benchmark of ``mfjax.fit`` on the paper's grids (d'Auvergne & Gooley 2008): the Rex Grid (model m4)
and the Double Motion Grid (model m5), relax's settings with the paper's grid (11 increments,
0 ≤ S2 ≤ 1, 0 ≤ τ ≤ 10 ns, 0 ≤ Rex ≤ 20 s⁻¹).

Prints ONE JSON document: versions, device, CPU cores, and per grid the first-call time (trace +
compile + run: the first fit of that model in this process), the warm time (median of ``--repeats``
further calls), iteration and call counts, status counts, how many points reach χ² < 1e-20 and how
many recover the truth (every fitted parameter within 1e-6 relative; 1e-9 absolute where the truth is
0), and the exceptions. Then the straggler case (one extra RG problem forced to run 10,000
iterations, through the grid search + ``mfjax.solvers.batch.minimise`` pipeline as ``fit`` runs it),
batch independence (the RG as one batch, permuted, and every 10th point alone), and the persistent
compilation cache (first-call time of the RG fit in two fresh child processes sharing one cache folder).

    .venv/bin/python experiments/bench_fit.py --quick            # 64 points per grid, smoke run
    .venv/bin/python experiments/bench_fit.py --out bench.json   # full grids (2,640 and 1,936 points)

Progress goes to stderr; stdout carries only the JSON.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import paper_grids  # noqa: E402  (experiments/paper_grids.py)
from json_tools import jsonable  # noqa: E402,F401  (re-exported to the other benchmarks)

import mfjax  # noqa: E402
import mfjax.diffusion  # noqa: E402
from mfjax import models  # noqa: E402
from mfjax.data import RelaxationData  # noqa: E402
from mfjax.status import Status, status_names  # noqa: E402

FIT = importlib.import_module("mfjax.fit").fit   # the function (mfjax.fit may be the module or the function)
FIT_KWARGS = dict(diffusion=mfjax.diffusion.Sphere(tm=10e-9), r=1.02 * 1e-10, csa=-160 * 1e-6,
                  grid_inc=11, grid_bounds="paper")
# grid -> (model, generator, parameters compared with the truth, the grid's own axes)
GRIDS = {"RG": ("m4", paper_grids.rex_grid, ("s2", "te", "rex"), ("s2", "te", "rex")),
         "DMG": ("m5", paper_grids.double_motion_grid, ("s2f", "s2", "ts", "s2s"), ("s2f", "s2s", "ts"))}
REL_TOL, ABS_TOL_ZERO, CHI2_SMALL = 1e-6, 1e-9, 1e-20
MAX_EXCEPTIONS = 20
FIG2_POINT = dict(s2=0.970, te=2048 * 1e-12, rex=0.149)   # the straggler copies this RG point


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------
# Environment

def versions() -> dict:
    import jaxlib

    def dist(name):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    return dict(python=platform.python_version(), jax=jax.__version__,
                jaxlib=getattr(jaxlib, "__version__", None) or dist("jaxlib"), numpy=np.__version__,
                mfjax=getattr(mfjax, "__version__", None) or dist("mfjax"))


def device_info() -> dict:
    devices = jax.devices()
    return dict(platform=jax.default_backend(), count=len(devices), devices=[str(d) for d in devices],
                kinds=sorted({d.device_kind for d in devices}))


def cpu_info() -> dict:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return dict(os_cpu_count=os.cpu_count(), sched_affinity=affinity,
                load_average_1_5_15=list(os.getloadavg()) if hasattr(os, "getloadavg") else None)


# ---------------------------------------------------------------------------------------------------
# Data

def subset_indices(n: int, quick: int | None) -> np.ndarray:
    """All points, or ``quick`` points spread evenly over the grid (so every axis is sampled)."""
    if not quick or quick >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, quick).round().astype(int))


def load_grid(name: str, quick: int | None):
    """(model, truth dict (N,), RelaxationData, grid indices) for grid ``name``, possibly a subset."""
    model, make = GRIDS[name][:2]
    _, truth, data = make()
    idx = subset_indices(data.n_residues, quick)
    data = RelaxationData(data.experiment, data.values[idx], data.errors[idx], data.mask[idx],
                          residues=tuple(data.residues[i] for i in idx))
    return model, {k: v[idx] for k, v in truth.items()}, data, idx


# ---------------------------------------------------------------------------------------------------
# Recovery of the truth

def recovery(truth: dict, params: dict, names, axes, chi2, status, grid_idx, result) -> dict:
    """Points with χ² < 1e-20, points whose parameters all match the truth, and the exceptions
    (not recovered, χ² ≥ 1e-20 or not converged): their count per value of each grid axis, their grid
    indices, and up to 20 of them in detail, spread evenly over the grid."""
    ok = np.ones(len(chi2), bool)
    rel = {}
    for p in names:
        t, f = np.asarray(truth[p]), np.asarray(params[p])
        rel[p] = np.abs(f - t) / np.where(t == 0.0, 1.0, np.abs(t))
        ok &= np.where(t == 0.0, np.abs(f - t) <= ABS_TOL_ZERO, np.abs(f - t) <= REL_TOL * np.abs(t))
    small = chi2 < CHI2_SMALL
    converged = status == Status.CONVERGED
    bad = np.flatnonzero(~ok | ~small | ~converged)
    by_axis = {p: {repr(float(v)): f"{int(np.sum(~ok & (truth[p] == v)))}/{int(np.sum(truth[p] == v))}"
                   for v in np.unique(truth[p])} for p in axes}
    kinds = {}
    for i in bad:
        key = f"{'recovered' if ok[i] else 'not_recovered'}, chi2 {'<' if small[i] else '>='} 1e-20, " \
              f"{Status(int(status[i])).name}"
        kinds[key] = kinds.get(key, 0) + 1
    shown = bad[np.unique(np.linspace(0, bad.size - 1, min(MAX_EXCEPTIONS, bad.size)).round().astype(int))] \
        if bad.size else bad
    exceptions = []
    for i in shown:
        exceptions.append(dict(
            grid_index=int(grid_idx[i]), residue=result.residues[i],
            truth={p: float(truth[p][i]) for p in names},
            fitted={p: float(params[p][i]) for p in names},
            max_rel_error=max(float(rel[p][i]) for p in names),
            chi2=float(chi2[i]), status=Status(int(status[i])).name, iterations=int(result.iterations[i]),
            recovered=bool(ok[i]), chi2_small=bool(small[i])))
    return dict(n_chi2_below_1e_20=int(small.sum()), n_recovered=int(ok.sum()),
                n_not_recovered=int((~ok).sum()), n_exceptions=int(bad.size), exception_kinds=kinds,
                not_recovered_by_truth_value=by_axis, exception_grid_indices=grid_idx[bad].tolist(),
                exceptions=exceptions)


# ---------------------------------------------------------------------------------------------------
# Benchmarks

def timed_fit(data, model):
    t0 = time.perf_counter()
    result = FIT(data, model, **FIT_KWARGS)   # returns numpy arrays: already synchronous
    return time.perf_counter() - t0, result


def bench_grid(name: str, quick: int | None, repeats: int) -> dict:
    model, truth, data, idx = load_grid(name, quick)
    names, axes = GRIDS[name][2:]
    log(f"[{name}] {data.n_residues} points, model {model}: first call ...")
    first, result = timed_fit(data, model)
    log(f"[{name}] first call {first:.2f} s; {repeats} warm calls ...")
    warm, same = [], True
    for _ in range(repeats):
        t, again = timed_fit(data, model)
        warm.append(t)
        same &= all(np.array_equal(again.params[p], result.params[p], equal_nan=True) for p in result.params)
        same &= np.array_equal(again.chi2, result.chi2, equal_nan=True)
    log(f"[{name}] warm median {statistics.median(warm):.2f} s")
    status = np.asarray(result.status)
    names_list = status_names(status)
    out = dict(model=model, n_points=data.n_residues, first_call_s=first, warm_s=warm,
               warm_median_s=statistics.median(warm), warm_results_identical_to_first=bool(same),
               iterations_median=float(np.median(result.iterations)), iterations_max=int(np.max(result.iterations)),
               iterations_total=int(np.sum(result.iterations)),
               f_count_median=float(np.median(result.f_count)), g_count_median=float(np.median(result.g_count)),
               h_count_median=float(np.median(result.h_count)), grid_count_median=float(np.median(result.grid_count)),
               status_counts={s: names_list.count(s) for s in sorted(set(names_list))})
    out.update(recovery(truth, result.params, names, axes, np.asarray(result.chi2), status, idx, result))
    return out


def bench_straggler(quick: int | None, repeats: int, straggler_iter: int) -> dict:
    """The RG pipeline as ``fit`` runs it (grid search, then batch.minimise from the grid's best
    points), with and without one extra problem (a copy of the Fig. 2 point) that may not converge
    and runs ``straggler_iter`` iterations; and that problem alone through the same pipeline."""
    from mfjax.objective import residue_problem
    from mfjax.solvers import batch, grid, registry

    model_name, truth, data, idx = load_grid("RG", quick)
    model = models.get_model(model_name)
    with jax.enable_x64(True):
        problem = residue_problem(data, model, diffusion=FIT_KWARGS["diffusion"], r=FIT_KWARGS["r"],
                                  csa=FIT_KWARGS["csa"])
    scales = np.asarray(problem.scales)
    A, b = models.linear_constraints(model, tm=FIT_KWARGS["diffusion"].tm)
    lower, upper = models.grid_bounds(model, FIT_KWARGS["grid_bounds"])
    n = data.n_residues
    hit = np.flatnonzero(np.all([np.isclose(truth[p], v, rtol=1e-12, atol=0) for p, v in FIG2_POINT.items()], 0))
    k = int(hit[0]) if hit.size else n // 2
    args_s = jax.tree.map(lambda a: np.concatenate([np.asarray(a), np.asarray(a)[k:k + 1]]), problem.args)
    options = registry.build("newton", line_search="backtrack", hessian_mod="gmw", constraints="mom",
                             func_tol=1e-25, grad_tol=None)
    cases = {   # name -> (args, max_iter, converge)
        "without": (problem.args, np.full(n, 10_000_000), np.ones(n, bool)),
        "with": (args_s, np.append(np.full(n, 10_000_000), straggler_iter), np.append(np.ones(n, bool), False)),
        "alone": (jax.tree.map(lambda a: a[n:], args_s), np.array([straggler_iter]), np.array([False])),
    }

    def run(case: str):
        args, max_iter, converge = cases[case]
        with jax.enable_x64(True):
            t0 = time.perf_counter()
            start, _, _ = grid.grid_search(problem.fun, args, lower / scales, upper / scales,
                                           np.full(model.n_params, FIT_KWARGS["grid_inc"]), A, b)
            res = batch.minimise(problem.fun, np.asarray(start), args, A, b, solver=options, max_iter=max_iter,
                                  converge=converge)
            return time.perf_counter() - t0, res

    log(f"[straggler] {n} + 1 problems (copy of grid point {int(idx[k])}), warm-up ...")
    first = {case: run(case) for case in cases}
    times = {case: [] for case in cases}
    for _ in range(repeats):   # interleaved, so drifting machine load hits every case alike
        for case in cases:
            times[case].append(run(case)[0])
    plain, strag = first["without"][1], first["with"][1]
    others_same = bool(np.array_equal(strag.x[:n], plain.x) and np.array_equal(strag.f[:n], plain.f)
                       and np.array_equal(strag.iterations[:n], plain.iterations))
    changed = np.any(strag.x[:n] != plain.x, axis=1)
    rel_change = np.abs(strag.x[:n] - plain.x) / np.maximum(np.abs(plain.x), 1e-300)
    med = {case: statistics.median(t) for case, t in times.items()}
    log(f"[straggler] without {med['without']:.2f} s, with {med['with']:.2f} s, alone {med['alone']:.2f} s")
    f_strag = int(strag.f_count[n])
    return dict(pipeline="grid search + batch.minimise, as mfjax.fit", n_problems=n,
                straggler_copy_of_grid_index=int(idx[k]), straggler_max_iter=straggler_iter,
                straggler_iterations=int(strag.iterations[n]), straggler_status=Status(int(strag.status[n])).name,
                straggler_f_count=f_strag, straggler_f_count_per_iteration=f_strag / max(int(strag.iterations[n]), 1),
                others_f_count_total=int(plain.f_count.sum()), others_iterations_max=int(plain.iterations.max()),
                others_iterations_total=int(plain.iterations.sum()),
                first_call_s={case: first[case][0] for case in cases},
                warm_without_s=times["without"], warm_with_s=times["with"], straggler_alone_s=times["alone"],
                warm_without_median_s=med["without"], warm_with_median_s=med["with"],
                straggler_alone_median_s=med["alone"], ratio_with_over_without=med["with"] / med["without"],
                extra_cost_over_alone_cost=(med["with"] - med["without"]) / med["alone"],
                extra_s_per_straggler_f_eval=(med["with"] - med["without"]) / max(f_strag, 1),
                other_results_identical=others_same, others_changed=int(changed.sum()),
                others_changed_max_rel_change=float(rel_change.max()),
                others_changed_max_abs_change=float(np.abs(strag.x[:n] - plain.x).max()))


def bench_batch_independence(quick: int | None, alone_every: int) -> dict:
    """The RG fitted as one batch, as a permuted batch, and every ``alone_every``-th point on its own:
    the largest relative change of any fitted parameter (absolute where its truth is 0), and how
    many points change by more than 1e-12 relative (the issue's tolerance)."""
    model, truth, data, idx = load_grid("RG", quick)
    full = FIT(data, model, **FIT_KWARGS)
    perm = np.random.default_rng(0).permutation(data.n_residues)
    permuted = FIT(data.subset(perm), model, **FIT_KWARGS)
    alone_idx = np.arange(0, data.n_residues, alone_every)
    alone = [FIT(data.subset([int(i)]), model, **FIT_KWARGS) for i in alone_idx]

    def compare(get_other, rows):
        """Relative change where the truth is not 0; absolute change (reported apart) where it is."""
        worst, worst_abs, n_over, where = 0.0, 0.0, 0, None
        for j, i in enumerate(rows):
            for p, ref in full.params.items():
                a, b = float(ref[i]), float(get_other(j)[p])
                if p in truth and truth[p][i] == 0.0:
                    worst_abs = max(worst_abs, abs(a - b))
                    continue
                change = abs(a - b) / abs(a)
                if change > worst:
                    worst, where = change, dict(grid_index=int(idx[i]), parameter=p, batch=a, other=b)
                n_over += change > 1e-12
        return dict(n_points=len(rows), max_rel_change=worst, n_values_over_1e_12=int(n_over), worst=where,
                    max_abs_change_where_truth_is_0=worst_abs)

    inverse = np.argsort(perm)
    return dict(
        permuted=compare(lambda j: {p: v[inverse[j]] for p, v in permuted.params.items()}, range(data.n_residues)),
        alone=compare(lambda j: {p: v[0] for p, v in alone[j].params.items()}, alone_idx))


def enable_cache(path: str) -> str:
    """The persistent compilation cache in ``path``; returns how it was switched on."""
    helper = getattr(mfjax, "enable_compilation_cache", None)
    if callable(helper):
        helper(path)
        return "mfjax.enable_compilation_cache"
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    if "jax_persistent_cache_min_entry_size_bytes" in jax.config.values:
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return "jax.config"


def cache_child(path: str, quick: int | None) -> dict:
    """Child process: cache on, then the first RG fit of this process, timed."""
    method = enable_cache(path)
    model, _, data, _ = load_grid("RG", quick)
    first, result = timed_fit(data, model)
    return dict(first_call_s=first, method=method, n_points=data.n_residues,
                n_converged=int(np.sum(result.status == Status.CONVERGED)))


def bench_cache(quick: int | None) -> dict:
    folder = tempfile.mkdtemp(prefix="mfjax_bench_cache_")
    cmd = [sys.executable, os.path.abspath(__file__), "--_cache-child", folder]
    if quick:
        cmd += ["--quick-n", str(quick), "--quick"]
    runs = []
    try:
        for i in range(2):
            log(f"[cache] child {i + 1} ...")
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                raise RuntimeError(f"cache child {i + 1} failed (rc {proc.returncode}):\n{proc.stderr[-4000:]}")
            child = json.loads(proc.stdout.strip().splitlines()[-1])
            files = [p for p in Path(folder).rglob("*") if p.is_file()]
            child.update(process_wall_s=wall, cache_files_after=len(files),
                         cache_bytes_after=sum(p.stat().st_size for p in files))
            runs.append(child)
            log(f"[cache] child {i + 1}: first call {child['first_call_s']:.2f} s")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return dict(method=runs[0]["method"], cold=runs[0], warm_cache=runs[1],
                speedup_first_call=runs[0]["first_call_s"] / runs[1]["first_call_s"])


# ---------------------------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run on a small subset of each grid")
    parser.add_argument("--quick-n", type=int, default=64, help="points per grid with --quick (default 64)")
    parser.add_argument("--repeats", type=int, default=3, help="warm calls per timing (median; default 3)")
    parser.add_argument("--straggler-iter", type=int, default=10_000, help="iterations of the straggler")
    parser.add_argument("--alone-every", type=int, default=10,
                        help="batch independence: fit every k-th RG point on its own (default 10)")
    parser.add_argument("--out", type=Path, help="also write the JSON to this file")
    parser.add_argument("--skip", nargs="*", default=[], choices=["RG", "DMG", "straggler", "batch", "cache"],
                        help="parts to leave out")
    parser.add_argument("--_cache-child", dest="cache_child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = args.quick_n if args.quick else None

    if args.cache_child:
        print(json.dumps(jsonable(cache_child(args.cache_child, quick))))
        return

    t_start = time.perf_counter()
    doc = dict(benchmark="mfjax.fit on the paper's RG (m4) and DMG (m5)", quick=bool(args.quick),
               started=time.strftime("%Y-%m-%d %H:%M:%S"), versions=versions(), device=device_info(),
               cpu=cpu_info(), fit_settings=dict(FIT_KWARGS, diffusion=repr(FIT_KWARGS["diffusion"])),
               recovery_criteria=dict(rel_tol=REL_TOL, abs_tol_where_truth_is_0=ABS_TOL_ZERO, chi2_small=CHI2_SMALL),
               repeats=args.repeats, compilation_cache_dir_in_main=jax.config.jax_compilation_cache_dir)
    for name in ("RG", "DMG"):
        if name not in args.skip:
            doc[name] = bench_grid(name, quick, args.repeats)
    if "straggler" not in args.skip:
        doc["straggler"] = bench_straggler(quick, args.repeats, args.straggler_iter)
    if "batch" not in args.skip:
        doc["batch_independence"] = bench_batch_independence(quick, args.alone_every)
    if "cache" not in args.skip:
        doc["compilation_cache"] = bench_cache(quick)
    doc["cpu_after"] = cpu_info()
    doc["total_wall_s"] = time.perf_counter() - t_start
    text = json.dumps(jsonable(doc), indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
