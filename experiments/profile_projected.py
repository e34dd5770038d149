#!/usr/bin/env python
"""Cost of one engine step of ``algorithm="projected_newton"`` per problem, and of its parts, on DMG
problems (experiments/paper_grids.py, model m5, the grid-search starts that ``mfjax.fit`` makes).

The minimiser's inputs are captured from one ``fit`` call; then ``K`` steps of the vmapped solver step
(finished problems frozen, as the engine does) run on ``--width`` problems in one compiled loop, for
the full solver (specialised to the batch's constraints by ``for_constraints``, as the engine does)
and for variants with parts switched off (fields of ``ProjectedNewton``, e.g. ``geodesic=False``,
``refix_passes=0+max_general=0``, ``pattern=None``: A's structural zeros not skipped), and the
evaluation of f, ∇f, ∇²f alone (``vgh``). Prints CPU and wall µs per problem-step (CPU seconds of the process: steadier than wall
time on a shared machine; record ``uptime`` with them).

    PYTHONPATH=$PWD flock /tmp/bench.lock python experiments/profile_projected.py \\
        vgh base geodesic=False refix_passes=0+max_general=0
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_fit  # noqa: E402

from mfjax.solvers import batch, projected_newton  # noqa: E402
from mfjax.solvers.base import Problem  # noqa: E402
from mfjax.solvers.derivatives import value_grad_hess  # noqa: E402
from mfjax.status import Status  # noqa: E402


def capture(width: int):
    """(fun, Problem batch) of the first ``width`` DMG points spread over the grid, as fit hands them
    to the engine."""
    model, _, data, _ = bench_fit.load_grid("DMG", width)
    seen = {}
    original = batch.minimise

    def spy(fun, x0, args, A=None, b=None, **kw):
        seen.update(fun=fun, x0=np.asarray(x0), args=args, A=A, b=b)
        return original(fun, x0, args, A, b, **kw)

    batch.minimise = spy
    try:
        bench_fit.FIT(data, model, **bench_fit.FIT_KWARGS, algorithm="projected_newton")
    finally:
        batch.minimise = original
    n = seen["x0"].shape[0]
    A = np.broadcast_to(np.asarray(seen["A"], float), (n,) + np.shape(seen["A"]))
    b = np.broadcast_to(np.asarray(seen["b"], float), (n,) + np.shape(seen["b"]))
    prob = Problem(jnp.asarray(seen["x0"]), jax.tree.map(jnp.asarray, seen["args"]), jnp.asarray(A),
                   jnp.asarray(b), jnp.full(n, 10_000_000, jnp.int32), jnp.ones(n, bool))
    return seen["fun"], prob


def timed(f, prob, repeats=3):
    jax.block_until_ready(f(prob))
    best_cpu, best_wall = np.inf, np.inf
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        jax.block_until_ready(f(prob))
        best_wall, best_cpu = min(best_wall, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
    return best_cpu, best_wall


def solver_steps(fun, solver, steps):
    init = jax.vmap(lambda p: solver.init(fun, p))
    step = jax.vmap(lambda p, s: solver.step(fun, p, s))

    def run(prob):
        def body(_, s):
            live = s.status == Status.RUNNING
            if hasattr(solver, "prepare"):         # as the engine: the rare work only when a problem wants it
                wants = live & jax.vmap(solver.wants_prepare)(s)
                prepared = jax.vmap(lambda p, t: solver.prepare(fun, p, t))
                s = jax.lax.cond(jnp.any(wants), lambda t: jax.tree.map(
                    lambda u, v: jnp.where(wants.reshape(wants.shape + (1,) * (v.ndim - 1)), u, v), prepared(prob, t), t),
                    lambda t: t, s)
            new = step(prob, s)
            return jax.tree.map(lambda u, v: jnp.where(live.reshape(live.shape + (1,) * (v.ndim - 1)), u, v), new, s)
        return jax.lax.fori_loop(0, steps, body, init(prob))
    return jax.jit(run, compiler_options=batch._COMPILER_OPTIONS)


def evaluations(fun, steps):
    def run(prob):
        def body(i, acc):
            f, g, H = jax.vmap(lambda x, a: value_grad_hess(fun, x, a))(prob.x0 + 1e-9 * i, prob.args)
            return acc + f + g.sum(1) + H.sum((1, 2))
        return jax.lax.fori_loop(0, steps, body, jnp.zeros(prob.x0.shape[0]))
    return jax.jit(run, compiler_options=batch._COMPILER_OPTIONS)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="*", default=["vgh", "base"])
    parser.add_argument("--width", type=int, default=batch.SLOTS_CPU, help="problems stepped together")
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args(argv)
    with jax.enable_x64(True):
        fun, prob = capture(args.width)
        n_general = int(np.max(np.sum(np.count_nonzero(np.asarray(prob.A), axis=-1) > 1, axis=-1)))
        base = projected_newton.ProjectedNewton().for_constraints(np.asarray(prob.A), np.asarray(prob.b))
        for name in args.variants:
            if name == "vgh":
                f = evaluations(fun, args.steps)
            else:
                fields = {} if name == "base" else {k: eval(v) for k, v in (kv.split("=") for kv in name.split("+"))}
                f = solver_steps(fun, dataclasses.replace(base, **fields), args.steps)
            cpu, wall = timed(f, prob)
            per = 1e6 / (args.steps * args.width)
            print(f"{name:40s} CPU {cpu * per:6.2f} µs, wall {wall * per:6.2f} µs per problem-step "
                  f"(width {args.width}, {n_general} general rows, load {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main()
