"""Grid search (minfx grid.py, relax pipe_control/minimise.py grid_setup; docs/algorithms.md) against plain-numpy loops."""
import itertools

import jax.numpy as jnp
import numpy as np
import pytest

from mfjax.solvers.grid import grid_axes, grid_points, grid_search


def ref_grid(fun, args_one, lower, upper, incs, A=None, b=None):
    """minfx's loop: odometer with the first parameter fastest, skip infeasible, strict f < f_min from 1e300."""
    axes = []
    for lo, up, k in zip(lower, upper, incs):
        axes.append([(lo + up) / 2] if k == 1 else [lo + i * (up - lo) / (k - 1) for i in range(k)])
    f_min, x_min, count = 1e300, None, 0
    for combo in itertools.product(*[range(k) for k in reversed(incs)]):
        x = np.array([axes[j][i] for j, i in enumerate(reversed(combo))])
        if A is not None and np.min(np.dot(A, x) - b) < 0:
            continue
        count += 1
        f = float(fun(x, args_one))
        if f < f_min:
            f_min, x_min = f, x
    return x_min, f_min, count


def test_order_first_parameter_fastest_and_formula():
    lower, upper, inc = [0.0, -1.0, 10.0], [1.0, 1.0, 40.0], [2, 3, 4]
    pts = grid_points(lower, upper, inc)
    assert pts.shape == (24, 3)
    np.testing.assert_array_equal(pts[:7], [[0, -1, 10], [1, -1, 10], [0, 0, 10], [1, 0, 10], [0, 1, 10],
                                            [1, 1, 10], [0, -1, 20]])
    np.testing.assert_array_equal(pts[-1], [1, 1, 40])
    # Reversed bounds are legal (relax's CSA grid runs from -120 to -200 ppm).
    np.testing.assert_array_equal(grid_axes([-120e-6], [-200e-6], 3)[0],
                                  [-120e-6, -120e-6 + 1 * (-200e-6 - -120e-6) / 2, -120e-6 + 2 * (-200e-6 - -120e-6) / 2])
    axes = grid_axes([0.0, 0.0, 1e3], [1.0, 500e-12, 12e3], [11, 21, 1])
    np.testing.assert_array_equal(axes[0], [i * 1.0 / 10 for i in range(11)])
    np.testing.assert_array_equal(axes[1], [0.0 + i * (500e-12 - 0.0) / 20 for i in range(21)])
    np.testing.assert_array_equal(axes[2], [6.5e3])
    # The full grid is the product of the axes in odometer order.
    pts = grid_points([0.0, 0.0, 1e3], [1.0, 500e-12, 12e3], [11, 21, 1])
    np.testing.assert_array_equal(pts[:, 0], np.tile(axes[0], 21))
    np.testing.assert_array_equal(pts[:, 1], np.repeat(axes[1], 11))


def test_refuses_huge_grids_and_bad_increments():
    with pytest.raises(ValueError, match="1e8"):
        grid_points(np.zeros(8), np.ones(8), 10)
    with pytest.raises(ValueError):
        grid_points([0.0], [1.0], [0])


def _quad(x, c):
    return jnp.sum((x - c[:2]) ** 2 * jnp.array([1.0, 2.0])) + c[2] * x[0] * x[1]


def test_known_minimum_and_matches_reference_loop():
    rng = np.random.default_rng(3)
    centres = np.column_stack([rng.integers(0, 11, 6) * 1.0 / 10, rng.integers(0, 6, 6) * 1.0 / 5, np.zeros(6)])
    centres[5, 2] = 0.7          # this one's minimum is not on the grid
    x, f, n = grid_search(_quad, jnp.asarray(centres), [0.0, 0.0], [1.0, 1.0], [11, 6])
    np.testing.assert_array_equal(np.asarray(x)[:5], centres[:5, :2])
    np.testing.assert_array_equal(np.asarray(f)[:5], 0.0)
    np.testing.assert_array_equal(np.asarray(n), 66)
    x_ref, f_ref, n_ref = ref_grid(lambda x, c: _quad(jnp.asarray(x), c), centres[5], [0.0, 0.0], [1.0, 1.0], [11, 6])
    np.testing.assert_array_equal(np.asarray(x)[5], x_ref)
    np.testing.assert_allclose(float(f[5]), f_ref, rtol=1e-15)


