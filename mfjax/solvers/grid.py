"""Batched grid search as minfx's ``grid`` does it (minfx ``grid.py grid``; the grid set-up of relax
``pipe_control/minimise.py grid_setup``; docs/algorithms.md, "Grid search").

Axis k has ``inc[k]`` points lower_k + i·(upper_k − lower_k)/(inc_k − 1), or the midpoint when
inc_k = 1 (a caller freezes a parameter with lower = upper = value, inc = 1).  Points are
visited as an odometer with the FIRST parameter fastest.  Points with min(A·x − b) < 0 are
skipped and not counted; the best point is kept with a strict ``f < f_min`` starting from
f_min = 1e300, so ties keep the first point and NaN never wins.

The problems go through ONE compiled program of ``batch_size`` problems, called on consecutive
blocks (the last one padded by repeating its last problem): a new number of problems compiles
nothing new, and at most ``batch_size`` − 1 problems are padding. Every problem's χ² values come
from the same code whatever the batch; measured on the RG (experiments/bench_engine_widths.py),
the grid's results are bitwise the same at every width (1, 8, 16, 64): each χ² is evaluated for a
whole chunk of points at once, so the problem width does not change its compiled code.
"""
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from mfjax._x64 import x64

MAX_POINTS = 1e8          # relax/minfx refuse grids of this many points or more
F_START = 1e300           # minfx's initial f_min


def _incs(inc, n):
    incs = tuple(int(i) for i in np.broadcast_to(np.asarray(inc), (n,)))
    if any(i < 1 for i in incs) or np.any(np.asarray(inc) != np.round(np.asarray(inc))):
        raise ValueError(f"grid increments must be integers >= 1, got {inc!r}")
    n_points = math.prod(incs)
    if n_points >= MAX_POINTS:
        raise ValueError(f"a grid of {n_points} points (increments {incs}) is too large: relax refuses 1e8 or more")
    return incs


def _odometer(incs):
    """Integer indices (P, n) of the grid points, first parameter fastest."""
    if not incs:
        return np.zeros((1, 0), np.int64)
    mesh = np.meshgrid(*[np.arange(i) for i in incs], indexing="ij")
    return np.stack([m.ravel(order="F") for m in mesh], axis=1)


def _axis(lower, upper, inc):
    """Points of one axis (numpy, broadcast over leading dims of lower/upper): shape (..., inc)."""
    lower, upper = np.asarray(lower, float)[..., None], np.asarray(upper, float)[..., None]
    if inc == 1:
        return (lower + upper) / 2
    return lower + np.arange(inc) * (upper - lower) / (inc - 1)


def grid_axes(lower, upper, inc):
    """The points of each axis: a list of n 1-D float64 arrays (relax's formula)."""
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    incs = _incs(inc, lower.shape[0])
    return [_axis(lower[j], upper[j], incs[j]) for j in range(len(incs))]


def grid_points(lower, upper, inc):
    """All grid points (P, n) in odometer order, the first parameter varying fastest."""
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    incs = _incs(inc, lower.shape[0])
    axes, index = grid_axes(lower, upper, incs), _odometer(incs)
    return np.stack([axes[j][index[:, j]] for j in range(len(incs))] or [np.zeros(1)], axis=1)[:, :len(incs)]


