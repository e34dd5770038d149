"""The engine's cheap trials (mfjax.solvers.batch, "Rejected trials"): where a solver's ``trial``
says a trial is settled, its state is the full step's, bit for bit (the full step is the reference),
and it is settled often enough to matter."""
import functools

import jax
import numpy as np
import pytest

from mfjax.solvers import registry
from mfjax.solvers.base import Problem
from mfjax.status import Status


def rosenbrock(x, a):
    return a[1] * ((a[0] - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2)


@pytest.mark.parametrize("algorithm, constraints", [("newton", "mom"), ("bfgs", "none"), ("sd", "mom"),
                                                    ("newton", "modelfree4")])
def test_a_settled_trial_is_the_full_step(algorithm, constraints):
    solver = registry.build(algorithm, line_search="backtrack", constraints=constraints)
    assert solver.cheap_trials
    width = 8
    rng = np.random.default_rng(3)
    x0 = rng.uniform(-2.0, 2.0, (width, 2))
    a = np.stack([rng.uniform(-1.2, 1.2, width), rng.uniform(0.5, 3.0, width)], axis=1)
    A, b = np.array([[-1.0, 0.0]]), np.array([-0.9])
    prob = Problem(x0, a, np.broadcast_to(A, (width, 1, 2)), np.broadcast_to(b, (width, 1)),
                   np.full(width, 300, np.int32), np.ones(width, bool))
    init = jax.jit(jax.vmap(functools.partial(solver.init, rosenbrock)))
    values = jax.jit(jax.vmap(functools.partial(solver.values, rosenbrock)))
    trial, consume = jax.jit(jax.vmap(solver.trial)), jax.jit(jax.vmap(solver.consume))
    state, n_settled = init(prob), 0
    for _ in range(3000):
        F = values(prob, state)
        cheap, settled = trial(prob, state, F)
        full = consume(prob, state, F)
        live = np.asarray(state.status) == Status.RUNNING
        for u, v in zip(jax.tree.leaves(cheap), jax.tree.leaves(full)):
            same = np.all(np.asarray(u) == np.asarray(v), axis=tuple(range(1, np.ndim(u))))
            assert np.all(same | ~np.asarray(settled) | ~live)
        n_settled += int(np.sum(np.asarray(settled) & live))
        state = jax.tree.map(lambda u, v: np.where(live.reshape((-1,) + (1,) * (np.ndim(u) - 1)), u, v), full, state)
        if not live.any():
            break
    assert not live.any()
    assert n_settled >= 20, n_settled        # rejected trials happen, and are settled cheaply
