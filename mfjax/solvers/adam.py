"""Adam (Kingma & Ba 2015) through optax, as a modern first-order baseline: a complete solver.

One engine step = one evaluation of f and ∇f at the current point and one ``optax.adam`` update.
Learning rate: LEARNING_RATE·0.5^(k/HALVING) (``optax.exponential_decay``, a stated schedule: a
constant rate never settles). Stops with CONVERGED when ‖∇f‖₂ ≤ grad_tol, MAX_ITERATIONS at
min(max_iter, max_steps). x and f are the last evaluated point.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax.numpy as jnp
import optax

from mfjax.solvers.base import Problem
from mfjax.solvers.derivatives import value_grad
from mfjax.status import Status

LEARNING_RATE = 5e-2
HALVING = 2000


class AdamState(NamedTuple):
    x: Any
    f: Any
    y: Any          # the point the next step evaluates
    opt: Any        # optax state
    iters: Any
    f_count: Any
    g_count: Any
    h_count: Any
    status: Any


@dataclass(frozen=True)
class Adam:
    learning_rate: float = LEARNING_RATE
    halving: int = HALVING
    grad_tol: float = 1e-8
    max_steps: int = 100_000
    constrained = False

    def _opt(self):
        return optax.adam(optax.exponential_decay(self.learning_rate, self.halving, 0.5))

    def init(self, fun, prob: Problem) -> AdamState:
        x0 = prob.x0
        zi = jnp.zeros((), jnp.int32)
        return AdamState(x0, jnp.zeros((), x0.dtype), x0, self._opt().init(x0), zi, zi, zi, zi, zi + Status.RUNNING)

    def step(self, fun, prob: Problem, s: AdamState) -> AdamState:
        first = s.f_count == 0
        y = jnp.where(first, s.x, s.y)
        f, g = value_grad(fun, y, prob.args)
        updates, opt = self._opt().update(g, s.opt, y)
        iters = s.iters + 1
        finite = jnp.isfinite(f) & jnp.all(jnp.isfinite(g))
        status = jnp.select([~finite, (jnp.linalg.norm(g) <= self.grad_tol) & prob.converge,
                             (iters >= prob.max_iter) | (iters >= self.max_steps)],
                            [Status.NOT_FINITE, Status.CONVERGED, Status.MAX_ITERATIONS], Status.RUNNING)
        return AdamState(jnp.where(finite, y, s.x), jnp.where(finite, f, s.f), y + updates, opt, iters.astype(jnp.int32),
                         s.f_count + 1, s.g_count + 1, s.h_count, status.astype(jnp.int32))
