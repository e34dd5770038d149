"""Least squares on the weighted residuals r(x) (``fun.residuals``, Σ r² = f): Levenberg–Marquardt
(minfx ``levenberg_marquardt.py``; Marquardt 1963) and Gauss–Newton, the full-matrix least squares
of crystallographic refinement (International Tables for Crystallography Vol. F, §18.1.8: the
normal equations JᵀJ Δ = −Jᵀr). Complete solvers with their own state, one evaluation (r and its
Jacobian J = ∂r/∂x by ``jax.jacfwd``) per engine step.

Levenberg–Marquardt: λ starts at LM_LAMBDA0 = 1e-3; M = JᵀJ with its diagonal multiplied by
(1 + λ); M p = −Jᵀr (= −½∇χ²). A trial x + p that does not increase f is accepted, λ ← 0.1λ
(while λ ≥ 1e-99) and J is recomputed there (one g_count); otherwise λ ← 10λ (while λ ≤ 1e99) and
the point stays. Every trial is one iteration; the convergence test |Δf| ≤ func_tol (or
‖∇f‖ ≤ grad_tol) runs only after accepted moves.

Gauss–Newton: p = −(JᵀJ)⁻¹Jᵀr with minfx's backtracking on f (a0 = 1, c = 1e-4, ρ = ½; no
acceptable step within 501 trials is a LINE_SEARCH_ERROR); minfx's loop, counters (f per trial,
g per accepted point) and func_tol/grad_tol tests.

A singular (non-invertible) normal matrix ends the problem with ``Status.SINGULAR_MATRIX`` (minfx:
numpy's LinAlgError, "fatal minimisation error"), as at S2 = 1 where χ² does not depend on τe.
``modelfree4=True`` cuts each trial flush at A·x ≥ b and stops with BOUND_STOP when the direction
points out of the region (:mod:`mfjax.solvers.modelfree4`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from mfjax.solvers._arith import dot, matvec, norm, vecmat
from mfjax.solvers import linesearch
from mfjax.solvers.base import Problem
from mfjax.solvers.derivatives import value
from mfjax.solvers.modelfree4 import box_cut
from mfjax.status import Status

LM_LAMBDA0 = 1e-3
BACK_C, BACK_RHO, BACK_MAX_EVALS = 1e-4, 0.5, 501


class LSQState(NamedTuple):
    x: Any
    f: Any
    JtJ: Any         # JᵀJ at x
    Jtr: Any         # Jᵀr at x (= ½∇f)
    p: Any           # the step / direction from x
    lam: Any         # LM damping
    ls: Any          # GN: backtracking state
    iters: Any
    f_count: Any
    g_count: Any
    h_count: Any
    starting: Any
    status: Any


def _residuals_and_jacobian(fun, x, args):
    if not hasattr(fun, "residuals"):
        raise ValueError(f"{getattr(fun, '__name__', fun)!r} has no .residuals(x, args): least-squares "
                         "algorithms need the weighted residuals")
    return fun.residuals(x, args), jax.jacfwd(fun.residuals)(x, args)


def _gram(J):
    """JᵀJ written out (the same bits in any batch)."""
    return jnp.stack([vecmat(J[:, i], J) for i in range(J.shape[1])])


def _solve(M, rhs):
    """M⁻¹ rhs and whether M was singular (LU with a zero pivot gives non-finite values)."""
    p = jnp.linalg.solve(M, rhs)
    return p, ~jnp.all(jnp.isfinite(p))


@dataclass(frozen=True)
class _LeastSquares:
    func_tol: float | None = 1e-25
    grad_tol: float | None = None
    modelfree4: bool = False
    scalar_code = True      # JᵀJ, Jᵀr: FMA contraction differed between one and two devices (mfjax.solvers.batch)

    @property
    def constrained(self):
        return self.modelfree4

    def init(self, fun, prob: Problem) -> LSQState:
        x0 = prob.x0
        n = x0.shape[0]
        zi, zf = jnp.zeros((), jnp.int32), jnp.zeros((), x0.dtype)
        return LSQState(x0, zf, jnp.zeros((n, n), x0.dtype), jnp.zeros_like(x0), jnp.zeros_like(x0),
                        zf + LM_LAMBDA0, linesearch.backtrack_init(jnp.asarray(1.0, x0.dtype)), zi, zi, zi, zi,
                        jnp.asarray(True), zi + Status.RUNNING)

    def _converged(self, f_new, f_old, Jtr_new):
        conv = jnp.asarray(False)
        if self.func_tol is not None:
            conv = conv | (jnp.abs(f_new - f_old) <= self.func_tol)
        if self.grad_tol is not None:
            conv = conv | (2.0 * norm(Jtr_new) <= self.grad_tol)
        return conv

    def _cut(self, x, p, prob):
        """Modelfree4: the step shortened to the boundary, and whether it is blocked."""
        if not self.modelfree4:
            return p, jnp.asarray(False)
        t_max, blocked = box_cut(x, p, prob.A, prob.b)
        return jnp.where(t_max < 1.0, jnp.maximum(t_max, 0.0) * p, p), blocked


@dataclass(frozen=True)
class LevenbergMarquardt(_LeastSquares):
    """minfx's Levenberg–Marquardt (see the module docstring)."""

    def step(self, fun, prob: Problem, s: LSQState) -> LSQState:
        start = s.starting
        x_t = jnp.where(start, s.x, s.x + s.p)
        f_t = value(fun, x_t, prob.args)
        r_t, J_t = _residuals_and_jacobian(fun, x_t, prob.args)
        finite = jnp.isfinite(f_t) & jnp.all(jnp.isfinite(J_t))
        accept = start | (f_t <= s.f)
        iters = s.iters + jnp.where(start, 0, 1)
        lam = jnp.where(start, s.lam, jnp.where(accept, jnp.where(s.lam >= 1e-99, 0.1 * s.lam, s.lam),
                                                 jnp.where(s.lam <= 1e99, 10.0 * s.lam, s.lam)))
        x = jnp.where(accept, x_t, s.x)
        f = jnp.where(accept, f_t, s.f)
        JtJ = jnp.where(accept, _gram(J_t), s.JtJ)
        Jtr = jnp.where(accept, vecmat(r_t, J_t), s.Jtr)
        M = JtJ + jnp.diag(jnp.diag(JtJ) * lam)          # diagonal × (1 + λ)
        p, singular = _solve(M, -Jtr)
        p, blocked = self._cut(x, p, prob)
        conv = ~start & accept & self._converged(f_t, s.f, Jtr) & prob.converge
        status = jnp.select(
            [start & ~finite, ~start & accept & ~finite, iters >= prob.max_iter, conv, singular, blocked],
            [Status.NOT_FINITE, Status.NOT_FINITE, Status.MAX_ITERATIONS, Status.CONVERGED, Status.SINGULAR_MATRIX,
             Status.BOUND_STOP], Status.RUNNING)
        return s._replace(x=x, f=f, JtJ=JtJ, Jtr=Jtr, p=p, lam=lam, iters=iters.astype(jnp.int32),
                          f_count=s.f_count + 1, g_count=s.g_count + accept, starting=jnp.asarray(False),
                          status=status.astype(jnp.int32))


