#!/usr/bin/env python
"""The cost of ``scalar_code`` (mfjax.solvers.batch, "Bitwise batch independence"): the solvers that
compile without SIMD vectorisation, timed warm on 64 Rosenbrock problems (the problems of
tests/test_batch_independence.py, x0 ≤ 0.9 as the one constraint), each run to a fixed number of
iterations (convergence tests off), with their scalar code and — for comparison — with the vectorised
code they had before (not bitwise batch-independent). Runs alternate (scalar, vectorised, scalar, ...).

    PYTHONPATH=$PWD python experiments/bench_scalar_code.py --repeats 3

Prints ONE JSON document: versions, device, load average before and after, per solver and code the
compile-and-first-run time and the warm times (µs per iteration, wall and process CPU; median of
the repeats).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from mfjax.solvers import batch, registry  # noqa: E402

SOLVERS = ("fr:mom", "newton_cg:none", "lbfgs:none", "simplex:none", "gauss_newton:none")


def rosenbrock(x, a):
    return a[1] * ((a[0] - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2)


def _residuals(x, a):
    """Weighted residuals of ``rosenbrock`` (Σ r² = f), for Gauss–Newton and LM."""
    w = jnp.sqrt(a[1])
    return jnp.stack([w * (a[0] - x[0]), w * 10.0 * (x[1] - x[0] ** 2)])


rosenbrock.residuals = _residuals


def problems(n, seed=7):
    rng = np.random.default_rng(seed)
    return rng.uniform(-2.0, 2.0, (n, 2)), np.stack([rng.uniform(-1.2, 1.2, n), rng.uniform(0.5, 3.0, n)], axis=1)


def timed(solver, x0, a, max_iter, repeats):
    A, b = np.array([[-1.0, 0.0]]), np.array([-0.9])
    run = lambda: batch.minimise(rosenbrock, x0, a, A, b, solver=solver, max_iter=max_iter,  # noqa: E731
                                 converge=np.zeros(len(x0), bool))
    t0 = time.perf_counter()
    res = run()
    first = time.perf_counter() - t0
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        res = run()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    iters = int(res.iterations.sum())
    return dict(first_s=round(first, 2), iterations=iters, f_count=int(res.f_count.sum()),
                wall_us_per_iter=round(statistics.median(wall) / iters * 1e6, 3),
                cpu_us_per_iter=round(statistics.median(cpu) / iters * 1e6, 3))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--solvers", nargs="+", default=SOLVERS, help="algorithm:constraints pairs")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--max-iter", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="alternations scalar/vectorised")
    args = parser.parse_args()
    x0, a = problems(args.n)
    load_before = os.getloadavg()
    scalar_options, build = dict(batch._SCALAR_CODE_OPTIONS), batch._compiled.__wrapped__
    programs, code = {}, ["scalar"]

    def compiled(fun, solver):    # both programs kept, so that the rounds alternate warm
        key = (code[0], fun, solver)
        if key not in programs:
            batch._SCALAR_CODE_OPTIONS = scalar_options if code[0] == "scalar" else {}
            programs[key] = build(fun, solver)
        return programs[key]

    batch._compiled = compiled
    out = {}
    for spec in args.solvers:
        name, constraints = spec.split(":")
        solver = registry.build(name, constraints=constraints)
        rows = {"scalar": [], "vectorised": []}
        for _ in range(args.rounds):
            for code[0] in ("scalar", "vectorised"):
                rows[code[0]].append(timed(solver, x0, a, args.max_iter, args.repeats))
        out[spec] = dict(scalar_code=bool(getattr(solver, "scalar_code", False)), **rows)
        print(spec, json.dumps(out[spec]), file=sys.stderr, flush=True)
    print(json.dumps(dict(jax=jax.__version__, python=platform.python_version(), device=str(jax.devices()[0]),
                          cpu=platform.processor() or platform.machine(), n=args.n, max_iter=args.max_iter,
                          load_before=load_before, load_after=os.getloadavg(), results=out), indent=1))


if __name__ == "__main__":
    main()
