#!/usr/bin/env python
"""The RG warm fit of two checkouts in alternating runs (A, B, A, B, ...): each run is
``experiments/bench_fit.py --repeats R --skip DMG straggler batch cache`` of that checkout in a fresh
process (its own ``mfjax`` on PYTHONPATH), so both see the same background load. Records every run's
warm median, warm times, total iterations and the load average before and after, and per checkout the
median of the run medians.

    python experiments/bench_alternating.py --tree base=/path/to/old --tree new=$PWD --pairs 3 \
        --out experiments/results/bench_rg_alternating.json [--lock /tmp/bench.lock]

``--lock FILE`` holds an exclusive lock on FILE (``flock``) during each pair of runs, so that timings of
other jobs that take the same lock do not overlap with them.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def run_one(tree: Path, repeats: int) -> dict:
    cmd = [sys.executable, str(tree / "experiments" / "bench_fit.py"), "--repeats", str(repeats),
           "--skip", "DMG", "straggler", "batch", "cache"]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    load0 = os.getloadavg()
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t
    rg = json.loads(proc.stdout)["RG"]
    return dict(warm_median_s=rg["warm_median_s"], warm_s=rg["warm_s"], first_call_s=rg["first_call_s"],
                iterations_total=rg["iterations_total"], load_before=load0,
                load_after=os.getloadavg(), process_wall_s=wall)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree", action="append", required=True, help="NAME=PATH of a checkout (give two or more)")
    ap.add_argument("--pairs", type=int, default=3, help="rounds of alternating runs (default 3)")
    ap.add_argument("--repeats", type=int, default=7, help="warm calls per run (default 7)")
    ap.add_argument("--lock", help="file to flock during each round")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    trees = dict(t.split("=", 1) for t in args.tree)
    runs = []
    for k in range(args.pairs):
        if args.out and runs:      # what is measured so far, in case the run is cut short
            args.out.write_text(json.dumps(dict(partial=True, runs=runs), indent=1) + "\n")
        lock = open(args.lock, "a") if args.lock else None
        if lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            for name, path in trees.items():
                r = dict(tree=name, round=k, **run_one(Path(path).resolve(), args.repeats))
                print(f"{name} round {k}: warm median {r['warm_median_s']:.3f} s, load {r['load_before'][0]:.2f}",
                      file=sys.stderr, flush=True)
                runs.append(r)
        finally:
            if lock:
                lock.close()
    summary = {name: dict(path=str(Path(path).resolve()),
                          median_of_run_medians_s=statistics.median(r["warm_median_s"] for r in runs if r["tree"] == name),
                          run_medians_s=[r["warm_median_s"] for r in runs if r["tree"] == name])
               for name, path in trees.items()}
    out = dict(what="RG warm fit (m4, paper grid, 11 increments, relax's settings), alternating runs",
               command=" ".join(sys.argv), summary=summary, runs=runs)
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
