"""Modelfree4-style bounds (Mandel, Akke & Palmer 1995, Modelfree 4.x as d'Auvergne & Gooley 2008
describe it): a step that would leave the feasible region A·x ≥ b is cut flush at its boundary,
and the run stops (``Status.BOUND_STOP``) once the search direction (downhill) points out of the region at
the current point — there is no sliding along a limit.

:func:`box_cut` is the shared geometry; :class:`Modelfree4` wraps a line-search descent
(:class:`mfjax.solvers.descent.Descent`) whose line search never tries a step longer than its first
trial (backtracking or none): the new direction is shortened so that its first trial lands on the
boundary, and the line search restarts along the shortened direction.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from mfjax.solvers._arith import dot, matvec, norm
from mfjax.solvers.base import Problem, Tests
from mfjax.solvers.constraints import PlainState, Unconstrained, _finish
from mfjax.solvers.derivatives import evaluate
from mfjax.status import Status

BLOCKED = 1e-10      # a cut step shorter than this (relative to max(1, ‖x‖)) counts as blocked


def box_cut(x, p, A, b):
    """(t_max, blocked): the longest t ≥ 0 with A·(x + t p) ≥ b (inf if unbounded), and whether the
    region blocks p at x (t_max·‖p‖ ≤ BLOCKED·max(1, ‖x‖))."""
    if A.shape[0] == 0:
        return jnp.asarray(jnp.inf, x.dtype), jnp.asarray(False)
    c = matvec(A, x) - b
    ap = matvec(A, p)
    t = jnp.where(ap < 0, jnp.maximum(c, 0.0) / jnp.where(ap < 0, -ap, 1.0), jnp.inf)
    t_max = jnp.min(t)
    blocked = t_max * norm(p) <= BLOCKED * jnp.maximum(1.0, norm(x))
    return t_max, blocked & (norm(p) > 0)


@dataclass(frozen=True)
class Modelfree4(Unconstrained):
    """Modelfree4-style constraint handling around a Descent inner algorithm (backtracking or no
    line search); one run on f with minfx's termination tests (the set-up is the unconstrained one's)."""

    constrained = True

    def step(self, fun, prob: Problem, s: PlainState) -> PlainState:
        x_t = self.inner.point(s.inner)
        F_t = evaluate(fun, x_t, prob.args, self.inner.order)
        tests = Tests(self.termination.func_tol, self.termination.grad_tol, prob.max_iter, prob.converge)
        a = self.inner.assess(s.inner, F_t, tests)
        restart = a.start & a.finite
        inner, dir_status = self.inner.advance(s.inner, a, restart, F_t)
        new_iter = a.cont | restart

        # Cut the new search so that its longest trial x + a0·p stays inside A·x ≥ b.
        t_max, blocked = box_cut(inner.x, inner.alpha * inner.p, prob.A, prob.b)
        cut = new_iter & (t_max < 1.0)
        p = jnp.where(cut, jnp.maximum(t_max, 0.0) * inner.p, inner.p)
        direction = self.inner.direction
        ls = self.inner.line_search.start(inner.alpha, inner.F.f, dot(inner.F.g, p), direction.ls.mu, direction.ls.eta)
        inner = inner._replace(p=p, ls=jax.tree.map(lambda u, v: jnp.where(cut, u, v), ls, inner.ls))
        status = _finish(a.error, a.stop, a.stop_status, dir_status)
        status = jnp.where((status == Status.RUNNING) & new_iter & blocked, Status.BOUND_STOP, status)
        return PlainState(inner.x, jnp.where(a.moved | a.start, F_t.f, s.f), inner.iters, inner.f_count,
                          inner.g_count, inner.h_count, status.astype(jnp.int32), inner)

