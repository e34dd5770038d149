"""GMW81 modified Cholesky factorisation and the Newton direction, as minfx computes them.

Algorithm 6.5 of Nocedal & Wright (1999) in minfx's variant (relax_reference.md §4.3):
ε = 1e-16 (not machine epsilon), pivot ties pick the later index, only the upper triangle
is read, and minfx's Newton step uses two general (LU) solves with the non-triangular
L = P·rᵀ (``gmw_direction`` solves the same systems by substitution on rᵀ, round-off apart).
The matrix size n is static and small: the loops over n are unrolled in Python,
every data-dependent choice is a `jnp.where`, so everything jits and vmaps.
"""
import math

import jax.numpy as jnp


def gmw_cholesky(H, eps=1e-16):
    """GMW81 factorisation of one symmetric (n, n) matrix.

    Returns ``(L, perm, E)``:

    - ``L`` (n, n): minfx's factor ``L = P·rᵀ`` with ``P = I[:, perm]``.  It is NOT
      triangular; ``L[perm]`` (= Pᵀ L = rᵀ) is lower triangular.
    - ``perm`` (n,) int: the symmetric pivoting, i.e. the factorised matrix is
      ``H[perm][:, perm]``.
    - ``E`` (n,) ≥ 0: the diagonal modification in the ORIGINAL ordering, so that
      ``L Lᵀ = H + diag(E)`` and ``L[perm] L[perm]ᵀ = (H + diag(E))[perm][:, perm]``
      (exact up to round-off for symmetric H; minfx reads only the upper triangle).
    """
    H = jnp.asarray(H)
    n = H.shape[-1]
    idx = jnp.arange(n)
    diag = jnp.diagonal(H)
    gamma = jnp.max(jnp.abs(diag))
    iu = [(i, j) for i in range(n) for j in range(i + 1, n)]
    if iu:
        xi = jnp.max(jnp.abs(jnp.stack([H[i, j] for i, j in iu])))
    else:
        xi = jnp.zeros_like(gamma)
    delta = eps * jnp.maximum(gamma + xi, 1.0)
    if n == 1:
        beta = jnp.sqrt(jnp.maximum(gamma, eps))
    else:
        beta = jnp.sqrt(jnp.maximum(jnp.maximum(gamma, xi / math.sqrt(n**2 - 1)), eps))

    a = H
    r = jnp.zeros_like(H)
    perm = idx
    e_perm = []
    for j in range(n):
        # Pivot: sequential scan with >=, so ties (and later equal values) pick the later index.
        q = jnp.asarray(j)
        best = jnp.abs(a[j, j])
        for i in range(j + 1, n):
            take = jnp.abs(a[i, i]) >= best
            q = jnp.where(take, i, q)
            best = jnp.where(take, jnp.abs(a[i, i]), best)
        swap = jnp.where(idx == j, q, jnp.where(idx == q, j, idx))
        a = a[swap][:, swap]          # a = p·a·p
        r = r[:, swap]                # r = r·p (columns only)
        perm = perm[swap]             # P = P·p, P = I[:, perm]

        theta = jnp.max(jnp.abs(a[j, j + 1:])) if j < n - 1 else jnp.zeros_like(gamma)
        d = jnp.maximum(jnp.maximum(jnp.abs(a[j, j]), (theta / beta) ** 2), delta)
        e_perm.append(d - a[j, j])
        rjj = jnp.sqrt(d)
        r = r.at[j, j].set(rjj)
        if j < n - 1:
            row = a[j, j + 1:] / rjj
            r = r.at[j, j + 1:].set(row)
            # a_ki -= r_ji r_jk for j < k <= i (upper triangle), then mirror it to keep a symmetric.
            upd = a[j + 1:, j + 1:] - jnp.outer(row, row)
            upper = jnp.triu(jnp.ones((n - j - 1, n - j - 1), dtype=bool))
            a = a.at[j + 1:, j + 1:].set(jnp.where(upper, upd, upd.T))

    L = jnp.zeros_like(r).at[perm].set(r.T)   # L = P·rᵀ (a row permutation, done exactly)
    E = jnp.zeros(n, dtype=H.dtype).at[perm].set(jnp.stack(e_perm))
    return L, perm, E


def gmw_direction(H, g, eps=1e-16):
    """Newton direction with the GMW81 modification: p = −(L Lᵀ)⁻¹ g with minfx's factor L = P·rᵀ.

    minfx solves with two general LU solves; here the same systems are solved by substitution on the
    triangular factor (rᵀ y = Pᵀ g, then r z = y, p = −P z): the same mathematics, round-off apart, at
    a fraction of the cost of batched LAPACK calls for these tiny matrices.
    """
    L, perm, _ = gmw_cholesky(H, eps)
    rt = L[perm]                              # rᵀ, lower triangular
    n = g.shape[-1]
    gp = g[perm]
    y = []
    for i in range(n):                        # forward substitution: rᵀ y = Pᵀ g
        acc = gp[i]
        for k in range(i):
            acc = acc - rt[i, k] * y[k]
        y.append(acc / rt[i, i])
    z = [None] * n
    for i in reversed(range(n)):              # back substitution: r z = y  (r = (rᵀ)ᵀ)
        acc = y[i]
        for k in range(i + 1, n):
            acc = acc - rt[k, i] * z[k]
        z[i] = acc / rt[i, i]
    return -jnp.zeros_like(g).at[perm].set(jnp.stack(z))


def unmodified_newton_direction(H, g):
    """minfx's 'No Hessian mod' Newton direction: −inv(H)·g."""
    return -(jnp.linalg.inv(H) @ g)
