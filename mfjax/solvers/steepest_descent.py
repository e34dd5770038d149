"""Steepest descent, p = −∇f (minfx ``steepest_descent.py``; Nocedal & Wright 2006, §3.1): a
direction part for :class:`mfjax.solvers.descent.Descent`.

The first trial step of a run is 1; from its second iteration on it is minfx's adaptive
a0 = α_prev·(g_prevᵀg_prev)/(gᵀg), g_prev the gradient at the start of the previous iteration and
α_prev the step taken there. Line-search constants: mu 1e-4, eta 0.1 (minfx).
"""
from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp

from mfjax.solvers.settings import SD_LS, LineSearchConstants
from mfjax.status import Status


@dataclass(frozen=True)
class SteepestDescent:
    """Steepest-descent direction part (no memory)."""

    ls: LineSearchConstants = SD_LS
    needs_hessian = False

    def init(self, x0):
        return ()

    def next(self, dstate, restart, x_old, x_new, g_old, F_new, alpha):
        g = F_new.g
        a0 = jnp.where(restart, self.ls.a0, alpha * (g_old @ g_old) / (g @ g))
        return -g, a0.astype(g.dtype), dstate, jnp.asarray(Status.RUNNING, jnp.int32)
