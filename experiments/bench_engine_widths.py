#!/usr/bin/env python
"""The cost of bitwise batch independence: the RG warm fit (model m4, relax's settings, paper grid, 11
increments, as experiments/bench_fit.py runs it) timed as a whole and per component — grid search,
the minimiser, its bulk and tail phases (older checkouts run the grid search asynchronously: its time
then shows in "rest"). Options change the engine's widths and the grid search's block, or leave out
points (the two RG points that wander at the round-off floor, 99 and 110).

Run it from a checkout (it imports the ``mfjax`` found on PYTHONPATH, so the same script times an old
commit too, for alternating runs):

    PYTHONPATH=$PWD python experiments/bench_engine_widths.py --repeats 5
    PYTHONPATH=/tmp/base python experiments/bench_engine_widths.py --repeats 5   # an older checkout

Prints ONE JSON document (versions, device, load average before and after, the timings: median and
all repeats). The machine's load (other processes) changes the numbers: compare checkouts in
alternating runs.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import paper_grids  # noqa: E402

import mfjax  # noqa: E402
import mfjax.diffusion  # noqa: E402
from mfjax.solvers import grid  # noqa: E402

fit_module = importlib.import_module("mfjax.fit")
try:
    from mfjax.solvers import batch as engine      # the engine since the solvers were split into parts
except ImportError:                                  # older checkouts
    from mfjax.solvers import driver as engine

FIT_KWARGS = dict(diffusion=mfjax.diffusion.Sphere(tm=10e-9), r=1.02 * 1e-10, csa=-160 * 1e-6,
                  grid_inc=11, grid_bounds="paper")


def timed(module, name, bucket):
    """Wrap ``module.name`` so that its wall time is added to ``bucket[name]``."""
    inner = getattr(module, name)

    def wrapper(*a, **k):
        t = time.perf_counter()
        out = inner(*a, **k)
        bucket[name] = bucket.get(name, 0.0) + time.perf_counter() - t
        return out
    setattr(module, name, wrapper)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--exclude", default="", help="grid indices left out of the RG, e.g. 99,110 (the wanderers)")
    ap.add_argument("--grid-batch", type=int, help="grid_search batch_size (default: the checkout's)")
    ap.add_argument("--slots", type=int, help="engine bulk slots per CPU device (default: the checkout's)")
    ap.add_argument("--tail", type=int, help="engine tail slots per CPU device (default: the checkout's)")
    args = ap.parse_args()
    if args.grid_batch:
        inner = grid.grid_search
        grid.grid_search = lambda *a, **k: inner(*a, **{**k, "batch_size": args.grid_batch})
    if args.slots:
        setattr(engine, "SLOTS_CPU", args.slots)
    if args.tail:
        setattr(engine, "TAIL_SLOTS_CPU" if hasattr(engine, "TAIL_SLOTS_CPU") else "TAIL_SLOTS", args.tail)
    load0 = os.getloadavg()
    _, truth, data = paper_grids.rex_grid()
    if args.exclude:
        keep = np.setdiff1d(np.arange(data.n_residues), [int(i) for i in args.exclude.split(",")])
        data = type(data)(data.experiment, data.values[keep], data.errors[keep], data.mask[keep],
                          residues=tuple(data.residues[i] for i in keep))
    bucket: dict = {}
    phases: list = []
    for name in ("_phase", "_queued_phase", "_plain_phase"):     # the engine's bulk and tail phases
        if hasattr(engine, name):
            inner_phase = getattr(engine, name)

            def phase(*a, _inner=inner_phase, **k):
                t = time.perf_counter()
                out = _inner(*a, **k)
                phases.append(time.perf_counter() - t)
                return out
            setattr(engine, name, phase)
    timed(fit_module.grid, "grid_search", bucket)
    eng = fit_module.batch if hasattr(fit_module, "batch") else fit_module.driver
    timed(eng, "minimise", bucket)
    t = time.perf_counter()
    res = fit_module.fit(data, model="m4", **FIT_KWARGS)
    first = time.perf_counter() - t
    runs = []
    for _ in range(args.repeats):
        bucket.clear()
        phases.clear()
        t = time.perf_counter()
        res = fit_module.fit(data, model="m4", **FIT_KWARGS)
        total = time.perf_counter() - t
        runs.append(dict(total=total, grid=bucket.get("grid_search", 0.0), minimise=bucket.get("minimise", 0.0),
                         rest=total - bucket.get("grid_search", 0.0) - bucket.get("minimise", 0.0),
                         bulk=phases[0] if phases else 0.0, tail=sum(phases[1:])))
    it = np.asarray(res.iterations if hasattr(res, "iterations") else res["iterations"])
    out = dict(versions=dict(python=platform.python_version(), jax=jax.__version__, numpy=np.__version__),
               mfjax_path=str(Path(mfjax.__file__).parent), device=str(jax.devices()[0]), cpu_count=os.cpu_count(),
               settings=dict(grid_batch=args.grid_batch, slots=args.slots, tail=args.tail),
               load_before=load0, first_call_s=first,
               warm_median={k: statistics.median(r[k] for r in runs) for k in runs[0]}, warm_runs=runs,
               n_points=int(data.n_residues), exclude=args.exclude,
               iterations_total=int(it.sum()), iterations_max=int(it.max()),
               f_count_max=int(np.max(res.f_count)))
    out["load_after"] = os.getloadavg()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
