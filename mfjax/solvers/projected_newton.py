"""Projected Newton with a damped (trust-region) step for A·x ≥ b: the constrained Newton that does not
crawl (opt-in: ``mfjax.fit(..., algorithm="projected_newton")``; the default stays minfx's Method of
Multipliers). Design and measurements: ``docs/constrained_newton.md``.

The rows of A·x ≥ b with one non-zero coefficient are simple bounds lo ≤ x ≤ hi; the others (S2 ≤ S2f,
τf ≤ τs, τe ≤ 2 τm local) are general rows. One iteration at a feasible x with f, ∇f, ∇²f:

1. Scaling. Jacobi scaling D = diag(√|∇²f_ii|) (x is badly scaled: S2 ~ 1, τ in ps ~ 1–10⁴):
   g̃ = D⁻¹∇f, H̃ = D⁻¹∇²f D⁻¹ (unit diagonal where the curvature is positive).
2. Binding bounds (Bertsekas 1982, *SIAM J. Control Optim.* 20, 221–246, the set I⁺ of the projected
   Newton method): a variable within ε_k of a bound (distances in D x, ``binding_scaled``; in x
   otherwise) whose gradient pushes it out is binding, with ε_k = min(``binding_eps``, ‖D(x − P[x −
   D⁻²∇f])‖) so that the set is the right one near a solution. A binding variable takes the diagonally
   scaled gradient step −∇f_i / D_ii², which the projection stops on the bound. A free variable within
   ε_k of a bound that the Newton step below pushes out is held where it is and the step recomputed
   (``refix_passes`` times).
3. Direction on the face: the damped Newton system (Levenberg 1944; Marquardt 1963; the trust-region
   view of Nocedal & Wright 2006 §4.3) (P (H̃ + μ I) P + I − P) p̃ = −P g̃, P the projector onto the
   free variables minus the general rows in the working set, by an unrolled Cholesky factorisation.
   If the face matrix is not positive definite, μ is raised along ``MU_LADDER`` and, last, by its
   Gershgorin bound (which always makes it positive definite). An active general row that p̃ runs into
   joins the working set and p̃ is recomputed (at most ``max_general`` times; Gill, Murray & Wright
   1981 §5.2).
4. Geodesic acceleration (Transtrum, Machta & Sethna 2011, *Phys. Rev. E* 83, 036701; Transtrum &
   Sethna 2012, arXiv:1201.5885) when the objective exposes its residuals r (``fun.residuals``): a =
   −P M⁻¹ P D⁻¹ 2 Jᵀ r_pp with r_pp the second directional derivative of r along p, used while
   2‖a‖ ≤ ``ACCEL_RATIO``‖p‖ (scaled). The trial x + p + a/2 follows a curved valley (S2f·τs ≈
   constant on the Double Motion Grid) to second order, where the straight step leaves it.
5. Step: the bent (projected) step x_t = P_box[x + p (+ a/2)] (Bertsekas 1982): a variable that meets
   its bound stops there while the others keep their Newton step. If x_t breaks a general row, or the
   damped model does not predict a decrease, the straight step x + α p cut at the first constraint
   (ratio test, landing exactly on the blocking row) is the trial instead.
6. Acceptance and μ: ρ = (f − f_t) / (the decrease the damped quadratic model predicts for the step
   without acceleration); accepted when ρ > 1e-4; μ ← μ·max(1/10, 1 − (2ρ − 1)³) after an accepted step
   (0 below ``MU_MIN``) and μ ← μ·ν, ν ← 2ν after a rejected one (Nielsen 1999, IMM-REP-1999-05;
   Madsen, Nielsen & Tingleff 2004, *Methods for non-linear least squares problems* §3.2). No line
   search: a rejected trial costs one evaluation, and the next trial is a shorter, more gradient-like
   step from the same point.
7. Start and degenerate corners: the start is moved inside along the normal of every constraint
   active there by ``start_inset`` of the room (as the Method of Multipliers' first multipliers push
   away from the active constraints); a run that converges with χ² > ``f_zero`` where a free parameter
   has no curvature (τe at S2 = 1: a degenerate KKT point), or that is stuck on a bound (no trial lowers
   χ² although the model says it should: χ² jumps at S2 = τs = 0, where every spectral density vanishes
   and relax's NOE convention applies), restarts from that point moved ``escape_inset`` inside, at
   most ``max_escapes`` times; the lowest χ² point is returned.
   The start point is made by ``init`` (which the engine runs only when a slot takes a new problem),
   a restart's by ``prepare`` (run only on the steps where some problem wants it).

Counts: every engine step evaluates f, ∇f, ∇²f once at the trial point (f_count = g_count = h_count;
with the acceleration also r_pp and J along the new direction, not counted); an accepted trial is one
iteration. Termination (``prob.converge``): CONVERGED when χ² ≤ ``f_floor`` (1e-30), or the decrement
−∇f·s ≤ ``dec_tol``·χ² (s: p on the free variables, the projected move on the binding ones: the
first-order conditions hold to round-off), or when the trial equals x in floating point or
``MAX_REJECTS`` trials in a row are rejected (μ has grown until the step vanishes) while χ² ≤
``f_zero`` (1e-20: a zero-residual fit at its round-off floor) or the decrement is ≤ ``stall_tol``·χ²;
otherwise that last case is LINE_SEARCH_ERROR, or an escape (7.) when a bound is active. MAX_ITERATIONS
after ``prob.max_iter`` iterations; NOT_FINITE if χ² is not finite at the start. χ² thresholds are
absolute because χ² is dimensionless (residuals divided by their errors).

All arithmetic on the small vectors and matrices is unrolled into scalar operations in a fixed order
(n ≤ 6, m ≤ 10), so that a problem's result does not depend on what else is in the batch.

Cost (``docs/constrained_newton.md``, "Where the time goes"): the products with A skip the entries
that are zero in every problem of the batch (``for_constraints``), and a face without general rows
has a diagonal projector whose zeros are skipped too.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mfjax.solvers.base import Problem
from mfjax.solvers.derivatives import value_grad_hess
from mfjax.status import Status

ACCEPT_RHO = 1e-4           # a trial is accepted when ρ exceeds this
ACTIVE_TOL = 1e-12          # c_i ≤ ACTIVE_TOL·(1 + |b_i| + Σ|a_ij x_j|): row i is active
SCALE_FLOOR = 1e-20         # Jacobi scaling: |H_ii| floored at SCALE_FLOOR·max |H_kk|
DEPENDENT_TOL = 1e-10       # Gram–Schmidt: a row is dependent below this relative norm
MU_MIN = 1e-16              # μ below this is 0 (pure Newton); a rejection restarts it from here
MU_SHRINK_MAX = 0.1         # after a very good step μ falls by at most this factor
PROJECTION_SWEEPS = 3       # cyclic projection sweeps for an infeasible start
MAX_REJECTS = 60            # consecutive rejected trials at most (then the search has run out)
MU_LADDER = (0.0, 1e-6, 1e-3, 1.0, 1e3)   # shifts tried on μ until the face matrix is positive definite
ACCEL_RATIO = 0.75          # geodesic acceleration used while 2‖a‖ ≤ ACCEL_RATIO‖p‖ (Transtrum & Sethna 2012)


@dataclass(frozen=True)
class ProjectedNewton:
    """Projected, damped Newton for A·x ≥ b (see the module docstring)."""

    f_floor: float = 1e-30
    dec_tol: float = 1e-15
    f_zero: float = 1e-20
    stall_tol: float = 1e-8
    constrained: bool = True
    mu0: float = 1e-3
    binding_eps: float = 1e-2       # ε of Bertsekas's binding set (scaled units)
    binding_scaled: bool = True     # distances to the bounds in D x (False: in x)
    refix_passes: int = 1           # passes holding free variables the step pushes out of a bound
    near_floor: float = 1e-20       # curvature floor (relative) of D for those distances
    max_general: int = 2
    start_inset: float = 0.01
    escape_inset: float = 0.1
    max_escapes: int = 6
    geodesic: bool = True
    pattern: Any = None             # entries of A non-zero in some problem of the batch (for_constraints; None: all)
    handles_constraints = True      # its own treatment of A·x ≥ b (mfjax.solvers.registry)

    def __post_init__(self):
        if not (self.mu0 >= 0.0 and self.binding_eps >= 0.0 and self.max_general >= 0):
            raise ValueError("mu0 and binding_eps must be >= 0 and max_general a non-negative integer")

    def for_constraints(self, A, b) -> "ProjectedNewton":
        """This solver for the batch's constraints (host arrays A (N, m, n), b (N, m), called by the
        engine before it compiles): at most as many working-set passes as there are general rows (m5
        has one, m4 none), so that no face is factorised that can never be used; and the entries of A
        that are zero in every problem of the batch (a model's constraints share one pattern), so that
        the unrolled products with A leave them out (the same numbers, fewer operations)."""
        n_general = int(np.max(np.sum(np.count_nonzero(A, axis=-1) > 1, axis=-1), initial=0))
        nonzero = np.any(np.asarray(A) != 0.0, axis=0)
        pattern = tuple(tuple(bool(v) for v in row) for row in nonzero)
        return replace(self, max_general=min(self.max_general, n_general), pattern=pattern)

    def init(self, fun, prob: Problem) -> "State":
        """The state before the first evaluation, whose point is the start made feasible and moved
        inside (7. of the module docstring; the engine calls ``init`` only when a slot takes a new
        problem, so the steps do not pay for it)."""
        x0 = prob.x0
        n = x0.shape[0]
        zero, zf, no = jnp.zeros((), jnp.int32), jnp.zeros((), x0.dtype), jnp.asarray(False)
        return State(x=x0, f=zf, g=jnp.zeros_like(x0), H=jnp.zeros((n, n), x0.dtype),
                     xt=_moved_inside(self, prob, x0, self.start_inset), pred=zf, mu=zf + self.mu0,
                     nu=zf + 2.0, dec=zf, rejects=zero, escapes=zero, best_x=x0, best_f=zf + jnp.inf, iters=zero,
                     f_count=zero, g_count=zero, h_count=zero, starting=jnp.asarray(True), reinset=no,
                     status=zero + Status.RUNNING)

    def wants_prepare(self, state: "State"):
        """The next evaluation is a restart whose point is still to be made."""
        return state.reinset

    def prepare(self, fun, prob: Problem, state: "State") -> "State":
        """A restart point (7. of the module docstring): x made feasible and moved inside. The engine
        runs it only on the steps where some problem ``wants_prepare`` (under ``vmap`` a ``jnp.where``
        in ``step`` would compute it for every problem on every step)."""
        return state._replace(xt=_moved_inside(self, prob, state.x, self.escape_inset), reinset=jnp.asarray(False))

    def step(self, fun, prob: Problem, state: "State") -> "State":
        return _step(self, fun, prob, state)


class State(NamedTuple):
    x: Any          # current (feasible) iterate
    f: Any          # χ² at x
    g: Any          # ∇f at x
    H: Any          # ∇²f at x
    xt: Any         # trial point (evaluated by the next step)
    pred: Any       # decrease of the damped model predicted for xt
    mu: Any         # damping μ (scaled coordinates)
    nu: Any         # growth factor of μ after a rejection
    dec: Any        # −∇f·p at x (Newton decrement on the face)
    rejects: Any    # consecutive rejected trials
    escapes: Any    # restarts from a degenerate corner so far
    best_x: Any     # lowest χ² point accepted so far (returned if an escape ends higher)
    best_f: Any
    iters: Any
    f_count: Any
    g_count: Any
    h_count: Any
    starting: Any   # the next evaluation is a start point
    reinset: Any    # a restart: ``prepare`` still has to make its point
    status: Any


# -- small unrolled linear algebra (scalar operations only: no batch-size-dependent kernels) --------

def _zero(a):
    """An entry known to be zero when the program is built (a Python 0.0: a structural zero of A, or
    of a projector onto coordinate axes); products with it are left out (the same numbers: the
    operands are finite)."""
    return isinstance(a, float) and a == 0.0


def _dot(u, v):
    terms = [a * c for a, c in zip(u, v) if not (_zero(a) or _zero(c))]
    if not terms:
        return 0.0
    acc = terms[0]
    for t in terms[1:]:
        acc = acc + t
    return acc


def _matvec(M, v):
    dtype = next((a.dtype for a in v if not _zero(a)), jnp.asarray(0.0).dtype)   # v all structural zeros: 0
    return jnp.stack([jnp.asarray(_dot(M[i], v), dtype) for i in range(len(M))])


def _rows(A, pattern):
    """A (m, n) as lists of scalars, with the entries that are zero in every problem of the batch
    (``ProjectedNewton.pattern``) as the Python 0.0, so that the unrolled products skip them."""
    m, n = A.shape
    return [[A[i, j] if pattern is None or pattern[i][j] else 0.0 for j in range(n)] for i in range(m)]


def _factor(M):
    """Cholesky factor L (lists of scalars) of the symmetric n × n M; ok False where a pivot is not
    positive (L is then finite but meaningless)."""
    n = len(M)
    L = [[jnp.zeros_like(M[0][0])] * n for _ in range(n)]
    ok = jnp.asarray(True)
    for j in range(n):
        s = M[j][j]
        for k in range(j):
            s = s - L[j][k] * L[j][k]
        good = s > 0.0
        ok = ok & good
        L[j][j] = jnp.sqrt(jnp.where(good, s, 1.0))
        for i in range(j + 1, n):
            t = M[i][j]
            for k in range(j):
                t = t - L[i][k] * L[j][k]
            L[i][j] = t / L[j][j]
    return L, ok


def _solve(L, r):
    """z with L Lᵀ z = r (forward then back substitution)."""
    n = len(r)
    z = [None] * n
    for i in range(n):
        t = r[i]
        for k in range(i):
            t = t - L[i][k] * z[k]
        z[i] = t / L[i][i]
    for i in reversed(range(n)):
        t = z[i]
        for k in range(i + 1, n):
            t = t - L[k][i] * z[k]
        z[i] = t / L[i][i]
    return z


def _face(Hs, free, q, mu):
    """The face: projector P onto the free variables (mask) minus the orthonormal rows q (zero on
    fixed variables), and the Cholesky factor of M = P(H̃ + μ'I)P + I − P with the smallest μ' of
    μ + MU_LADDER that makes M positive definite, the last rung being the Gershgorin bound (which
    always does). Returns (P, L, μ')."""
    n = len(Hs)
    if q:
        P = [[jnp.where(free[i] & free[j], 1.0 if i == j else 0.0, 0.0) for j in range(n)] for i in range(n)]
        for qi in q:
            P = [[P[i][j] - qi[i] * qi[j] for j in range(n)] for i in range(n)]
    else:       # a diagonal 0/1 projector: its zeros are left out of the products below
        P = [[jnp.where(free[i], 1.0, 0.0) if i == j else 0.0 for j in range(n)] for i in range(n)]
    PH = [[_dot(P[i], [Hs[k][j] for k in range(n)]) for j in range(n)] for i in range(n)]
    base = [[_dot(PH[i], [P[k][j] for k in range(n)]) + ((1.0 if i == j else 0.0) - P[i][j]) for j in range(n)]
            for i in range(n)]
    gersh = jnp.zeros_like(mu)
    for i in range(n):
        off = jnp.zeros_like(mu)
        for j in range(n):
            if j != i:
                off = off + jnp.abs(base[i][j])
        gersh = jnp.maximum(gersh, off - base[i][i])
    rungs = [mu + t for t in MU_LADDER] + [mu + gersh + 1e-8 * (1.0 + gersh)]
    found = jnp.asarray(False)
    L_use, mu_use = None, rungs[-1]
    for k, m in enumerate(rungs):
        L, ok = _factor([[base[i][j] + m * P[i][j] for j in range(n)] for i in range(n)])
        take = (~found & ok) if k < len(rungs) - 1 else ~found
        L_use = L if L_use is None else [[jnp.where(take, a, c) for a, c in zip(ra, rc)] for ra, rc in zip(L, L_use)]
        mu_use = jnp.where(take, m, mu_use)
        found = found | take
    return P, L_use, mu_use


def _face_solve(P, L, v):
    """−P M⁻¹ P v on the face."""
    n = len(v)
    z = _solve(L, [-_dot(P[i], v) for i in range(n)])
    return [_dot(P[i], z) for i in range(n)]


def _gram_schmidt(rows, mask):
    """Orthonormal rows (lists) of the rows in ``mask`` (modified Gram–Schmidt, dependent rows dropped)."""
    q = []
    for i in range(len(rows)):
        v = rows[i]
        for qj in q:
            r = _dot(qj, rows[i])
            v = [a - r * c for a, c in zip(v, qj)]
        norm = jnp.sqrt(_dot(v, v))
        keep = mask[i] & (norm > DEPENDENT_TOL)
        q.append([jnp.where(keep, a / jnp.where(keep, norm, 1.0), 0.0) for a in v])
    return q


def _box(A, b):
    """(lo, hi, general): the bounds from the rows of A·x ≥ b with one non-zero coefficient, and the
    mask of the other (general) rows. A as lists (``_rows``): a row whose other entries are all
    structural zeros is a bound without a test."""
    m, n = len(A), len(A[0])
    nnz = [sum(0 if _zero(a) else 1 for a in A[i]) for i in range(m)]
    dyn = [jnp.sum(jnp.stack([a != 0.0 for a in A[i] if not _zero(a)])) if nnz[i] > 1 else nnz[i] for i in range(m)]
    bound = [d == 1 if nnz[i] > 1 else jnp.asarray(nnz[i] == 1) for i, d in enumerate(dyn)]
    general = jnp.stack([d > 1 if nnz[i] > 1 else jnp.asarray(False) for i, d in enumerate(dyn)])
    lo, hi = [], []
    for j in range(n):
        low, high = jnp.asarray(-jnp.inf, b.dtype), jnp.asarray(jnp.inf, b.dtype)
        for i in range(m):
            a = A[i][j]
            if _zero(a):
                continue
            v = b[i] / jnp.where(a != 0.0, a, 1.0)
            low = jnp.where(bound[i] & (a > 0.0), jnp.maximum(low, v), low)
            high = jnp.where(bound[i] & (a < 0.0), jnp.minimum(high, v), high)
        lo.append(low)
        hi.append(high)
    return jnp.stack(lo), jnp.stack(hi), general


def _feasible(x, A, b):
    """Cyclic projection onto the violated half-spaces a_i·x ≥ b_i (a feasible x is returned unchanged)."""
    x = [x[j] for j in range(x.shape[0])]
    for _ in range(PROJECTION_SWEEPS):
        for i in range(b.shape[0]):
            aa = _dot(A[i], A[i])
            short = jnp.maximum(b[i] - _dot(A[i], x), 0.0)
            t = jnp.where(aa > 0.0, short / jnp.where(aa > 0.0, aa, 1.0), 0.0)
            x = [xj if _zero(a) else xj + a * t for xj, a in zip(x, A[i])]
    return jnp.stack(x)


def _tolerance(x, A, b):
    return ACTIVE_TOL * (1.0 + jnp.abs(b) + _matvec([[a if _zero(a) else jnp.abs(a) for a in r] for r in A],
                                                    jnp.abs(x)))


def _inset(x, A, b, inset):
    """A start on the boundary moved inside: along the normal of every constraint active at x, by
    ``inset`` of the room there (the distance to the nearest other constraint along that normal, or
    1 + |b_i| where nothing limits it), then made feasible again."""
    m = b.shape[0]
    if m == 0:
        return x
    c = _matvec(A, x) - b
    tol = _tolerance(x, A, b)
    move = [0.0] * x.shape[0]
    for i in range(m):
        aa = _dot(A[i], A[i])
        norm = jnp.where(aa > 0.0, jnp.sqrt(aa), 1.0)
        u = [a if _zero(a) else a / norm for a in A[i]]
        au = _matvec(A, u)
        room = jnp.where((au < -DEPENDENT_TOL) & (c > tol), jnp.maximum(c, 0.0) / jnp.where(au < 0.0, -au, 1.0),
                         jnp.inf)
        room = jnp.min(room)
        room = jnp.where(jnp.isfinite(room), room, 1.0 + jnp.abs(b[i]))
        t = jnp.where((c[i] <= tol[i]) & (aa > 0.0), inset * room, 0.0)
        move = [mj if _zero(uj) else mj + t * uj for mj, uj in zip(move, u)]
    return _feasible(jnp.stack([x[j] if _zero(mj) else x[j] + mj for j, mj in enumerate(move)]), A, b)


def _residual_curvature(fun, x, p, args):
    """Jᵀ r_pp: the second directional derivative of the weighted residuals along p (the geodesic
    acceleration's right-hand side, Transtrum & Sethna 2012), mapped back by the Jacobian (forward
    mode, one column per parameter, summed in a fixed order)."""
    res = lambda y: fun.residuals(y, args)      # noqa: E731
    n = x.shape[0]
    r_pp = jax.jvp(lambda t: jax.jvp(lambda u: res(x + u * p), (t,), (jnp.ones_like(t),))[1],
                   (jnp.zeros((), x.dtype),), (jnp.ones((), x.dtype),))[1]
    eye = jnp.eye(n, dtype=x.dtype)
    return [_dot(jax.jvp(res, (x,), (eye[j],))[1], r_pp) for j in range(n)]


def _propose(opts, fun, args, x, f, g, H, mu, A, b):
    """The trial point from x: (xt, predicted decrease, decrement −∇f·p, μ used, degenerate, at a bound)."""
    n, m = x.shape[0], b.shape[0]
    hd = [jnp.abs(H[i, i]) for i in range(n)]
    hmax = hd[0]
    for i in range(1, n):
        hmax = jnp.maximum(hmax, hd[i])
    d = [jnp.sqrt(jnp.where(hmax > 0.0, jnp.maximum(h, SCALE_FLOOR * hmax), 1.0)) for h in hd]
    gs = [g[i] / d[i] for i in range(n)]
    # Distances to the bounds are measured in D x with the curvature floored at ``near_floor``·max (in x
    # itself when binding_scaled is False): with SCALE_FLOOR a parameter without curvature (τe at
    # S2 = 1) would look close to every bound.
    dn = [jnp.sqrt(jnp.where(hmax > 0.0, jnp.maximum(h, opts.near_floor * hmax), 1.0)) if opts.binding_scaled
          else jnp.ones_like(h) for h in hd]
    Hs = [[H[i, j] / (d[i] * d[j]) for j in range(n)] for i in range(n)]
    Al = _rows(A, opts.pattern)
    # The rows that can be general (more than one entry that is not a structural zero): only these can
    # join the working set or be broken by a clipped trial.
    G = [i for i in range(m) if sum(not _zero(a) for a in Al[i]) > 1]
    if m:
        lo, hi, general = _box(Al, b)
    else:
        lo, hi = jnp.full((n,), -jnp.inf, x.dtype), jnp.full((n,), jnp.inf, x.dtype)

    # Bertsekas's binding set: within ε_k of a bound, with the gradient pushing out; ε_k = min(ε, w_k)
    # with w_k the length of the projected (diagonally scaled) gradient step, so that ε_k → 0 at a
    # solution. Distances are in x (the problem's scaled coordinates), not in the Jacobi-scaled y,
    # where a parameter with no curvature (τe at S2 = 1) would look close to every bound.
    w2 = jnp.zeros_like(f)
    for i in range(n):
        w2 = w2 + ((x[i] - jnp.clip(x[i] - gs[i] / d[i], lo[i], hi[i])) * dn[i]) ** 2
    eps = jnp.minimum(opts.binding_eps, jnp.sqrt(w2))
    near_lo = [(x[i] - lo[i]) * dn[i] <= eps for i in range(n)]
    near_hi = [(hi[i] - x[i]) * dn[i] <= eps for i in range(n)]
    binding = [(near_lo[i] & (g[i] > 0.0)) | (near_hi[i] & (g[i] < 0.0)) for i in range(n)]
    free = [~v for v in binding]

    working = jnp.zeros((m,), bool)
    P, L, mu_used = _face(Hs, free, [], mu)
    ps = _face_solve(P, L, gs)
    # A free variable within ε_k of a bound that the step pushes out is held there too, and p̃ recomputed
    # (else the bent step would not move it, and a start in a corner could not move at all).
    for _ in range(opts.refix_passes):
        out = [free[i] & ((near_lo[i] & (ps[i] < 0.0)) | (near_hi[i] & (ps[i] > 0.0))) for i in range(n)]
        refix = jnp.any(jnp.stack(out))
        free = [f_i & ~o for f_i, o in zip(free, out)]
        P2, L2, mu2 = _face(Hs, free, [], mu)
        ps2 = _face_solve(P2, L2, gs)
        ps = [jnp.where(refix, a2, a1) for a1, a2 in zip(ps, ps2)]
        P = [[jnp.where(refix, a2, a1) for a1, a2 in zip(r1, r2)] for r1, r2 in zip(P, P2)]
        L = [[jnp.where(refix, a2, a1) for a1, a2 in zip(r1, r2)] for r1, r2 in zip(L, L2)]
        mu_used = jnp.where(refix, mu2, mu_used)
    if m:
        c = _matvec(Al, x) - b
        tol = _tolerance(x, Al, b)
        rows = [[a if _zero(a) else jnp.where(free[j], a / d[j], 0.0) for j, a in enumerate(Al[i])] for i in range(m)]
        rnorm = [jnp.sqrt(_dot(r, r)) for r in rows]
        rows = [[v / jnp.where(rn > 0.0, rn, 1.0) for v in r] for r, rn in zip(rows, rnorm)]
        cand = general & (c <= tol)
        for _ in range(opts.max_general):          # an active general row that p̃ runs into joins
            ap = jnp.stack([_dot(r, ps) for r in rows])
            into = cand & ~working & (ap < -DEPENDENT_TOL * jnp.sqrt(_dot(ps, ps)))
            pick = jnp.argmin(jnp.where(into, ap, jnp.inf))
            add = into[pick]
            working2 = working | ((jnp.arange(m) == pick) & add)
            P2, L2, mu2 = _face(Hs, free, _gram_schmidt([rows[i] for i in G], working2[jnp.asarray(G, int)]), mu)
            ps2 = _face_solve(P2, L2, gs)
            working = jnp.where(add, working2, working)
            ps = [jnp.where(add, a2, a1) for a1, a2 in zip(ps, ps2)]
            P = [[jnp.where(add, a2, a1) for a1, a2 in zip(r1, r2)] for r1, r2 in zip(P, P2)]
            L = [[jnp.where(add, a2, a1) for a1, a2 in zip(r1, r2)] for r1, r2 in zip(L, L2)]
            mu_used = jnp.where(add, mu2, mu_used)
    p = jnp.stack([ps[i] / d[i] for i in range(n)])
    # Bertsekas's step for the binding variables: the diagonally scaled gradient step, which the
    # projection stops on the bound (their multipliers are then the gradient components).
    pbend = p + jnp.stack([jnp.where(binding[i], -gs[i] / d[i], 0.0) for i in range(n)])

    def predicted(xt):
        s = [(xt[i] - x[i]) * d[i] for i in range(n)]
        Hss = [_dot(Hs[i], s) + mu_used * s[i] for i in range(n)]
        return -(_dot(gs, s) + 0.5 * _dot(s, Hss))

    def general_ok(xt):
        if not G:
            return jnp.asarray(True)
        rows_g = [Al[i] for i in G]
        return jnp.all(_matvec(rows_g, xt) - b[jnp.asarray(G)] >= -_tolerance(xt, rows_g, b[jnp.asarray(G)]))

    # Candidates, in order of preference: the bent step with geodesic acceleration, the bent step,
    # the straight step cut at the first constraint. The first that keeps the general rows and that
    # the damped model says goes downhill is the trial.
    cands = []
    if opts.geodesic and hasattr(fun, "residuals"):
        w = _residual_curvature(fun, x, p, args)
        acc = _face_solve(P, L, [2.0 * w[i] / d[i] for i in range(n)])
        small = 2.0 * jnp.sqrt(_dot(acc, acc)) <= ACCEL_RATIO * jnp.sqrt(_dot(ps, ps))
        xa = jnp.clip(x + pbend + 0.5 * jnp.stack([acc[i] / d[i] for i in range(n)]), lo, hi)
        cands.append((xa, small))
    xb = jnp.clip(x + pbend, lo, hi)
    cands.append((xb, jnp.asarray(True)))
    # The decrement: the Newton step of the free variables and the projected move of the binding ones
    # (0 for a binding variable on its bound: its multiplier is the gradient component).
    dec = -_dot(g, jnp.stack([jnp.where(binding[i], xb[i] - x[i], p[i]) for i in range(n)]))
    if m:
        ap = _matvec(Al, p)
        into = jnp.stack([_dot(r, ps) for r in rows]) < -DEPENDENT_TOL * jnp.sqrt(_dot(ps, ps))
        limits = ~working & (ap < 0.0) & into
        steps = jnp.where(limits, jnp.maximum(c, 0.0) / jnp.where(limits, -ap, 1.0), jnp.inf)
        block = jnp.argmin(steps)
        amax = steps[block]
        xs = x + jnp.minimum(amax, 1.0) * p
        a = A[block]
        aa = _dot(a, a)
        xs = jnp.where(amax < 1.0, xs + a * ((b[block] - _dot(a, xs)) / jnp.where(aa > 0.0, aa, 1.0)), xs)
        cands.append((jnp.clip(xs, lo, hi), jnp.asarray(True)))
    # The accelerated trial is judged against the decrease predicted for its velocity x_b (the
    # quadratic model cannot see the valley's curvature that the acceleration follows).
    xt, pred = cands[-1][0], predicted(cands[-1][0])
    for xc, allowed in reversed(cands[:-1]):
        pc = predicted(xb)
        use = allowed & general_ok(xc) & (pc > 0.0)
        xt, pred = jnp.where(use, xc, xt), jnp.where(use, pc, pred)
    # A degenerate corner: a free parameter on which χ² no longer depends (zero curvature), e.g. τe at S2 = 1.
    at_bound = jnp.any(jnp.stack([(x[i] <= lo[i]) | (x[i] >= hi[i]) for i in range(n)]))
    degenerate = at_bound & jnp.any(jnp.stack([free[i] & (hd[i] <= SCALE_FLOOR * hmax) for i in range(n)]))
    return xt, pred, dec, mu_used, degenerate, at_bound


def _constraints(opts: ProjectedNewton, prob: Problem):
    return (prob.A, prob.b) if opts.constrained else (prob.A[:0], prob.b[:0])


def _moved_inside(opts: ProjectedNewton, prob: Problem, x, inset):
    """x made feasible, then moved ``inset`` inside along the active normals: a start or restart
    point (7. of the module docstring)."""
    A, b = _constraints(opts, prob)
    Al = _rows(A, opts.pattern)
    return _inset(_feasible(x, Al, b), Al, b, inset)


def _step(opts: ProjectedNewton, fun, prob: Problem, s: State) -> State:
    """One evaluation at the trial point, its acceptance and μ, the next trial, and the status."""
    A, b = _constraints(opts, prob)
    start = s.starting
    x_eval = s.xt           # on a (re)start: the point that ``init`` or ``prepare`` made
    f_t, g_t, H_t = value_grad_hess(fun, x_eval, prob.args)
    finite = jnp.isfinite(f_t) & jnp.all(jnp.isfinite(g_t)) & jnp.all(jnp.isfinite(H_t))
    rho = (s.f - f_t) / jnp.where(s.pred > 0.0, s.pred, 1.0)
    accept = finite & (start | ((s.pred > 0.0) & (rho > ACCEPT_RHO)))
    same = ~start & jnp.all(x_eval == s.x)          # the step has vanished: nothing more to gain

    # μ: Nielsen's update after an accepted step, doubling growth after a rejected one.
    shrink = jnp.maximum(MU_SHRINK_MAX, 1.0 - (2.0 * rho - 1.0) ** 3)
    mu_acc = jnp.where(start, opts.mu0, s.mu * shrink)
    mu_acc = jnp.where(mu_acc < MU_MIN, 0.0, mu_acc)
    mu_rej = jnp.maximum(s.mu, MU_MIN) * s.nu
    no = jnp.asarray(False)
    mid = s._replace(x=jnp.where(accept, x_eval, s.x), f=jnp.where(accept, f_t, s.f), g=jnp.where(accept, g_t, s.g),
                     H=jnp.where(accept, H_t, s.H), mu=jnp.where(accept, mu_acc, mu_rej),
                     nu=jnp.where(accept, 2.0, 2.0 * s.nu), rejects=jnp.where(accept, 0, s.rejects + 1),
                     f_count=s.f_count + 1, g_count=s.g_count + 1, h_count=s.h_count + 1, starting=no, reinset=no)
    prop = _propose(opts, fun, prob.args, mid.x, mid.f, mid.g, mid.H, mid.mu, A, b)
    return _finish(opts, prob, mid, prop, start, accept, same, start & ~finite, f_t)


def _finish(opts: ProjectedNewton, prob: Problem, mid: State, prop, start, accept, same, bad_start, f_bad) -> State:
    """The end of a step from ``mid`` (the state after the evaluation at a start point (``start``), an
    accepted trial (``accept``) or a trial equal to x (``same``)) and the proposal made at its x:
    counts, termination, escapes, status. ``bad_start``: the start point's χ² (``f_bad``) is not
    finite."""
    xt, pred, dec, mu_used, degenerate, at_bound = prop
    x_n, f_n, rejects = mid.x, mid.f, mid.rejects
    exhausted = ~start & (same | (rejects >= MAX_REJECTS))
    restart = exhausted & ~prob.converge              # benchmarks: keep going from x until max_iter
    iters = mid.iters + jnp.where((accept & ~start & ~same) | restart, 1, 0)
    converged_here = accept & ~same & prob.converge & ((f_n <= opts.f_floor) | (dec <= opts.dec_tol * f_n))
    settled = (f_n <= opts.f_zero) | (dec <= opts.stall_tol * f_n)
    # Restart from a point moved inside: converged on a degenerate corner with χ² > f_zero, or stuck
    # on a bound (no trial lowers χ² although the model says it should: χ² is not smooth there, e.g.
    # relax's NOE convention where all spectral densities vanish at S2 = τs = 0).
    escape = ((converged_here | (exhausted & prob.converge & settled)) & degenerate
              | (exhausted & prob.converge & ~settled & at_bound)) & (f_n > opts.f_zero) & \
        (mid.escapes < opts.max_escapes)
    status = jnp.select(
        [bad_start, escape, converged_here, exhausted & prob.converge & settled, exhausted & prob.converge,
         (accept | restart) & (iters >= prob.max_iter)],
        [Status.NOT_FINITE, Status.RUNNING, Status.CONVERGED, Status.CONVERGED, Status.LINE_SEARCH_ERROR,
         Status.MAX_ITERATIONS], Status.RUNNING).astype(jnp.int32)
    better = accept & (f_n < mid.best_f)
    best_x, best_f = jnp.where(better, x_n, mid.best_x), jnp.where(better, f_n, mid.best_f)
    done = status != Status.RUNNING
    back = done & (best_f < f_n)                     # an escape that ended higher: return the best point
    return mid._replace(
        x=jnp.where(back, best_x, x_n), f=jnp.where(back, best_f, jnp.where(bad_start, f_bad, f_n)),
        xt=jnp.where(escape, x_n, xt), pred=pred, mu=jnp.where(restart, opts.mu0, mu_used),
        nu=jnp.where(restart, 2.0, mid.nu), dec=dec, rejects=jnp.where(restart, 0, rejects),
        escapes=mid.escapes + jnp.where(escape, 1, 0), best_x=best_x, best_f=best_f, iters=iters,
        starting=escape, reinset=escape, status=status)
