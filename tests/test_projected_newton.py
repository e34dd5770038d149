"""The projected Newton (mfjax.solvers.projected_newton) on problems with known minima: a bound-constrained
quadratic whose minimum lies on a bound (analytic and scipy's L-BFGS-B), a general linear inequality
(analytic), Rosenbrock with an active bound and unconstrained, an infeasible start, the Rex Grid and
Double Motion Grid points of d'Auvergne & Gooley (2008) whose truth it must recover (noise-free data,
the paper's 11-increment grid start), and the registry's handling of its constraints."""
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize as scipy_minimize

import mfjax
from mfjax.data import Experiment, RelaxationData
from mfjax.solvers import registry
from mfjax.solvers.batch import minimise
from mfjax.solvers.projected_newton import ProjectedNewton
from mfjax.status import Status

SOLVER = ProjectedNewton()
Q = np.array([[4.0, 1.0], [1.0, 3.0]])
BOX = (np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]]), np.array([0.0, -1.0, 0.0, -1.0]))


def quadratic(x, a):
    """½ (x − a)ᵀ Q (x − a) + 1."""
    d = x - a
    return 0.5 * d @ jnp.asarray(Q) @ d + 1.0


def rosenbrock(x, a):
    return (a[0] - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


def _rosenbrock_residuals(x, a):
    return jnp.stack([a[0] - x[0], 10.0 * (x[1] - x[0] ** 2)])


rosenbrock.residuals = _rosenbrock_residuals      # exercises the geodesic acceleration


def test_box_constrained_quadratic_minimum_on_a_bound():
    # 0 ≤ x ≤ 1, unconstrained minimum at (2, −0.5): x1 = 0 is active, and on x1 = 0 the minimum in
    # x0 is 2 − 0.5·1/4 = 1.875 > 1, so x0 = 1 too: the answer is the corner (1, 0).
    a = np.array([2.0, -0.5])
    res = minimise(quadratic, np.array([[0.5, 0.5], [0.0, 1.0], [1.0, 0.0]]), np.tile(a, (3, 1)), *BOX, solver=SOLVER)
    ref = scipy_minimize(lambda x: 0.5 * (x - a) @ Q @ (x - a) + 1.0, [0.5, 0.5], method="L-BFGS-B",
                         bounds=[(0, 1), (0, 1)], options=dict(ftol=1e-15, gtol=1e-12))
    np.testing.assert_allclose(res.x, np.tile([1.0, 0.0], (3, 1)), atol=1e-12)
    np.testing.assert_allclose(res.x[0], ref.x, atol=1e-7)
    np.testing.assert_allclose(res.f, 0.5 * (np.array([-1.0, 0.5]) @ Q @ np.array([-1.0, 0.5])) + 1.0, rtol=1e-14)
    assert (res.status == Status.CONVERGED).all()
    assert (res.f_count == res.g_count).all() and (res.g_count == res.h_count).all()
    assert ((res.iterations > 0) & (res.iterations < res.f_count)).all()


def test_general_linear_inequality():
    # x0 + x1 ≤ 1 (a general row) and x ≥ 0; the quadratic's minimum (2, 2) is outside. On the row,
    # x = (t, 1 − t): df/dt = 5t − 4 = 0 → t = 0.8, and x ≥ 0 is inactive there.
    A = np.array([[-1.0, -1.0], [1.0, 0.0], [0.0, 1.0]])
    b = np.array([-1.0, 0.0, 0.0])
    res = minimise(quadratic, np.array([[0.1, 0.1], [0.0, 0.0], [0.9, 0.0]]), np.tile([2.0, 2.0], (3, 1)), A, b,
                   solver=SOLVER)
    np.testing.assert_allclose(res.x, np.tile([0.8, 0.2], (3, 1)), atol=1e-12)
    assert (res.status == Status.CONVERGED).all()


def test_structural_zeros_of_A_skipped_give_the_same_minimum():
    # for_constraints keeps the entries of A that are non-zero in some problem (the products skip the
    # others). Problem 2 writes x1 ≥ 0 as the general row 0.5 x0 + x1 ≥ 0 (the same feasible set with
    # x0 ≥ 0), so in a batch with problem 1 that row is general for both (and a bound for problem 1 by
    # its values): both reach the analytic minimum (0.8, 0.2) of the general-inequality test below, as
    # without the other problem.
    A1 = np.array([[-1.0, -1.0], [1.0, 0.0], [0.0, 1.0]])
    A2 = np.array([[-1.0, -1.0], [1.0, 0.0], [0.5, 1.0]])
    b = np.array([-1.0, 0.0, 0.0])
    assert SOLVER.for_constraints(np.stack([A1, A1]), np.stack([b, b])).pattern == \
        ((True, True), (True, False), (False, True))
    assert SOLVER.for_constraints(np.stack([A1, A2]), np.stack([b, b])).pattern == \
        ((True, True), (True, False), (True, True))
    x0, a = np.array([[0.1, 0.1], [0.9, 0.0]]), np.tile([2.0, 2.0], (2, 1))
    shared = minimise(quadratic, x0, a, np.stack([A1, A1]), np.stack([b, b]), solver=SOLVER)
    mixed = minimise(quadratic, x0, a, np.stack([A1, A2]), np.stack([b, b]), solver=SOLVER)
    for res in (shared, mixed):
        np.testing.assert_allclose(res.x, np.tile([0.8, 0.2], (2, 1)), atol=1e-12)
        assert (res.status == Status.CONVERGED).all()


def test_a_slack_row_of_zeros_changes_nothing():
    # fit_batch / fit_models pad A with rows 0·x ≥ −1 (mfjax.fit._pad_constraints): the box-constrained
    # quadratic with one such row has the same minimum, the corner (1, 0), from starts in the corners.
    A = np.vstack([BOX[0], np.zeros((1, 2))])
    b = np.append(BOX[1], -1.0)
    res = minimise(quadratic, np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]]), np.tile([2.0, -0.5], (3, 1)), A, b,
                   solver=SOLVER)
    np.testing.assert_allclose(res.x, np.tile([1.0, 0.0], (3, 1)), atol=1e-12)
    assert (res.status == Status.CONVERGED).all()


