#!/usr/bin/env python
"""Scaling of the global tensor fit (``mfjax.fit_tensor``) with the number of residues.

Synthetic ellipsoid (1, 2, 3)·1e7 s⁻¹, Euler angles (1, 2, 0.5) rad, model m2 (S2 0.7–0.95, τe 20–200 ps),
R1/R2/NOE at 600 and 800 MHz, Fibonacci-spread NH vectors, noise-free. For n = 44, 500 and 5,000 residues:
the time of one Newton iteration (one derivative pass: vmapped per-residue gradients and Hessian blocks, the
GMW-modified Schur complement and the step; plus one augmented-Lagrangian evaluation for the unit step),
warm, median and minimum of ``--repeats`` (the machine is shared); the fitted exponent of time ∝ n^k; for comparison the dense solve relax
would do (np.linalg.solve on a (2n + 6)² matrix; skipped above 2,000 residues). Then the full global fit of
5,000 residues from a start 10–15 % off (S2, τe 10 % off): first call (with compilation) and a second call.

    PYTHONPATH=. python experiments/bench_tensor.py --out experiments/results/bench_tensor.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tensor_data as td  # noqa: E402

import mfjax  # noqa: E402
from mfjax.diffusion import Ellipsoid  # noqa: E402
from mfjax.tensor import _setup, _zero_lambda, tensor_vector  # noqa: E402

EXP = mfjax.Experiment(["R1", "R2", "NOE"] * 2, [600.0] * 3 + [800.0] * 3)
TRUTH = Ellipsoid.from_eigenvalues(1e7, 2e7, 3e7, 1.0, 2.0, 0.5)
START = Ellipsoid.from_eigenvalues(1.15e7, 1.8e7, 3.3e7, 1.2, 1.8, 0.7)


def problem(n, seed=0):
    rng = np.random.default_rng(seed)
    vectors = td.fibonacci_vectors(n)
    params = {"s2": rng.uniform(0.7, 0.95, n), "te": rng.uniform(20e-12, 200e-12, n)}
    return td.synthetic(EXP, "m2", params, TRUTH, vectors), vectors, params


def iteration_time(n, repeats):
    with jax.enable_x64(True):      # the kernels are internal: run them in float64 as fit_tensor does
        return _iteration_time(n, repeats)


def _iteration_time(n, repeats):
    data, vectors, params = problem(n)
    start = {"s2": params["s2"] * 0.9, "te": params["te"] * 1.1}
    setup = _setup(data, "m2", START, vectors, 1.02e-10, -172e-6, start)
    lagrangian, derivatives, _ = setup["kernels"]
    xs, args, cons = setup["xs"], setup["args"], setup["cons"]
    t = tensor_vector(START)
    lam = _zero_lambda(xs, cons)
    mu = 1e-5

    def one():
        f, _, _, active = lagrangian(xs, t, args, cons, lam, mu)
        out = derivatives(xs, t, args, cons, lam, mu, active)
        jax.block_until_ready(out)
        return out

    t0 = time.perf_counter()
    one()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        one()
        times.append(time.perf_counter() - t0)
    dense = None
    if n <= 2000:
        m = 2 * n + 6
        a = np.random.default_rng(1).standard_normal((m, m))
        a = a @ a.T + m * np.eye(m)
        b = np.ones(m)
        t0 = time.perf_counter()
        for _ in range(3):
            np.linalg.solve(a, b)
        dense = (time.perf_counter() - t0) / 3
    return {"n_residues": n, "n_parameters": 2 * n + 6, "first_call_s": first, "iteration_s": statistics.median(times),
            "iteration_s_min": min(times),
            "iteration_s_all": times, "dense_solve_s": dense}


def full_fit(n):
    data, vectors, params = problem(n, seed=1)
    start = {"s2": params["s2"] * 0.9, "te": params["te"] * 1.1}
    out = {}
    for label in ("first_call", "second_call"):
        t0 = time.perf_counter()
        res = mfjax.fit_tensor(data, "m2", START, vectors=vectors, params=start)
        seconds = time.perf_counter() - t0
        rel = max(abs(a - b) / b for a, b in zip(res.diffusion.eigenvalues, TRUTH.eigenvalues))
        out[label] = {"seconds": seconds, "iterations": res.iterations, "f_count": res.f_count,
                      "g_count": res.g_count, "h_count": res.h_count, "chi2": res.chi2, "status": res.status.name,
                      "max_rel_error_dxyz": float(rel),
                      "max_rel_error_s2": float(np.max(np.abs(res.params["s2"] - params["s2"]) / params["s2"]))}
        print(label, res, seconds, file=sys.stderr, flush=True)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[44, 500, 5000])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--fit-size", type=int, default=5000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        rows.append(iteration_time(n, args.repeats))
        print(rows[-1], file=sys.stderr, flush=True)
    ns = np.array([r["n_residues"] for r in rows], float)
    out = {"environment": td.environment(), "iteration": rows}
    for key in ("iteration_s", "iteration_s_min"):
        ts = np.array([r[key] for r in rows])
        big = ns >= 500
        out[f"exponent_{key}_all_sizes"] = float(np.polyfit(np.log(ns), np.log(ts), 1)[0]) if len(rows) > 1 else None
        out[f"exponent_{key}_500_and_up"] = (float(np.polyfit(np.log(ns[big]), np.log(ts[big]), 1)[0])
                                             if big.sum() > 1 else None)
    if args.fit_size:
        out["full_fit"] = {"n_residues": args.fit_size, **full_fit(args.fit_size)}
    text = json.dumps(out, indent=1)
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
