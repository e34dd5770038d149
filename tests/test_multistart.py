"""Multi-start fits: the starts (grid local minima, random feasible points), the keep-the-best and
double-minimum rules, and the paper's Fig. 5 case (d'Auvergne & Gooley 2008), where model tm2 has a
broad minimum (χ² 8.268 with 600 MHz data) that a single start from the grid ends in, and a narrow
global one (χ² ~ 1e-29) that several starts find."""
import jax.numpy as jnp
import numpy as np
import pytest

import mfjax
from mfjax import multistart
from mfjax.data import Experiment, RelaxationData
from mfjax.status import Status

CSA = -170 * 1e-6
TRUTH_TM5 = {"local_tm": np.array([7e-9]), "s2f": np.array([0.9]), "s2": np.array([0.9 * 0.8]),
             "ts": np.array([0.8e-9])}


def _fig5(fields):
    kinds = ["R1", "R2", "NOE"] * len(fields)
    per = [f for f in fields for _ in range(3)]
    exp = Experiment(kinds, per)
    values = mfjax.back_calc(exp, "tm5", TRUTH_TM5, csa=CSA)
    errors = np.array([[0.05 * v if k != "NOE" else {600.0: 0.04, 800.0: 0.03}[f]
                        for v, k, f in zip(values[0], kinds, per)]])
    return RelaxationData(exp, values, errors)


def _two_wells(x, args):
    return (x[0] ** 2 - 1.0) ** 2 + 0.1 * x[0] + (x[1] - args["c"]) ** 2


def test_grid_starts_are_the_local_minima_best_first():
    # minima near x0 = -1 (lower, because of the 0.1·x0 tilt) and x0 = +1, at x1 = c
    args = {"c": np.array([0.5, -0.5])}
    starts, f = multistart.grid_starts(_two_wells, args, [-2.0, -1.0], [2.0, 1.0], [9, 5], None, None, 3)
    np.testing.assert_allclose(starts[0, :2], [[-1.0, 0.5], [1.0, 0.5]])
    np.testing.assert_allclose(starts[1, :2], [[-1.0, -0.5], [1.0, -0.5]])
    np.testing.assert_allclose(f[0, :2], [-0.1, 0.1])
    # the constraint x0 ≥ 0 (A·x ≥ b) removes the left well
    starts, _ = multistart.grid_starts(_two_wells, args, [-2.0, -1.0], [2.0, 1.0], [9, 5],
                                       np.array([[1.0, 0.0]]), np.array([0.0]), 1)
    np.testing.assert_allclose(starts[:, 0], [[1.0, 0.5], [1.0, -0.5]])


def test_random_starts_are_feasible_and_seeded():
    A, b = np.array([[-1.0, 1.0]]), np.array([0.0])            # x1 ≥ x0
    x = multistart.random_starts(5, [0.0, 0.0], [1.0, 1.0], A, b, 4, seed=3)
    assert x.shape == (5, 4, 2) and np.all(x[..., 1] >= x[..., 0]) and np.all((x >= 0) & (x <= 1))
    assert np.array_equal(x, multistart.random_starts(5, [0.0, 0.0], [1.0, 1.0], A, b, 4, seed=3))
    assert len(np.unique(x.reshape(-1, 2), axis=0)) == 20


def test_keep_best_and_the_double_minimum_rule():
    x = np.array([[[1.0, 2.0], [1.0, 2.0], [5.0, 2.0]],       # a distinct higher minimum: flagged
                  [[1.0, 2.0], [1.0005, 2.0], [5.0, 2.0]],    # same place (1e-3 rule) and χ² too close
                  [[1.0, 2.0], [5.0, 2.0], [5.0, 2.0]]])      # the higher one did not converge
    chi2 = np.array([[3.0, 3.0, 8.0], [3.0, 3.5, 3.0 + 1e-7], [np.nan, 1.0, 2.0]])
    status = np.full((3, 3), Status.CONVERGED)
    status[2, 2] = Status.MAX_ITERATIONS
    best, flag = multistart.keep_best(x, chi2, status)
    assert list(best) == [0, 0, 1] and list(flag) == [True, False, False]


@pytest.mark.parametrize("fields, single_chi2, best_chi2", [([600.0], 8.268, 1e-20), ([600.0, 800.0], 16.98, 6.827)])
def test_fig5_multistart_finds_the_global_minimum(fields, single_chi2, best_chi2):
    data = _fig5(fields)
    single = mfjax.fit(data, "tm2", csa=CSA, grid_bounds="paper")
    assert single.chi2[0] == pytest.approx(single_chi2, abs=0.01)        # the broad minimum
    assert not single.multiple_minima[0]
    multi = mfjax.fit(data, "tm2", csa=CSA, grid_bounds="paper", starts=8, start_kind="mixed", seed=0)
    assert multi.multiple_minima[0] and multi.status[0] == Status.CONVERGED
    if best_chi2 < 1e-10:
        assert multi.chi2[0] < best_chi2
        np.testing.assert_allclose([multi.params["local_tm"][0], multi.params["s2"][0], multi.params["te"][0]],
                                   [6.509e-9, 0.7905, 0.0957e-9], rtol=1e-3)
    else:
        assert multi.chi2[0] == pytest.approx(best_chi2, abs=1e-3)
    # the given x0 (the broad minimum) is kept as the first start and does not win
    again = mfjax.fit(data, "tm2", csa=CSA, grid_bounds="paper", starts=8, start_kind="mixed", seed=0,
                      x0={k: single.params[k] for k in ("local_tm", "s2", "te")})
    assert again.chi2[0] <= multi.chi2[0] * (1 + 1e-9) + 1e-25


def test_one_start_is_the_plain_fit():
    data = _fig5([600.0])
    a = mfjax.fit(data, "tm2", csa=CSA)
    b = mfjax.fit(data, "tm2", csa=CSA, starts=1, start_kind="random", seed=5)
    assert np.array_equal(a.chi2, b.chi2) and all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    with pytest.raises(ValueError, match="starts"):
        mfjax.fit(data, "tm2", csa=CSA, starts=0)
