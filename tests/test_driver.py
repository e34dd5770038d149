"""The batched driver on problems with known minima: counts as minfx defines them, the Method of
Multipliers sliding along a bound, batch independence, chunk + compact, degenerate problems, and
two devices."""
import os
import subprocess
import sys
import textwrap

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize as scipy_minimize

from mfjax.solvers.batch import minimise
from mfjax.solvers.registry import build
from mfjax.status import Status


def rosenbrock(x, a):
    """Rosenbrock with minimum at (a, a²)."""
    return (a[0] - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


def quadratic(x, a):
    """f = ½ (x − a)ᵀ Q (x − a) + 1 with Q positive definite: minimum 1 at a."""
    q = jnp.array([[4.0, 1.0], [1.0, 3.0]])
    d = x - a
    return 0.5 * d @ q @ d + 1.0


UNCONSTRAINED = build(constraints=False)


def test_newton_on_a_quadratic_counts_like_minfx():
    # Iteration 1 jumps to the minimum (first trial accepted: 2 f, 1 g, then 1 h); iteration 2 has p = 0,
    # Δf = 0 ≤ func_tol: stop. minfx: iter = k + 1 = 2, f = 1 + 2 + 2 = 5, g = 1 + 2 = 3, h = 1 + 1 = 2.
    res = minimise(quadratic, np.array([[5.0, -3.0]]), np.array([[1.0, 2.0]]), solver=UNCONSTRAINED)
    np.testing.assert_allclose(res.x[0], [1.0, 2.0], rtol=0, atol=1e-15)
    assert res.f[0] == 1.0
    assert (res.iterations[0], res.f_count[0], res.g_count[0], res.h_count[0]) == (2, 5, 3, 2)
    assert res.status[0] == Status.CONVERGED


def test_rosenbrock_batch_reaches_known_minima():
    a = np.array([[1.0], [2.0], [0.5], [-1.0]])
    res = minimise(rosenbrock, np.tile([-1.2, 1.0], (4, 1)), a, solver=UNCONSTRAINED)
    np.testing.assert_allclose(res.x, np.hstack([a, a ** 2]), rtol=1e-10)
    assert np.all(res.f < 1e-20)
    assert np.all(res.status == Status.CONVERGED)


def test_method_of_multipliers_slides_along_a_bound():
    # Rosenbrock (minimum (1, 1)) under x0 <= 0.5: the constrained minimum (0.5, 0.25) lies on the bound,
    # and the iterates must slide along x0 = 0.5 to reach it (scipy's SLSQP as the reference).
    A, b = np.array([[-1.0, 0.0]]), np.array([-0.5])
    res = minimise(rosenbrock, np.array([[-1.2, 1.0], [0.0, 0.0], [0.5, 2.0]]), np.ones((3, 1)), A, b, solver=build())
    ref = scipy_minimize(lambda z: float(rosenbrock(z, [1.0])), [0.0, 0.0], method="SLSQP",
                         constraints=[{"type": "ineq", "fun": lambda z: 0.5 - z[0]}], tol=1e-14)
    np.testing.assert_allclose(ref.x, [0.5, 0.25], atol=1e-6)
    np.testing.assert_allclose(res.x, np.tile([0.5, 0.25], (3, 1)), atol=1e-8)
    assert np.all(res.status == Status.CONVERGED)
    assert np.all(A @ res.x.T - b[:, None] >= -1e-8)


def _mixed_batch():
    x0 = np.array([[-1.2, 1.0], [3.0, 3.0], [0.3, -0.2], [-1.2, 1.0], [2.0, 0.5]])
    a = np.array([[1.0], [2.0], [0.5], [np.nan], [-1.0]])   # problem 3 is NaN everywhere
    return x0, a


def test_results_do_not_depend_on_the_batch():
    x0, a = _mixed_batch()
    full = minimise(rosenbrock, x0, a, solver=UNCONSTRAINED)
    perm = np.array([4, 2, 0, 3, 1])
    permuted = minimise(rosenbrock, x0[perm], a[perm], solver=UNCONSTRAINED)
    for i in range(len(x0)):
        alone = minimise(rosenbrock, x0[i:i + 1], a[i:i + 1], solver=UNCONSTRAINED)
        j = int(np.flatnonzero(perm == i)[0])
        for res, k in ((alone, 0), (permuted, j)):
            np.testing.assert_allclose(res.x[k], full.x[i], rtol=1e-12)
            assert res.iterations[k] == full.iterations[i] and res.f_count[k] == full.f_count[i]
            assert res.status[k] == full.status[i]


def test_degenerate_problems_do_not_poison_the_batch():
    x0, a = _mixed_batch()
    res = minimise(rosenbrock, x0, a, solver=UNCONSTRAINED, max_iter=np.array([1000, 3, 1000, 1000, 1000]))
    assert res.status[3] == Status.NOT_FINITE            # NaN objective: reported, finite start returned
    np.testing.assert_array_equal(res.x[3], x0[3])
    assert res.status[1] == Status.MAX_ITERATIONS and res.iterations[1] == 3
    good = [0, 2, 4]
    np.testing.assert_allclose(res.x[good], np.hstack([a[good], a[good] ** 2]), rtol=1e-10)
    assert np.all(np.isfinite(res.x)) and np.all(np.isfinite(res.f[good]))


def test_chunk_and_compact_give_the_same_answer():
    rng = np.random.default_rng(1)
    x0 = rng.uniform(-2, 2, (40, 2))
    a = rng.uniform(-1.5, 1.5, (40, 1))
    one_go = minimise(rosenbrock, x0, a, solver=UNCONSTRAINED, chunk=100_000)     # all 40 in 64 slots
    chunked = minimise(rosenbrock, x0, a, solver=UNCONSTRAINED, chunk=2)
    np.testing.assert_array_equal(chunked.x, one_go.x)
    np.testing.assert_array_equal(chunked.iterations, one_go.iterations)
    # 40 problems through 4 slots refilled on the device from queues of 3 (14 host visits at least),
    # then the last ones in 2 tail slots; progress counts every problem once.
    seen = []
    queued = minimise(rosenbrock, x0, a, solver=UNCONSTRAINED, batch_size=4, tail_size=2, queue_size=3, chunk=5,
                      progress=lambda done, n: seen.append(done))
    np.testing.assert_allclose(queued.x, one_go.x, rtol=1e-12)
    np.testing.assert_array_equal(queued.iterations, one_go.iterations)
    np.testing.assert_array_equal(queued.f_count, one_go.f_count)
    np.testing.assert_array_equal(queued.status, one_go.status)
    assert len(seen) >= 14 and seen[-1] == 40 and np.all(np.diff(seen) >= 0)


def test_forced_straggler_runs_to_max_iter_without_changing_the_others():
    x0 = np.tile([-1.2, 1.0], (6, 1))
    a = np.ones((6, 1))
    converge = np.array([True, True, False, True, True, True])
    res = minimise(rosenbrock, x0, a, np.zeros((1, 2)), np.array([-1.0]), solver=build(), max_iter=2000, converge=converge)
    # Without convergence tests every inner run of the Method of Multipliers uses its 500 iterations;
    # minfx stops after the run that takes the total j to >= max_iter - 1: j = 4 × 500 = 2000, each
    # run's set-up counts 1 ∇f (g = 4 + 2000) and every iteration one Hessian.
    assert (res.iterations[2], res.g_count[2], res.h_count[2]) == (2000, 2004, 2000)
    assert res.status[2] == Status.MAX_ITERATIONS
    ref = minimise(rosenbrock, x0[:1], a[:1], np.zeros((1, 2)), np.array([-1.0]), solver=build())
    for i in (0, 1, 3, 4, 5):
        np.testing.assert_array_equal(res.x[i], ref.x[0])
        assert res.iterations[i] == ref.iterations[0]


def test_two_cpu_devices_give_the_same_results():
    script = textwrap.dedent("""
        import jax, numpy as np
        jax.config.update("jax_num_cpu_devices", 2)
        jax.config.update("jax_enable_x64", True)
        from mfjax.solvers.batch import minimise
        from mfjax.solvers.registry import build
        def rosenbrock(x, a):
            return (a[0] - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2
        rng = np.random.default_rng(3)
        x0 = rng.uniform(-2, 2, (37, 2)); a = rng.uniform(-1.5, 1.5, (37, 1))
        A = np.array([[-1.0, 0.0]]); b = np.array([-0.8])
        assert len(jax.devices()) == 2
        sizes = dict(batch_size=8, tail_size=4, queue_size=4, chunk=3)   # queued bulk, then the tail
        two = minimise(rosenbrock, x0, a, A, b, solver=build(), **sizes)
        one = minimise(rosenbrock, x0, a, A, b, solver=build(), n_devices=1, **sizes)
        np.save(__import__("sys").argv[1], np.stack([two.x, one.x]))
        assert (two.iterations == one.iterations).all() and (two.status == one.status).all()
    """)
    out = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"mfjax_two_devices_{os.getpid()}.npy")
    proc = subprocess.run([sys.executable, "-c", script, out], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two, one = np.load(out)
    np.testing.assert_allclose(two, one, rtol=1e-12)
    assert np.all(np.abs(two[:, 0] - 0.8) >= -1e-8)
