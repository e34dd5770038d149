#!/usr/bin/env python
"""Why RG points 99 and 110 (S2 0.001, τe 128 / 256 ps, Rex 0) take more iterations on the current
engine than on 7c5141b (before the engine split): the iteration counts of one RG point (model m4,
relax's settings, paper grid, 11 increments, as experiments/bench_fit.py fits it)

- through the engine: alone, three copies, and the first and last of 70 copies in one batch;
- through the engine's step function alone, jitted with the engine's compiler options, stepped in
  Python ``width`` copies wide (``--widths``), with the number of steps (evaluations).

Run it against any checkout (it imports the ``mfjax`` on PYTHONPATH; old checkouts have
``solvers/driver.py``, new ones ``solvers/batch.py``), e.g. for alternating comparisons:

    PYTHONPATH=$PWD python experiments/rg_point_paths.py --points 99,110
    PYTHONPATH=/path/to/7c5141b python experiments/rg_point_paths.py --points 99,110

Prints ONE JSON document.
"""
from __future__ import annotations

import argparse
import functools
import importlib
import json
import sys
from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, str(Path(__file__).resolve().parent))
import paper_grids  # noqa: E402

import mfjax  # noqa: E402
import mfjax.diffusion  # noqa: E402

fit_module = importlib.import_module("mfjax.fit")
NEW = hasattr(fit_module, "batch")
engine = fit_module.batch if NEW else fit_module.driver
FIT_KWARGS = dict(diffusion=mfjax.diffusion.Sphere(tm=10e-9), r=1.02 * 1e-10, csa=-160 * 1e-6,
                  grid_inc=11, grid_bounds="paper")


def captured_minimise():
    """The inputs ``fit`` hands the engine for the whole RG (grid-search starts included)."""
    seen = {}
    inner = engine.minimise

    def spy(fun, x0, args, A=None, b=None, **kw):
        seen.update(fun=fun, x0=np.asarray(x0), args=args, A=A, b=b, kw=kw)
        return inner(fun, x0, args, A, b, **kw)
    engine.minimise = spy
    _, _, data = paper_grids.rex_grid()
    fit_module.fit(data, model="m4", **FIT_KWARGS)
    engine.minimise = inner
    return seen


def through_engine(cap, idx):
    A, b = np.asarray(cap["A"]), np.asarray(cap["b"])
    if A.ndim == 3:
        A, b = A[idx], b[idx]
    res = engine.minimise(cap["fun"], cap["x0"][idx], jax.tree.map(lambda a: np.asarray(a)[idx], cap["args"]), A, b,
                          **cap["kw"])
    return res.iterations.tolist()


def stepped(cap, p, width):
    """(iterations, steps) of point p, its step function vmapped ``width`` wide, one jitted call per step."""
    A, b = np.asarray(cap["A"], np.float64), np.asarray(cap["b"], np.float64)
    if A.ndim == 3:
        A, b = A[p], b[p]
    rep = lambda a: np.repeat(np.asarray(a)[None], width, axis=0)
    args = jax.tree.map(lambda a: rep(np.asarray(a)[p]), cap["args"])
    limit = (rep(np.int32(cap["kw"].get("max_iter", 10_000_000))), rep(True))
    opts = dict(compiler_options=engine._COMPILER_OPTIONS)
    if NEW:
        from mfjax.solvers.base import Problem
        solver = cap["kw"]["solver"]
        prob = Problem(rep(cap["x0"][p]), args, rep(A), rep(b), *limit)
        state = jax.jit(jax.vmap(functools.partial(solver.init, cap["fun"])))(prob)
        step = jax.jit(jax.vmap(functools.partial(solver.step, cap["fun"])), **opts)
    else:
        o = cap["kw"].get("options", engine.Options())
        prob = engine.Problem(rep(cap["x0"][p]), args, rep(A), rep(b), *limit)
        state = jax.jit(jax.vmap(functools.partial(engine._blank_one, o)))(prob)
        step = jax.jit(jax.vmap(functools.partial(engine._step_one, cap["fun"], o)), **opts)
    n = 0
    while True:
        state = step(prob, state)
        n += 1
        if int(np.asarray(state.status)[0]) != -1:       # Status.RUNNING
            return int(np.asarray(state.iters)[0]), n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", default="99,110")
    ap.add_argument("--widths", default="2,8,64")
    args = ap.parse_args()
    cap = captured_minimise()
    out = dict(mfjax_path=str(Path(mfjax.__file__).parent), engine=engine.__name__,
               compiler_options=engine._COMPILER_OPTIONS, points={})
    for p in (int(s) for s in args.points.split(",")):
        out["points"][p] = dict(
            engine_alone=through_engine(cap, np.array([p]))[0],
            engine_three_copies=through_engine(cap, np.full(3, p)),
            engine_70_copies_first_last=through_engine(cap, np.full(70, p))[::69],
            step_function={w: dict(zip(("iterations", "steps"), stepped(cap, p, w)))
                           for w in (int(s) for s in args.widths.split(","))})
        print(p, out["points"][p], file=sys.stderr, flush=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
