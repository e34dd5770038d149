"""Constraint handling as WRAPPERS around any inner algorithm (protocol in
:mod:`mfjax.solvers.base`); each wrapper is a complete :class:`~mfjax.solvers.base.Solver`.

- :class:`Unconstrained`: the identity wrapper (the inner objective is f itself, one run).
- :class:`MethodOfMultipliers`: minfx's augmented Lagrangian for linear inequalities A·x ≥ b
  (minfx ``method_of_multipliers.py`` and ``constraint_linear.py``; Nocedal & Wright 1999,
  Algorithm 17.4): a sequence of inner runs on L(x; λ, μ), each with a tighter gradient
  tolerance, the multipliers and the penalty updated in between. The inner algorithm does not
  know it is wrapped; the restart of an inner run reuses the evaluation at its end point (no
  extra evaluation, as minfx's set-up at the same point is an evaluation it counts).

The wrapper evaluates the raw objective (with the derivatives the inner algorithm needs), hands
the inner algorithm its transformed values, and keeps the problem's status and minfx's counters.
With an inner algorithm that has ``cheap_trials`` both wrappers split their step (``probe``,
``trial``, ``finish``; see :class:`Unconstrained` and :mod:`mfjax.solvers.base`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from mfjax.solvers._arith import dot, matvec, norm, vecmat
from mfjax.solvers.base import Eval, Problem, Tests, inner_scalar_code
from mfjax.solvers.derivatives import evaluate, value
from mfjax.solvers.settings import Termination
from mfjax.status import Status


def _finish(error, stop, stop_status, direction_status):
    """The problem's status: a breakdown, else the end of the (outer) run, else a failure of the
    direction, else RUNNING."""
    status = jnp.where(error != Status.RUNNING, error, jnp.where(stop, stop_status, Status.RUNNING))
    return jnp.where(status == Status.RUNNING, direction_status, status).astype(jnp.int32)


class Pending(NamedTuple):
    """A trial point evaluated with f alone (cheap trials), waiting for its derivatives."""

    x: Any      # the trial point
    f: Any      # the raw objective there (the f-alone evaluation)
    L: Any      # the inner objective there (what the line search decided on)


def _blank_pending(x0):
    """A Pending of the right shapes (``probe`` fills it)."""
    zero = jnp.zeros((), x0.dtype)
    return Pending(x0, zero, zero)


def _cheap(wrapper, cls):
    """A wrapper of class ``cls`` offers cheap trials when its inner algorithm does and its step is
    ``cls``'s own (a subclass with another step, e.g. Modelfree4's cut, does not)."""
    return type(wrapper).step is cls.step and getattr(wrapper.inner, "cheap_trials", False)


def _step_in_parts(wrapper, fun, prob, s):
    """A whole step as the engine runs it with cheap trials: decide on the pending value, the rest
    of the step unless the trial is settled, then f alone at the next trial point."""
    t, settled = wrapper.trial(fun, prob, s)
    done = wrapper.finish(fun, prob, t)
    return wrapper.probe(fun, prob, jax.tree.map(lambda u, v: jnp.where(settled, u, v), t, done))


def _pending_trial(wrapper, fun, prob: Problem, s):
    """A wrapper's ``trial``: the pending trial judged on its inner objective's value alone (f, or the
    MoM's L): ``(state, settled)`` (see :class:`Unconstrained`)."""
    inner, settled = wrapper.inner.trial(s.inner, s.pending.L)
    return s._replace(inner=inner, f_count=inner.f_count, g_count=inner.g_count), settled


class PlainState(NamedTuple):
    x: Any
    f: Any
    iters: Any
    f_count: Any
    g_count: Any
    h_count: Any
    status: Any
    inner: Any
    pending: Any = ()   # Pending with cheap trials


@dataclass(frozen=True)
class Unconstrained:
    """No constraints: one run of ``inner`` on f (minfx's ``generic_minimise`` without A, b).

    With an inner algorithm that has ``cheap_trials`` (backtracking, a Newton-type direction) the
    state keeps f alone at the next trial point (``pending``, evaluated by :meth:`probe` at the end
    of ``init`` and of every step), and a step is :meth:`trial` (decide on it; a rejected trial is
    settled there), for the problems not settled :meth:`finish` (∇f, ∇²f at the same point, with
    the pending f), then :meth:`probe`: the engine runs ``finish`` only when some problem needs it
    (:mod:`mfjax.solvers.batch`). The f that decides and that is stored is always the f-alone
    evaluation's, a loop-carried value read once (docs/algorithms.md, "One value, one decision")."""

    inner: Any
    termination: Termination = field(default_factory=Termination)
    constrained = False

    scalar_code = inner_scalar_code

    @property
    def cheap_trials(self):
        return _cheap(self, Unconstrained)

    def init(self, fun, prob: Problem) -> PlainState:
        inner = self.inner.blank(prob.x0)
        s = PlainState(inner.x, jnp.zeros((), prob.x0.dtype), inner.iters, inner.f_count, inner.g_count,
                       inner.h_count, jnp.asarray(Status.RUNNING, jnp.int32), inner,
                       _blank_pending(prob.x0) if self.cheap_trials else ())
        return self.probe(fun, prob, s) if self.cheap_trials else s

    def step(self, fun, prob: Problem, s: PlainState) -> PlainState:
        if self.cheap_trials:
            return _step_in_parts(self, fun, prob, s)
        x_t = self.inner.point(s.inner)
        return self._consume(prob, s, x_t, evaluate(fun, x_t, prob.args, self.inner.order))

    def probe(self, fun, prob: Problem, s: PlainState) -> PlainState:
        """f alone at the next trial point, kept in ``pending`` for the next step."""
        x_t = self.inner.point(s.inner)
        f_t = value(fun, x_t, prob.args)
        return s._replace(pending=Pending(x_t, f_t, f_t))

    trial = _pending_trial

    def finish(self, fun, prob: Problem, s: PlainState) -> PlainState:
        """The rest of the step at the pending trial point (derivatives evaluated, f the pending one)."""
        x_t = s.pending.x
        return self._consume(prob, s, x_t, evaluate(fun, x_t, prob.args, self.inner.order)._replace(f=s.pending.f))

    def _consume(self, prob: Problem, s: PlainState, x_t, F_t) -> PlainState:
        tests = Tests(self.termination.func_tol, self.termination.grad_tol, prob.max_iter, prob.converge)
        a = self.inner.assess(s.inner, F_t, tests)
        inner, dir_status = self.inner.advance(s.inner, a, a.start & a.finite, F_t)
        return PlainState(inner.x, jnp.where(a.moved | a.start, F_t.f, s.f), inner.iters, inner.f_count,
                          inner.g_count, inner.h_count, _finish(a.error, a.stop, a.stop_status, dir_status), inner,
                          s.pending)


def lagrangian(F: Eval, x, lam, mu, A, b) -> Eval:
    """minfx's augmented Lagrangian (value, gradient, the 'simple' Hessian: constraint Hessians are
    zero) of raw values F at x, with the active set decided at this same x (minfx evaluates L
    before ∇L at every point, and its gradient uses the flags of the last L call)."""
    c = matvec(A, x) - b
    active = c <= mu * lam
    L = F.f
    for i in range(A.shape[0]):  # sequential sum, as minfx accumulates it
        L = L + jnp.where(active[i], -lam[i] * c[i] + c[i] ** 2 / (2.0 * mu), -mu * lam[i] ** 2 / 2.0)
    gL = None if F.g is None else F.g - vecmat(jnp.where(active, lam - c / mu, 0.0), A)
    HL = None if F.H is None else F.H + _weighted_gram(A, jnp.where(active, 1.0 / mu, 0.0))
    return Eval(L, gL, HL)


def _weighted_gram(A, w):
    """Aᵀ diag(w) A for A (m, n), summed over the rows in order."""
    n = A.shape[1]
    return jnp.stack([jnp.stack([dot(w * A[:, i], A[:, j]) for j in range(n)]) for i in range(n)]) if n else \
        jnp.zeros((0, 0), A.dtype)


class MoMState(NamedTuple):
    x: Any
    f: Any           # raw objective at x
    iters: Any
    f_count: Any
    g_count: Any
    h_count: Any
    status: Any
    inner: Any
    lam: Any         # Lagrange multipliers (m,)
    mu: Any          # penalty parameter
    eps: Any         # inner-tolerance parameters
    gam: Any
    tol: Any         # the inner run's gradient tolerance t_k
    L_prev: Any      # the previous inner run's final L
    inner_max: Any   # the inner run's iteration limit
    pending: Any = ()  # Pending with cheap trials


@dataclass(frozen=True)
class MethodOfMultipliers:
    """minfx's Method of Multipliers around ``inner`` (defaults of minfx
    ``method_of_multipliers.py``). Outer loop: run ``inner`` on L(x; λ, μ) with
    ‖∇L‖ ≤ t_k = min(ε, γ‖c(x_k)‖) (or an exactly zero change of L) for at most ``inner_maxiter``
    iterations; stop when |L_new − L_prev| ≤ func_tol, or iterations ≥ max_iter − 1, or
    μ < ``mu_min``; else λ ← max(λ − c/μ, 0), μ ← μ·scale_mu, ε ← ε·scale_epsilon,
    γ ← γ·scale_gamma. λ starts at ``init_lambda`` on the constraints with c ≤ 0 at x0, else 0.
    Counts are the sums of the inner counts; grad_tol of ``termination`` is not used (minfx).
    Cheap trials as :class:`Unconstrained` (the trial decides on L with the raw f alone)."""

    inner: Any
    termination: Termination = field(default_factory=Termination)
    mu0: float = 1e-5
    epsilon0: float = 1e-2
    gamma0: float = 1e-2
    scale_mu: float = 0.5
    scale_epsilon: float = 1e-2
    scale_gamma: float = 1e-2
    init_lambda: float = 1e4
    inner_maxiter: int = 500
    mu_min: float = 1e-99
    constrained = True

    scalar_code = inner_scalar_code

    @property
    def cheap_trials(self):
        return _cheap(self, MethodOfMultipliers)

    def init(self, fun, prob: Problem) -> MoMState:
        inner = self.inner.blank(prob.x0)
        zero, zero_f = jnp.zeros((), jnp.int32), jnp.zeros((), prob.x0.dtype)
        s = MoMState(inner.x, zero_f, inner.iters, inner.f_count, inner.g_count, inner.h_count,
                     jnp.asarray(Status.RUNNING, jnp.int32), inner, lam=jnp.zeros_like(prob.b),
                     mu=zero_f + self.mu0, eps=zero_f + self.epsilon0, gam=zero_f + self.gamma0, tol=zero_f,
                     L_prev=zero_f, inner_max=zero, pending=_blank_pending(prob.x0) if self.cheap_trials else ())
        return self.probe(fun, prob, s) if self.cheap_trials else s

    def step(self, fun, prob: Problem, s: MoMState) -> MoMState:
        if self.cheap_trials:
            return _step_in_parts(self, fun, prob, s)
        x_t = self.inner.point(s.inner)
        raw = evaluate(fun, x_t, prob.args, self.inner.order)
        return self._consume(prob, s, x_t, raw, lagrangian(raw, x_t, s.lam, s.mu, prob.A, prob.b))

    def probe(self, fun, prob: Problem, s: MoMState) -> MoMState:
        """f alone, and L from it, at the next trial point, kept in ``pending`` for the next step."""
        x_t = self.inner.point(s.inner)
        f_t = value(fun, x_t, prob.args)
        return s._replace(pending=Pending(x_t, f_t, lagrangian(Eval(f_t), x_t, s.lam, s.mu, prob.A, prob.b).f))

    trial = _pending_trial

    def finish(self, fun, prob: Problem, s: MoMState) -> MoMState:
        """The rest of the step at the pending trial point (derivatives evaluated, f and L the trial's)."""
        x_t, pend = s.pending.x, s.pending
        raw = evaluate(fun, x_t, prob.args, self.inner.order)._replace(f=pend.f)
        return self._consume(prob, s, x_t, raw, lagrangian(raw, x_t, s.lam, s.mu, prob.A, prob.b)._replace(f=pend.L))

    def _consume(self, prob: Problem, s: MoMState, x_t, raw: Eval, L_t: Eval) -> MoMState:
        A, b = prob.A, prob.b
        a = self.inner.assess(s.inner, L_t, Tests(None, s.tol, s.inner_max, prob.converge))
        start = a.start

        # After an inner run: the outer tests and the multiplier update (or, on the first step, the set-up).
        c = matvec(A, x_t) - b
        outer_maxed = a.iters >= prob.max_iter - 1
        outer_conv = (jnp.abs(L_t.f - s.L_prev) <= self.termination.func_tol) & prob.converge
        mu_new = jnp.where(start, self.mu0, s.mu * self.scale_mu)
        stop_status = jnp.select(
            [outer_maxed, outer_conv, jnp.isposinf(L_t.f), mu_new < self.mu_min],
            [Status.MAX_ITERATIONS, Status.CONVERGED, Status.NOT_FINITE, Status.MU_TOO_SMALL], Status.RUNNING)
        lam_new = jnp.where(start, jnp.where(c <= 0.0, self.init_lambda, 0.0), jnp.maximum(s.lam - c / s.mu, 0.0))
        eps_new = jnp.where(start, self.epsilon0, s.eps * self.scale_epsilon)
        gam_new = jnp.where(start, self.gamma0, s.gam * self.scale_gamma)
        restart = (a.stop & (stop_status == Status.RUNNING)) | (start & a.finite)
        L_r = lagrangian(raw, x_t, lam_new, mu_new, A, b)
        F_next = jax.tree.map(lambda r, t: jnp.where(restart, r, t), L_r, L_t)
        inner, dir_status = self.inner.advance(s.inner, a, restart, F_next)

        def on_restart(new, old):
            return jnp.where(restart, new, old)

        return MoMState(
            inner.x, jnp.where(a.moved | start, raw.f, s.f), inner.iters, inner.f_count, inner.g_count,
            inner.h_count, _finish(a.error, a.stop, stop_status, dir_status), inner,
            lam=on_restart(lam_new, s.lam), mu=on_restart(mu_new, s.mu), eps=on_restart(eps_new, s.eps),
            gam=on_restart(gam_new, s.gam), tol=on_restart(jnp.minimum(eps_new, gam_new * norm(c)), s.tol),
            L_prev=on_restart(jnp.where(start, L_r.f, L_t.f), s.L_prev),
            inner_max=on_restart(jnp.minimum(self.inner_maxiter, prob.max_iter - a.iters), s.inner_max
                                 ).astype(jnp.int32), pending=s.pending)
