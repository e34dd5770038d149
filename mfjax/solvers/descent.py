"""The generic line-search descent as a state machine (minfx ``base_classes.py Min.minimise``;
Nocedal & Wright 1999, ch. 3): an inner algorithm (protocol in :mod:`mfjax.solvers.base`) made of
a DIRECTION part and a LINE-SEARCH part.

Each step consumes the objective's values at one trial point x + αp: the line search accepts or
rejects α; on an accept the iteration ends (minfx's max-iteration test before its convergence
test), and unless the run ends the direction part gives the next p and first trial step a0.

Direction protocol (a frozen dataclass; e.g. :class:`mfjax.solvers.newton.Newton`):

- ``needs_hessian``: True if ``next`` reads ``F_new.H`` (the Hessian is then evaluated at every
  accepted point — at every trial point with a line search that needs ∇f there — and counted once
  per iteration, as minfx's ``h_count``);
- ``ls``: :class:`~mfjax.solvers.settings.LineSearchConstants` (a0, mu, eta) for the line search;
- ``init(x0) -> dstate``: the direction's own state (fixed shapes; e.g. BFGS's matrix);
- ``next(dstate, restart, x_old, x_new, g_old, F_new, alpha) -> (p, a0, dstate, status)``: the
  direction at ``x_new`` (values ``F_new``: f, ∇f and ∇²f if needed) after the step ``alpha`` from
  ``x_old`` (gradient ``g_old``). ``restart`` (traced bool): a new minimisation starts at ``x_new``
  — forget the history. ``status``: ``Status.RUNNING``, or a failure that ends the problem.

Line-search protocol: see :mod:`mfjax.solvers.linesearch`.

Cheap trials: a line search that decides on f alone (backtracking, as minfx's ``backtrack.py``
asks only for f at a trial) with a direction that needs ∇²f lets the wrapper evaluate f alone at
every trial point and settle a rejected trial with :meth:`Descent.trial`; ∇f and ∇²f are evaluated
only where the trial is accepted (or at a start or forced step), as minfx does. The value that
decides is always the f-alone evaluation, whatever else is computed (see
:mod:`mfjax.solvers.constraints`).

Counting as minfx: a run's set-up counts 1 f and 1 ∇f; every line-search trial counts what the line
search says; an accepted step counts 1 f and 1 ∇f more (minfx evaluates again at the new point);
each new iterate counts one Hessian if the direction needs it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from mfjax.solvers._arith import dot, norm
from mfjax.solvers.base import Assessment, Eval, Tests
from mfjax.status import Status


class DescentState(NamedTuple):
    x: Any           # current iterate
    F: Any           # Eval (f, ∇f; no Hessian) of the inner objective at x
    p: Any           # search direction at x
    alpha: Any       # trial step length
    ls: Any          # line-search state
    dstate: Any      # direction state
    k: Any           # iteration index within the run
    iters: Any       # minfx's counters, summed over runs
    f_count: Any
    g_count: Any
    h_count: Any
    forced: Any      # the next evaluation is a line search's fallback step: take it whatever it is
    starting: Any    # the next evaluation is at x0


class _Rest(NamedTuple):
    ls: Any
    fallback: Any
    f_count: Any
    g_count: Any


@dataclass(frozen=True)
class Descent:
    """Inner algorithm: ``direction`` × ``line_search`` (see the module docstring)."""

    direction: Any
    line_search: Any

    @property
    def order(self):
        return 2 if self.direction.needs_hessian else 1

    @property
    def scalar_code(self):
        """Compile without SIMD if the direction asks for it (see :mod:`mfjax.solvers.batch`)."""
        return getattr(self.direction, "scalar_code", False)

    @property
    def cheap_trials(self):
        """True if the line search decides on f alone (backtracking) and the direction needs ∇²f: a
        wrapper may then evaluate f alone at a trial point and call :meth:`trial` (see the module
        docstring). First-order directions keep the whole evaluation at every trial: f and ∇f cost
        little more than f, and their measured paths stay (BFGS with backtracking on the Fig. 2 point
        of d'Auvergne & Gooley 2008: 159 iterations, as relax; 162 with cheap trials)."""
        return getattr(self.line_search, "decides_on_f", False) and self.direction.needs_hessian

    def trial(self, s: DescentState, f_t):
        """The trial at ``point(s)`` judged on the objective's value ``f_t`` alone: returns
        ``(istate, settled)``. ``settled``: the line search rejected the trial (or falls back to an
        unevaluated step), nothing else changes, and ``istate`` is the state after this evaluation
        — the same as :meth:`assess` and :meth:`advance` give with any ∇f, ∇²f there. Otherwise
        (a start, a forced step, an accepted trial) ``istate`` is ``s`` and the caller feeds the
        full values (with this same ``f_t``) to :meth:`assess`. Only when :attr:`cheap_trials`."""
        ls, out = self.line_search.update(s.ls, s.F.f, dot(s.F.g, s.p), f_t, None)
        settled = ~s.starting & ~s.forced & ~s.ls.done & (~out.done | out.fallback)
        tried = s._replace(alpha=ls.alpha, ls=ls, f_count=s.f_count + out.f_evals,
                           g_count=s.g_count + out.g_evals, forced=out.fallback)
        return jax.tree.map(lambda u, v: jnp.where(settled, u, v), tried, s), settled

    def blank(self, x0) -> DescentState:
        zero, zero_f = jnp.zeros((), jnp.int32), jnp.zeros((), x0.dtype)
        g = jnp.zeros_like(x0)
        return DescentState(
            x=x0, F=Eval(zero_f, g), p=jnp.zeros_like(x0), alpha=zero_f,
            ls=self.line_search.start(zero_f, zero_f, zero_f, self.direction.ls.mu, self.direction.ls.eta),
            dstate=self.direction.init(x0), k=zero, iters=zero, f_count=zero, g_count=zero, h_count=zero,
            forced=jnp.asarray(False), starting=jnp.asarray(True))

    def point(self, s: DescentState):
        # A search born done (Moré–Thuente given an ascent direction) aborts the run at x itself.
        return jnp.where(self._aborting(s), s.x, s.x + s.alpha * s.p)

    @staticmethod
    def _aborting(s: DescentState):
        return ~s.starting & ~s.forced & s.ls.done

    def assess(self, s: DescentState, F_t: Eval, tests: Tests) -> Assessment:
        x_t = self.point(s)
        start = s.starting
        slope = dot(s.F.g, s.p)
        ls, out = self.line_search.update(s.ls, s.F.f, slope, F_t.f, dot(F_t.g, s.p))
        # minfx's "fatal minimisation error" (base_classes.py Min.minimise: the NameError of
        # more_thuente() for an ascent direction): the run ends at x, uncounted, with iter = k + 1
        # (k when it is the run's first iteration); a Method of Multipliers carries on from x.
        aborted = self._aborting(s) & out.error
        ls_error = out.error & ~s.forced & ~start & ~aborted
        accept = ~start & ~aborted & (s.forced | (out.done & ~out.fallback & ~ls_error))
        fallback = ~start & ~s.forced & out.done & out.fallback      # evaluate ls.alpha next, then take it
        searched = ~start & ~s.forced & ~s.ls.done        # a search born done (ascent) evaluates nothing
        f_count = s.f_count + jnp.where(searched, out.f_evals, 0) + jnp.where(accept, 1, 0)
        g_count = s.g_count + jnp.where(searched, out.g_evals, 0) + jnp.where(accept, 1, 0)

        finite = jnp.all(jnp.array([jnp.all(jnp.isfinite(v)) for v in F_t if v is not None]))
        is_inf = jnp.isposinf(F_t.f)
        bad = (accept & ~finite & ~is_inf) | (start & ~finite)

        # The iteration ends here: minfx tests the iteration limit before convergence.
        maxed = s.k >= tests.max_iter - 1
        conv = jnp.asarray(False)
        if tests.func_tol is not None:
            conv = conv | (jnp.abs(F_t.f - s.F.f) <= tests.func_tol)
        if tests.grad_tol is not None:
            conv = conv | (norm(F_t.g) <= tests.grad_tol)
            if tests.func_tol is None:
                conv = conv | (F_t.f - s.F.f == 0.0)
        conv = conv & tests.converge
        stop = (accept & ~bad & (maxed | conv | is_inf)) | aborted
        stop_status = jnp.select([aborted, maxed, conv, is_inf], [Status.LINE_SEARCH_ERROR, Status.MAX_ITERATIONS,
                                 Status.CONVERGED, Status.NOT_FINITE], Status.RUNNING)
        moved = accept & ~bad
        error = jnp.select([ls_error, bad], [Status.LINE_SEARCH_ERROR, Status.NOT_FINITE], Status.RUNNING)
        return Assessment(x_t=x_t, F_t=F_t, start=start, finite=finite, moved=moved, cont=moved & ~stop, stop=stop,
                          stop_status=stop_status, error=error.astype(jnp.int32),
                          iters=s.iters + jnp.where(stop & ~(aborted & (s.k == 0)), s.k + 1, 0),
                          rest=_Rest(ls, fallback, f_count, g_count))

    def advance(self, s: DescentState, a: Assessment, restart, F_next: Eval):
        r = a.rest
        new_iter = a.cont | restart
        p, a0, dstate, status = self.direction.next(s.dstate, restart, s.x, a.x_t, s.F.g, F_next, s.alpha)
        ls_fresh = self.line_search.start(a0, F_next.f, dot(F_next.g, p), self.direction.ls.mu, self.direction.ls.eta)

        def on_new_iter(new, old):
            return jnp.where(new_iter, new, old)

        state = DescentState(
            x=jnp.where(a.moved, a.x_t, s.x), F=jax.tree.map(on_new_iter, Eval(F_next.f, F_next.g), s.F),
            p=on_new_iter(p, s.p), alpha=on_new_iter(a0, r.ls.alpha), ls=jax.tree.map(on_new_iter, ls_fresh, r.ls),
            dstate=jax.tree.map(on_new_iter, dstate, s.dstate),
            k=jnp.where(restart, 0, jnp.where(a.cont, s.k + 1, s.k)), iters=a.iters,
            f_count=r.f_count + jnp.where(restart, 1, 0), g_count=r.g_count + jnp.where(restart, 1, 0),
            h_count=s.h_count + jnp.where(new_iter & self.direction.needs_hessian, 1, 0),
            forced=r.fallback, starting=jnp.asarray(False))
        return state, jnp.where(new_iter, status, Status.RUNNING).astype(jnp.int32)