@dataclass(frozen=True)
class GaussNewton(_LeastSquares):
    """Gauss–Newton (full-matrix least squares) with backtracking (see the module docstring)."""

    def step(self, fun, prob: Problem, s: LSQState) -> LSQState:
        start = s.starting
        x_t = s.x + s.ls.alpha * s.p
        f_t = value(fun, x_t, prob.args)
        r_t, J_t = _residuals_and_jacobian(fun, x_t, prob.args)
        finite = jnp.isfinite(f_t) & jnp.all(jnp.isfinite(J_t))
        slope = 2.0 * dot(s.Jtr, s.p)
        ls, done = linesearch.backtrack_update(s.ls, s.f, slope, f_t, BACK_C, BACK_RHO, BACK_MAX_EVALS)
        accept = start | (done & ~ls.failed)
        iters = s.iters + jnp.where(~start & accept, 1, 0)
        x = jnp.where(accept, x_t, s.x)
        f = jnp.where(accept, f_t, s.f)
        JtJ = jnp.where(accept, _gram(J_t), s.JtJ)
        Jtr = jnp.where(accept, vecmat(r_t, J_t), s.Jtr)
        p_new, singular = _solve(JtJ, -Jtr)
        p_new, blocked = self._cut(x, p_new, prob)
        fresh = linesearch.backtrack_init(jnp.asarray(1.0, x.dtype))
        conv = ~start & accept & self._converged(f_t, s.f, Jtr) & prob.converge
        status = jnp.select(
            [start & ~finite, ~start & accept & ~finite, ~start & ls.failed, accept & (iters >= prob.max_iter),
             conv, accept & singular, accept & blocked],
            [Status.NOT_FINITE, Status.NOT_FINITE, Status.LINE_SEARCH_ERROR, Status.MAX_ITERATIONS,
             Status.CONVERGED, Status.SINGULAR_MATRIX, Status.BOUND_STOP], Status.RUNNING)
        return s._replace(x=x, f=f, JtJ=JtJ, Jtr=Jtr, p=jnp.where(accept, p_new, s.p),
                          ls=jax.tree.map(lambda u, v: jnp.where(accept, u, v), fresh, ls),
                          iters=iters.astype(jnp.int32), f_count=s.f_count + 1 + jnp.where(~start & accept, 1, 0),
                          g_count=s.g_count + accept, starting=jnp.asarray(False), status=status.astype(jnp.int32))


