#!/usr/bin/env python
"""Benchmark of ``mfjax.monte_carlo`` on the paper's Rex Grid (d'Auvergne & Gooley 2008; 2,640 residues,
model m4, 11-increment grid over the paper's bounds, then Newton–GMW–backtracking in the Method of
Multipliers, func_tol 1e-25): ``--replicas`` replicas of the whole grid refitted from the fit (relax's
default), as one batched problem per chunk. 500 replicas = 1.32 million m4 fits (relax: about 7 ms per
residue per simulation, 2.5 hours). With ``--select`` also times ``mfjax.select`` over m0–m9 (AIC) on
the whole grid (first call, then warm).

Prints ONE JSON document (versions, device, cores, load, times, fits per second, status counts, the
median Monte Carlo SD of each parameter). When fewer than 500 replicas are run, ``extrapolated_500_s``
scales the measured warm rate to 500 replicas (and says so).

    python experiments/bench_mc.py --replicas 500
    python experiments/bench_mc.py --replicas 50 --select
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import paper_grids  # noqa: E402
from bench_fit import cpu_info, device_info, jsonable, log, versions  # noqa: E402

import mfjax  # noqa: E402
from mfjax.status import status_names  # noqa: E402

KW = dict(diffusion=paper_grids.DIFFUSION, r=paper_grids.R_NH, csa=paper_grids.CSA, grid_inc=11, grid_bounds="paper")


def counts(status) -> dict:
    names = status_names(np.ravel(status))
    return {name: names.count(name) for name in sorted(set(names))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=500, help="0: no Monte Carlo (with --select)")
    parser.add_argument("--chunk", type=int, default=None, help="replicas per chunk (default: mfjax's)")
    parser.add_argument("--select", action="store_true", help="also time mfjax.select over m0-m9")
    args = parser.parse_args()
    _, truth, data = paper_grids.rex_grid()
    n = data.n_residues
    out = dict(versions=versions(), device=device_info(), cpu=cpu_info(), residues=n, replicas=args.replicas)

    t0 = time.perf_counter()
    res = mfjax.fit(data, "m4", **KW)
    out["fit_first_s"] = time.perf_counter() - t0
    if args.replicas:
        monte_carlo_run(out, data, res, args)
    if args.select:
        select_run(out, data, truth)
    print(json.dumps(jsonable(out), indent=1))


def monte_carlo_run(out, data, res, args):
    n = data.n_residues
    # warm-up: one small Monte Carlo run compiles the solver programs of the chunk's batch shapes
    t0 = time.perf_counter()
    mfjax.monte_carlo(data, res, n_sims=2, seed=123, chunk_size=args.chunk)
    out["mc_warmup_2_replicas_s"] = time.perf_counter() - t0

    done = []
    t0 = time.perf_counter()
    mc = mfjax.monte_carlo(data, res, n_sims=args.replicas, seed=0, chunk_size=args.chunk,
                           progress=lambda k, total: (done.append((k, time.perf_counter() - t0)),
                                                      log(f"{k}/{total} replicas, {time.perf_counter() - t0:.1f} s")))
    seconds = time.perf_counter() - t0
    fits = args.replicas * n
    out["mc"] = dict(seconds=seconds, fits=fits, fits_per_second=fits / seconds, chunk_size=mc.settings["chunk_size"],
                     chunks=[dict(replicas=k, seconds=s) for k, s in done], status=counts(mc.status),
                     median_sd=dict(s2=float(np.nanmedian(mc.errors["s2"])),
                                    te_ps=float(np.nanmedian(mc.errors["te"]) * 1e12),
                                    rex=float(np.nanmedian(mc.errors["rex"]))))
    if args.replicas < 500:
        out["mc"]["extrapolated_500_s"] = seconds * 500 / args.replicas
        out["mc"]["note"] = f"measured on {args.replicas} replicas; 500 replicas extrapolated at the same rate"


def select_run(out, data, truth):
    """First call per model (compile + run, each model's fit timed), then the warm selection."""
    models = [f"m{i}" for i in range(10)]
    first = {}
    for m in models:
        t0 = time.perf_counter()
        mfjax.fit(data, m, **KW)
        first[m] = time.perf_counter() - t0
        log(f"select: first fit of {m}: {first[m]:.1f} s")
    t0 = time.perf_counter()
    sel = mfjax.select(data, models=models, criterion="AIC", **KW)
    warm = time.perf_counter() - t0
    chosen = {m: int((sel.model == m).sum()) for m in models + [""]}
    exact_m4 = np.isfinite(sel.fits["m4"].chi2) & (sel.fits["m4"].chi2 < 1e-20)
    rex0 = truth["rex"] == 0
    out["select"] = dict(warm_s=warm, first_fit_per_model_s=first, chosen=chosen,
                         m4_exact_points=int(exact_m4.sum()),
                         m4_exact_and_chosen=int((exact_m4 & (sel.model == "m4")).sum()),
                         m4_exact_rex_positive_not_m4=int((exact_m4 & ~rex0 & (sel.model != "m4")).sum()),
                         rex0_points_chosen={m: int((rex0 & (sel.model == m)).sum()) for m in models + [""]},
                         status={m: counts(sel.fits[m].status) for m in models})

if __name__ == "__main__":
    main()
