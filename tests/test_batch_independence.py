"""Bitwise batch independence: a problem's parameters, χ², counts and status are the same bits fitted
alone, in any batch, at any position, in the bulk or in the tail, on one or two CPU devices — for every
registered algorithm (mfjax.solvers.registry.ALGORITHMS) — and RG point 524 of d'Auvergne & Gooley
(2008) gives one answer whatever else is fitted with it."""
import os
import subprocess
import sys
import textwrap

import jax.numpy as jnp
import numpy as np
import pytest

import mfjax
from mfjax.data import Experiment
from mfjax.solvers import registry
from mfjax.solvers.batch import minimise
from mfjax.solvers.least_squares import GaussNewtonSVD
from mfjax.status import Status

FIELDS = ("x", "f", "iterations", "f_count", "g_count", "h_count", "status")


def rosenbrock(x, a):
    """Rosenbrock with minimum at (a, a²), scaled by a[1]: round-off shows in every bit of the path."""
    return a[1] * ((a[0] - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2)


def _rosenbrock_residuals(x, a):
    """Weighted residuals of ``rosenbrock`` (Σ r² = f), for the least-squares algorithms."""
    w = jnp.sqrt(a[1])
    return jnp.stack([w * (a[0] - x[0]), w * 10.0 * (x[1] - x[0] ** 2)])


rosenbrock.residuals = _rosenbrock_residuals


def _problems(n, seed):
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(-2.0, 2.0, (n, 2))
    a = np.stack([rng.uniform(-1.2, 1.2, n), rng.uniform(0.5, 3.0, n)], axis=1)
    return x0, a


A, B = np.array([[-1.0, 0.0]]), np.array([-0.9])          # x0 ≤ 0.9: some minima on the bound


def _rows(res, idx):
    return tuple(np.asarray(getattr(res, name))[idx] for name in FIELDS)


def _assert_same(got, want, what):
    for name, u, v in zip(FIELDS, got, want):
        assert np.array_equal(u, v), f"{what}: {name} differs: {u} vs {v}"


# Every registered algorithm with each constraint handling that applies to it (the solvers whose FMA
# contraction differed between widths compile without SIMD: mfjax.solvers.batch, "scalar_code").
SOLVERS = [(name, constraints) for name in registry.ALGORITHMS
           for constraints in (("own", "none") if registry.handles_constraints(name)
                               else ("dasha", "none") if registry.has_own_state(name) else ("mom", "none"))]


@pytest.mark.parametrize("algorithm, constraints", SOLVERS)
def test_alone_permuted_and_in_a_larger_batch_are_bitwise_equal(algorithm, constraints):
    _check_alone_permuted_larger(registry.build(algorithm, constraints=constraints))


def test_the_polish_solver_alone_permuted_and_in_a_larger_batch_is_bitwise_equal():
    """``fit(polish=True)``'s Gauss–Newton with SVD steps (not in the registry)."""
    _check_alone_permuted_larger(GaussNewtonSVD())


def _check_alone_permuted_larger(solver):
    x0, a = _problems(13, seed=5)
    run = lambda x, args, **kw: minimise(rosenbrock, x, args, A, B, solver=solver, max_iter=400, **kw)
    batch = run(x0, a)
    ok = (batch.status == Status.CONVERGED) | (batch.status == Status.MAX_ITERATIONS)
    assert ok.sum() >= 10, batch.status                    # real optimisations, not a batch of failures
    perm = np.random.default_rng(1).permutation(13)
    permuted = run(x0[perm], a[perm], chunk=7)             # and host visits every 7 steps
    x_more, a_more = _problems(150, seed=6)                # 163 problems: 64 slots refilled from the queue
    larger = run(np.concatenate([x_more[:100], x0, x_more[100:]]), np.concatenate([a_more[:100], a, a_more[100:]]))
    one_width = run(x0, a, one_width=True)                 # all in the tail's 8 slots (fit_models)
    for i in range(13):
        want = _rows(batch, i)
        _assert_same(_rows(one_width, i), want, f"problem {i} in one width")
        _assert_same(_rows(run(x0[i:i + 1], a[i:i + 1]), 0), want, f"problem {i} alone")
        _assert_same(_rows(permuted, int(np.flatnonzero(perm == i)[0])), want, f"problem {i} permuted")
        _assert_same(_rows(larger, 100 + i), want, f"problem {i} in a batch of 163")


# ----------------------------------------------------------------------------- RG point 524

def _rg_points():
    """RG point 524 (S2 0.905, τe 8.192 ns, Rex 0.223 s⁻¹ at 600 MHz) and six other RG points, with the
    paper's data set-up (R1, R2, NOE at 600 and 500 MHz; σ 2 % of R1 and R2, 0.04 / 0.05 for the NOE)."""
    exp = Experiment(["R1", "R2", "NOE"] * 2, [600.0] * 3 + [500.0] * 3)
    truth = {"s2": np.array([0.905, 0.970, 0.582, 0.001, 0.776, 0.931, 0.388]),
             "te": np.array([8192.0, 2048.0, 32.0, 256.0, 1.0, 512.0, 4096.0]) * 1e-12,
             "rex": np.array([0.223, 0.149, 1.644, 0.0, 5.460, 0.0, 12.151])}
    values = mfjax.back_calc(exp, "m4", truth, diffusion=mfjax.Sphere(tm=10.0 * 1e-9), r=1.02 * 1e-10,
                             csa=-160 * 1e-6)
    errors = np.where(np.array(exp.kinds) == "NOE", np.where(np.array(exp.fields_mhz) == 600.0, 0.04, 0.05),
                      0.02 * values)
    return mfjax.RelaxationData(exp, values, errors, residues=[f"rg{i}" for i in range(7)])


# r and CSA as plain literals: in this arithmetic the path of point 524 passes the S2 = 1 corner and ends
# there (χ² 26.1), as relax's own path does with these literals.
FIT = dict(diffusion=mfjax.Sphere(tm=10e-9), r=1.02e-10, csa=-160e-6, grid_inc=11, grid_bounds="paper")


def _fit_rows(res, i):
    return (np.array([res.params[p][i] for p in ("s2", "te", "rex")]), res.chi2[i], res.iterations[i],
            res.f_count[i], res.g_count[i], res.h_count[i], res.status[i])


def test_rg_point_524_gives_one_answer_alone_and_in_every_batch():
    data = _rg_points()
    alone = mfjax.fit(data.subset([0]), "m4", **FIT)
    want = _fit_rows(alone, 0)
    for order in ([0, 1], [1, 0], [3, 2, 0, 1, 4, 5, 6], [6, 5, 4, 3, 2, 1, 0]):
        res = mfjax.fit(data.subset(order), "m4", **FIT)
        _assert_same(_fit_rows(res, order.index(0)), want, f"point 524 in batch {order}")
    # Wherever it ends, it is not a plain CONVERGED unless it found the minimum (χ² = 0 at the truth).
    if alone.chi2[0] > 1e-10:
        assert alone.status[0] == Status.DEGENERATE_CORNER
        assert abs(alone.params["s2"][0] - 1.0) <= 1e-6 and abs(alone.chi2[0] - 26.1357) < 1e-3
    else:
        np.testing.assert_allclose(alone.params["s2"][0], 0.905, rtol=1e-9)


def test_polished_dmg_points_give_one_answer_alone_and_in_every_batch():
    """fit(polish=True) on Double Motion Grid points (d'Auvergne & Gooley 2008, model m5): two in the flat
    valley (S2s 0.001, τs 0.1 ps), whose polish moves them from χ² ~1e-14 to ~1e-28, and one that is not."""
    exp = Experiment(["R1", "R2", "NOE"] * 2, [600.0] * 3 + [500.0] * 3)
    s2f = np.array([0.001, 0.970, 0.776])
    truth = {"s2f": s2f, "s2": s2f * np.array([0.001, 0.001, 0.582]), "ts": np.array([0.1, 0.1, 64.0]) * 1e-12}
    values = mfjax.back_calc(exp, "m5", truth, diffusion=FIT["diffusion"], r=FIT["r"], csa=FIT["csa"])
    errors = np.where(np.array(exp.kinds) == "NOE", np.where(np.array(exp.fields_mhz) == 600.0, 0.04, 0.05),
                      0.02 * values)
    data = mfjax.RelaxationData(exp, values, errors, residues=["a", "b", "c"])
    rows = lambda r, i: (np.array([r.params[p][i] for p in ("s2f", "s2", "ts")]), r.chi2[i],
                         *(r.polish[k][i] for k in ("status", "iterations", "f_count", "g_count", "chi2_before")))
    alone = [mfjax.fit(data.subset([i]), "m5", polish=True, **FIT) for i in range(3)]
    assert alone[0].polish["improved"][0] and alone[0].chi2[0] < 1e-20
    for order in ([0, 1, 2], [2, 1, 0], [1, 2, 0]):
        res = mfjax.fit(data.subset(order), "m5", polish=True, **FIT)
        for pos, i in enumerate(order):
            for u, v in zip(rows(res, pos), rows(alone[i], 0)):
                assert np.array_equal(u, v), f"point {i} at {pos} of {order}: {u} vs {v}"


def test_two_cpu_devices_give_the_same_bits():
    """Every algorithm of SOLVERS, the polish solver, and point 524 through fit, on two CPU devices (a child
    process)."""
    script = textwrap.dedent("""
        import sys, jax, numpy as np
        jax.config.update("jax_num_cpu_devices", 2)
        sys.path.insert(0, sys.argv[2])
        import test_batch_independence as t
        from mfjax.solvers import registry
        from mfjax.solvers.batch import minimise
        assert len(jax.devices()) == 2
        out = {}
        with jax.enable_x64(True):
            x0, a = t._problems(13, seed=5)
            for name, constraints in t.SOLVERS:
                res = minimise(t.rosenbrock, x0, a, t.A, t.B, solver=registry.build(name, constraints=constraints),
                               max_iter=400, chunk=7)
                out.update({f"{name}|{constraints}|{k}": np.asarray(getattr(res, k)) for k in t.FIELDS})
            res = minimise(t.rosenbrock, x0, a, solver=t.GaussNewtonSVD(), max_iter=400, chunk=7)
            out.update({f"polish|{k}": np.asarray(getattr(res, k)) for k in t.FIELDS})
        fit = t.mfjax.fit(t._rg_points(), "m4", **t.FIT)
        out.update({f"fit|{k}": np.asarray(v) for k, v in enumerate(t._fit_rows(fit, 0))})
        np.savez(sys.argv[1], **out)
    """)
    out = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"mfjax_two_devices_{os.getpid()}.npz")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", script, out, os.path.dirname(__file__)], capture_output=True,
                          text=True, timeout=1200, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = np.load(out)
    x0, a = _problems(13, seed=5)
    for name, constraints in SOLVERS:
        one = minimise(rosenbrock, x0, a, A, B, solver=registry.build(name, constraints=constraints), max_iter=400)
        two = [got[f"{name}|{constraints}|{k}"] for k in FIELDS]
        _assert_same(two, _rows(one, slice(None)), f"{name} with {constraints}: two devices vs one")
    one = minimise(rosenbrock, x0, a, solver=GaussNewtonSVD(), max_iter=400)
    _assert_same([got[f"polish|{k}"] for k in FIELDS], _rows(one, slice(None)), "the polish solver: two devices vs one")
    alone = mfjax.fit(_rg_points().subset([0]), "m4", **FIT)
    _assert_same([got[f"fit|{k}"] for k in range(7)], _fit_rows(alone, 0), "point 524: two devices vs alone on one")