class SVDState(NamedTuple):
    x: Any
    f: Any
    p: Any           # the full Gauss–Newton step from x
    t: Any           # the fraction of p tried next (halved after each rejected trial)
    halvings: Any    # rejected trials since the last accepted point
    iters: Any
    f_count: Any
    g_count: Any
    h_count: Any
    starting: Any
    status: Any


@dataclass(frozen=True)
class GaussNewtonSVD:
    """Gauss–Newton with SVD least-squares steps and step halving, for the last digits of an
    ill-conditioned fit (Nocedal & Wright 2006, §10.3: solving J·p = −r through the SVD of J avoids
    JᵀJ, whose condition number is J's squared; ``jnp.linalg.lstsq``, singular values below
    eps·max(m, n)·σ_max are dropped). A trial x + t·p is accepted when f is lower than f(x) and
    finite (an objective that returns inf outside a feasible region thereby keeps the iterates inside
    it); otherwise t is halved, at most ``max_halvings`` times. Stops (CONVERGED) when f reaches 0,
    when an accepted step changes f by at most ``func_tol``, when the decrease the linear model
    promises at the new point, f − ‖r + J·p‖², is at most ``func_tol`` or ``predicted_rtol``·f (below
    the round-off of f), or when no fraction of the step decreases f; MAX_ITERATIONS after
    ``max_iter`` accepted steps; NOT_FINITE when f is not finite at the start. Every trial is one
    evaluation of r and J (f_count and g_count, minfx's counters)."""

    func_tol: float | None = 1e-25
    max_halvings: int = 40
    predicted_rtol: float = 1e-14
    constrained = False
    scalar_code = True

    def init(self, fun, prob: Problem) -> SVDState:
        x0 = prob.x0
        zi, zf = jnp.zeros((), jnp.int32), jnp.zeros((), x0.dtype)
        return SVDState(x0, zf, jnp.zeros_like(x0), zf + 1.0, zi, zi, zi, zi, zi, jnp.asarray(True),
                        zi + Status.RUNNING)

    def step(self, fun, prob: Problem, s: SVDState) -> SVDState:
        start = s.starting
        x_t = jnp.where(start, s.x, s.x + s.t * s.p)
        f_t = value(fun, x_t, prob.args)
        r_t, J_t = _residuals_and_jacobian(fun, x_t, prob.args)
        usable = jnp.isfinite(f_t) & jnp.all(jnp.isfinite(J_t)) & jnp.all(jnp.isfinite(r_t))
        accept = start | (usable & (f_t < s.f))
        iters = s.iters + jnp.where(~start & accept, 1, 0)
        x = jnp.where(accept, x_t, s.x)
        f = jnp.where(accept, f_t, s.f)
        p_new = jnp.linalg.lstsq(J_t, -r_t)[0]
        p_new = jnp.where(jnp.all(jnp.isfinite(p_new)), p_new, jnp.zeros_like(p_new))
        q = r_t + matvec(J_t, p_new)
        predicted = f_t - dot(q, q)               # the decrease the linear model promises
        halvings = jnp.where(accept, 0, s.halvings + 1)
        small = (f_t == 0.0) | (predicted <= self.predicted_rtol * f_t)
        if self.func_tol is not None:
            small = small | (~start & (jnp.abs(s.f - f_t) <= self.func_tol)) | (predicted <= self.func_tol)
        conv = ((accept & small) | (~accept & (halvings > self.max_halvings))) & prob.converge
        status = jnp.select([start & ~usable, conv, accept & (iters >= prob.max_iter)],
                            [Status.NOT_FINITE, Status.CONVERGED, Status.MAX_ITERATIONS], Status.RUNNING)
        return s._replace(x=x, f=f, p=jnp.where(accept, p_new, s.p), t=jnp.where(accept, 1.0, 0.5 * s.t),
                          halvings=halvings.astype(jnp.int32), iters=iters.astype(jnp.int32),
                          f_count=s.f_count + 1, g_count=s.g_count + 1, starting=jnp.asarray(False),
                          status=status.astype(jnp.int32))
