"""GMW81 modified Cholesky factorisation and the Newton direction, as minfx computes them.

Algorithm 6.5 of Nocedal & Wright (1999) (Gill, Murray & Wright 1981) in minfx's variant
(minfx ``hessian_mods/gmw81.py``; docs/algorithms.md, "GMW"):
ε = 1e-16 (not machine epsilon), pivot ties pick the later index, only the upper triangle
is read, and minfx's Newton step uses two general (LU) solves with the non-triangular
L = P·rᵀ (``gmw_direction`` solves the same systems by substitution on rᵀ, round-off apart).
The matrix size n is static and small: the loops over n are unrolled in Python,
every data-dependent choice is a `jnp.where`, so everything jits and vmaps.
"""
import math

import jax.numpy as jnp


def _factor(H, eps):
    """GMW81 on the entries of H as Python lists of scalars: (r, perm, e), with r upper triangular
    (r[j][i], i ≥ j), perm[j] the original index at pivot position j, e[j] the modification added to
    the j-th pivot. Every data-dependent choice is an elementwise select on scalars, so under vmap
    the whole factorisation fuses into a few elementwise kernels (no gathers, no scatters)."""
    n = H.shape[-1]
    a = [[H[i, k] for k in range(n)] for i in range(n)]
    for i in range(n):                       # minfx reads the upper triangle only
        for k in range(i):
            a[i][k] = a[k][i]
    zero = jnp.zeros_like(H[0, 0])
    gamma = jnp.abs(a[0][0])
    for i in range(1, n):
        gamma = jnp.maximum(gamma, jnp.abs(a[i][i]))
    xi = zero
    for i in range(n):
        for k in range(i + 1, n):
            xi = jnp.maximum(xi, jnp.abs(a[i][k]))
    delta = eps * jnp.maximum(gamma + xi, 1.0)
    if n == 1:
        beta = jnp.sqrt(jnp.maximum(gamma, eps))
    else:
        beta = jnp.sqrt(jnp.maximum(jnp.maximum(gamma, xi / math.sqrt(n ** 2 - 1)), eps))

    r = [[zero] * n for _ in range(n)]
    perm = [jnp.asarray(i) for i in range(n)]
    e = []
    for j in range(n):
        # Pivot: sequential scan with >=, so ties (and later equal values) pick the later index.
        q, best = jnp.asarray(j), jnp.abs(a[j][j])
        for i in range(j + 1, n):
            take = jnp.abs(a[i][i]) >= best
            q, best = jnp.where(take, i, q), jnp.where(take, jnp.abs(a[i][i]), best)
        for c in range(j + 1, n):            # swap j <-> c where the pivot is c: a = p·a·p, r = r·p
            sw = q == c
            src = list(range(n))
            src[j], src[c] = c, j
            a = [[jnp.where(sw, a[src[i]][src[k]], a[i][k]) if j in (i, k) or c in (i, k) else a[i][k]
                  for k in range(n)] for i in range(n)]
            r = [[jnp.where(sw, r[i][src[k]], r[i][k]) if k in (j, c) else r[i][k] for k in range(n)]
                 for i in range(n)]
            perm[j], perm[c] = jnp.where(sw, perm[c], perm[j]), jnp.where(sw, perm[j], perm[c])
        theta = zero
        for i in range(j + 1, n):
            theta = jnp.maximum(theta, jnp.abs(a[j][i]))
        d = jnp.maximum(jnp.maximum(jnp.abs(a[j][j]), (theta / beta) ** 2), delta)
        e.append(d - a[j][j])
        r[j][j] = jnp.sqrt(d)
        for i in range(j + 1, n):
            r[j][i] = a[j][i] / r[j][j]
        for i in range(j + 1, n):            # a_ik = a_ki = a_ki − r_ji r_jk for j < k ≤ i
            for k in range(j + 1, i + 1):
                a[k][i] = a[k][i] - r[j][i] * r[j][k]
                a[i][k] = a[k][i]
    return r, perm, e


def _unpermute(values, perm):
    """out[perm[j]] = values[j] for a list of scalars, by selects."""
    n = len(values)
    out = []
    for k in range(n):
        acc = jnp.zeros_like(values[0])
        for j in range(n):
            acc = jnp.where(perm[j] == k, values[j], acc)
        out.append(acc)
    return out


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
    r, perm, e = _factor(H, eps)
    rt = jnp.stack([jnp.stack([r[k][i] for k in range(n)]) for i in range(n)])      # rᵀ
    perm = jnp.stack(perm)
    L = jnp.zeros_like(rt).at[perm].set(rt)   # L = P·rᵀ (a row permutation, done exactly)
    E = jnp.stack(_unpermute(e, perm))
    return L, perm, E


def gmw_direction(H, g, eps=1e-16):
    """Newton direction with the GMW81 modification: p = −(L Lᵀ)⁻¹ g with minfx's factor L = P·rᵀ.

    minfx solves with two general LU solves; here the same systems are solved by substitution on the
    triangular factor (rᵀ y = Pᵀ g, then r z = y, p = −P z): the same mathematics, round-off apart, at
    a fraction of the cost of batched LAPACK calls for these tiny matrices.
    """
    n = g.shape[-1]
    r, perm, _ = _factor(jnp.asarray(H), eps)
    gp = []
    for j in range(n):                        # (Pᵀ g)_j = g[perm[j]]
        acc = jnp.zeros_like(g[0])
        for k in range(n):
            acc = jnp.where(perm[j] == k, g[k], acc)
        gp.append(acc)
    y = []
    for i in range(n):                        # forward substitution: rᵀ y = Pᵀ g
        acc = gp[i]
        for k in range(i):
            acc = acc - r[k][i] * y[k]
        y.append(acc / r[i][i])
    z = [None] * n
    for i in reversed(range(n)):              # back substitution: r z = y
        acc = y[i]
        for k in range(i + 1, n):
            acc = acc - r[i][k] * z[k]
        z[i] = acc / r[i][i]
    return -jnp.stack(_unpermute(z, perm))


def unmodified_newton_direction(H, g):
    """minfx's 'No Hessian mod' Newton direction: −inv(H)·g."""
    return -(jnp.linalg.inv(H) @ g)
