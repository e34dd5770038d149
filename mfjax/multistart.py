"""Several starts per residue and the double-minimum detector (the ``starts`` option of ``mfjax.fit``).

Starts: the best *distinct* grid points — grid points that are local minima of χ² along every grid
axis (compared with their feasible neighbours), best first, topped up with the next best grid points
when there are fewer local minima than starts — or random points inside the grid bounds that satisfy
A·x ≥ b (numpy ``default_rng(seed)``; uniform, except along ``log_axes`` — the time constants —
log-uniform from max(lower, upper·1e-4) to upper, so that a 0–10 ns range is sampled down to 1 ps),
or both. All starts are minimised as one batch (starts
stacked along the problem axis); the lowest χ² is kept (ties: the first start).

Double minima (d'Auvergne & Gooley 2008, Fig. 5): a residue is flagged when two starts that converged
end in minima that differ both in χ² and in position:
    χ²_j − χ²_best > CHI2_RTOL · (1 + χ²_best)   and   max_i |x_j,i − x_best,i| > X_RTOL · (1 + |x_best,i|)
in scaled coordinates (times in ps, order parameters and Rex as they are).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from mfjax.solvers import grid
from mfjax.status import Status

CHI2_RTOL = 1e-6
X_RTOL = 1e-3
START_KINDS = ("grid", "random", "mixed")
LOG_FLOOR = 1e-4          # log-uniform random starts reach down to upper·1e-4
_RANDOM_TRIES = 64        # random candidates drawn per wanted start (the infeasible ones are dropped)


@functools.partial(jax.jit, static_argnums=(0, 4, 5, 6))
def _grid_best(fun, args, points, feasible, shape, k, batch_size):
    """Per problem: indices (k,) of the k best grid points, local minima first, and their χ² (k,)."""

    def one(args_one):
        f = jax.vmap(fun, (0, None))(points, args_one)
        f = jnp.where(feasible & jnp.isfinite(f), f, jnp.inf)
        cube = f.reshape(shape[::-1])                # odometer order: the first parameter fastest
        local = jnp.isfinite(cube)
        for axis in range(cube.ndim):
            pad = [(0, 0)] * cube.ndim
            pad[axis] = (1, 1)
            padded = jnp.pad(cube, pad, constant_values=jnp.inf)
            lo = jax.lax.slice_in_dim(padded, 0, cube.shape[axis], axis=axis)
            hi = jax.lax.slice_in_dim(padded, 2, cube.shape[axis] + 2, axis=axis)
            local = local & (cube <= lo) & (cube <= hi)
        order = jnp.lexsort((f, ~local.reshape(-1)))  # local minima first, then by χ²; stable
        return order[:k], f[order[:k]]

    return jax.lax.map(one, args, batch_size=batch_size)


def grid_starts(fun, args, lower, upper, inc, A, b, k):
    """(N, k, n) starts from the grid (scaled coordinates) and their χ² (N, k); see the module doc."""
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    incs = tuple(int(i) for i in np.broadcast_to(inc, lower.shape))
    points = grid.grid_points(lower, upper, incs)
    feasible = np.ones(len(points), bool) if A is None else np.min(points @ np.asarray(A).T - b, axis=1) >= 0
    k_eff = min(k, len(points))
    batch = max(1, min(16, 65536 // len(points)))       # bounded memory: about 65,536 evaluations at once
    idx, f = _grid_best(fun, args, jnp.asarray(points), jnp.asarray(feasible), incs, k_eff, batch)
    idx, f = np.asarray(idx), np.asarray(f)
    if k_eff < k:                                # a grid smaller than the number of starts: repeat
        idx = np.concatenate([idx, np.repeat(idx[:, :1], k - k_eff, axis=1)], axis=1)
        f = np.concatenate([f, np.repeat(f[:, :1], k - k_eff, axis=1)], axis=1)
    return points[idx], f


def random_starts(n_problems, lower, upper, A, b, k, seed, log_axes=None):
    """(N, k, n) random starts inside [lower, upper] with A·x ≥ b (scaled coordinates); uniform, or
    log-uniform along ``log_axes`` ((n,) bool) where upper > 0."""
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    rng = np.random.default_rng(seed)
    draws = rng.uniform(size=(n_problems, _RANDOM_TRIES * k, lower.shape[0]))
    x = lower + draws * (upper - lower)
    log = np.zeros(lower.shape, bool) if log_axes is None else np.asarray(log_axes, bool) & (upper > 0)
    if log.any():
        lo = np.log(np.maximum(lower, upper * LOG_FLOOR)[log])
        x[..., log] = np.exp(lo + draws[..., log] * (np.log(upper[log]) - lo))
    ok = np.ones(x.shape[:2], bool) if A is None else np.min(x @ np.asarray(A).T - b, axis=-1) >= 0
    if not ok.any(axis=1).all():
        raise ValueError("no random start satisfies the constraints inside the grid bounds; use start_kind='grid'")
    order = np.argsort(~ok, axis=1, kind="stable")[:, :k]      # feasible draws first, in draw order
    first = order[:, :1]
    order = np.where(np.take_along_axis(ok, order, axis=1), order, first)
    return np.take_along_axis(x, order[..., None], axis=1)


def keep_best(x, chi2, status):
    """Best start per problem from (N, k, ...) results: the lowest finite χ² (ties: first start),
    and the double-minimum flag (N,) by the rule of the module doc. Returns (index (N,), flag (N,))."""
    usable = np.isfinite(chi2) & (status != Status.NOT_FINITE)
    key = np.where(usable, chi2, np.inf)
    best = np.argmin(key, axis=1)
    rows = np.arange(len(best))
    chi2_best = chi2[rows, best]
    x_best = x[rows, best]
    converged = status == Status.CONVERGED
    higher = chi2 - chi2_best[:, None] > CHI2_RTOL * (1.0 + np.abs(chi2_best[:, None]))
    moved = np.any(np.abs(x - x_best[:, None]) > X_RTOL * (1.0 + np.abs(x_best[:, None])), axis=-1)
    flag = np.any(converged & higher & moved, axis=1) & converged[rows, best]
    return best, flag
