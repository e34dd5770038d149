"""The linear-form grid search (mfjax.linear_grid) against the direct grid search (minfx's grid:
every point's χ² from the model's own function, the first of the lowest kept): the same point, the
same count of feasible points, for every model m1–m9, on residues that include exact ties (S2 = 1
makes τe irrelevant), a missing R2 (Rex then acts on one field only) and no R2 at all (every Rex
value ties: the first wins)."""
import numpy as np
import pytest

import mfjax
from mfjax import linear_grid, models
from mfjax.data import Experiment, RelaxationData
from mfjax.diffusion import Sphere
from mfjax.objective import residue_problem
from mfjax.solvers import grid

TM = Sphere(tm=10e-9)
R, CSA = 1.02 * 1e-10, -160 * 1e-6
EXP = Experiment(["R1", "R2", "NOE"] * 2, [600.0] * 3 + [500.0] * 3)
INC = {"m6": 7, "m7": 7, "m8": 5}      # smaller grids for the 4- and 5-parameter models (fast tests)


@pytest.fixture(scope="module")
def data():
    truth = {"s2": np.array([0.8, 0.582, 1.0, 0.905, 0.3, 0.8, 0.7]),
             "te": np.array([100e-12, 1024e-12, 50e-12, 8192e-12, 0.5e-12, 2000e-12, 40e-12]),
             "rex": np.array([1.102, 3.66, 0.0, 0.495, 12.0, 0.0, 2.0])}
    values = mfjax.back_calc(EXP, "m4", truth, diffusion=TM, r=R, csa=CSA)
    values = values * (1 + 0.01 * np.sin(np.arange(values.size)).reshape(values.shape))    # not noise-free
    errors = 0.02 * values
    errors[:, 2], errors[:, 5] = 0.04, 0.05
    mask = np.ones(values.shape, bool)
    mask[5, 4] = False                    # R2 at 500 MHz missing
    mask[6, [1, 4]] = False               # no R2: Rex does not change χ², all its values tie
    return RelaxationData(EXP, values, errors, mask=mask)


@pytest.mark.parametrize("name", [f"m{i}" for i in range(1, 10)])
def test_same_point_as_the_direct_search(data, name):
    model = models.get_model(name)
    assert linear_grid.covers(model, TM) and not linear_grid.covers(models.get_model("tm4"), None)
    assert linear_grid.covers(model, TM, linear_grid.MIN_POINTS) and not linear_grid.covers(model, TM, linear_grid.MIN_POINTS - 1)
    problem = residue_problem(data, model, diffusion=TM, r=R, csa=CSA)
    scales = np.asarray(problem.scales)
    lower, upper = (v / scales for v in models.grid_bounds(model, "paper"))
    inc = INC.get(name, 11)
    A, b = models.linear_constraints(model, tm=10e-9)
    x_direct, f_direct, n_direct = grid.grid_search(problem.fun, problem.args, lower, upper, inc, A, b)
    x_fast, f_fast, n_fast = linear_grid.grid_search(problem, model, EXP, lower, upper, inc, A, b)
    np.testing.assert_array_equal(x_fast, x_direct)
    np.testing.assert_array_equal(n_fast, n_direct)
    np.testing.assert_allclose(f_fast, f_direct, rtol=1e-12)
    if "rex" in model.params:             # residue 6 (no R2): the first Rex value wins the tie
        assert x_fast[6, -1] == lower[-1]


def test_exact_ties_and_the_direct_fallback(data, monkeypatch):
    # m2 at S2 = 1: every τe gives the same χ² (the (1 − S2)·J term is an exact 0), so the first τe
    # must win; with one candidate allowed, residues with more near-ties go to the direct search
    model = models.get_model("m2")
    truth = {"s2": np.ones(2), "te": np.array([30e-12, 3000e-12])}
    values = mfjax.back_calc(EXP, "m2", truth, diffusion=TM, r=R, csa=CSA)
    tied = RelaxationData(EXP, values, 0.02 * values)
    problem = residue_problem(tied, model, diffusion=TM, r=R, csa=CSA)
    lower, upper = (v / problem.scales for v in models.grid_bounds(model, "paper"))
    x, f, _ = linear_grid.grid_search(problem, model, EXP, lower, upper, 11)
    np.testing.assert_array_equal(x, [[1.0, 0.0], [1.0, 0.0]])
    assert np.all(f < 1e-20)
    monkeypatch.setattr(linear_grid, "N_CANDIDATES", 1)
    calls = []
    direct = grid.grid_search
    monkeypatch.setattr(grid, "grid_search", lambda *a, **k: calls.append(1) or direct(*a, **k))
    x1, _, _ = linear_grid.grid_search(problem, model, EXP, lower, upper, 11)
    np.testing.assert_array_equal(x1, x)
    assert calls


def test_fit_results_unchanged(data, monkeypatch):
    # fit with the linear grid (forced at this grid's size) and with the direct grid: the same start, so the same fit
    monkeypatch.setattr(linear_grid, "MIN_POINTS", 0)
    fast = mfjax.fit(data, "m4", diffusion=TM, r=R, csa=CSA, grid_bounds="paper")
    slow = mfjax.fit(data, "m4", diffusion=TM, r=R, csa=CSA, grid_bounds="paper", linear_grid_search=False)
    np.testing.assert_array_equal(fast.chi2, slow.chi2)
    for p in fast.params:
        np.testing.assert_array_equal(fast.params[p], slow.params[p])
    np.testing.assert_array_equal(fast.grid_count, slow.grid_count)
