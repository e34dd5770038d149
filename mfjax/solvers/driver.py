"""The batched minimiser: Newton (GMW-modified) with a line search, inside the Method of
Multipliers for linear constraints A·x ≥ b, as minfx does it, for a whole batch at once.

The algorithm is written as ONE state machine whose step evaluates f, ∇f and ∇²f at one trial
point: the set-up at x0, the line search's accept/reject, the inner Newton iteration and the outer
multiplier update are all transitions of that step (no nested loops, so under ``vmap`` nothing
waits for a nested loop's slowest element). Problems flow through a fixed number of slots: the
host hands the device a queue, and inside the device loop a finished slot takes the next queued
problem at once (compaction by refill, no host round trip); once the host has nothing left to hand
out, the last stragglers are gathered into a small tail batch (TAIL_SLOTS per device). Fixed
batch shapes per (function, options), so nothing recompiles needlessly, and the cost follows the
total number of steps, not N × the slowest problem. With several devices each device runs its own
loop on its shard (``jax.shard_map``) and stops independently.

The driver knows nothing about NMR: it minimises ``fun(x, args)`` for each problem.
Counting (iter, f_count, g_count, h_count) and convergence tests follow minfx 1.0.13
(``relax_reference.md`` §4.2, §4.7).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from mfjax._padding import padded_size
from mfjax.solvers import gmw, linesearch
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
MAX_STEPS_PER_CALL = 2048   # device steps between host visits at most (progress reports)
TAIL_SLOTS = 2     # slots per device for the stragglers (RG: 0.35 s warm with 2, 0.7-0.8 s with 1)
QUEUE_PER_SLOT = 16   # problems handed to a device per host visit, per slot

LINE_SEARCHES = ("backtrack", "more_thuente")
# XLA's cheaper CPU back-end optimisation: compiles the solver loop about twice as fast with no
# measurable loss of speed at run time (experiments/bench_fit.py).
_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1, "xla_llvm_disable_expensive_passes": True}
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


class Problem(NamedTuple):
    """One element of the batch (leading batch axis added by the caller)."""

    x0: Any          # (n,) start, scaled coordinates
    args: Any        # pytree passed to fun
    A: Any           # (m, n) constraint matrix (A·x ≥ b); m may be 0
    b: Any           # (m,)
    max_iter: Any    # () int: minfx's maxiter
    converge: Any    # () bool: False forces the problem to run to max_iter (benchmarks)


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


def _value_grad_hess(fun, x, args):
    """f, ∇f, ∇²f of one problem by forward-mode autodiff (fastest for a handful of parameters).

    A ``fun`` marked ``fun.scalar_parameters = True`` only indexes x (x[i]); it then receives x as a
    tuple of scalars and each derivative is a jvp along one of them, so terms that do not depend on
    x_i carry no tangent (JAX's symbolic zeros) and only the n(n+1)/2 distinct second derivatives are
    formed (XLA merges the repeated primal and first-order work). Otherwise: forward over forward on
    the vector x.
    """
    if getattr(fun, "scalar_parameters", False):
        return _value_grad_hess_scalars(fun, x, args)
    basis = jnp.eye(x.shape[0], dtype=x.dtype)

    def grad_and_aux(z):
        values, grad = jax.vmap(lambda t: jax.jvp(lambda y: fun(y, args), (z,), (t,)))(basis)
        return grad, (values[0], grad)

    hess, (value, grad) = jax.jacfwd(grad_and_aux, has_aux=True)(x)
    return value, grad, hess


def _value_grad_hess_scalars(fun, x, args):
    n = x.shape[0]
    xs = tuple(x[i] for i in range(n))

    def along(i, f):
        """∂f/∂x_i as a function of the scalars."""
        def d(ys):
            return jax.jvp(lambda t: f(ys[:i] + (t,) + ys[i + 1:]), (ys[i],), (jnp.ones_like(ys[i]),))[1]
        return d

    f = lambda ys: fun(ys, args)
    first = [along(i, f) for i in range(n)]
    second = {(i, j): along(j, first[i])(xs) for i in range(n) for j in range(i, n)}
    grad = jnp.stack([d(xs) for d in first]) if n else jnp.zeros((0,), x.dtype)
    hess = jnp.stack([jnp.stack([second[min(i, j), max(i, j)] for j in range(n)]) for i in range(n)]) \
        if n else jnp.zeros((0, 0), x.dtype)
    return f(xs), grad, hess


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
    f_t, g_t, H_t = _value_grad_hess(fun, x_t, prob.args)
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


# ---------------------------------------------------------------------------------------------
# The batched loop. Problems flow through a fixed number of slots. The host hands the device a
# queue of problems (their packed state rows); inside the device loop, as soon as a slot's problem
# finishes, its row is written to an output buffer and the slot takes the next row of the queue
# (compaction by refill, on the device, so no slot idles and no step waits for the host). The host
# visits only when a queue is used up. Once the host has nothing left to hand out and few problems
# are still running, they move to a small tail batch, so a straggler costs its own steps only.
# At most three programs per (function, options, sizes): the queued bulk (only when the problems
# outnumber the slots), the plain loop at the bulk size (only when they do not) and at the tail size.

class Result(NamedTuple):
    """Per-problem results (numpy arrays, leading axis = problem)."""

    x: np.ndarray
    f: np.ndarray
    iterations: np.ndarray
    f_count: np.ndarray
    g_count: np.ndarray
    h_count: np.ndarray
    status: np.ndarray


def default_sizes(n_problems: int, n_devices: int, platform: str) -> tuple[int, int]:
    """(batch, tail) slot counts over all devices: the bulk runs in ``batch`` slots (a power of two
    per device, at most 64 per CPU device — the fastest per problem-step on CPU, measured with
    experiments/bench_fit.py — or 16384 per accelerator), the stragglers in TAIL_SLOTS per device."""
    per_device = -(-n_problems // n_devices)
    cap = 64 if platform == "cpu" else 16384
    batch = min(padded_size(per_device), cap)
    return batch * n_devices, min(TAIL_SLOTS, batch) * n_devices


class _Packing:
    """The state of one problem packed into one float64 row (integers and flags are exact in
    float64), with the columns of the fields the host reads and writes."""

    def __init__(self, blank: State):
        leaves, treedef = jax.tree.flatten(blank)       # the order of ravel_pytree, in numpy (no compiles)
        self.blank_row = np.concatenate([np.ravel(np.asarray(leaf, np.float64)) for leaf in leaves])
        leaf_of_column = np.repeat(np.arange(len(leaves)), [np.size(leaf) for leaf in leaves])
        field_ids = jax.tree.unflatten(treedef, list(range(len(leaves))))
        self.columns = {name: np.flatnonzero(leaf_of_column == getattr(field_ids, name))
                        for name in State._fields if name != "ls"}
        self.scalar = {name: np.ndim(getattr(blank, name)) == 0 for name in self.columns}

    def get(self, rows, name):
        """Field ``name`` of packed ``rows``: (N,) for scalar fields, (N, k) for vectors."""
        cols = self.columns[name]
        return rows[:, cols[0]] if self.scalar[name] else rows[:, cols]


def _rows_like(mask, a):
    """``mask`` (S,) broadcast against the leading axis of ``a``."""
    return mask.reshape(mask.shape + (1,) * (a.ndim - 1))


@functools.lru_cache(maxsize=None)
def _compiled(fun: Callable, opts: Options, n_devices: int):
    """The jitted (and, with several devices, shard_mapped) slot runner and blank-state maker.

    ``run(prob, rows, owner, q_prob, q_rows, q_owner, n_queue, more, max_steps, stop_live)`` works on
    one device's S slots (problem data ``prob``, packed state ``rows`` (S, K), problem index
    ``owner``, −1 = empty) and queue of Q problems (``q_*``, the first ``n_queue`` valid). Each step
    first empties the finished slots into an output buffer and refills free slots from the queue,
    then steps every running slot. It stops after ``max_steps`` steps, when nothing runs and the
    queue is used up, or once the queue is used up and — if the host has ``more`` problems — a slot
    is free, or — if not — at most ``stop_live`` problems still run. Returns the slots, how many
    queue rows were taken, and the output buffer (Q + S rows, owners, −1 = unused)."""

    step_one = jax.jit(functools.partial(_step_one, fun, opts))   # traced once, shared by both loops

    def _unpack_pack_step(prob):
        template = _blank_one(opts, jax.tree.map(lambda a: a[0], prob))
        unravel = jax.flatten_util.ravel_pytree(template)[1]
        return (jax.vmap(unravel), jax.vmap(lambda one: jax.flatten_util.ravel_pytree(one)[0]),
                jax.vmap(step_one))

    def select(mask, new, old):
        return jax.tree.map(lambda u, v: jnp.where(_rows_like(mask, v), u, v), new, old)

    def run(prob, rows, owner, q_prob, q_rows, q_owner, n_queue, more, max_steps, stop_live):
        unpack, pack, step = _unpack_pack_step(prob)
        n_slots, n_q = rows.shape[0], q_rows.shape[0]
        n_queue = n_queue[0]

        def running(state, owner):
            return (owner >= 0) & (state.status == Status.RUNNING)

        def collect_and_refill(c):
            prob, state, owner, taken, out_rows, out_owner, n_out = c
            finished = (owner >= 0) & ~running(state, owner)
            dst = jnp.where(finished, n_out + jnp.cumsum(finished) - 1, n_q + n_slots)     # out of range: dropped
            out_rows = out_rows.at[dst].set(pack(state), mode="drop")
            out_owner = out_owner.at[dst].set(owner, mode="drop")
            free = (owner < 0) | finished
            src = taken + jnp.cumsum(free) - 1
            take = free & (src < n_queue)
            src = jnp.clip(src, 0, n_q - 1)
            prob = select(take, jax.tree.map(lambda q: q[src], q_prob), prob)
            state = select(take, unpack(q_rows[src]), state)
            owner = jnp.where(take, q_owner[src], jnp.where(free, -1, owner))
            count = lambda mask: jnp.sum(mask, dtype=jnp.int32)
            return prob, state, owner, taken + count(take), out_rows, out_owner, n_out + count(finished)

        def cond(carry):
            i, (prob, state, owner, taken, *_) = carry
            live = running(state, owner)
            dry = taken >= n_queue
            stop = dry & jnp.where(more, ~jnp.all(live), jnp.sum(live) <= stop_live)
            return (i < max_steps) & ~stop & (jnp.any(live) | ~dry)

        def body(carry):
            i, c = carry
            prob, state, owner, taken = c[:4]
            live = running(state, owner)
            c = jax.lax.cond(jnp.any((owner >= 0) & ~live) | (jnp.any(owner < 0) & (taken < n_queue)),
                             collect_and_refill, lambda c: c, c)
            prob, state, owner = c[:3]
            state = select(running(state, owner), step(prob, state), state)
            return i + 1, (prob, state, owner) + c[3:]

        out = (jnp.zeros((n_q + n_slots,) + rows.shape[1:], rows.dtype), jnp.full(n_q + n_slots, -1, owner.dtype))
        init = (prob, unpack(rows), owner, jnp.zeros((), jnp.int32)) + out + (jnp.zeros((), jnp.int32),)
        c = collect_and_refill(jax.lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), init))[1])
        prob, state, owner, taken, out_rows, out_owner, _ = c
        return prob, pack(state), owner, taken[None], out_rows, out_owner

    def run_plain(prob, rows, max_steps, stop_live):
        """Step every running slot (no refill) for up to ``max_steps`` steps, until at most
        ``stop_live`` still run: the few problems left at the end, where a conditional refill per
        step would cost more than the step itself."""
        unpack, pack, step = _unpack_pack_step(prob)

        def body(carry):
            i, state = carry
            return i + 1, select(state.status == Status.RUNNING, step(prob, state), state)

        def cond(carry):
            return (carry[0] < max_steps) & (jnp.sum(carry[1].status == Status.RUNNING) > stop_live)

        return pack(jax.lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), unpack(rows)))[1])

    if n_devices > 1:
        mesh = Mesh(np.array(jax.devices()[:n_devices]), ("batch",))
        batch, same = PartitionSpec("batch"), PartitionSpec()
        run = jax.shard_map(run, mesh=mesh, in_specs=(batch,) * 7 + (same,) * 3, out_specs=batch, check_vma=False)
        run_plain = jax.shard_map(run_plain, mesh=mesh, in_specs=(batch, batch, same, same), out_specs=batch,
                                  check_vma=False)
    blank = jax.jit(functools.partial(_blank_one, opts))
    return (blank, jax.jit(run, compiler_options=_COMPILER_OPTIONS),
            jax.jit(run_plain, compiler_options=_COMPILER_OPTIONS))


def minimise(fun: Callable, x0, args, A=None, b=None, *, options: Options = Options(), max_iter=10_000_000,
             converge=None, n_devices: int | None = None, batch_size: int | None = None,
             tail_size: int | None = None, queue_size: int | None = None, chunk: int = MAX_STEPS_PER_CALL,
             progress: Callable | None = None) -> Result:
    """Minimise ``fun(x, args_i)`` for every problem i of a batch, under A·x ≥ b.

    x0: (N, n) starts (scaled coordinates). args: pytree with leading axis N. A: (m, n) or
    (N, m, n); b: (m,) or (N, m) (None: no constraints). max_iter: int or (N,). converge: (N,)
    bool, False forces a problem to run to max_iter (for straggler benchmarks). n_devices: devices
    to split the batch across (default: all local devices). batch_size / tail_size: slot counts of
    the bulk and tail phases over all devices (default :func:`default_sizes`); queue_size: problems
    handed to each device per host visit (default QUEUE_PER_SLOT per slot). chunk: device steps
    between host visits at most. progress: called with (n_done, N) after each host visit. The
    results do not depend on the sizes, the chunk or the order of the problems.
    """
    x0 = np.asarray(x0, dtype=np.float64)
    N, n = x0.shape
    if N == 0:
        return Result(x0.copy(), np.zeros(0), *(np.zeros(0, np.int64) for _ in range(4)), np.zeros(0, np.int32))
    if A is None or not options.constrained:
        A, b = np.zeros((0, n)), np.zeros((0,))
    A = np.ascontiguousarray(np.broadcast_to(np.asarray(A, np.float64), (N,) + np.shape(A)[-2:]))
    b = np.ascontiguousarray(np.broadcast_to(np.asarray(b, np.float64), (N,) + np.shape(b)[-1:]))
    max_iter = np.broadcast_to(np.asarray(max_iter, np.int64).clip(max=np.iinfo(np.int32).max), (N,))
    converge = np.broadcast_to(np.ones(N, bool) if converge is None else np.asarray(converge, bool), (N,))
    problems = Problem(x0, jax.tree.map(np.asarray, args), A, b, max_iter.astype(np.int32), converge.copy())
    n_dev = n_devices or len(jax.devices())
    batch, tail = default_sizes(N, n_dev, jax.devices()[0].platform)
    batch, tail = batch_size or batch, tail_size or tail
    if batch % n_dev or tail % n_dev:
        raise ValueError(f"batch_size {batch} and tail_size {tail} must be multiples of the {n_dev} devices")
    blank_fn, run_queued, run_plain = _compiled(fun, options, n_dev)
    packing = _Packing(jax.device_get(blank_fn(jax.tree.map(lambda a: a[0], problems))))
    rows = np.repeat(packing.blank_row[None], N, axis=0)     # every problem's state, host side
    rows[:, packing.columns["x"]] = x0
    done = [0]

    def report(newly_done):
        done[0] += newly_done
        if progress is not None:
            progress(done[0], N)

    status_col = packing.columns["status"][0]
    live = np.arange(N)
    if N > batch:
        live = _queued_phase(run_queued, problems, rows, batch, tail // n_dev, n_dev,
                             queue_size or QUEUE_PER_SLOT * (batch // n_dev), chunk, status_col, report)
    if len(live) > tail:
        live = _plain_phase(run_plain, problems, rows, live, batch, tail // n_dev, n_dev, chunk, status_col, report)
    _plain_phase(run_plain, problems, rows, live, tail, 0, n_dev, chunk, status_col, report)

    get = packing.get
    return Result(get(rows, "x").copy(), get(rows, "f").copy(), *(get(rows, k).astype(np.int64) for k in
                  ("iters", "f_count", "g_count", "h_count")), get(rows, "status").astype(np.int32))


def _queued_phase(run, problems, rows, slots, stop_live, n_dev, q_len, chunk, status_col, report):
    """The bulk: every device refills its ``slots // n_dev`` slots from a queue of ``q_len`` problems;
    the host visits when a queue is used up. Ends when the host has nothing left to hand out and at
    most ``stop_live`` problems run on each device; their rows go back into ``rows`` (in place, as
    the finished ones'). Returns the indices of the problems still running."""
    per_dev = slots // n_dev
    state = (jax.tree.map(lambda a: np.repeat(a[:1], slots, axis=0), problems),
             np.repeat(rows[:1], slots, axis=0), np.full(slots, -1, np.int32))
    pending = np.arange(len(rows))
    while True:
        handed = [pending[d * q_len:(d + 1) * q_len] for d in range(n_dev)]
        rest = pending[n_dev * q_len:]
        q_idx = np.concatenate([np.append(h, np.zeros(q_len - len(h), h.dtype)) for h in handed])
        q_owner = np.concatenate([np.append(h, np.full(q_len - len(h), -1)) for h in handed]).astype(np.int32)
        n_queue = np.array([len(h) for h in handed], np.int32)
        *state, taken, out_rows, out_owner = run(
            *state, jax.tree.map(lambda a: a[q_idx], problems), rows[q_idx], q_owner, n_queue, len(rest) > 0,
            np.int32(chunk), np.int32(stop_live))
        out_owner = np.asarray(out_owner)
        finished = out_owner >= 0
        rows[out_owner[finished]] = np.asarray(out_rows)[finished]
        pending = np.concatenate([h[t:] for h, t in zip(handed, np.asarray(taken))] + [rest])
        report(int(finished.sum()))
        owner, slot_rows = np.asarray(state[2]), np.asarray(state[1])
        live = (owner >= 0) & (slot_rows[:, status_col] == Status.RUNNING)
        if len(pending) == 0 and live.reshape(n_dev, per_dev).sum(axis=1).max() <= stop_live:
            rows[owner[live]] = slot_rows[live]
            return owner[live].astype(np.int64)


def _plain_phase(run, problems, rows, idx, slots, stop_live, n_dev, chunk, status_col, report):
    """Problems ``idx`` (at most ``slots``) stepped in ``slots`` slots without refill (padding:
    finished copies) until at most ``stop_live`` run on each device; their rows are updated in
    ``rows``. Returns the indices of the problems still running."""
    if len(idx) == 0:
        return idx
    pick = np.concatenate([idx, np.full(slots - len(idx), idx[0])])
    prob = jax.tree.map(lambda a: a[pick], problems)
    slot_rows = rows[pick]
    slot_rows[len(idx):, status_col] = Status.CONVERGED
    running = len(idx)
    while True:
        slot_rows = np.array(run(prob, slot_rows, np.int32(chunk), np.int32(stop_live)))
        live = slot_rows[:, status_col] == Status.RUNNING
        report(running - int(live.sum()))
        running = int(live.sum())
        if live.reshape(n_dev, -1).sum(axis=1).max() <= stop_live:
            rows[idx] = slot_rows[:len(idx)]
            return idx[live[:len(idx)]]


@functools.lru_cache(maxsize=None)
def _evaluator(fun: Callable):
    return jax.jit(jax.vmap(fun))


def evaluate(fun: Callable, x, args) -> np.ndarray:
    """fun at x for every problem of a batch (no optimisation), as a numpy array (N,)."""
    return np.asarray(_evaluator(fun)(jnp.asarray(x), args))
