"""Small linear algebra written out as elementwise operations in a fixed order.

XLA compiles a batched ``dot`` of tiny vectors differently for different batch widths (a loop, or a
library kernel that fuses multiply-adds), so its last bit can depend on the batch. Written out term
by term, left to right (numpy's order for fewer than 8 terms), each problem's arithmetic is the same
whatever the batch: these helpers are used for every inner product of the solver parts.
"""
import jax.numpy as jnp


def dot(a, b):
    """Σ_i a_i b_i, left to right; 0 for empty vectors."""
    n = a.shape[-1]
    if n == 0:
        return jnp.zeros(a.shape[:-1], jnp.result_type(a, b))
    acc = a[..., 0] * b[..., 0]
    for i in range(1, n):
        acc = acc + a[..., i] * b[..., i]
    return acc


def norm(a):
    """Euclidean norm √(a·a)."""
    return jnp.sqrt(dot(a, a))


def matvec(M, v):
    """M v for M (m, n), v (n,) → (m,)."""
    if M.shape[0] == 0:
        return jnp.zeros((0,), jnp.result_type(M, v))
    return jnp.stack([dot(M[i], v) for i in range(M.shape[0])])


def vecmat(w, M):
    """wᵀ M for w (m,), M (m, n) → (n,) (Σ over the rows, in order)."""
    return matvec(M.T, w)
