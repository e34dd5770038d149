"""Hessian modifications against numpy: the modified matrix is positive definite, equals H when H is
already positive definite, and matches an independent numpy implementation (N&W §3.4, Algorithm 3.3)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mfjax.solvers import hessian_mods
from mfjax.solvers.hessian_mods import CHOL_BETA, EIGEN_DELTA

RNG = np.random.default_rng(8)


def _sym(eigs):
    q, _ = np.linalg.qr(RNG.normal(size=(len(eigs), len(eigs))))
    return (q * np.asarray(eigs, float)) @ q.T


INDEFINITE = [_sym([3.0, -2.0, 0.5]), _sym([-1.0, -4.0, 2.0]), np.array([[1.0, 2.0], [2.0, 1.0]]),
              _sym([5.0, 1e-12, -1e-2, 2.0])]
DEFINITE = [_sym([3.0, 2.0, 0.5]), np.array([[4.0, 1.0], [1.0, 3.0]]), _sym([1e4, 1.0, 1e-3, 7.0])]


def _numpy_chol_mod(H):
    """N&W Algorithm 3.3 in numpy."""
    tau = 0.0 if np.min(np.diag(H)) > 0 else CHOL_BETA - np.min(np.diag(H))
    while True:
        try:
            L = np.linalg.cholesky(H + tau * np.eye(len(H)))
            return L @ L.T
        except np.linalg.LinAlgError:
            tau = max(2 * tau, CHOL_BETA)


def _numpy_eigen_mod(H):
    lam, q = np.linalg.eigh(H)
    return (q * np.maximum(np.abs(lam), EIGEN_DELTA)) @ q.T


@pytest.mark.parametrize("name", ["eigen", "chol", "gmw"])
def test_modified_matrix_is_positive_definite(name):
    for H in INDEFINITE:
        B = np.asarray(hessian_mods.modified(name, jnp.asarray(H)))
        assert np.linalg.eigvalsh(0.5 * (B + B.T)).min() > 0, (name, H)
        g = RNG.normal(size=len(H))
        p = np.asarray(hessian_mods.direction(name)(jnp.asarray(H), jnp.asarray(g)))
        assert g @ p < 0                                     # a descent direction
        np.testing.assert_allclose(B @ p, -g, rtol=1e-8, atol=1e-8 * np.abs(g).max())


@pytest.mark.parametrize("name", ["none", "eigen", "chol", "gmw"])
def test_positive_definite_hessians_are_left_alone(name):
    for H in DEFINITE:
        B = np.asarray(hessian_mods.modified(name, jnp.asarray(H)))
        np.testing.assert_allclose(B, H, rtol=1e-10, atol=1e-12 * np.abs(H).max())
        g = RNG.normal(size=len(H))
        p = np.asarray(hessian_mods.direction(name)(jnp.asarray(H), jnp.asarray(g)))
        np.testing.assert_allclose(p, -np.linalg.solve(H, g), rtol=1e-8)


def test_against_numpy_references():
    for H in INDEFINITE:
        np.testing.assert_allclose(hessian_mods.modified("eigen", jnp.asarray(H)), _numpy_eigen_mod(H),
                                   rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(hessian_mods.modified("chol", jnp.asarray(H)), _numpy_chol_mod(H),
                                   rtol=1e-10, atol=1e-12)


def test_chol_under_vmap_matches_one_by_one():
    Hs = jnp.asarray(np.stack([INDEFINITE[0], DEFINITE[0], INDEFINITE[1]]))
    g = jnp.ones((3, 3))
    batched = jax.vmap(hessian_mods.chol_direction)(Hs, g)
    for i in range(3):
        assert np.array_equal(batched[i], hessian_mods.chol_direction(Hs[i], g[i]))


def test_unknown_name_is_refused():
    with pytest.raises(ValueError, match="unknown Hessian modification 'foo'"):
        hessian_mods.direction("foo")
