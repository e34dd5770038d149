"""GMW81 modified Cholesky and Newton direction against a plain-numpy transcription of
minfx hessian_mods/gmw81.py (docs/algorithms.md) (loops and explicit permutation matrices, exactly as the text reads)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mfjax.solvers.gmw import gmw_cholesky, gmw_direction, unmodified_newton_direction


def ref_gmw(H, eps=1e-16):
    """§4.3 line by line: returns (L, P, r)."""
    n = H.shape[0]
    gamma = max(abs(H[i, i]) for i in range(n))
    xi = max((abs(H[i, j]) for i in range(n) for j in range(i + 1, n)), default=0.0)
    delta = eps * max(gamma + xi, 1.0)
    if n == 1:
        beta = np.sqrt(max(gamma, eps))
    else:
        beta = np.sqrt(max(gamma, xi / np.sqrt(n**2 - 1), eps))
    a = H.copy()
    r = np.zeros((n, n))
    P = np.eye(n)
    for j in range(n):
        q = j
        for i in range(j + 1, n):
            if abs(a[i, i]) >= abs(a[q, q]):
                q = i
        if q != j:
            P[:, [q, j]] = P[:, [j, q]]
            p = np.eye(n)
            p[[q, j]] = p[[j, q]]
            a = p @ a @ p
            r = r @ p
        theta = max(abs(a[j, i]) for i in range(j + 1, n)) if j < n - 1 else 0.0
        d = max(abs(a[j, j]), (theta / beta) ** 2, delta)
        r[j, j] = np.sqrt(d)
        for i in range(j + 1, n):
            r[j, i] = a[j, i] / r[j, j]
            for k in range(j + 1, i + 1):
                a[i, k] = a[k, i] = a[k, i] - r[j, i] * r[j, k]
    return P @ r.T, P, r


def ref_direction(H, g):
    L, _, _ = ref_gmw(H)
    return -np.linalg.solve(L.T, np.linalg.solve(L, g))


def random_matrix(rng, n, kind):
    Q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    if kind == "spd":
        ev = rng.uniform(0.5, 5.0, n)
    elif kind == "indefinite":
        ev = rng.uniform(0.5, 5.0, n) * rng.choice([-1.0, 1.0], n)
        ev[0] = -abs(ev[0])
    else:  # singular: an exactly zero row/column (a parameter f does not depend on), the rest indefinite
        ev = rng.uniform(-3.0, 5.0, n)
    H = (Q * ev) @ Q.T
    H = 0.5 * (H + H.T)
    if kind == "singular":
        k = rng.integers(n)
        H[k, :] = H[:, k] = 0.0
    return H


_chol = jax.jit(gmw_cholesky)
_dir = jax.jit(gmw_direction)
CASES = [(n, kind, seed) for n in range(1, 7) for kind in ("spd", "indefinite", "singular") for seed in range(3)]


@pytest.mark.parametrize("n,kind,seed", CASES)
def test_matches_reference(n, kind, seed):
    rng = np.random.default_rng(100 * n + seed + 7 * len(kind))
    H = random_matrix(rng, n, kind) * 10.0 ** rng.uniform(-3, 3)
    g = rng.normal(size=n)
    L, perm, E = (np.asarray(v) for v in _chol(H))
    L_ref, P_ref, r_ref = ref_gmw(H)
    np.testing.assert_allclose(L, L_ref, rtol=1e-14, atol=1e-14 * np.abs(L_ref).max())
    np.testing.assert_array_equal(np.eye(n)[:, perm], P_ref)
    # L Lᵀ = H + diag(E), E >= 0; L[perm] = rᵀ is lower triangular.
    assert np.all(E >= 0)
    scale = max(np.abs(H).max(), 1.0)
    np.testing.assert_allclose(L @ L.T, H + np.diag(E), atol=1e-13 * scale)
    assert np.allclose(np.triu(L[perm], 1), 0.0)
    np.testing.assert_allclose(L[perm], r_ref.T, rtol=1e-14, atol=1e-14 * np.abs(r_ref).max())
    # Direction.
    p = np.asarray(_dir(H, g))
    p_ref = ref_direction(H, g)
    np.testing.assert_allclose(p, p_ref, rtol=1e-12, atol=1e-12 * np.abs(p_ref).max())
    if kind == "spd":
        assert np.all(E == 0.0)
        np.testing.assert_allclose(p, -np.linalg.solve(H, g), rtol=1e-11)
    else:
        assert np.dot(g, p) < 0.0
        assert E.max() > 0.0


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6])
def test_rank_deficient_properties(n):
    # Rank n-1 by cancellation: the last pivot is round-off noise, so only the properties are checked
    # (elementwise agreement would test the rounding of a fused multiply-add, not the algorithm).
    rng = np.random.default_rng(n)
    B = rng.normal(size=(n, n - 1))
    H = B @ np.diag(rng.choice([-1.0, 1.0], n - 1)) @ B.T
    g = rng.normal(size=n)
    L, perm, E = (np.asarray(v) for v in _chol(H))
    assert np.all(E >= 0) and E.max() > 0
    np.testing.assert_allclose(L @ L.T, H + np.diag(E), atol=1e-13 * np.abs(H).max())
    np.testing.assert_array_equal(np.eye(n)[:, perm], ref_gmw(H)[1])
    assert np.dot(g, np.asarray(_dir(H, g))) < 0.0


def test_known_factor_and_modification():
    # diag(-4, 1): pivots |−4| first; d = max(4, 0, δ) = 4 → E = 8 on the first entry.
    H = np.diag([1.0, -4.0])
    L, perm, E = (np.asarray(v) for v in _chol(H))
    np.testing.assert_array_equal(perm, [1, 0])
    np.testing.assert_allclose(E, [0.0, 8.0], atol=0)
    np.testing.assert_allclose(L, [[0.0, 1.0], [2.0, 0.0]], atol=0)
    p = np.asarray(_dir(H, np.array([1.0, 1.0])))
    np.testing.assert_allclose(p, [-1.0, -0.25], rtol=1e-15)
    # n == 1, negative curvature: β = sqrt(2), d = |−2| → step −g/2.
    np.testing.assert_allclose(np.asarray(_dir(np.array([[-2.0]]), np.array([3.0]))), [-1.5], rtol=1e-15)


def test_pivot_ties_pick_later_index():
    # Equal |diagonal| everywhere: the pivot at step 0 is the LAST index.
    H = np.array([[2.0, 0.5, 0.1], [0.5, -2.0, 0.3], [0.1, 0.3, 2.0]])
    _, perm, _ = _chol(H)
    _, P_ref, _ = ref_gmw(H)
    assert int(perm[0]) == 2
    np.testing.assert_array_equal(np.eye(3)[:, np.asarray(perm)], P_ref)
    # Identity: every step ties, the later index always wins.
    _, perm, E = _chol(np.eye(4))
    np.testing.assert_array_equal(np.asarray(perm), [3, 0, 1, 2])
    np.testing.assert_array_equal(np.asarray(E), np.zeros(4))


def test_unmodified_newton_direction():
    H = np.array([[4.0, 1.0], [1.0, 3.0]])
    g = np.array([1.0, 2.0])
    np.testing.assert_allclose(np.asarray(unmodified_newton_direction(H, g)), -np.linalg.solve(H, g), rtol=1e-14)


def test_vmap_jit_batch_matches_single():
    rng = np.random.default_rng(5)
    Hs = np.stack([random_matrix(rng, 4, k) for k in ("spd", "indefinite", "singular") * 3])
    gs = rng.normal(size=(9, 4))
    batch = np.asarray(jax.jit(jax.vmap(gmw_direction))(Hs, gs))
    single = np.stack([ref_direction(H, g) for H, g in zip(Hs, gs)])
    np.testing.assert_allclose(batch, single, rtol=1e-12)
    one_by_one = np.stack([np.asarray(_dir(H, g)) for H, g in zip(Hs, gs)])
    np.testing.assert_allclose(batch, one_by_one, rtol=1e-13)
