"""BFGS quasi-Newton direction (minfx ``bfgs.py``; Nocedal & Wright 2006, §6.1): a direction part
for :class:`mfjax.solvers.descent.Descent`.

The inverse-Hessian approximation starts as the identity (p = −∇f); before the first update it
is replaced by (yᵀs/yᵀy)·I (N&W eq. 6.20); then H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ with
s = x_new − x_old, y = ∇f_new − ∇f_old, ρ = 1/yᵀs, and ρ = 1e99 when yᵀs = 0 (minfx's warning
"The BFGS matrix is indefinite"). p = −H∇f, a0 = 1; line-search constants mu 1e-4, eta 0.9.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax.numpy as jnp

from mfjax.solvers.settings import BFGS_LS, LineSearchConstants
from mfjax.status import Status


class BFGSState(NamedTuple):
    H: Any        # (n, n) inverse-Hessian approximation
    updated: Any  # bool: H has been updated at least once in this run


@dataclass(frozen=True)
class BFGS:
    """BFGS direction part."""

    ls: LineSearchConstants = BFGS_LS
    needs_hessian = False

    def init(self, x0):
        return BFGSState(jnp.eye(x0.shape[0], dtype=x0.dtype), jnp.asarray(False))

    def next(self, dstate, restart, x_old, x_new, g_old, F_new, alpha):
        g = F_new.g
        n = g.shape[0]
        eye = jnp.eye(n, dtype=g.dtype)
        s, y = x_new - x_old, g - g_old
        ys = y @ s
        rho = jnp.where(ys == 0.0, 1e99, 1.0 / jnp.where(ys == 0.0, 1.0, ys))
        H = jnp.where(dstate.updated, dstate.H, (ys / (y @ y)) * eye)
        H = (eye - rho * jnp.outer(s, y)) @ H @ (eye - rho * jnp.outer(y, s)) + rho * jnp.outer(s, s)
        H = jnp.where(restart, eye, H)
        p = -(H @ g)
        return (p, jnp.asarray(self.ls.a0, g.dtype), BFGSState(H, ~restart),
                jnp.asarray(Status.RUNNING, jnp.int32))
