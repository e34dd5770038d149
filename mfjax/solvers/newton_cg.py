"""Newton–CG (line-search truncated Newton, Nocedal & Wright 2006, Algorithm 7.1; minfx ``ncg.py``):
a direction part for :class:`mfjax.solvers.descent.Descent` that solves H p = −∇f approximately by
conjugate gradients on the exact Hessian.

CG from z = 0, r = ∇f, d = −r, stopping when ‖r‖ ≤ ε = min(0.5, √‖∇f‖)·‖∇f‖ (superlinear forcing
sequence), when dᵀHd ≤ 0 (negative curvature: return z, or −∇f on the first CG iteration), or after
n CG iterations (exact in exact arithmetic; n is the static parameter count, so the CG loop is
unrolled). a0 = 1, line-search constants mu 1e-4, eta 0.9 (minfx's Newton values).
"""
from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp

from mfjax.solvers._arith import dot, matvec, norm
from mfjax.solvers.settings import NEWTON_LS, LineSearchConstants
from mfjax.status import Status


def truncated_cg(H, g):
    """N&W Algorithm 7.1's inner CG: the approximate Newton step."""
    n = g.shape[0]
    gnorm = norm(g)
    tol = jnp.minimum(0.5, jnp.sqrt(gnorm)) * gnorm
    z, r, d = jnp.zeros_like(g), g, -g
    done = gnorm == 0.0
    for j in range(n):
        Bd = matvec(H, d)
        curv = dot(d, Bd)
        neg = ~done & (curv <= 0)
        z = jnp.where(neg & (j == 0), -g, z)
        done = done | neg
        rr = dot(r, r)
        a = rr / jnp.where(done, 1.0, curv)
        z_new, r_new = z + a * d, r + a * Bd
        z = jnp.where(done, z, z_new)
        r_next = jnp.where(done, r, r_new)
        small = ~done & (norm(r_next) < tol)
        b = dot(r_next, r_next) / jnp.where(done | (rr == 0), 1.0, rr)
        d = jnp.where(done, d, -r_next + b * d)
        r = r_next
        done = done | small
    return jnp.where(jnp.all(z == 0.0) & (gnorm > 0), -g, z)


@dataclass(frozen=True)
class NewtonCG:
    """Newton–CG direction part (no memory; needs the Hessian at every new iterate)."""

    ls: LineSearchConstants = NEWTON_LS
    needs_hessian = True
    scalar_code = True      # CG updates z + αd, −r + βd: width-dependent FMA contraction (mfjax.solvers.batch)

    def init(self, x0):
        return ()

    def next(self, dstate, restart, x_old, x_new, g_old, F_new, alpha):
        p = truncated_cg(F_new.H, F_new.g)
        return p, jnp.asarray(self.ls.a0, p.dtype), dstate, jnp.asarray(Status.RUNNING, jnp.int32)
