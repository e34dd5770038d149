#!/usr/bin/env python
"""Why the fits of the Double Motion Grid's flat-valley points (d'Auvergne & Gooley 2008; model m5,
S2s = 0.001, τs = 0.1 ps) stall at χ² 1e-15–1e-13 instead of reaching 1e-20: condition numbers at the
fitted point and what polishing from it achieves.

For each point: χ² of the plain fit (grid, Newton–GMW–backtracking in the Method of Multipliers), the
condition number of the χ² Hessian (scaled coordinates) and of the Jacobian of the weighted residuals
there, then χ² after a polish from the fit: Levenberg–Marquardt (``fit(algorithm="lm", x0=...)``,
normal equations) and a Gauss–Newton whose steps come from an SVD least-squares solve of J·p = −r
(``numpy.linalg.lstsq``, so the conditioning is J's, not JᵀJ's), with step halving, ``--gn-steps`` steps,
in m5's coordinates and in the valley's, u = (S2, (S2f − S2)·τs, τs), where the valley is straight.

    python experiments/dmg_valley.py [--gn-steps 30]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import paper_grids  # noqa: E402
from bench_fit import cpu_info, device_info, jsonable, versions  # noqa: E402

import mfjax  # noqa: E402
from mfjax import models  # noqa: E402
from mfjax.objective import residue_problem  # noqa: E402

KW = dict(diffusion=paper_grids.DIFFUSION, r=paper_grids.R_NH, csa=paper_grids.CSA, grid_inc=11, grid_bounds="paper")


def valley_x(u):
    """m5's scaled (S2f, S2, τs ps) from the valley coordinates u = (S2, P = (S2f − S2)·τs, τs): the data
    fix S2 and P (J ≈ 0.4·[S2·τm/(1 + ω²τm²) + P]) and τs only through (ωτs)², so the valley is straight."""
    return jnp.stack([u[0] + u[1] / u[2], u[0], u[2]])


def valley_u(x):
    return np.stack([x[:, 1], (x[:, 0] - x[:, 1]) * x[:, 2], x[:, 2]], axis=1)


def gauss_newton_svd(fun, x, args, steps, to_x=None):
    """Gauss–Newton on fun.residuals (of to_x(x) when given) with lstsq (SVD) steps and halving until χ²
    does not increase. Returns (x, χ²)."""
    res = fun.residuals if to_x is None else (lambda u, a: fun.residuals(to_x(u), a))
    residuals = jax.jit(jax.vmap(res))
    jacobian = jax.jit(jax.vmap(jax.jacfwd(res)))
    chi2 = lambda x: np.sum(np.asarray(residuals(jnp.asarray(x), args)) ** 2, axis=1)
    f = chi2(x)
    for _ in range(steps):
        r, J = np.asarray(residuals(jnp.asarray(x), args)), np.asarray(jacobian(jnp.asarray(x), args))
        step = np.stack([np.linalg.lstsq(J[i], -r[i], rcond=None)[0] for i in range(len(x))])
        t = np.ones(len(x))
        for _ in range(60):
            f_trial = chi2(x + t[:, None] * step)
            if np.all(f_trial <= f):
                break
            t = np.where(f_trial <= f, t, t / 2)
        better = f_trial <= f
        x = np.where(better[:, None], x + t[:, None] * step, x)
        f = np.where(better, f_trial, f)
    return x, f


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gn-steps", type=int, default=30)
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)
    _, truth, data = paper_grids.double_motion_grid()
    idx = np.flatnonzero((truth["s2s"] == 0.001) & (truth["ts"] < 0.2e-12))
    data = data.subset(idx)
    model = models.get_model("m5")
    t0 = time.perf_counter()
    single = mfjax.fit(data, model, **KW)
    t_single = time.perf_counter() - t0
    problem = residue_problem(data, model, diffusion=paper_grids.DIFFUSION, r=paper_grids.R_NH, csa=paper_grids.CSA)
    scales = np.asarray(problem.scales)
    x = np.stack([single.params[p] / s for p, s in zip(model.params, scales)], axis=1)
    fargs = {k: jnp.asarray(v) for k, v in problem.args.items()}
    one = lambda i: {k: v[i] for k, v in fargs.items()}
    hess_cond = [float(np.linalg.cond(np.asarray(jax.hessian(problem.fun)(jnp.asarray(x[i]), one(i)))))
                 for i in range(len(x))]
    jac_cond = [float(np.linalg.cond(np.asarray(jax.jacfwd(problem.fun.residuals)(jnp.asarray(x[i]), one(i)))))
                for i in range(len(x))]
    t0 = time.perf_counter()
    lm = mfjax.fit(data, model, x0={p: single.params[p] for p in model.params}, algorithm="lm", constraints=False, **KW)
    t_lm = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, f_gn = gauss_newton_svd(problem.fun, x, fargs, args.gn_steps)
    t_gn = time.perf_counter() - t0
    t0 = time.perf_counter()
    u, f_valley = gauss_newton_svd(problem.fun, valley_u(x), fargs, args.gn_steps, to_x=valley_x)
    x_valley = np.asarray(jax.vmap(valley_x)(jnp.asarray(u))) * scales
    t_valley = time.perf_counter() - t0
    out = dict(versions=versions(), device=device_info(), cpu=cpu_info(), points=len(idx),
               seconds=dict(fit=t_single, lm_polish=t_lm, gauss_newton_svd=t_gn, valley_gauss_newton_svd=t_valley),
               gn_steps=args.gn_steps, below_1e_20=dict(fit=int((single.chi2 < 1e-20).sum()), lm=int((lm.chi2 < 1e-20).sum()),
                                                        gauss_newton_svd=int((f_gn < 1e-20).sum()),
                                                        valley_gauss_newton_svd=int((f_valley < 1e-20).sum())),
               rows=[dict(s2f=float(truth["s2f"][j]), chi2_fit=float(single.chi2[i]), iterations=int(single.iterations[i]),
                          status=single.status_names[i], hessian_condition=hess_cond[i], jacobian_condition=jac_cond[i],
                          chi2_after_lm=float(lm.chi2[i]), chi2_after_gauss_newton_svd=float(f_gn[i]),
                          chi2_after_valley_gauss_newton_svd=float(f_valley[i]),
                          valley_s2f=float(x_valley[i, 0]), valley_ts_ps=float(x_valley[i, 2] * 1e12))
                     for i, j in enumerate(idx)])
    print(json.dumps(jsonable(out), indent=1))


if __name__ == "__main__":
    main()