@x64
def grid_search(fun, args, lower, upper, inc, A=None, b=None, batch_size=32, chunk_size=2048):
    """Grid search for N problems at once.

    fun(x (n,), args_one) -> scalar; args: pytree with leading axis N; lower/upper: (n,) or
    (N, n) (optimiser coordinates; upper < lower is allowed, as relax's CSA bounds); inc: int or (n,) ints; A (m, n) or (N, m, n), b (m,) or
    (N, m): constraints A·x ≥ b (None: none).  ``batch_size`` problems and ``chunk_size`` points
    are evaluated at a time (bounded memory): the problems go through one compiled program of
    ``batch_size`` problems, block after block (the last one padded), so that another N reuses it.

    Returns (x_best (N, n), f_best (N,), n_evaluated (N,) int): n_evaluated = feasible points.
    A problem where no point has f < 1e300 gets x_best = NaN and f_best = inf.
    """
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    n = lower.shape[-1]
    leaves = jax.tree_util.tree_leaves(args)
    N = leaves[0].shape[0] if leaves else (lower.shape[0] if lower.ndim == 2 else 1)
    lower, upper = np.broadcast_to(lower, (N, n)), np.broadcast_to(upper, (N, n))
    incs = _incs(inc, n)
    A = np.zeros((0, n)) if A is None else np.asarray(A, float)
    b = np.zeros((A.shape[-2],)) if b is None else np.asarray(b, float)
    A = np.broadcast_to(A, (N,) + A.shape[-2:])
    b = np.broadcast_to(b, (N, A.shape[-2]))
    # Axis values come from numpy: under jit XLA turns a division by a broadcast scalar into a
    # multiplication by its reciprocal (3·(1/5) ≠ 3/5), and grid points must be exactly relax's.
    table = np.zeros((N, n, max(incs, default=1)))
    for j, k in enumerate(incs):
        table[:, j, :k] = _axis(lower[:, j], upper[:, j], k)
    w = int(batch_size)
    if N == 0:
        return np.zeros((0, n)), np.zeros(0), np.zeros(0, np.int64)
    size = -(-N // w) * w
    pad = lambda a: np.concatenate([np.asarray(a), np.repeat(np.asarray(a)[-1:], size - N, axis=0)])
    args, table, A, b = jax.tree_util.tree_map(pad, args), pad(table), pad(A), pad(b)
    block = lambda a, i: a[i:i + w]
    blocks = [_grid_search(fun, jax.tree_util.tree_map(lambda a: block(a, i), args), block(table, i), block(A, i),
                           block(b, i), incs, w, int(chunk_size)) for i in range(0, size, w)]
    x, f, count = (np.concatenate([np.asarray(out[k]) for out in blocks])[:N] for k in range(3))
    return x, f, count


COMPILER_OPTIONS = {"xla_backend_optimization_level": 1, "xla_llvm_disable_expensive_passes": True}


@functools.partial(jax.jit, static_argnums=(0, 5, 6, 7), compiler_options=COMPILER_OPTIONS)
def _grid_search(fun, args, table, A, b, incs, batch_size, chunk_size):
    index = _odometer(incs)
    n_points, n = index.shape
    chunk = min(chunk_size, n_points)
    n_chunks = -(-n_points // chunk)
    valid = np.arange(n_chunks * chunk) < n_points
    index = np.concatenate([index, np.zeros((n_chunks * chunk - n_points, n), index.dtype)])
    chunks = (jnp.asarray(index.reshape(n_chunks, chunk, n)),
              jnp.asarray(valid.reshape(n_chunks, chunk)),
              jnp.arange(n_chunks) * chunk)

    def one_problem(problem):
        axes, A1, b1, args_one = problem                                        # axes (n, max inc)
        at = lambda idx: axes[jnp.arange(n), idx]                               # index (..., n) -> points

        def scan_chunk(carry, xs):
            best_f, best_i, count = carry
            idx, ok, offset = xs
            x = at(idx)                                                         # (chunk, n)
            if A1.shape[0]:
                ax = sum(A1[:, k] * x[:, k:k + 1] for k in range(n))            # (chunk, m), in index order
                ok = ok & ~(jnp.min(ax - b1, axis=1) < 0)
            f = jax.vmap(fun, (0, None))(x, args_one)
            key = jnp.where(ok & (f < F_START), f, jnp.inf)                     # NaN and >= 1e300 never win
            i = jnp.argmin(key)                                                 # first of equal minima
            better = key[i] < best_f
            return (jnp.where(better, key[i], best_f), jnp.where(better, offset + i, best_i),
                    count + jnp.sum(ok)), None

        init = (jnp.asarray(jnp.inf), jnp.asarray(-1), jnp.asarray(0))
        (best_f, best_i, count), _ = jax.lax.scan(scan_chunk, init, chunks)
        x_best = at(jnp.asarray(index)[jnp.maximum(best_i, 0)])
        return jnp.where(best_i >= 0, x_best, jnp.nan), best_f, count

    return jax.lax.map(one_problem, (table, A, b, args), batch_size=batch_size)
