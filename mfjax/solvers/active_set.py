"""Active-set Newton for linear inequality constraints A·x ≥ b: a constrained Newton that does not
crawl (opt-in: ``mfjax.fit(..., algorithm="active_set_newton")``; the default stays minfx's Method of
Multipliers). Design and measurements: ``docs/constrained_newton.md``.

Each iteration works on a face of the feasible polytope (Gill, Murray & Wright 1981, *Practical
Optimization* §5.2–5.5; Nocedal & Wright 2006 §16.5 for the active-set logic and §3.4 for the
modified Newton direction):

1. Working set. The constraints active at x (c_i = a_i·x − b_i ≈ 0) are candidates. Their
   first-order multipliers λ solve A_Wᵀλ = ∇f in the least-squares sense (modified Gram–Schmidt
   on the rows, dependent rows skipped, so degenerate corners such as S2 = S2f = 1 are handled);
   the candidate with the most negative λ is released and λ recomputed until all are ≥ 0.
2. Direction. Newton on the face: with the Jacobi scaling D = diag(√|∇²f_ii|) (the problem is
   badly scaled: S2 ~ 1, τ in ps ~ 1–10⁴) and P the projector onto the null space of the scaled
   working rows, p = −D⁻¹ P M⁻¹ P D⁻¹∇f with M = P H̃ P + (I − P), H̃ = D⁻¹∇²f D⁻¹, and M⁻¹
   through the GMW81 modified Cholesky factorisation (:mod:`mfjax.solvers.gmw`), so an indefinite
   or singular reduced Hessian (S2 = 1 makes τe undefined: a zero row) still gives a descent
   direction and no NaN. If p runs straight into an active constraint that was released, that
   constraint is put back and p recomputed (at most n times; each such row is independent of the
   working set, so this ends).
3. Step. The ratio test gives the longest feasible step α_max along p; the first trial is
   α = min(1, θ·α_max) with θ = ``boundary_fraction`` (0.995), or α_max itself when what would be
   left is within the activity tolerance (the trial point is then projected onto the blocking
   constraint's hyperplane, so it is met exactly); then Armijo backtracking (c = 1e-4) with
   safeguarded quadratic interpolation (factor in [0.1, 0.5]).
4. Start and degenerate corners. The start is moved inside along the normal of every active
   constraint by ``start_inset`` (1 %) of the room there. A run that converges with χ² > ``f_zero``
   where a free parameter has zero curvature (τe at S2 = 1: a degenerate KKT point) restarts from
   the point moved ``escape_inset`` (10 %) inside, at most ``max_escapes`` times; the lowest χ² point
   is returned.

Status: experimental. Measured against the Method of Multipliers on the paper's grids it loses
points at the S2 = 1 corner (RG) and crawls next to S2 ≥ 0 (DMG); see docs/constrained_newton.md.

Every step of the engine evaluates f, ∇f, ∇²f once at the trial point (so f_count = g_count =
h_count = evaluations), and one accepted trial is one iteration. Termination (``prob.converge``):
CONVERGED when χ² ≤ ``f_floor`` (1e-30), or when the Newton decrement on the face −∇f·p ≤
``dec_tol``·χ² (1e-15: the first-order conditions hold with λ ≥ 0 to round-off), or when no trial
point lowers χ² (the line search runs out, or the trial point equals x in floating point) while
χ² ≤ ``f_zero`` (1e-20: a zero-residual fit at its round-off floor) or the decrement is ≤
``stall_tol``·χ² (1e-8); otherwise that case is LINE_SEARCH_ERROR. MAX_ITERATIONS after
``prob.max_iter`` iterations; NOT_FINITE if χ² is not finite at the start. χ² thresholds are
absolute because χ² is dimensionless (residuals divided by their errors).

All arithmetic on the small vectors and matrices is unrolled into scalar operations (n ≤ 5, m ≤ 10),
so a problem's result cannot depend on what else is in the batch. A start outside the constraints
is first moved inside by cyclic projection onto the violated half-spaces.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax.numpy as jnp

from mfjax.solvers import gmw
from mfjax.solvers.base import Problem
from mfjax.solvers.derivatives import value_grad_hess
from mfjax.status import Status

ARMIJO_C = 1e-4
SHRINK_MIN, SHRINK_MAX = 0.1, 0.5      # backtracking: α ← α·clip(quadratic-interpolation factor)
MAX_BACKTRACKS = 40
ACTIVE_TOL = 1e-12                      # c_i ≤ ACTIVE_TOL·(1 + |b_i| + Σ|a_ij x_j|): constraint i is active
SCALE_FLOOR = 1e-20                     # Jacobi scaling: |H_ii| floored at SCALE_FLOOR·max |H_kk|
DEPENDENT_TOL = 1e-10                   # Gram–Schmidt: a row is dependent below this relative norm
FLOOR_RATIO = 0.5                       # below f_zero, an accepted step that does not halve χ² ends the run
PROJECTION_SWEEPS = 3                   # cyclic projection sweeps for an infeasible start


@dataclass(frozen=True)
class ActiveSetNewton:
    """Active-set Newton (GMW-modified, Jacobi-scaled, projected backtracking) for A·x ≥ b."""

    f_floor: float = 1e-30
    dec_tol: float = 1e-15
    f_zero: float = 1e-20
    stall_tol: float = 1e-8
    constrained: bool = True
    boundary_fraction: float = 0.995
    start_inset: float = 0.01
    escape_inset: float = 0.1
    max_escapes: int = 3
    direction: str = "gmw"

    def __post_init__(self):
        if self.direction not in ("gmw", "abs_eig"):
            raise ValueError(f"unknown direction {self.direction!r}; use 'gmw' or 'abs_eig' (|λ|-modified Newton)")
        if not 0.0 < self.boundary_fraction <= 1.0:
            raise ValueError(f"boundary_fraction must be in (0, 1], got {self.boundary_fraction!r}")

    def init(self, fun, prob: Problem) -> "State":
        x0 = prob.x0
        n, m = x0.shape[0], prob.b.shape[0]
        zero, zf = jnp.zeros((), jnp.int32), jnp.zeros((), x0.dtype)
        return State(x=x0, f=zf, g=jnp.zeros_like(x0), H=jnp.zeros((n, n), x0.dtype), p=jnp.zeros_like(x0),
                     slope=zf, alpha=zf, amax=zf, block=zero, hits=jnp.asarray(False), xt=x0, n_bt=zero,
                     working=jnp.zeros((m,), bool), escapes=zero, best_x=x0, best_f=zf + jnp.inf, iters=zero, f_count=zero, g_count=zero, h_count=zero,
                     starting=jnp.asarray(True), status=zero + Status.RUNNING)

    def step(self, fun, prob: Problem, state: "State") -> "State":
        return _step(self, fun, prob, state)


class State(NamedTuple):
    x: Any          # current (feasible) iterate
    f: Any          # χ² at x
    g: Any          # ∇f at x
    H: Any          # ∇²f at x
    p: Any          # search direction at x
    slope: Any      # ∇f·p (< 0, or 0 at a stationary point of the face)
    alpha: Any      # trial step length
    amax: Any       # longest feasible step along p
    block: Any      # index of the constraint that limits the step at amax
    hits: Any       # the trial is at amax: the blocking constraint joins the working set if accepted
    xt: Any         # trial point (evaluated by the next step)
    n_bt: Any       # trials rejected in this line search
    working: Any    # (m,) working set at x (for the user's inspection; recomputed every iteration)
    escapes: Any    # restarts from a degenerate corner so far
    best_x: Any     # lowest χ² point accepted so far (returned if an escape ends higher)
    best_f: Any
    iters: Any
    f_count: Any
    g_count: Any
    h_count: Any
    starting: Any   # the next evaluation is the start point
    status: Any


# -- small unrolled linear algebra (scalar operations only: no batch-size-dependent kernels) --------

def _dot(u, v):
    acc = u[0] * v[0]
    for k in range(1, u.shape[0]):
        acc = acc + u[k] * v[k]
    return acc


def _matvec(M, v):
    return jnp.stack([_dot(M[i], v) for i in range(M.shape[0])])


def _gram_schmidt(rows, mask):
    """Modified Gram–Schmidt on the rows in ``mask`` (unit-norm rows, in order). Returns (q (m, n)
    orthonormal rows, zero where not kept; r: r[j][i] = q_j·row_i; kept (m,) bool): a row in the span
    of the earlier kept rows is not kept."""
    m = rows.shape[0]
    q, r, kept = [], [[None] * m for _ in range(m)], []
    for i in range(m):
        v = rows[i]
        for j in range(i):
            r[j][i] = _dot(q[j], rows[i])
            v = v - r[j][i] * q[j]
        norm = jnp.sqrt(_dot(v, v))
        keep = mask[i] & (norm > DEPENDENT_TOL)
        q.append(jnp.where(keep, v / jnp.where(keep, norm, 1.0), 0.0))
        r[i][i] = jnp.where(keep, norm, 1.0)
        kept.append(keep)
    return q, r, jnp.stack(kept)


def _multipliers(q, r, kept, g):
    """λ with Σ_i λ_i row_i = the component of g in the span of the kept rows (λ_i = 0 elsewhere):
    back substitution in R λ = Qᵀ g."""
    m = len(q)
    lam = [None] * m
    for i in reversed(range(m)):
        acc = _dot(q[i], g)
        for k in range(i + 1, m):
            acc = acc - r[i][k] * lam[k]
        lam[i] = jnp.where(kept[i], acc / r[i][i], 0.0)
    return jnp.stack(lam)


def _face_newton(Hs, gs, q, mode):
    """The Newton direction on the null space of the orthonormal rows q (scaled coordinates)."""
    n = gs.shape[0]
    P = jnp.eye(n, dtype=gs.dtype)
    for qi in q:
        P = P - qi[:, None] * qi[None, :]
    PH = jnp.stack([jnp.stack([_dot(P[i], Hs[:, j]) for j in range(n)]) for i in range(n)])
    PHP = jnp.stack([jnp.stack([_dot(PH[i], P[:, j]) for j in range(n)]) for i in range(n)])
    M = PHP + jnp.eye(n, dtype=gs.dtype) - P
    if mode == "abs_eig":        # |λ|-modified Newton (negative curvature turned into descent)
        lam, V = jnp.linalg.eigh(0.5 * (M + M.T))
        top = jnp.max(jnp.abs(lam))
        lam = jnp.maximum(jnp.abs(lam), 1e-16 * jnp.maximum(top, 1e-300))
        ps = -(V @ ((V.T @ _matvec(P, gs)) / lam))
    else:
        ps = gmw.gmw_direction(M, _matvec(P, gs))
    return _matvec(P, ps)


def _direction(x, g, H, A, b, mode):
    """Working set, direction, slope and ratio test at x (see the module docstring)."""
    n, m = x.shape[0], b.shape[0]
    hd = jnp.abs(jnp.stack([H[i, i] for i in range(n)]))
    hmax = hd[0]
    for i in range(1, n):
        hmax = jnp.maximum(hmax, hd[i])
    d = jnp.sqrt(jnp.where(hmax > 0.0, jnp.maximum(hd, SCALE_FLOOR * hmax), 1.0))
    gs = g / d
    Hs = H / (d[:, None] * d[None, :])
    if m == 0:
        ps = _face_newton(Hs, gs, [], mode)
        p = ps / d
        inf, zero = jnp.asarray(jnp.inf, x.dtype), jnp.zeros((), x.dtype)
        return jnp.zeros((0,), bool), p, _dot(g, p), inf, jnp.zeros((), jnp.int32), zero, zero, jnp.asarray(False)

    As = A / d[None, :]
    rown = jnp.sqrt(jnp.stack([_dot(As[i], As[i]) for i in range(m)]))
    rows = As / jnp.where(rown > 0.0, rown, 1.0)[:, None]
    c = _matvec(A, x) - b
    absAx = _matvec(jnp.abs(A), jnp.abs(x))
    tol = ACTIVE_TOL * (1.0 + jnp.abs(b) + absAx)
    active = (c <= tol) & (rown > 0.0)

    cand = active
    for _ in range(m):                               # release the most negative multiplier, one at a time
        q, r, kept = _gram_schmidt(rows, cand)
        lam = _multipliers(q, r, kept, gs)
        lam = jnp.where(kept, lam, jnp.inf)
        worst = jnp.argmin(lam)
        cand = cand & ~((jnp.arange(m) == worst) & (lam[worst] < 0.0))
    q, r, working = _gram_schmidt(rows, cand)
    ps = _face_newton(Hs, gs, q, mode)
    for _ in range(n):                               # a released row that p runs into goes back in
        ap = _matvec(rows, ps)
        into = active & ~working & (ap < -DEPENDENT_TOL * jnp.sqrt(_dot(ps, ps)))
        pick = jnp.argmin(jnp.where(into, ap, jnp.inf))
        add = into[pick]
        working2 = working | ((jnp.arange(m) == pick) & add)
        q2, _, working2 = _gram_schmidt(rows, working2)
        ps2 = _face_newton(Hs, gs, q2, mode)
        working, ps = jnp.where(add, working2, working), jnp.where(add, ps2, ps)
        q = [jnp.where(add, a2, a1) for a1, a2 in zip(q, q2)]
    q2_final = q
    p = ps / d
    ap = _matvec(A, p)
    # Rows with a·p ≈ 0 (dependent on the working set, up to round-off) do not limit the step.
    limits = (~working) & (_matvec(rows, ps) < -DEPENDENT_TOL * jnp.sqrt(_dot(ps, ps))) & (ap < 0.0)
    steps = jnp.where(limits, jnp.maximum(c, 0.0) / jnp.where(limits, -ap, 1.0), jnp.inf)
    block = jnp.argmin(steps).astype(jnp.int32)
    # A degenerate corner: a free parameter on which χ² no longer depends (zero curvature), e.g. τe at S2 = 1.
    free = jnp.stack([1.0 - sum(qi[j] ** 2 for qi in q2_final) for j in range(n)]) > 0.5
    degenerate = jnp.any(working) & jnp.any(free & (hd <= SCALE_FLOOR * hmax))
    return working, p, _dot(g, p), steps[block], block, c[block], tol[block], degenerate


def _feasible(x, A, b):
    """Cyclic projection onto the violated half-spaces a_i·x ≥ b_i (a feasible x is returned unchanged)."""
    for _ in range(PROJECTION_SWEEPS):
        for i in range(b.shape[0]):
            aa = _dot(A[i], A[i])
            short = jnp.maximum(b[i] - _dot(A[i], x), 0.0)
            x = x + A[i] * jnp.where(aa > 0.0, short / jnp.where(aa > 0.0, aa, 1.0), 0.0)
    return x


def _inset(x, A, b, inset):
    """A start on the boundary moved inside: along the normal of every constraint active at x, by
    ``inset`` of the room there (the distance to the nearest other constraint along that normal, or
    1 + |b_i| where nothing limits it), then made feasible again."""
    m = b.shape[0]
    if m == 0:
        return x
    c = _matvec(A, x) - b
    tol = ACTIVE_TOL * (1.0 + jnp.abs(b) + _matvec(jnp.abs(A), jnp.abs(x)))
    move = jnp.zeros_like(x)
    for i in range(m):
        aa = _dot(A[i], A[i])
        u = A[i] / jnp.where(aa > 0.0, jnp.sqrt(aa), 1.0)
        au = _matvec(A, u)
        room = jnp.where((au < -DEPENDENT_TOL) & (c > tol), jnp.maximum(c, 0.0) / jnp.where(au < 0.0, -au, 1.0), jnp.inf)
        room = jnp.min(room)
        room = jnp.where(jnp.isfinite(room), room, 1.0 + jnp.abs(b[i]))
        move = move + jnp.where((c[i] <= tol[i]) & (aa > 0.0), inset * room, 0.0) * u
    return _feasible(x + move, A, b)


def _trial(x, p, alpha, hits, block, A, b):
    """x + α p; at the blocking constraint, projected onto its hyperplane so that it is met exactly."""
    xt = x + alpha * p
    if b.shape[0] == 0:
        return xt
    a = A[block]
    aa = _dot(a, a)
    onto = xt + a * ((b[block] - _dot(a, xt)) / jnp.where(aa > 0.0, aa, 1.0))
    return jnp.where(hits, onto, xt)


def _step(opts: ActiveSetNewton, fun, prob: Problem, s: State) -> State:
    A, b = prob.A, prob.b
    if not opts.constrained:
        A, b = A[:0], b[:0]
    start = s.starting
    inset = jnp.where(s.escapes > 0, opts.escape_inset, opts.start_inset)
    x_eval = jnp.where(start, _inset(_feasible(s.x, A, b), A, b, inset), s.xt)
    f_t, g_t, H_t = value_grad_hess(fun, x_eval, prob.args)
    finite = jnp.isfinite(f_t) & jnp.all(jnp.isfinite(g_t)) & jnp.all(jnp.isfinite(H_t))
    armijo = f_t <= s.f + ARMIJO_C * s.alpha * s.slope
    accept = finite & (start | armijo)

    # The new iterate (on acceptance) and everything about it.
    x_n = jnp.where(accept, x_eval, s.x)
    f_n = jnp.where(accept, f_t, s.f)
    g_n = jnp.where(accept, g_t, s.g)
    H_n = jnp.where(accept, H_t, s.H)
    working, p, slope, amax, block, c_block, tol_block, degenerate = _direction(x_n, g_n, H_n, A, b, opts.direction)
    # A step that a constraint blocks stops at boundary_fraction of the way, unless what would be left
    # is within the activity tolerance: then it lands on the constraint (see the module docstring).
    land = c_block * (1.0 - opts.boundary_fraction) <= tol_block
    alpha0 = jnp.minimum(1.0, jnp.where(land, amax, opts.boundary_fraction * amax))
    hits0 = (amax <= 1.0) & land

    # A rejected trial: a shorter step along the same p (safeguarded quadratic interpolation).
    curv = f_t - s.f - s.slope * s.alpha
    shrink = jnp.where(finite & (curv > 0.0), -s.slope * s.alpha / (2.0 * jnp.where(curv > 0.0, curv, 1.0)), SHRINK_MAX)
    alpha_bt = s.alpha * jnp.clip(shrink, SHRINK_MIN, SHRINK_MAX)
    xt_bt = s.x + alpha_bt * s.p
    n_bt = s.n_bt + 1
    # No trial point lowers f: the search ran out, its next point is x itself, or an accepted step
    # did not move (a zero step along p).
    exhausted = (~accept & ~start & ((n_bt >= MAX_BACKTRACKS) | jnp.all(xt_bt == s.x))) | \
        (accept & ~start & jnp.all(x_eval == s.x))
    restart = exhausted & ~prob.converge              # benchmarks: keep going from x until max_iter

    iters = s.iters + jnp.where((accept & ~start & ~exhausted) | restart, 1, 0)
    dec = -slope
    floor = (f_n <= opts.f_zero) & (f_n > FLOOR_RATIO * s.f) & ~start     # χ² ≈ 0 and no longer falling fast
    converged_here = accept & ~exhausted & prob.converge & ((f_n <= opts.f_floor) | (dec <= opts.dec_tol * f_n) | floor)
    settled = (s.f <= opts.f_zero) | (-s.slope <= opts.stall_tol * s.f)
    # Converged on a degenerate corner with χ² > f_zero: restart from a point moved inside (escape).
    escape = (converged_here | (exhausted & prob.converge & settled)) & (f_n > opts.f_zero) & degenerate & \
        (s.escapes < opts.max_escapes)
    status = jnp.select(
        [start & ~finite, escape, converged_here, exhausted & prob.converge & settled, exhausted & prob.converge,
         (accept | restart) & (iters >= prob.max_iter)],
        [Status.NOT_FINITE, Status.RUNNING, Status.CONVERGED, Status.CONVERGED, Status.LINE_SEARCH_ERROR,
         Status.MAX_ITERATIONS], Status.RUNNING).astype(jnp.int32)
    better = accept & (f_n < s.best_f)
    best_x, best_f = jnp.where(better, x_n, s.best_x), jnp.where(better, f_n, s.best_f)
    done = status != Status.RUNNING
    back = done & (best_f < f_n)                  # an escape that ended higher: return the best point

    new_search = accept | restart
    alpha = jnp.where(new_search, alpha0, alpha_bt)
    hits = new_search & hits0
    xt = jnp.where(new_search, _trial(x_n, p, alpha0, hits0, block, A, b), xt_bt)
    keep = lambda new, old: jnp.where(new_search, new, old)   # noqa: E731
    return State(
        x=jnp.where(back, best_x, jnp.where(start & ~finite, s.x, x_n)),
        f=jnp.where(back, best_f, jnp.where(start, f_t, f_n)), g=g_n, H=H_n, p=keep(p, s.p),
        slope=keep(slope, s.slope), alpha=alpha, amax=keep(amax, s.amax), block=keep(block, s.block), hits=hits,
        xt=xt, n_bt=jnp.where(new_search, 0, n_bt), working=keep(working, s.working),
        escapes=s.escapes + jnp.where(escape, 1, 0), best_x=best_x, best_f=best_f, iters=iters,
        f_count=s.f_count + 1, g_count=s.g_count + 1, h_count=s.h_count + 1, starting=escape,
        status=status)
