"""Nonlinear conjugate gradients (Nocedal & Wright 2006, ch. 5.2; minfx ``fletcher_reeves.py``,
``polak_ribiere.py``, ``polak_ribiere_plus.py``, ``hestenes_stiefel.py``): a direction part for
:class:`mfjax.solvers.descent.Descent`, p = −∇f + β p_prev with

- ``"fr"`` Fletcher–Reeves  β = gᵀg / g_prevᵀg_prev            (N&W 5.41a)
- ``"pr"`` Polak–Ribière    β = gᵀ(g − g_prev) / g_prevᵀg_prev  (N&W 5.44)
- ``"pr+"`` Polak–Ribière+  β = max(β_PR, 0)                   (N&W 5.45)
- ``"hs"`` Hestenes–Stiefel β = gᵀ(g − g_prev) / p_prevᵀ(g − g_prev)  (N&W 5.46)

Restarts (p = −∇f): at the first iteration of every run, every n iterations (N&W §5.2, "restart
every n steps"), and whenever p would not be a descent direction (∇fᵀp ≥ 0). First trial step: 1
at a restart, otherwise N&W eq. 3.60, a0 = α_prev·(g_prevᵀp_prev)/(gᵀp). Line-search constants
mu 1e-4, eta 0.1 (strong Wolfe with eta < ½, as Fletcher–Reeves needs; N&W Lemma 5.6).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax.numpy as jnp

from mfjax.solvers._arith import dot
from mfjax.solvers.settings import LineSearchConstants
from mfjax.status import Status

CG_LS = LineSearchConstants(1.0, 1e-4, 0.1)
VARIANTS = ("fr", "pr", "pr+", "hs")


class CGState(NamedTuple):
    p: Any        # the previous direction
    z: Any        # the previous preconditioned gradient (M⁻¹ g_prev; g_prev without preconditioner)
    k: Any        # iterations since the last restart


def beta(variant, g, g_old, z, z_old, p_old):
    """β of a variant for gradient g, preconditioned gradient z = M⁻¹g (z = g: no preconditioner)."""
    y = g - g_old
    if variant == "fr":
        return dot(z, g) / dot(z_old, g_old)
    if variant in ("pr", "pr+"):
        b = dot(z, y) / dot(z_old, g_old)
        return jnp.maximum(b, 0.0) if variant == "pr+" else b
    if variant == "hs":
        return dot(z, y) / dot(p_old, y)
    raise ValueError(f"unknown conjugate-gradient variant {variant!r}; use one of {VARIANTS}")


def cg_next(variant, ls, dstate, restart, g_old, g, z, alpha):
    """The shared CG update for gradient g and preconditioned gradient z (M⁻¹g)."""
    n = g.shape[0]
    b = beta(variant, g, g_old, z, dstate.z, dstate.p)
    p = -z + b * dstate.p
    reset = restart | (dstate.k + 1 >= n) | ~(dot(g, p) < 0) | ~jnp.isfinite(b)
    p = jnp.where(reset, -z, p)
    a0 = jnp.where(restart, ls.a0, alpha * dot(g_old, dstate.p) / dot(g, p))
    a0 = jnp.where(jnp.isfinite(a0) & (a0 > 0), a0, ls.a0)
    k = jnp.where(reset, 0, dstate.k + 1).astype(jnp.int32)
    return p, a0.astype(g.dtype), CGState(p, z, k), jnp.asarray(Status.RUNNING, jnp.int32)


@dataclass(frozen=True)
class ConjugateGradient:
    """Nonlinear CG direction part; ``variant`` one of VARIANTS."""

    variant: str = "pr+"
    ls: LineSearchConstants = CG_LS
    needs_hessian = False
    scalar_code = True      # p = −∇f + βp_prev: contracted differently at different widths (mfjax.solvers.batch)

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown conjugate-gradient variant {self.variant!r}; use one of {VARIANTS}")

    def init(self, x0):
        return CGState(jnp.zeros_like(x0), jnp.ones_like(x0), jnp.zeros((), jnp.int32))

    def next(self, dstate, restart, x_old, x_new, g_old, F_new, alpha):
        return cg_next(self.variant, self.ls, dstate, restart, g_old, F_new.g, F_new.g, alpha)
