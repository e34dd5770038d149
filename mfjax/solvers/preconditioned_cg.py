"""Conjugate gradients preconditioned by the Hessian's diagonal, the approach of macromolecular
refinement (TNT; Tronrud 1992, Acta Cryst. A48, 912–916; International Tables for Crystallography
Vol. F, §18.1.8: "at each step the parameters are normalized by the curvature with respect to that
parameter"): a direction part for :class:`mfjax.solvers.descent.Descent`.

z = D⁻¹∇f with D = diag(max(|∂²f/∂x_i²|, DIAG_FLOOR·max_j |∂²f/∂x_j²|, tiny)) (stiff parameters
scaled down, soft ones up), p = −z + β p_prev with the preconditioned Polak–Ribière+
β = max(0, zᵀ(g − g_prev)/(z_prevᵀg_prev)) (Nocedal & Wright 2006, §5.1 "preconditioning" and
eq. 5.45). Restarts, first trial steps and line-search constants as
:mod:`mfjax.solvers.conjugate_gradient`. Needs the Hessian (its diagonal) at every iterate.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp

from mfjax.solvers.conjugate_gradient import CG_LS, CGState, cg_next
from mfjax.solvers.settings import LineSearchConstants

DIAG_FLOOR = 1e-12


@dataclass(frozen=True)
class DiagonalPreconditionedCG:
    """Diagonally preconditioned PR+ conjugate-gradient direction part."""

    ls: LineSearchConstants = CG_LS
    needs_hessian = True

    def init(self, x0):
        return CGState(jnp.zeros_like(x0), jnp.ones_like(x0), jnp.zeros((), jnp.int32))

    def next(self, dstate, restart, x_old, x_new, g_old, F_new, alpha):
        d = jnp.abs(jnp.diag(F_new.H))
        d = jnp.maximum(d, jnp.maximum(DIAG_FLOOR * jnp.max(d), jnp.finfo(d.dtype).tiny))
        return cg_next("pr+", self.ls, dstate, restart, g_old, F_new.g, F_new.g / d, alpha)
