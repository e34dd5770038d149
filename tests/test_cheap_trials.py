"""Cheap line-search trials (mfjax.solvers.descent ``Descent.trial``, the wrappers' ``trial`` / ``finish``
/ ``probe`` in mfjax.solvers.constraints, run by mfjax.solvers.batch): a trial that backtracking rejects
is settled from f alone, and the state it leaves is, bit for bit, the state that the whole step (∇f and
∇²f evaluated, direction, every transition) leaves at the same point; the engine's results equal a
plain loop over the solver's ``step``; minfx's counts are kept."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mfjax.solvers import registry
from mfjax.solvers.base import Problem
from mfjax.solvers.batch import minimise
from mfjax.status import Status


def rosenbrock(x, a):
    """Rosenbrock with minimum at (a, a²), scaled by a[1] (a banana valley: many rejected trials)."""
    return a[1] * ((a[0] - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2)


A, B = np.array([[-1.0, 0.0]]), np.array([-0.9])       # x0 ≤ 0.9


def _problem(x0, a, constrained):
    A_, B_ = (A, B) if constrained else (np.zeros((0, 2)), np.zeros(0))
    return Problem(jnp.asarray(x0), jnp.asarray(a), jnp.asarray(A_), jnp.asarray(B_), jnp.asarray(10_000, jnp.int32),
                   jnp.asarray(True))


def _same(u, v):
    return all(bool(jnp.array_equal(p, q)) for p, q in zip(jax.tree.leaves(u), jax.tree.leaves(v)))


@pytest.mark.parametrize("constraints", ["mom", "none"])
def test_a_settled_trial_leaves_the_state_the_whole_step_leaves(constraints):
    solver = registry.build("newton", "backtrack", constraints=constraints)
    assert solver.cheap_trials
    prob = _problem([-1.2, 1.0], [1.0, 1.0], constraints == "mom")
    init, trial, finish, probe = (jax.jit(functools.partial(f, rosenbrock)) for f in
                                  (solver.init, solver.trial, solver.finish, solver.probe))
    s = init(prob)
    settled_steps = 0
    for _ in range(400):
        if s.status != Status.RUNNING:
            break
        t, settled = trial(prob, s)
        whole = finish(prob, s)          # the step with ∇f, ∇²f evaluated at the same trial point
        if settled:
            settled_steps += 1
            assert _same(t, whole), f"step {_}: the settled trial differs from the whole step"
            s = t
        else:
            assert _same(t, s)           # an unsettled trial leaves the state to finish
            s = whole
        s = probe(prob, s)
    assert s.status == Status.CONVERGED
    assert settled_steps >= 5            # the banana valley rejects first trials
    np.testing.assert_allclose(s.x, [0.9, 0.81] if constraints == "mom" else [1.0, 1.0], atol=1e-6)


def test_the_engine_gives_what_a_loop_over_step_gives():
    """minimise (trial for every slot, finish in a branch only when some problem needs it) against a plain
    loop over ``step`` (trial, finish and probe of one problem): the same path, iterations and counts."""
    solver = registry.build("newton", "backtrack")
    rng = np.random.default_rng(3)
    x0 = rng.uniform(-2.0, 2.0, (5, 2))
    a = np.stack([rng.uniform(-1.2, 1.2, 5), rng.uniform(0.5, 3.0, 5)], axis=1)
    res = minimise(rosenbrock, x0, a, A, B, solver=solver)
    init, step = (jax.jit(functools.partial(f, rosenbrock)) for f in (solver.init, solver.step))
    for i in range(5):
        prob = _problem(x0[i], a[i], True)
        s = init(prob)
        while s.status == Status.RUNNING:
            s = step(prob, s)
        assert (res.iterations[i], res.f_count[i], res.g_count[i], res.h_count[i], res.status[i]) == \
            (s.iters, s.f_count, s.g_count, s.h_count, s.status)
        np.testing.assert_allclose(res.x[i], s.x, rtol=1e-12)


def test_counts_are_minfx_counts():
    """Backtracking's counting (minfx): each run's set-up 1 f and 1 ∇f, each trial 1 f, each accepted
    point 1 f and 1 ∇f more, one Hessian per iteration; so g = iterations + runs and f = g + rejected
    trials ≥ g. Without constraints (one run): g = iterations + 1."""
    solver = registry.build("newton", "backtrack", constraints="none")
    x0 = np.array([[-1.2, 1.0], [2.0, -1.0], [0.5, 2.5]])
    a = np.array([[1.0, 1.0], [-0.7, 2.0], [1.1, 0.6]])
    res = minimise(rosenbrock, x0, a, solver=solver)
    assert np.all(res.status == Status.CONVERGED)
    np.testing.assert_array_equal(res.g_count, res.iterations + 1)
    np.testing.assert_array_equal(res.h_count, res.iterations)
    assert np.all(res.f_count > res.g_count)          # rejected trials were counted
    np.testing.assert_allclose(res.x, np.stack([a[:, 0], a[:, 0] ** 2], axis=1), atol=1e-7)
