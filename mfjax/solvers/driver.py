"""Newton (GMW-modified) with a line search, inside the Method of Multipliers for linear
constraints A·x ≥ b, as minfx does it (minfx 1.0.13: ``newton.py``, ``method_of_multipliers.py``,
``line_search/backtrack.py``, ``line_search/more_thuente.py``; d'Auvergne & Gooley 2008).

The algorithm is ONE state machine whose step evaluates f, ∇f and ∇²f at one trial point: the
set-up at x0, the line search's accept/reject, the inner Newton iteration and the outer multiplier
update are all transitions of that step (no nested loops, so under ``vmap`` nothing waits for a
nested loop's slowest element). :class:`Options` is the solver the batched engine
(:mod:`mfjax.solvers.batch`) runs. Counting (iter, f_count, g_count, h_count) and convergence
tests follow minfx.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from mfjax.solvers import gmw, linesearch
from mfjax.solvers.base import Problem
from mfjax.solvers.derivatives import value_grad_hess
from mfjax.status import Status

# Method-of-Multipliers constants of minfx (method_of_multipliers.py defaults).
MU0 = 1e-5
EPSILON0 = 1e-2
GAMMA0 = 1e-2
SCALE_MU = 0.5
SCALE_EPSILON = 1e-2
SCALE_GAMMA = 1e-2
INIT_LAMBDA = 1e4
INNER_MAXITER = 500
MU_MIN = 1e-99
# Newton's line-search constants in minfx.
A0 = 1.0
ARMIJO_C = 1e-4
BACKTRACK_RHO = 0.5
BACKTRACK_MAX_EVALS = 501
MT_MU = 1e-4
MT_ETA = 0.9
MT_MAX_EVALS = 1000   # safety cap on one Moré–Thuente search (minfx has none)

LINE_SEARCHES = ("backtrack", "more_thuente")
HESSIAN_MODS = ("gmw", None)


@dataclass(frozen=True)
class Options:
    """Static solver settings (a change of these compiles a new program)."""

    constrained: bool = True
    line_search: str = "backtrack"
    hessian_mod: str | None = "gmw"
    func_tol: float = 1e-25
    grad_tol: float | None = None

    def __post_init__(self):
        if self.line_search not in LINE_SEARCHES:
            raise ValueError(f"unknown line search {self.line_search!r}; use one of {LINE_SEARCHES}")
        if self.hessian_mod not in HESSIAN_MODS:
            raise ValueError(f"unknown Hessian modification {self.hessian_mod!r}; use one of {HESSIAN_MODS}")

    def init(self, fun, prob: Problem) -> "State":
        return _blank_one(self, prob)

    def step(self, fun, prob: Problem, state: "State") -> "State":
        return _step_one(fun, self, prob, state)


class State(NamedTuple):
    """Everything one problem carries from one step to the next."""

    x: Any           # current iterate
    f: Any           # raw objective at x
    fL: Any          # inner objective at x (augmented Lagrangian, or f when unconstrained)
    gL: Any          # its gradient
    p: Any           # search direction at x
    alpha: Any       # trial step length
    ls: Any          # line-search state (backtracking counters or Moré–Thuente state)
    lam: Any         # Lagrange multipliers (m,)
    mu: Any          # penalty parameter
    eps: Any         # inner-tolerance parameters of the Method of Multipliers
    gam: Any
    tol: Any         # inner gradient tolerance t_k
    L_prev: Any      # outer: previous inner minimum
    k: Any           # inner iteration index
    inner_max: Any   # inner iteration limit
    iters: Any       # total (inner) iterations so far, minfx's iter
    f_count: Any
    g_count: Any
    h_count: Any
    forced: Any      # the next evaluation is the exhausted backtracking's fallback step
    starting: Any    # the next evaluation is at x0: the set-up of the whole minimisation
    status: Any


def _lagrangian(f, g, H, x, lam, mu, A, b):
    """Augmented Lagrangian of minfx (value, gradient, 'simple' Hessian) at x, with the active
    set decided at this same x (gotcha G8)."""
    c = A @ x - b
    active = c <= mu * lam
    L = f
    for i in range(A.shape[0]):  # sequential sum, as minfx accumulates it
        L = L + jnp.where(active[i], -lam[i] * c[i] + c[i] ** 2 / (2.0 * mu), -mu * lam[i] ** 2 / 2.0)
    weight = jnp.where(active, lam - c / mu, 0.0)
    gL = g - weight @ A
    HL = H + (A.T * jnp.where(active, 1.0 / mu, 0.0)) @ A
    return L, gL, HL


def _direction(HL, gL, hessian_mod):
    if hessian_mod == "gmw":
        return gmw.gmw_direction(HL, gL)
    return gmw.unmodified_newton_direction(HL, gL)


def _ls_start(opts, fL, slope):
    """A fresh line search along p from the current point (first trial step A0)."""
    if opts.line_search == "backtrack":
        return linesearch.backtrack_init(jnp.asarray(A0, fL.dtype))
    return linesearch.more_thuente_init(jnp.asarray(A0, fL.dtype), fL, slope, MT_MU, MT_ETA)


def _ls_update(opts, ls, fL, slope, L_t, dphi_t):
    """Feed the trial values to the line search.

    Returns (ls, done, failed, error, f_evals, g_evals): ``done`` means ls.alpha is the step;
    ``failed`` that it is a fallback step not yet evaluated; ``error`` that the search broke down;
    f_evals/g_evals are the evaluations this trial counts for (minfx's counting).
    """
    if opts.line_search == "backtrack":
        ls, done = linesearch.backtrack_update(ls, fL, slope, L_t, ARMIJO_C, BACKTRACK_RHO, BACKTRACK_MAX_EVALS)
        return ls, done, ls.failed, jnp.asarray(False), 1, 0
    ls, done = linesearch.more_thuente_update(ls, L_t, dphi_t)
    runaway = ~done & (ls.f_count >= MT_MAX_EVALS)     # minfx can loop forever here (e.g. NaN φ)
    return ls, done | runaway, jnp.asarray(False), (ls.error != linesearch.ERR_NONE) | runaway, 1, 1


def _blank_one(opts, prob: Problem) -> State:
    """The state before anything is evaluated: the first step evaluates at x0 and sets up."""
    x0 = prob.x0
    zero, zero_f = jnp.zeros((), jnp.int32), jnp.zeros((), x0.dtype)
    return State(
        x=x0, f=zero_f, fL=zero_f, gL=jnp.zeros_like(x0), p=jnp.zeros_like(x0), alpha=zero_f,
        ls=_ls_start(opts, zero_f, zero_f), lam=jnp.zeros_like(prob.b), mu=zero_f + MU0, eps=zero_f + EPSILON0,
        gam=zero_f + GAMMA0, tol=zero_f, L_prev=zero_f, k=zero, inner_max=zero, iters=zero, f_count=zero,
        g_count=zero, h_count=zero, forced=jnp.asarray(False), starting=jnp.asarray(True),
        status=zero + Status.RUNNING)


def _step_one(fun, opts, prob: Problem, s: State) -> State:
    """One evaluation at the trial point x + alpha p and every transition it triggers: line-search
    accept/reject, the end of an inner Newton iteration, the end of an inner run (the multiplier
    update of the Method of Multipliers) and, on the first call, the set-up at x0."""
    A, b = prob.A, prob.b
    x_t = s.x + s.alpha * s.p
    f_t, g_t, H_t = value_grad_hess(fun, x_t, prob.args)
    if opts.constrained:
        L_t, gL_t, HL_t = _lagrangian(f_t, g_t, H_t, x_t, s.lam, s.mu, A, b)
    else:
        L_t, gL_t, HL_t = f_t, g_t, H_t
    slope = s.gL @ s.p
    start = s.starting

    # Line search: accept, reject (next trial) or fall back to an unevaluated step.
    ls, ls_done, ls_failed, ls_error, f_ev, g_ev = _ls_update(opts, s.ls, s.fL, slope, L_t, gL_t @ s.p)
    ls_error = ls_error & ~s.forced & ~start
    accept = ~start & (s.forced | (ls_done & ~ls_failed & ~ls_error))
    fallback = ~start & ~s.forced & ls_done & ls_failed           # evaluate ls.alpha next, then accept it
    searched = ~start & ~s.forced & ~s.ls.done         # a search born done (ascent) evaluates nothing
    f_count = s.f_count + jnp.where(searched, f_ev, 0) + jnp.where(accept, 1, 0)
    g_count = s.g_count + jnp.where(searched, g_ev, 0) + jnp.where(accept, 1, 0)

    finite_t = jnp.isfinite(f_t) & jnp.all(jnp.isfinite(g_t)) & jnp.all(jnp.isfinite(H_t))
    bad = (accept & ~finite_t & ~jnp.isposinf(L_t)) | (start & ~finite_t)

    # Inner iteration k ends here (minfx: the max-iteration test comes before the convergence test).
    inner_maxed = s.k >= s.inner_max - 1
    if opts.constrained:
        conv = (jnp.linalg.norm(gL_t) <= s.tol) | (L_t - s.fL == 0.0)
    else:
        conv = jnp.abs(L_t - s.fL) <= opts.func_tol
        if opts.grad_tol is not None:
            conv = conv | (jnp.linalg.norm(gL_t) <= opts.grad_tol)
    conv = conv & prob.converge
    is_inf = jnp.isposinf(L_t)
    inner_stop = accept & ~bad & (inner_maxed | conv | is_inf)
    iters = s.iters + jnp.where(inner_stop, s.k + 1, 0)

    # After an inner run: the outer tests and multiplier update (Method of Multipliers), or the end.
    c = A @ x_t - b
    if opts.constrained:
        outer_maxed = iters >= prob.max_iter - 1
        outer_conv = (jnp.abs(L_t - s.L_prev) <= opts.func_tol) & prob.converge
        mu_new = jnp.where(start, MU0, s.mu * SCALE_MU)
        stop_status = jnp.select(
            [outer_maxed, outer_conv, is_inf, mu_new < MU_MIN],
            [Status.MAX_ITERATIONS, Status.CONVERGED, Status.NOT_FINITE, Status.MU_TOO_SMALL], Status.RUNNING)
        lam_new = jnp.where(start, jnp.where(c <= 0.0, INIT_LAMBDA, 0.0), jnp.maximum(s.lam - c / s.mu, 0.0))
        eps_new = jnp.where(start, EPSILON0, s.eps * SCALE_EPSILON)
        gam_new = jnp.where(start, GAMMA0, s.gam * SCALE_GAMMA)
        restart = (inner_stop & (stop_status == Status.RUNNING)) | (start & finite_t)
        inner_max_new = jnp.minimum(INNER_MAXITER, prob.max_iter - iters)
    else:
        stop_status = jnp.select([inner_maxed, conv, is_inf],
                                 [Status.MAX_ITERATIONS, Status.CONVERGED, Status.NOT_FINITE], Status.RUNNING)
        lam_new, mu_new, eps_new, gam_new = s.lam, s.mu, s.eps, s.gam
        restart = start & finite_t
        inner_max_new = prob.max_iter

    # The objective at the new point for the next inner iteration: same multipliers, or new ones.
    if opts.constrained:
        L_r, gL_r, HL_r = _lagrangian(f_t, g_t, H_t, x_t, lam_new, mu_new, A, b)
        fL_next = jnp.where(restart, L_r, L_t)
        gL_next = jnp.where(restart, gL_r, gL_t)
        HL_next = jnp.where(restart, HL_r, HL_t)
    else:
        fL_next, gL_next, HL_next = L_t, gL_t, HL_t
    p_next = _direction(HL_next, gL_next, opts.hessian_mod)
    ls_fresh = _ls_start(opts, fL_next, gL_next @ p_next)

    moved = accept & ~bad
    cont = moved & ~inner_stop                       # next inner iteration, same multipliers
    new_iter = cont | restart
    new_status = jnp.select([ls_error, bad, inner_stop], [Status.LINE_SEARCH_ERROR, Status.NOT_FINITE, stop_status],
                            Status.RUNNING)

    def on_new_iter(new, old):
        return jnp.where(new_iter, new, old)

    def on_restart(new, old):
        return jnp.where(restart, new, old)

    return State(
        x=jnp.where(moved, x_t, s.x), f=jnp.where(moved | start, f_t, s.f),
        fL=on_new_iter(fL_next, s.fL), gL=on_new_iter(gL_next, s.gL), p=on_new_iter(p_next, s.p),
        alpha=jnp.where(new_iter, A0, ls.alpha), ls=jax.tree.map(on_new_iter, ls_fresh, ls),
        lam=on_restart(lam_new, s.lam), mu=on_restart(mu_new, s.mu), eps=on_restart(eps_new, s.eps),
        gam=on_restart(gam_new, s.gam), tol=on_restart(jnp.minimum(eps_new, gam_new * jnp.linalg.norm(c)), s.tol),
        L_prev=on_restart(jnp.where(start, L_r if opts.constrained else L_t, L_t), s.L_prev),
        k=jnp.where(restart, 0, jnp.where(cont, s.k + 1, s.k)),
        inner_max=on_restart(inner_max_new, s.inner_max).astype(jnp.int32),
        iters=iters, f_count=f_count + jnp.where(restart, 1, 0), g_count=g_count + jnp.where(restart, 1, 0),
        h_count=s.h_count + jnp.where(new_iter, 1, 0),
        forced=fallback, starting=jnp.asarray(False), status=new_status.astype(jnp.int32),
    )
