"""L-BFGS with optax's two-loop recursion (``optax.scale_by_lbfgs``; Nocedal & Wright 2006,
Algorithm 7.4): a direction part for :class:`mfjax.solvers.descent.Descent`, so any of the
engine's line searches runs it one evaluation per step (optax's own zoom line search would be a
nested loop; with Moré–Thuente the steps satisfy the strong Wolfe conditions L-BFGS assumes).

p = −H_k∇f, H_k from the last ``memory_size`` pairs (s, y) and optax's initial scaling (the first
direction of a run is −∇f/max(1, ‖∇f‖)); a direction that is not downhill restarts the memory;
a0 = 1; line-search constants mu 1e-4, eta 0.9. A run
(e.g. each Method-of-Multipliers inner run) starts with an empty memory.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import optax

from mfjax.solvers._arith import dot
from mfjax.solvers.settings import BFGS_LS, LineSearchConstants
from mfjax.status import Status


@dataclass(frozen=True)
class LBFGS:
    """optax L-BFGS direction part."""

    memory_size: int = 10
    ls: LineSearchConstants = BFGS_LS
    needs_hessian = False
    scalar_code = True      # optax's two-loop recursion: width-dependent FMA contraction (mfjax.solvers.batch)

    def _transform(self):
        return optax.scale_by_lbfgs(memory_size=self.memory_size)

    def init(self, x0):
        return self._transform().init(x0)

    def next(self, dstate, restart, x_old, x_new, g_old, F_new, alpha):
        fresh = self._transform().init(x_new)
        state = jax.tree.map(lambda u, v: jnp.where(restart, u, v), fresh, dstate)
        d, state = self._transform().update(F_new.g, state, x_new)
        # Not a descent direction (yᵀs ≤ 0 after a step without the curvature condition, e.g. with
        # backtracking): restart from −∇f with an empty memory.
        ascent = ~(dot(F_new.g, d) > 0)
        d0, state0 = self._transform().update(F_new.g, fresh, x_new)
        d = jnp.where(ascent, d0, d)
        state = jax.tree.map(lambda u, v: jnp.where(ascent, u, v), state0, state)
        return -d, jnp.asarray(self.ls.a0, d.dtype), state, jnp.asarray(Status.RUNNING, jnp.int32)