def test_constraints_skip_and_do_not_count():
    # x0 + x1 <= 1 and x1 >= x0 (2-D, 11 x 11): points on the bounds are kept.
    A, b = np.array([[-1.0, -1.0], [-1.0, 1.0]]), np.array([-1.0, 0.0])
    c = jnp.array([[0.9, 0.9, 0.0], [0.1, 0.0, 0.0]])
    x, f, n = grid_search(_quad, c, [0.0, 0.0], [1.0, 1.0], 11, A, b, batch_size=1, chunk_size=16)
    pts = grid_points([0.0, 0.0], [1.0, 1.0], 11)
    n_feasible = int(np.sum(np.min(pts @ A.T - b, axis=1) >= 0))
    assert n_feasible == 36
    np.testing.assert_array_equal(np.asarray(n), [n_feasible, n_feasible])
    for i in range(2):
        x_ref, f_ref, n_ref = ref_grid(lambda x, c: _quad(jnp.asarray(x), c), np.asarray(c[i]), [0.0, 0.0],
                                       [1.0, 1.0], [11, 11], A, b)
        assert n_ref == n_feasible
        np.testing.assert_array_equal(np.asarray(x[i]), x_ref)
        assert float(f[i]) == f_ref
    np.testing.assert_array_equal(np.asarray(x[0]), [0.4, 0.6])   # on x0 + x1 = 1 (kept)
    np.testing.assert_array_equal(np.asarray(x[1]), [0.0, 0.0])   # on x1 = x0 (kept)


def _flat(x, c):
    # Constant except NaN at x0 = c[0] and a lower value at x0 = c[1] when c[1] >= 0.
    v = jnp.where(jnp.abs(x[0] - c[0]) < 1e-9, jnp.nan, 2.0)
    return jnp.where(jnp.abs(x[0] - c[1]) < 1e-9, 1.0, v) + 0.0 * x[1]


def test_ties_keep_first_and_nan_never_wins():
    c = jnp.array([[0.0, -1.0], [0.5, -1.0], [0.0, 0.75], [2.0, 1.0]])
    x, f, n = grid_search(_flat, c, [0.0, 0.0], [1.0, 1.0], [5, 3], chunk_size=4)
    x = np.asarray(x)
    np.testing.assert_array_equal(x[0], [0.25, 0.0])   # NaN at the first point; the first of the ties wins
    np.testing.assert_array_equal(x[1], [0.0, 0.0])
    np.testing.assert_array_equal(x[2], [0.75, 0.0])   # the lower value, first occurrence
    np.testing.assert_array_equal(x[3], [1.0, 0.0])
    np.testing.assert_array_equal(np.asarray(f), [2.0, 2.0, 1.0, 1.0])
    np.testing.assert_array_equal(np.asarray(n), 15)
    # Only NaN: nothing found, every point still counted.
    x, f, n = grid_search(lambda x, c: jnp.nan * x[0], jnp.zeros((2, 1)), [0.0], [1.0], 4)
    assert np.all(np.isnan(np.asarray(x))) and np.all(np.isinf(np.asarray(f))) and np.all(np.asarray(n) == 4)


def test_per_problem_bounds_with_frozen_parameter():
    # Problem-specific bounds; parameter 1 frozen at a preset value (lower = upper, inc 1).
    lower = np.array([[0.0, 0.3, 0.0], [0.0, 0.7, -1.0]])
    upper = np.array([[1.0, 0.3, 2.0], [1.0, 0.7, 1.0]])
    c = jnp.array([[0.4, 0.0, 1.5], [0.6, 0.0, -0.5]])
    fun = lambda x, c: jnp.sum((x - c) ** 2)
    x, f, n = grid_search(fun, c, lower, upper, [11, 1, 5])
    np.testing.assert_array_equal(np.asarray(n), [55, 55])
    np.testing.assert_array_equal(np.asarray(x), [[0.4, 0.3, 1.5], [0.6, 0.7, -0.5]])
    np.testing.assert_allclose(np.asarray(f), [0.09, 0.49], rtol=1e-14)
    # Every problem agrees with the reference loop run on its own bounds.
    for i in range(2):
        x_ref, f_ref, n_ref = ref_grid(lambda x, cc: fun(jnp.asarray(x), cc), c[i], lower[i], upper[i], [11, 1, 5])
        np.testing.assert_array_equal(np.asarray(x[i]), x_ref)
        assert n_ref == 55
