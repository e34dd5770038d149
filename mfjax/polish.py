"""The ``polish`` option of ``mfjax.fit``: a last Gauss–Newton stage in valley coordinates.

Why (docs/polish.md): where the data fix only a product of parameters, χ² has a long curved valley and
the Newton fit stalls at χ² 1e-17–1e-13 (the Double Motion Grid's points with τs ≤ 1 ps): its Hessian's
condition number is 1e19–1e23, and neither Newton nor Gauss–Newton on JᵀJ can resolve the last
digits. For a slow internal motion the spectral density holds (S2f − S2)·τs' / (1 + (ωτs')²) with
τs' = τs·τm/(τs + τm): while ωτs ≪ 1 the data fix S2 and the product P = (S2f − S2)·τs, and τs only
through (ωτs)². In the *valley coordinates* u — S2f replaced by P (in ps), the other parameters
unchanged — the valley is straight, and Gauss–Newton with SVD steps (``GaussNewtonSVD``, Nocedal &
Wright 2006 §10.3) walks it down to χ² 1e-29 (experiments/dmg_valley.py). Models without S2f, S2
and τs (m0–m4, m9, and any residue whose τs is 0) are polished in the fit's own scaled coordinates.

The constraints A·x ≥ b are kept: a trial whose parameters violate them by more than the fit's end
point did (per row: A·x ≥ min(b, A·x_fit) − 1e-12, since the Method of Multipliers may end a hair
outside, and A·x is rounded differently on the host and on the device)
has χ² = inf and is rejected. The polished point is kept only where its χ² (evaluated in the fit's
coordinates) is finite and lower than the fit's: the polish never makes a residue worse.
"""
from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mfjax import models
from mfjax._x64 import x64
from mfjax.solvers import batch
from mfjax.solvers._arith import matvec
from mfjax.solvers.least_squares import GaussNewtonSVD
from mfjax.status import Status

MAX_ITER = 200            # accepted Gauss–Newton steps at most
SOLVER = GaussNewtonSVD(func_tol=1e-25)
BOUND_SLACK = 1e-12       # scaled units: A·x is rounded differently here and on the device


class PolishResult(NamedTuple):
    """Per-residue outcome of the polish ((n,) arrays): ``x`` and ``chi2`` after it (the better of the
    fit and the polish), ``status`` of the polish run, its counts (``iterations`` accepted steps,
    ``f_count``/``g_count`` evaluations of r and J), ``chi2_before`` and ``improved`` (polish kept)."""

    x: np.ndarray
    chi2: np.ndarray
    status: np.ndarray
    iterations: np.ndarray
    f_count: np.ndarray
    g_count: np.ndarray
    chi2_before: np.ndarray
    improved: np.ndarray


def valley_indices(model) -> tuple[int, int, int] | None:
    """Positions of (S2f, S2, τs) in the model's parameter vector, or None for models without them."""
    params = models.get_model(model).params
    if not {"s2f", "s2", "ts"} <= set(params):
        return None
    return params.index("s2f"), params.index("s2"), params.index("ts")


def to_valley(x, idx):
    """Scaled x (N, n) -> valley coordinates u: S2f replaced by P = (S2f − S2)·τs (τs in ps)."""
    u = np.array(x, np.float64)
    i_f, i_s, i_t = idx
    u[:, i_f] = (x[:, i_f] - x[:, i_s]) * x[:, i_t]
    return u


def _from_valley(u, idx):
    """Valley coordinates u (n,) -> scaled x (n,): S2f = S2 + P/τs."""
    i_f, i_s, i_t = idx
    return u.at[i_f].set(u[i_s] + u[i_f] / u[i_t])


@functools.lru_cache(maxsize=None)
def _objective(fun: Callable, idx) -> Callable:
    """χ² of u (valley coordinates where args["valley"], else x itself), inf outside A·x ≥ b; with
    ``.residuals`` (inf outside) for the Gauss–Newton steps."""

    def point(u, args):
        x = u if idx is None else jnp.where(args["valley"], _from_valley(u, idx), u)
        inside = jnp.all(jnp.isfinite(x)) & jnp.all(matvec(args["A"], x) >= args["b"])
        return jnp.where(jnp.isfinite(x), x, 0.0), inside

    def chi2(u, args):
        x, inside = point(u, args)
        return jnp.where(inside, fun(x, args["inner"]), jnp.inf)

    def residuals(u, args):
        x, inside = point(u, args)
        return jnp.where(inside, fun.residuals(x, args["inner"]), jnp.inf)

    chi2.__name__ = chi2.__qualname__ = f"valley_{getattr(fun, '__name__', 'chi2')}"
    chi2.residuals = residuals
    return chi2


@x64
def polish(fun, args, model, x, chi2, A, b, max_iter=MAX_ITER, n_devices=None) -> PolishResult:
    """Polish the fits ``x`` ((N, n) scaled; χ² ``chi2`` (N,)) of ``fun`` (with ``.residuals``) under
    A·x ≥ b (A (m, n), b (m,); None: none) by the module doc's rule. Residues whose x or χ² is not
    finite are left as they are (status NOT_FINITE, no counts)."""
    x = np.asarray(x, np.float64)
    chi2 = np.asarray(chi2, np.float64)
    N, n = x.shape
    idx = valley_indices(model)
    if idx is not None and max(idx) >= n:
        idx = None
    A = np.zeros((0, n)) if A is None else np.asarray(A, np.float64)
    b = np.zeros(0) if b is None else np.asarray(b, np.float64)
    b_eff = np.minimum(b[None, :], x @ A.T) - BOUND_SLACK        # (N, m)
    ok = np.all(np.isfinite(x), axis=1) & np.isfinite(chi2)
    valley = np.zeros(N, bool) if idx is None else ok & (x[:, idx[2]] > 0)
    u0 = x.copy()
    if idx is not None and valley.any():
        u0[valley] = to_valley(x[valley], idx)
    status = np.full(N, Status.NOT_FINITE, np.int32)
    counts = [np.zeros(N, np.int64) for _ in range(3)]
    x_out, chi2_out = x.copy(), chi2.copy()
    todo = np.flatnonzero(ok)
    if todo.size:
        obj = _objective(fun, idx)
        sub = {"inner": jax.tree.map(lambda a: np.asarray(a)[todo], args), "valley": valley[todo],
               "A": np.broadcast_to(A, (todo.size,) + A.shape), "b": b_eff[todo]}
        res = batch.minimise(obj, u0[todo], sub, solver=SOLVER, max_iter=max_iter, n_devices=n_devices)
        u = res.x
        x_new = u.copy()
        if idx is not None:               # S2f = S2 + P/τs, the same two correctly rounded operations
            i_f, i_s, i_t = idx
            v = valley[todo]
            x_new[v, i_f] = u[v, i_s] + u[v, i_f] / u[v, i_t]
        f_new = batch.evaluate(fun, x_new, sub["inner"])
        inside = np.all(x_new @ A.T >= b_eff[todo], axis=1) & np.all(np.isfinite(x_new), axis=1)
        better = inside & np.isfinite(f_new) & (f_new < chi2[todo])
        x_out[todo[better]] = x_new[better]
        chi2_out[todo[better]] = f_new[better]
        status[todo] = res.status
        for c, value in zip(counts, (res.iterations, res.f_count, res.g_count)):
            c[todo] = value
    improved = chi2_out < chi2
    return PolishResult(x_out, chi2_out, status, *counts, chi2, improved)