def test_rosenbrock_with_an_active_bound_and_unconstrained():
    # x0 ≤ 0.5: the minimum is (0.5, 0.25) with f = 0.25 (the bound's multiplier is 1 > 0).
    A, b = np.array([[-1.0, 0.0]]), np.array([-0.5])
    res = minimise(rosenbrock, np.array([[-1.2, 1.0], [0.4, 2.0]]), np.ones((2, 1)), A, b, solver=SOLVER)
    np.testing.assert_allclose(res.x, [[0.5, 0.25], [0.5, 0.25]], atol=1e-10)
    np.testing.assert_allclose(res.f, 0.25, rtol=1e-12)
    assert (res.status == Status.CONVERGED).all()
    free = minimise(rosenbrock, np.array([[-1.2, 1.0]]), np.ones((1, 1)), solver=SOLVER)
    np.testing.assert_allclose(free.x[0], [1.0, 1.0], atol=1e-10)
    assert free.f[0] < 1e-20 and free.status[0] == Status.CONVERGED


def test_an_infeasible_start_is_moved_inside():
    res = minimise(quadratic, np.array([[5.0, -3.0]]), np.array([[0.3, 0.6]]), *BOX, solver=SOLVER)
    np.testing.assert_allclose(res.x[0], [0.3, 0.6], atol=1e-12)
    assert res.f[0] == pytest.approx(1.0, abs=1e-20)


def test_registry_keeps_its_own_constraints():
    assert registry.build("projected_newton").constrained
    assert registry.build("projected_newton", constraints=True).constrained
    assert not registry.build("projected_newton", constraints="none").constrained
    with pytest.raises(ValueError, match="projected_newton"):
        registry.build("projected_newton", constraints="dasha")


# -- model-free problems: d'Auvergne & Gooley (2008) grid points, noise-free -------------------------

FIT_KW = dict(diffusion=mfjax.Sphere(tm=10e-9), r=1.02 * 1e-10, csa=-160 * 1e-6, grid_inc=11, grid_bounds="paper",
              algorithm="projected_newton")
EXP = Experiment(["R1", "R2", "NOE"] * 2, [600.0] * 3 + [500.0] * 3)


def _data(model, truth):
    """R1, R2, NOE at 600 then 500 MHz; σ(R) = 2 %, σ(NOE) = 0.04 / 0.05 (the paper's set-up)."""
    values = mfjax.back_calc(EXP, model, truth, diffusion=FIT_KW["diffusion"], r=FIT_KW["r"], csa=FIT_KW["csa"])
    errors = np.where(np.array(EXP.kinds) == "NOE", np.where(np.array(EXP.fields_mhz) == 600.0, 0.04, 0.05),
                      0.02 * values)
    return RelaxationData(EXP, values, errors)


def _assert_recovered(res, truth):
    assert (res.chi2 < 1e-20).all(), res.chi2
    for name, value in truth.items():
        value = np.asarray(value)
        np.testing.assert_allclose(np.where(value == 0.0, 0.0, res.params[name]), np.where(value == 0.0, 0.0, value),
                                   rtol=1e-6, err_msg=name)
        assert (np.abs(np.where(value == 0.0, res.params[name], 0.0)) <= 1e-9).all(), name


def test_rex_grid_points_are_recovered():
    # The paper's Fig. 2 point (S2 0.970, τe 2048 ps, Rex 0.149), RG point 524 (0.905, 8192 ps, 0.223),
    # whose path passes the S2 = 1 corner, points with Rex = 0 (on the bound) and S2 = 0.001.
    truth = {"s2": np.array([0.970, 0.905, 0.582, 0.001, 0.931, 0.388]),
             "te": np.array([2048.0, 8192.0, 32.0, 256.0, 512.0, 4096.0]) * 1e-12,
             "rex": np.array([0.149, 0.223, 1.644, 0.0, 0.0, 12.151])}
    res = mfjax.fit(_data("m4", truth), "m4", **FIT_KW)
    _assert_recovered(res, truth)
    assert res.status_names == ["CONVERGED"] * 6
    assert (res.f_count == res.h_count).all() and (res.iterations <= res.f_count).all()


def test_double_motion_grid_points_are_recovered():
    # DMG points 1925 and 1848 (S2f 0.97, S2s 0.001: S2 ≈ 1e-3 next to S2 ≥ 0; relax's Method of
    # Multipliers ends at χ² 2.86 and 4.4e-5), the paper's Fig. 3 point (0.952, 0.582, 32 ps), and a
    # short-τs point in the S2f·τs valley (0.582, 0.388, 2 ps).
    s2f = np.array([0.970, 0.970, 0.952, 0.582])
    s2s = np.array([0.001, 0.001, 0.582, 0.388])
    ts = np.array([8192.0, 64.0, 32.0, 2.0]) * 1e-12
    truth = {"s2f": s2f, "s2": s2f * s2s, "ts": ts}
    res = mfjax.fit(_data("m5", truth), "m5", **FIT_KW)
    _assert_recovered(res, truth)
    assert all(np.isfinite(v).all() for v in res.params.values())
