"""Hessian modifications for the Newton direction: each makes a (possibly indefinite) symmetric H
positive definite, as minfx's ``hessian_mods`` package offers them (Nocedal & Wright 2006, §3.4).

Every entry of :data:`HESSIAN_MODS` maps a name to ``direction(H, g) -> p``, the Newton direction
−B⁻¹g for the modified matrix B; :func:`modified` returns B itself (for tests and diagnostics).

- ``"none"``: B = H, p = −inv(H)·g (minfx ``No Hessian mod``); not a descent direction when H is
  indefinite.
- ``"eigen"``: spectral modification (N&W eq. 3.41–3.42, minfx ``eigenvalue.py`` in spirit):
  H = QΛQᵀ, B = Q diag(max(|λ_i|, δ)) Qᵀ with the absolute floor δ = EIGEN_DELTA. Negative
  eigenvalues are flipped, tiny ones raised; B = H when every λ_i ≥ δ.
- ``"chol"``: Cholesky with an added multiple of the identity (N&W Algorithm 3.3, minfx ``cholesky_mod.py``):
  τ₀ = 0 if min H_ii > 0 else β − min H_ii; while H + τ_k I has no Cholesky factor,
  τ_{k+1} = max(2τ_k, β); β = CHOL_BETA. B = H when H is positive definite.
- ``"gmw"``: GMW81 modified Cholesky (:mod:`mfjax.solvers.gmw`, minfx ``gmw81.py``).
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from mfjax.solvers import gmw

EIGEN_DELTA = 1e-8       # absolute eigenvalue floor of the "eigen" modification
CHOL_BETA = 1e-3         # N&W Algorithm 3.3's β (their suggested value)
CHOL_MAX_TRIES = 200     # τ doubles each try: 2^200·β is beyond any finite Hessian's need


def _eigen_matrix(H):
    lam, Q = jnp.linalg.eigh(0.5 * (H + H.T))
    return Q, jnp.maximum(jnp.abs(lam), EIGEN_DELTA), lam


def _chol_tau(H):
    """(L, τ): the Cholesky factor of H + τI for Algorithm 3.3's first τ that admits one."""
    n = H.shape[0]
    eye = jnp.eye(n, dtype=H.dtype)
    min_diag = jnp.min(jnp.diag(H))
    tau0 = jnp.where(min_diag > 0, 0.0, CHOL_BETA - min_diag)

    def factor(tau):
        L = jnp.linalg.cholesky(H + tau * eye)
        return L, jnp.all(jnp.isfinite(L))

    def cond(c):
        _, _, ok, k = c
        return ~ok & (k < CHOL_MAX_TRIES)

    def body(c):
        tau, _, _, k = c
        tau = jnp.maximum(2.0 * tau, CHOL_BETA)
        L, ok = factor(tau)
        return tau, L, ok, k + 1

    L0, ok0 = factor(tau0)
    tau, L, _, _ = jax.lax.while_loop(cond, body, (tau0, L0, ok0, 0))
    return L, tau


def none_direction(H, g):
    return gmw.unmodified_newton_direction(H, g)


def eigen_direction(H, g):
    Q, lam, _ = _eigen_matrix(H)
    return -(Q @ ((Q.T @ g) / lam))


def chol_direction(H, g):
    L, _ = _chol_tau(0.5 * (H + H.T))
    return -jax.scipy.linalg.cho_solve((L, True), g)


def gmw_direction(H, g):
    return gmw.gmw_direction(H, g)


HESSIAN_MODS = {"none": none_direction, "eigen": eigen_direction, "chol": chol_direction, "gmw": gmw_direction}


def modified(name: str, H):
    """The positive definite matrix B whose inverse gives the direction of modification ``name``."""
    H = jnp.asarray(H)
    if name == "none":
        return H
    if name == "eigen":
        Q, lam, _ = _eigen_matrix(H)
        return (Q * lam) @ Q.T
    if name == "chol":
        L, _ = _chol_tau(0.5 * (H + H.T))
        return L @ L.T
    if name == "gmw":
        L, _, _ = gmw.gmw_cholesky(H)
        return L @ L.T
    raise ValueError(f"unknown Hessian modification {name!r}; use one of {tuple(HESSIAN_MODS)}")


def direction(name: str):
    """``direction(H, g)`` of the Hessian modification ``name`` (None means "none")."""
    name = "none" if name is None else name
    if name not in HESSIAN_MODS:
        raise ValueError(f"unknown Hessian modification {name!r}; use one of {tuple(HESSIAN_MODS)}")
    return HESSIAN_MODS[name]



@dataclass(frozen=True)
class Eigen:
    """Hessian-modification part for :class:`mfjax.solvers.newton.Newton`: the eigenvalue modification."""

    def direction(self, H, g):
        return eigen_direction(H, g)


@dataclass(frozen=True)
class CholeskyShift:
    """Hessian-modification part for :class:`mfjax.solvers.newton.Newton`: Cholesky with an added
    multiple of the identity (N&W Algorithm 3.3)."""

    def direction(self, H, g):
        return chol_direction(H, g)
