"""Nelder–Mead downhill simplex (minfx ``simplex``; Nocedal & Wright 2006 §9.5; Nelder & Mead 1965),
one function evaluation per engine step.

The simplex starts as x0 and x0 + STEP·e_i (scaled coordinates, where parameters are of order 1).
Per iteration, with the vertices sorted by f (best first) and c the centroid of all but the worst:
reflect x_r = c + (c − x_w); if f_r < f_best expand to c + 2(c − x_w) (keep the better of the two);
if f_best ≤ f_r < f_second-worst accept x_r; if f_second-worst ≤ f_r < f_w contract outside to
c + ½(x_r − c) (accept if ≤ f_r); otherwise contract inside to c + ½(x_w − c) (accept if < f_w);
a failed contraction shrinks every vertex halfway towards the best (n evaluations).
Stops (CONVERGED) when f_worst − f_best ≤ func_tol or every vertex is within x_tol·max(1, |x_best|)
of the best; iters counts completed iterations, f_count evaluations (g_count = h_count = 0).

Each engine step decides on the value the PREVIOUS step stored (``f_trial``, the value at ``trial``)
and ends by evaluating the next trial point: every decision of a step then reads one stored number.
Evaluated and compared in the same step, XLA may compute f inside several consuming kernels, each
rounded its own way (FMA contraction differs per kernel); with f within an ulp of a threshold one
copy started a shrink while another kept the phase, and the step repeated forever without completing
an iteration (Rex Grid point 526 under the Dasha penalty, tests/test_simplex_finishes.py). The
first step only evaluates x0; the last one's evaluation is not used (nor counted).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from mfjax.solvers.base import Problem
from mfjax.solvers.derivatives import value
from mfjax.status import Status

STEP = 1.0


def _centroid(simplex, n):
    """Mean of the first n vertices, summed in order (the same bits in any batch)."""
    acc = simplex[0]
    for i in range(1, n):
        acc = acc + simplex[i]
    return acc / n
INIT, REFLECT, EXPAND, OUTSIDE, INSIDE, SHRINK = range(6)


class State(NamedTuple):
    x: Any
    f: Any
    simplex: Any     # (n+1, n) vertices, sorted best first once the simplex is complete
    fs: Any          # (n+1,)
    trial: Any       # the point the next step evaluates
    phase: Any       # int32: INIT, REFLECT, EXPAND, OUTSIDE, INSIDE, SHRINK
    idx: Any         # vertex being evaluated in INIT / SHRINK
    x_r: Any         # the reflected point and its value (for EXPAND / OUTSIDE)
    f_r: Any
    f_trial: Any     # f at trial (NaN as +inf), evaluated by the previous step
    ready: Any       # bool: f_trial holds that value (False before the first step)
    iters: Any
    f_count: Any
    g_count: Any
    h_count: Any
    status: Any


@dataclass(frozen=True)
class NelderMead:
    """minfx-style simplex; func_tol: f spread test; x_tol: simplex size test (relative)."""

    func_tol: float = 1e-25
    x_tol: float = 1e-15
    constrained = False
    scalar_code = True      # reflections c + t(c − x): width-dependent FMA contraction (mfjax.solvers.batch)

    def init(self, fun, prob: Problem) -> State:
        x0 = prob.x0
        n = x0.shape[0]
        zi, zf = jnp.zeros((), jnp.int32), jnp.zeros((), x0.dtype)
        return State(x=x0, f=zf, simplex=jnp.zeros((n + 1, n), x0.dtype), fs=jnp.zeros(n + 1, x0.dtype),
                     trial=x0, phase=zi + INIT, idx=zi - 1, x_r=x0, f_r=zf, f_trial=zf, ready=jnp.asarray(False),
                     iters=zi, f_count=zi, g_count=zi, h_count=zi, status=zi + Status.RUNNING)

    def step(self, fun, prob: Problem, s: State) -> State:
        """Consume f_trial (if ready), then evaluate f at the next trial point (module docstring)."""
        new = jax.tree.map(lambda a, b: jnp.where(s.ready, a, b), self._consume(prob, s), s)
        f_next = value(fun, new.trial, prob.args)
        return new._replace(f_trial=jnp.where(jnp.isnan(f_next), jnp.inf, f_next), ready=jnp.asarray(True))

    def _consume(self, prob: Problem, s: State) -> State:
        """The transitions that f_trial = f(trial) triggers."""
        n = prob.x0.shape[0]
        first = s.idx < 0
        # The first step builds the simplex around x (= x0): the blank state knows no problem.
        simplex0 = s.x[None, :] + STEP * jnp.concatenate([jnp.zeros((1, n), s.x.dtype), jnp.eye(n, dtype=s.x.dtype)])
        simplex = jnp.where(first, simplex0, s.simplex)
        idx = jnp.maximum(s.idx, 0)
        trial = jnp.where(first, s.x, s.trial)
        f_t = s.f_trial                                                # NaN ranks as the worst value (+inf)
        fs, phase = s.fs, s.phase
        worst, second = fs[n], fs[n - 1]
        c = _centroid(simplex, n)
        x_w = simplex[n]

        # What each phase does with f_t: (end of iteration?, replace worst by (x, f)?, next phase, next trial).
        in_init, in_shrink = phase == INIT, phase == SHRINK
        fs_eval = fs.at[idx].set(f_t)                                  # INIT / SHRINK: vertex idx evaluated
        eval_done = idx >= n
        r_expand = (phase == REFLECT) & (f_t < fs[0])
        r_accept = (phase == REFLECT) & (f_t >= fs[0]) & (f_t < second)
        r_outside = (phase == REFLECT) & (f_t >= second) & (f_t < worst)
        r_inside = (phase == REFLECT) & (f_t >= worst)
        e_done = phase == EXPAND
        o_ok = (phase == OUTSIDE) & (f_t <= s.f_r)
        i_ok = (phase == INSIDE) & (f_t < worst)
        start_shrink = ((phase == OUTSIDE) & ~o_ok) | ((phase == INSIDE) & ~i_ok)

        replace = r_accept | e_done | o_ok | i_ok
        new_x = jnp.where(e_done & (f_t >= s.f_r), s.x_r, trial)
        new_f = jnp.where(e_done & (f_t >= s.f_r), s.f_r, f_t)
        simplex_r = simplex.at[n].set(jnp.where(replace, new_x, x_w))
        fs_r = jnp.where(in_init | in_shrink, fs_eval, fs.at[n].set(jnp.where(replace, new_f, worst)))
        shrunk = simplex[0][None, :] + 0.5 * (simplex - simplex[0][None, :])
        simplex_r = jnp.where(start_shrink, shrunk, simplex_r)
        end_iter = replace | (in_shrink & eval_done)
        complete = end_iter | (in_init & eval_done)

        # Sort a complete simplex, test convergence, reflect the new worst vertex.
        order = jnp.argsort(fs_r, stable=True)
        simplex_s = jnp.where(complete, simplex_r[order], simplex_r)
        fs_s = jnp.where(complete, fs_r[order], fs_r)
        c_s = _centroid(simplex_s, n)
        reflect = c_s + (c_s - simplex_s[n])
        iters = s.iters + end_iter
        spread = fs_s[n] - fs_s[0]
        size = jnp.max(jnp.abs(simplex_s[1:] - simplex_s[0]))
        small = size <= self.x_tol * jnp.maximum(1.0, jnp.max(jnp.abs(simplex_s[0])))
        conv = complete & ((spread <= self.func_tol) | small)
        conv = conv & prob.converge
        maxed = complete & (iters >= prob.max_iter)
        bad = first & ~jnp.isfinite(f_t)

        next_phase = jnp.select(
            [complete, r_expand, r_outside, r_inside, start_shrink, in_init | in_shrink],
            [REFLECT, EXPAND, OUTSIDE, INSIDE, SHRINK, phase], phase)
        next_idx = jnp.where(start_shrink, 1, jnp.where((in_init | in_shrink) & ~eval_done, idx + 1, idx))
        next_trial = jnp.select(
            [complete, r_expand, r_outside, r_inside, start_shrink, (in_init | in_shrink) & ~eval_done],
            [reflect, c + 2.0 * (c - x_w), c + 0.5 * (trial - c), c + 0.5 * (x_w - c), shrunk[1],
             simplex_s[jnp.minimum(idx + 1, n)]], trial)
        status = jnp.select([bad, conv, maxed], [Status.NOT_FINITE, Status.CONVERGED, Status.MAX_ITERATIONS],
                            Status.RUNNING)
        keep_r = r_expand | r_outside
        return State(
            x=jnp.where(complete, simplex_s[0], s.x), f=jnp.where(complete, fs_s[0], jnp.where(first, f_t, s.f)),
            simplex=simplex_s, fs=fs_s, trial=next_trial, phase=next_phase.astype(jnp.int32),
            idx=next_idx.astype(jnp.int32), x_r=jnp.where(keep_r, trial, s.x_r), f_r=jnp.where(keep_r, f_t, s.f_r),
            f_trial=f_t, ready=s.ready, iters=iters.astype(jnp.int32), f_count=s.f_count + 1, g_count=s.g_count,
            h_count=s.h_count, status=status.astype(jnp.int32))
