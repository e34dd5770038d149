"""The direction parts one call at a time, against their definitions written out in numpy (minfx's
coordinate_descent.py, bfgs.py, steepest_descent.py; Nocedal & Wright 2006, ch. 5 and Algorithm 7.1)."""
import jax.numpy as jnp
import numpy as np
import pytest

from mfjax.solvers.base import Eval
from mfjax.solvers.bfgs import BFGS
from mfjax.solvers.conjugate_gradient import ConjugateGradient
from mfjax.solvers.coordinate_descent import CoordinateDescent
from mfjax.solvers.newton_cg import truncated_cg
from mfjax.solvers.preconditioned_cg import DiagonalPreconditionedCG
from mfjax.solvers.steepest_descent import SteepestDescent

T, F = jnp.asarray(True), jnp.asarray(False)


def test_coordinate_descent_goes_back_and_forth_and_remembers_steps():
    cd = CoordinateDescent()
    x = jnp.zeros(3)
    g = jnp.array([1.0, -2.0, 3.0])
    p, a0, st, _ = cd.next(cd.init(x), T, x, x, g, Eval(0.0, g), 1.0)
    seen, steps = [int(st.index)], {}
    np.testing.assert_array_equal(p, [-1.0, 0.0, 0.0])          # g·e0 > 0: −e0
    assert a0 == 1.0
    for k in range(6):
        alpha = 0.5 + k
        steps[int(st.index)] = alpha * np.asarray(p)
        p, a0, st, _ = cd.next(st, F, x, x, g, Eval(0.0, g), alpha)
        seen.append(int(st.index))
        assert a0 == 1.0
    assert seen == [0, 1, 2, 1, 0, 1, 2]
    for i, step in steps.items():                                # dir[i] overwritten by α·p
        np.testing.assert_array_equal(st.dirs[i], step)


def test_bfgs_first_update_is_scaled_and_then_standard():
    b = BFGS()
    x0, x1, x2 = jnp.array([0.0, 0.0]), jnp.array([0.5, -0.2]), jnp.array([0.7, 0.1])
    g0, g1, g2 = jnp.array([1.0, 2.0]), jnp.array([0.3, 1.1]), jnp.array([-0.2, 0.4])
    p, _, st, _ = b.next(b.init(x0), T, x0, x0, g0, Eval(0.0, g0), 1.0)
    np.testing.assert_array_equal(p, -g0)                        # H0 = I

    def update(H, s, y):
        rho = 1.0 / (y @ s)
        eye = np.eye(2)
        return (eye - rho * np.outer(s, y)) @ H @ (eye - rho * np.outer(y, s)) + rho * np.outer(s, s)

    s, y = np.asarray(x1 - x0), np.asarray(g1 - g0)
    H1 = update((y @ s) / (y @ y) * np.eye(2), s, y)
    p, _, st, _ = b.next(st, F, x0, x1, g0, Eval(0.0, g1), 1.0)
    np.testing.assert_allclose(st.H, H1, rtol=1e-14)
    np.testing.assert_allclose(p, -H1 @ np.asarray(g1), rtol=1e-14)
    s, y = np.asarray(x2 - x1), np.asarray(g2 - g1)
    p, _, st, _ = b.next(st, F, x1, x2, g1, Eval(0.0, g2), 1.0)
    np.testing.assert_allclose(st.H, update(H1, s, y), rtol=1e-14)
    # yᵀs = 0: ρ = 1e99 (minfx's "indefinite" warning), and no division by zero.
    _, _, st0, _ = b.next(st, F, x2, x2 + jnp.array([1.0, 0.0]), g2, Eval(0.0, g2 + jnp.array([0.0, 1.0])), 1.0)
    assert np.all(np.isfinite(st0.H))


def test_steepest_descent_adaptive_first_step():
    sd = SteepestDescent()
    g_old, g = jnp.array([3.0, 4.0]), jnp.array([1.0, 0.0])
    p, a0, _, _ = sd.next((), T, g, g, g_old, Eval(0.0, g), 0.25)
    assert a0 == 1.0 and np.array_equal(p, -g)
    p, a0, _, _ = sd.next((), F, g, g, g_old, Eval(0.0, g), 0.25)
    assert a0 == 0.25 * 25.0 / 1.0


@pytest.mark.parametrize("variant", ["fr", "pr", "pr+", "hs"])
def test_conjugate_gradient_betas(variant):
    cg = ConjugateGradient(variant)
    x = jnp.zeros(3)
    g0, g1 = jnp.array([1.0, -1.0, 2.0]), jnp.array([0.5, 0.2, -0.1])
    p0, _, st, _ = cg.next(cg.init(x), T, x, x, g0, Eval(0.0, g0), 1.0)
    np.testing.assert_array_equal(p0, -g0)
    p1, _, st, _ = cg.next(st, F, x, x, g0, Eval(0.0, g1), 0.5)
    a, b, p = np.asarray(g1), np.asarray(g0), np.asarray(p0)
    beta = {"fr": a @ a / (b @ b), "pr": a @ (a - b) / (b @ b), "pr+": max(a @ (a - b) / (b @ b), 0.0),
            "hs": a @ (a - b) / (p @ (a - b))}[variant]
    expect = -a + beta * p
    if not expect @ a < 0:                                       # restart on a non-descent direction
        expect = -a
    np.testing.assert_allclose(p1, expect, rtol=1e-14, atol=1e-15)


def test_cg_restarts_every_n_iterations():
    cg = ConjugateGradient("fr")
    x = jnp.zeros(2)
    gs = [jnp.array([1.0, 0.5]), jnp.array([0.4, -0.3]), jnp.array([0.1, 0.2])]
    p, _, st, _ = cg.next(cg.init(x), T, x, x, gs[0], Eval(0.0, gs[0]), 1.0)
    p, _, st, _ = cg.next(st, F, x, x, gs[0], Eval(0.0, gs[1]), 1.0)
    assert int(st.k) == 1
    p, _, st, _ = cg.next(st, F, x, x, gs[1], Eval(0.0, gs[2]), 1.0)   # n = 2 iterations: restart
    np.testing.assert_array_equal(p, -gs[2])


def test_diagonal_preconditioned_cg_scales_by_curvature():
    pcg = DiagonalPreconditionedCG()
    x = jnp.zeros(2)
    g, H = jnp.array([4.0, 1e-3]), jnp.array([[100.0, 1.0], [1.0, 1e-4]])
    p, _, _, _ = pcg.next(pcg.init(x), T, x, x, g, Eval(0.0, g, H), 1.0)
    np.testing.assert_allclose(p, [-0.04, -10.0], rtol=1e-14)


def test_truncated_cg():
    rng = np.random.default_rng(7)
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    H = (q * np.array([1.0, 3.0, 10.0, 50.0])) @ q.T
    g = rng.normal(size=4)
    p = np.asarray(truncated_cg(jnp.asarray(H), jnp.asarray(g)))
    eps = min(0.5, np.sqrt(np.linalg.norm(g))) * np.linalg.norm(g)
    assert np.linalg.norm(H @ p + g) <= eps * (1 + 1e-12)        # N&W Algorithm 7.1's forcing test
    assert g @ p < 0
    Hneg = np.diag([-1.0, 2.0, 3.0, 4.0])                        # negative curvature along −g at once
    np.testing.assert_array_equal(truncated_cg(jnp.asarray(Hneg), jnp.array([1.0, 0, 0, 0])), [-1.0, 0, 0, 0])
