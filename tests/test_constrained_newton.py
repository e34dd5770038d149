"""The active-set Newton (mfjax.solvers.active_set) on problems with known minima: a bound-constrained
quadratic whose minimum lies on a bound, a general linear inequality (against scipy's SLSQP),
Rosenbrock with an active bound, the paper's Fig. 2 point from the degenerate corner S2 = 1, τe = 0,
Double Motion Grid points that relax's Method of Multipliers does not recover, no NaN at S2 = 1, and
batch independence."""
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize as scipy_minimize

import mfjax
from mfjax.data import Experiment, RelaxationData
from mfjax.examples import load_example
from mfjax.solvers import active_set
from mfjax.solvers.active_set import ActiveSetNewton
from mfjax.solvers.batch import minimise
from mfjax.status import Status

SOLVER = ActiveSetNewton()
Q = np.array([[4.0, 1.0], [1.0, 3.0]])


def quadratic(x, a):
    """½ (x − a)ᵀ Q (x − a) + 1."""
    d = x - a
    return 0.5 * d @ jnp.asarray(Q) @ d + 1.0


def rosenbrock(x, a):
    return (a[0] - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


def test_box_constrained_quadratic_minimum_on_a_bound_matches_scipy():
    # 0 ≤ x ≤ 1 with the unconstrained minimum at (2, −0.5): the answer is on the boundary.
    A = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    b = np.array([0.0, -1.0, 0.0, -1.0])
    a = np.array([2.0, -0.5])
    res = minimise(quadratic, np.array([[0.5, 0.5], [0.0, 1.0], [1.0, 0.0]]), np.tile(a, (3, 1)), A, b, solver=SOLVER)
    ref = scipy_minimize(lambda x: 0.5 * (x - a) @ Q @ (x - a) + 1.0, [0.5, 0.5], method="L-BFGS-B",
                         bounds=[(0, 1), (0, 1)], options=dict(ftol=1e-15, gtol=1e-12))
    # analytic: x1 = 0 active; x0 minimises 2(x0−2)² + (x0−2)(0.5) → x0 = 2 − 0.5/4 = 1.875 → clipped to 1
    np.testing.assert_allclose(res.x, np.tile([1.0, 0.0], (3, 1)), atol=1e-12)
    np.testing.assert_allclose(res.x[0], ref.x, atol=1e-7)
    np.testing.assert_allclose(res.f, 0.5 * (np.array([-1.0, 0.5]) @ Q @ np.array([-1.0, 0.5])) + 1.0, rtol=1e-14)
    assert (res.status == Status.CONVERGED).all()
    assert (res.f_count == res.g_count).all() and (res.g_count == res.h_count).all()
    assert (res.iterations <= res.f_count).all() and (res.iterations > 0).all()


def test_general_linear_inequality_matches_slsqp():
    # x0 + x1 ≤ 1 (a row that is not a bound) and x ≥ 0, minimum of the quadratic at (2, 2) outside.
    A = np.array([[-1.0, -1.0], [1.0, 0.0], [0.0, 1.0]])
    b = np.array([-1.0, 0.0, 0.0])
    a = np.array([2.0, 2.0])
    res = minimise(quadratic, np.array([[0.1, 0.1]]), a[None], A, b, solver=SOLVER)
    ref = scipy_minimize(lambda x: 0.5 * (x - a) @ Q @ (x - a) + 1.0, [0.1, 0.1], method="SLSQP",
                         constraints=[dict(type="ineq", fun=lambda x: A @ x - b)], options=dict(ftol=1e-15))
    np.testing.assert_allclose(res.x[0], ref.x, atol=1e-7)
    # analytic: on x = (t, 1 − t), df/dt = 5t − 4 = 0 → t = 0.8 (and x ≥ 0 inactive)
    np.testing.assert_allclose(res.x[0], [0.8, 0.2], atol=1e-13)
    assert res.status[0] == Status.CONVERGED


def test_rosenbrock_with_an_active_bound():
    # x0 ≤ 0.5: the minimum is (0.5, 0.25) with f = 0.25 (the bound is active, multiplier 1 > 0).
    A, b = np.array([[-1.0, 0.0]]), np.array([-0.5])
    res = minimise(rosenbrock, np.array([[-1.2, 1.0], [0.4, 2.0]]), np.ones((2, 1)), A, b, solver=SOLVER)
    np.testing.assert_allclose(res.x, [[0.5, 0.25], [0.5, 0.25]], atol=1e-10)
    np.testing.assert_allclose(res.f, 0.25, rtol=1e-12)
    assert (res.status == Status.CONVERGED).all()


def test_unconstrained_rosenbrock():
    res = minimise(rosenbrock, np.array([[-1.2, 1.0]]), np.ones((1, 1)), solver=SOLVER)
    np.testing.assert_allclose(res.x[0], [1.0, 1.0], atol=1e-10)
    assert res.f[0] < 1e-20 and res.status[0] == Status.CONVERGED


def test_an_infeasible_start_is_moved_inside():
    A = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    b = np.array([0.0, -1.0, 0.0, -1.0])
    res = minimise(quadratic, np.array([[5.0, -3.0]]), np.array([[0.3, 0.6]]), A, b, solver=SOLVER)
    np.testing.assert_allclose(res.x[0], [0.3, 0.6], atol=1e-12)
    assert res.f[0] == pytest.approx(1.0, abs=1e-20)


def test_result_does_not_depend_on_the_batch():
    A = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    b = np.array([0.0, -1.0, 0.0, -1.0])
    rng = np.random.default_rng(3)
    x0, a = rng.uniform(0, 1, (9, 2)), rng.uniform(-1, 2, (9, 2))
    full = minimise(rosenbrock, x0, a[:, :1], A, b, solver=SOLVER)
    for i in (0, 4, 8):
        alone = minimise(rosenbrock, x0[i:i + 1], a[i:i + 1, :1], A, b, solver=SOLVER)
        assert alone.x[0].tobytes() == full.x[i].tobytes()
        assert (alone.f[0], alone.iterations[0], alone.f_count[0]) == (full.f[i], full.iterations[i], full.f_count[i])


def test_no_nan_on_a_zero_hessian_row():
    # S2 = 1 makes τe undefined: ∇f and ∇²f have a zero row. The direction stays finite.
    g = jnp.array([-2.0, 0.0, 0.5])
    H = jnp.array([[10.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 3.0]])
    A = jnp.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    b = jnp.array([0.0, -1.0, 0.0, 0.0])
    x = jnp.array([1.0, 0.0, 0.0])
    working, p, slope, amax, *_ = active_set._direction(x, g, H, A, b, "gmw")
    assert np.all(np.isfinite(np.asarray(p))) and float(slope) <= 0.0
    # Multipliers: S2 ≤ 1: 2 > 0, τe ≥ 0: 0, Rex ≥ 0: 0.5 > 0 — all kept, so the point is stationary.
    assert np.asarray(working).tolist() == [False, True, True, True]
    np.testing.assert_array_equal(np.asarray(p), 0.0)


# -- model-free problems --------------------------------------------------------------------------

FIT_KW = dict(diffusion=mfjax.Sphere(tm=10e-9), r=1.02e-10, csa=-160e-6)


def test_fig2_point_from_the_degenerate_corner():
    # relax's S2_0.970_te_2048_Rex_0.149 data, m4, from S2 = 1, τe = 0, Rex = 0 (a corner where τe is
    # undefined): the truth to 1e-8.
    data = load_example("S2_0.970_te_2048_Rex_0.149")
    keep = [i for i in range(data.n_residues) if data.n_points[i] > 0]
    data = data.subset(keep)
    res = mfjax.fit(data, "m4", x0=dict(s2=1.0, te=0.0, rex=0.0), algorithm="active_set_newton", **FIT_KW)
    np.testing.assert_allclose(res.params["s2"], 0.970, rtol=1e-8)
    np.testing.assert_allclose(res.params["te"], 2048e-12, rtol=1e-8)
    np.testing.assert_allclose(res.params["rex"], 0.149, rtol=1e-8)
    assert res.chi2[0] < 1e-20 and res.status_names == ["CONVERGED"]
    assert np.isfinite(res.chi2).all()


def _dmg_data(points):
    """Double Motion Grid points (S2f, S2s, τs in s), noise-free, as d'Auvergne & Gooley (2008) build
    them: R1, R2, NOE at 600 then 500 MHz; σ(R) = 2 %, σ(NOE) = 0.04 / 0.05."""
    exp = Experiment(["R1", "R2", "NOE"] * 2, [600.0] * 3 + [500.0] * 3)
    s2f, s2s, ts = (np.array(v, float) for v in zip(*points))
    values = mfjax.back_calc(exp, "m5", dict(s2f=s2f, s2=s2f * s2s, ts=ts), diffusion=FIT_KW["diffusion"],
                             r=1.02 * 1e-10, csa=-160 * 1e-6)
    errors = np.where(np.array(exp.kinds) == "NOE", np.where(np.array(exp.fields_mhz) == 600.0, 0.04, 0.05),
                      0.02 * values)
    return RelaxationData(exp, values, errors), s2f, s2s, ts


def test_dmg_points_that_the_method_of_multipliers_misses():
    # DMG points 1925 and 1848 (experiments/bench_constrained.py): relax's MoM ends at χ² 2.86 and
    # 4.4e-5; the active-set Newton recovers them from the same grid starts.
    points = [(0.001, 0.970, 8192e-12), (0.001, 0.970, 64e-12)]
    data, s2f, s2s, ts = _dmg_data(points)
    res = mfjax.fit(data, "m5", grid_inc=11, grid_bounds="paper", algorithm="active_set_newton", **FIT_KW)
    np.testing.assert_allclose(res.params["s2f"], s2f, rtol=1e-6)
    np.testing.assert_allclose(res.params["s2"], s2f * s2s, rtol=1e-6)
    np.testing.assert_allclose(res.params["ts"], ts, rtol=1e-6)
    assert (res.chi2 < 1e-20).all()


def test_never_nan_at_the_s2_equal_1_corner():
    data, *_ = _dmg_data([(0.97, 0.97, 8192e-12)])
    res = mfjax.fit(data, "m5", x0=dict(s2f=1.0, s2=1.0, ts=0.0), algorithm="active_set_newton", **FIT_KW)
    assert np.isfinite(res.chi2).all() and all(np.isfinite(v).all() for v in res.params.values())
    assert res.status[0] != Status.NOT_FINITE
