"""THE ENGINE: the batched minimiser that runs any solver's ``init``/``step`` (see
:mod:`mfjax.solvers.base`) for a whole batch of problems, and knows no algorithm.

Problems flow through a fixed number of slots: the host hands the device a queue, and inside the
device loop a finished slot takes the next queued problem at once (compaction by refill, no host
round trip); once the host has nothing left to hand out, the last stragglers are gathered into a
tail batch. Fixed batch shapes per (function, solver), so nothing
recompiles needlessly, and the cost follows the total number of steps, not N × the slowest
problem. With several devices the host deals the slots and the queue out over them and calls the
same one-device program on each (dispatched asynchronously, so they run together); each stops
independently.

Bitwise batch independence: a problem's result does not depend on its neighbours, its slot, the
phase or the number of devices. XLA's fusion decisions, and with them where LLVM fuses a multiply
and an add into one FMA (one rounding instead of two), depend on the batch width: measured here, a
problem stepped 2, 4 or 8 wide (or in groups of 8) can differ in the last bit from the same problem
in 64 slots, and chaotic paths then end elsewhere (RG point 524). Widths that fill whole vector
loops of the CPU compile to the same per-problem code: measured on an AVX-512 CPU, 8, 16 and 64
give the same bits (the whole RG, and tests/test_batch_independence.py), 2 and 4 do not. So every
phase runs ONE program (the queued runner) at a width that does not depend on the number of
problems: 64 slots per CPU device for the bulk, 8 for the tail and for small batches; each
problem's arithmetic is elementwise along the batch axis (the solver parts write their inner
products out, ``solvers/_arith.py``; measured, they cost nothing against ``jnp.dot`` at these
sizes). tests/test_batch_independence.py checks it on the machine that runs it; the tail's width
is the cost of independence (a lone straggler steps 8 problems wide, not 2:
experiments/bench_engine_widths.py).

Cheap trials (solvers with ``cheap_trials``, :mod:`mfjax.solvers.base`: relax's Newton–GMW–
backtracking, the default): each step decides on the f alone that the previous step evaluated at the
trial point (a loop-carried value, read once), runs the rest of the step (∇f, ∇²f, direction,
transitions) in a branch taken only when some running problem accepted its trial (or starts, or takes
a forced step), then evaluates f alone at every running problem's next trial point. A rejected trial
thus costs f alone, as in minfx, where the whole step cost f, ∇f and ∇²f (RG point 99 alone in
the 8-slot tail: 5.4 µs per evaluation against 12.6 µs, load 2; README, "Speed"). For these
programs the slot axis is LAST inside the program (``axis`` in :func:`_compiled`): every component
of a problem's vectors (x, p, ∇f, the rows of ∇²f and of A) is one contiguous row over the slots.
With the slot axis first (per-problem vectors strided in memory) the programs with cheap trials ran
other machine code in the last four slots of a program (measured: whole RG at 16 slots for bulk
and tail, the points in slots 12–15 of each 16 differed; alone in 8 slots against 64, almost every
point; in isolation, the GMW direction of 41 of the 2,640 RG points differed between 8 and 64
slots), as a vector loop with a scalar remainder would; with the slot axis last, every RG point
gives the same bits alone, in the whole grid and in the reversed grid (checked by
experiments/bench_fit.py's batch part and tests/test_batch_independence.py). ``scalar_code`` gave
independence too, but the 2,638 ordinary RG points in the 64-slot bulk then took 0.113 s of CPU
against 0.077 s (+47 %); with the slot axis last they take 0.071 s (wall) against 0.072–0.077 s
before. The other solvers keep the slot axis first and their measured results.

Equal widths of the fused kernels are not enough for every algorithm: XLA's CPU back end lets LLVM
contract a multiply and an add into one FMA wherever it can, and LLVM's loop and SLP vectorisers
build different code for the same kernel at 8 and at 64 problems (a vector body, scalar remainders,
products packed across lanes), in which different products end up contracted. An expression with
two candidates — a·b + c·d, −(a·b) + c·d, as in the conjugate-gradient update p = −∇f + βp_prev
whose gradient XLA recomputes inside the consuming kernel — then rounds differently in the bulk and
in the tail (measured: the CG family, Newton–CG, optax's L-BFGS, simplex, from the second iteration
on; Gauss–Newton and LM between one and two devices). A solver with ``scalar_code`` True is therefore compiled with LLVM's preferred vector width set
to 64 bits: nothing float64 is vectorised, every problem runs the same scalar machine code at any
width, and its bits no longer depend on the batch (the same code, FMAs included, for every lane).
The cost, measured warm on 64 Rosenbrock problems (experiments/bench_scalar_code.py, 2 shared
cores at load 5–6): CPU time per step about 1.3× for Fletcher–Reeves (0.39–0.42 against 0.31–0.32
µs per iteration), 1.0–1.3× for simplex, 1.2–1.8× per evaluation for Newton–CG, 1.15–1.35× for
L-BFGS, none measurable for Gauss–Newton (0.47 against 0.50 µs per evaluation). XLA's
CPU back end has no per-program switch for FMA contraction itself (``xla_cpu_max_isa`` is honoured
only process-wide, and optimisation level 0 runs about a thousand times slower). relax's Newton
path (and the rest of the Newton family) keeps the vectorised code, and with it the results
measured before; so do the other solvers that are measured independent with it (steepest and
coordinate descent, BFGS, the preconditioned CG, annealing, Adam: tests/test_batch_independence.py,
and the whole RG for relax's Newton).

Several devices run the one-device program, not one program partitioned across them
(``jax.shard_map``): XLA compiles a partitioned program through its SPMD pipeline, which clones
computations and constants and reorders instructions, so its fusion pass groups the same operations
differently (measured: Newton–CG on 2 CPU devices, the optimised HLO of the partitioned program had a
multiply-add kernel of the truncated CG, with the Hessian's entries recomputed inside, that the
one-device program did not, so LLVM contracted other products into FMAs; the first iterate already
differed in the last bit, later the line-search trial counts and iteration numbers).
Scalar code does not help there: it makes a kernel's code independent of its width, not XLA's fusion
independent of the pipeline. The cost is one compilation of the same program per device (an
executable is bound to its device); measured on 1000 Rosenbrock problems, 2 CPU devices, 2 shared
cores at load 6–8 (experiments/bench_devices.py, experiments/results/bench_devices.jsonl): Newton–CG
compiles 4 programs in 8.3–10.1 s against 2 in 3.3–9.0 s, relax's Newton 4 in 6.7–10.5 s against 3
in 6.8–9.9 s; warm, the same within the noise (Newton–CG 0.029–0.032 s of CPU against 0.026–0.032,
Newton 0.061–0.063 against 0.060–0.063); one device is not changed (2 programs, 0.055–0.062 s against
0.057–0.061).
"""
from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from mfjax.solvers.base import RESULT_FIELDS, Problem, Solver
from mfjax.status import Status

MAX_STEPS_PER_CALL = 2048   # device steps between host visits at most (progress reports)
SLOTS_CPU = 64               # bulk slots per CPU device
TAIL_SLOTS_CPU = 8            # tail slots per CPU device (and for batches of at most that many problems)
SLOTS_ACCELERATOR = 16384    # slots per accelerator
QUEUE_PER_SLOT = 16   # problems handed to a device per host visit, per slot
EVALUATE_WIDTH = 8    # problems per step of evaluate()
# XLA's cheaper CPU back-end optimisation: compiles the solver loop about twice as fast with no
# measurable loss of speed at run time (experiments/bench_fit.py).
_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1, "xla_llvm_disable_expensive_passes": True}
# For solvers with ``scalar_code``: LLVM vectorises for 64-bit vectors, i.e. not at all for float64, so that
# every problem runs the same scalar machine code, multiply-add contractions included, at any batch width.
_SCALAR_CODE_OPTIONS = {"xla_cpu_prefer_vector_width": 64}


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
    """(batch, tail) slot counts over all devices, whatever the number of problems (so that every
    problem runs through the same per-problem code, see the module docstring): on CPU SLOTS_CPU per
    device for the bulk (the fastest per problem-step, experiments/bench_fit.py) and TAIL_SLOTS_CPU
    for the tail; SLOTS_ACCELERATOR per accelerator for both. ``n_problems`` is not used."""
    if platform == "cpu":
        return SLOTS_CPU * n_devices, TAIL_SLOTS_CPU * n_devices
    return SLOTS_ACCELERATOR * n_devices, SLOTS_ACCELERATOR * n_devices


class _Packing:
    """The state of one problem packed into one float64 row (integers and flags are exact in
    float64), with the columns of the fields the host reads and writes."""

    def __init__(self, blank):
        leaves, treedef = jax.tree.flatten(blank)       # the order of ravel_pytree, in numpy (no compiles)
        self.blank_row = np.concatenate([np.ravel(np.asarray(leaf, np.float64)) for leaf in leaves])
        leaf_of_column = np.repeat(np.arange(len(leaves)), [np.size(leaf) for leaf in leaves])
        field_ids = jax.tree.unflatten(treedef, list(range(len(leaves))))
        self.columns = {name: np.flatnonzero(leaf_of_column == getattr(field_ids, name))
                        for name in RESULT_FIELDS}
        self.scalar = {name: np.ndim(getattr(blank, name)) == 0 for name in self.columns}

    def get(self, rows, name):
        """Field ``name`` of packed ``rows``: (N,) for scalar fields, (N, k) for vectors."""
        cols = self.columns[name]
        return rows[:, cols[0]] if self.scalar[name] else rows[:, cols]


def _rows_like(mask, a):
    """``mask`` (S,) broadcast against the leading axis of ``a``."""
    return mask.reshape(mask.shape + (1,) * (a.ndim - 1))


@functools.lru_cache(maxsize=None)
def _per_problem(fun: Callable, solver: Solver):
    """The solver's ``init`` and ``step`` for ONE problem, each wrapped in its own ``jax.jit``: JAX traces
    each once per (function, solver) and problem shapes, and every program built on them (the bulk's
    and the tail's widths, ``eval_shape``) reuses that trace (vmap transforms the traced jaxpr; XLA
    inlines the nested call, so the compiled arithmetic is the same). Third: the optional
    (``wants_prepare``, ``prepare``) likewise, None for a solver without them; fourth: (``trial``,
    ``finish``) for a solver with ``cheap_trials``, else None."""
    rare = (jax.jit(solver.wants_prepare), jax.jit(functools.partial(solver.prepare, fun))) \
        if hasattr(solver, "prepare") else None
    cheap = tuple(jax.jit(functools.partial(part, fun)) for part in (solver.trial, solver.finish, solver.probe)) \
        if getattr(solver, "cheap_trials", False) else None
    return jax.jit(functools.partial(solver.init, fun)), jax.jit(functools.partial(solver.step, fun)), rare, cheap


@functools.lru_cache(maxsize=None)
def _compiled(fun: Callable, solver: Solver):
    """The jitted slot runner of one device: ONE program for every phase (bulk, tail, a lone problem)
    and every device (each runs it on its own slots), so that a problem's arithmetic does not depend
    on the phase or the number of devices.

    ``run(prob, rows, owner, q_prob, q_owner, n_queue, more, max_steps, stop_live)`` works on
    one device's S slots (problem data ``prob``, packed state ``rows`` (S, K), problem index
    ``owner``, −1 = empty) and queue of Q fresh problems (``q_*``, the first ``n_queue`` valid; a
    slot that takes one starts from the solver's ``init``). Each step first empties the finished
    slots into an output buffer and refills free slots from the queue, then steps every running
    slot. It stops after ``max_steps`` steps, when nothing runs and the queue is used up, or once
    the queue is used up and — if the host has ``more`` problems — a slot is free, or — if not —
    at most ``stop_live`` problems still run. Returns the slots, how many queue rows were taken,
    and the output buffer (Q + S rows, owners, −1 = unused)."""

    init_one, step_one, rare, cheap = _per_problem(fun, solver)

    # With cheap trials every array inside the program has the slot axis LAST (each component of a
    # problem's vectors is then one contiguous row over the slots, see the module docstring); the other
    # solvers keep it first (their measured results).
    axis = -1 if cheap is not None else 0

    def select(mask, new, old):
        return jax.tree.map(lambda u, v: jnp.where(mask if axis else _rows_like(mask, v), u, v), new, old)

    def last(tree):
        return jax.tree.map(lambda a: jnp.moveaxis(a, 0, axis), tree)

    def first(tree):
        return jax.tree.map(lambda a: jnp.moveaxis(a, axis, 0), tree)

    def vm(f):
        return jax.vmap(f, in_axes=axis, out_axes=axis)

    def run(prob, rows, owner, q_prob, q_owner, n_queue, more, max_steps, stop_live):
        prob, q_prob = last(prob), last(q_prob)
        unravel = jax.flatten_util.ravel_pytree(init_one(jax.tree.map(lambda a: jnp.take(a, 0, axis=axis), prob)))[1]
        unpack = jax.vmap(unravel, out_axes=axis)
        pack = jax.vmap(lambda one: jax.flatten_util.ravel_pytree(one)[0], in_axes=axis)
        step, start = vm(step_one), vm(init_one)
        n_slots, n_q = rows.shape[0], q_owner.shape[0]

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
            prob = select(take, jax.tree.map(lambda q: jnp.take(q, src, axis=axis), q_prob), prob)
            state = select(take, start(prob), state)
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
            if rare is not None:       # a solver's rare work (e.g. a restart point), only when some problem wants it
                wants = running(state, owner) & vm(rare[0])(state)
                state = jax.lax.cond(jnp.any(wants), lambda s: select(wants, vm(rare[1])(prob, s), s),
                                     lambda s: s, state)
            live = running(state, owner)
            if cheap is None:
                state = select(live, step(prob, state), state)
            else:       # f alone at every trial; the rest of the step only when some problem needs it
                tried, settled = vm(cheap[0])(prob, state)
                state = select(live, tried, state)
                needs = live & ~settled
                state = jax.lax.cond(jnp.any(needs), lambda s: select(needs, vm(cheap[1])(prob, s), s),
                                     lambda s: s, state)
                state = select(running(state, owner), vm(cheap[2])(prob, state), state)
            return i + 1, (prob, state, owner) + c[3:]

        out = (jnp.zeros((n_q + n_slots,) + rows.shape[1:], rows.dtype), jnp.full(n_q + n_slots, -1, owner.dtype))
        init = (prob, unpack(rows), owner, jnp.zeros((), jnp.int32)) + out + (jnp.zeros((), jnp.int32),)
        c = collect_and_refill(jax.lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), init))[1])
        prob, state, owner, taken, out_rows, out_owner, _ = c
        return first(prob), pack(state), owner, taken, out_rows, out_owner

    scalar = getattr(solver, "scalar_code", False)
    return jax.jit(run, compiler_options={**_COMPILER_OPTIONS, **(_SCALAR_CODE_OPTIONS if scalar else {})})


def minimise(fun: Callable, x0, args, A=None, b=None, *, solver: Solver, max_iter=10_000_000,
             converge=None, n_devices: int | None = None, batch_size: int | None = None,
             tail_size: int | None = None, queue_size: int | None = None, chunk: int = MAX_STEPS_PER_CALL,
             progress: Callable | None = None, one_width: bool = False) -> Result:
    """Minimise ``fun(x, args_i)`` for every problem i of a batch, under A·x ≥ b.

    solver: any :class:`~mfjax.solvers.base.Solver` (e.g. ``registry.build()``, minfx's Newton–GMW–
    backtracking inside the Method of Multipliers); a solver with ``constrained = False`` ignores A, b.
    x0: (N, n) starts (scaled coordinates). args: pytree with leading axis N. A: (m, n) or
    (N, m, n); b: (m,) or (N, m) (None: no constraints). max_iter: int or (N,). converge: (N,)
    bool, False forces a problem to run to max_iter (for straggler benchmarks). n_devices: devices
    to split the batch across (default: all local devices). batch_size / tail_size: slot counts of
    the bulk and tail phases over all devices (default :func:`default_sizes`: the same, fixed
    width; at least 2 per device); queue_size: problems handed to each device per host visit
    (default QUEUE_PER_SLOT per slot). chunk: device steps between host visits at most. progress:
    called with (n_done, N) after each host visit. one_width: every problem in the tail's slots (one
    phase): ONE compiled program per (function, solver) instead of two (:func:`mfjax.fit_models` uses
    it: fewer first-call compilations; on 135 residues as fast as the two widths, slower per step on
    thousands of problems: experiments/results/first_call.json). With the default sizes the results do not
    depend, bit for bit, on the other problems, their order, the chunk or the number of devices
    (see the module docstring); other sizes change only the round-off.
    """
    x0 = np.asarray(x0, dtype=np.float64)
    N, n = x0.shape
    if N == 0:
        return Result(x0.copy(), np.zeros(0), *(np.zeros(0, np.int64) for _ in range(4)), np.zeros(0, np.int32))
    if A is None or not getattr(solver, "constrained", True):
        A, b = np.zeros((0, n)), np.zeros((0,))
    A = np.ascontiguousarray(np.broadcast_to(np.asarray(A, np.float64), (N,) + np.shape(A)[-2:]))
    b = np.ascontiguousarray(np.broadcast_to(np.asarray(b, np.float64), (N,) + np.shape(b)[-1:]))
    max_iter = np.broadcast_to(np.asarray(max_iter, np.int64).clip(max=np.iinfo(np.int32).max), (N,))
    converge = np.broadcast_to(np.ones(N, bool) if converge is None else np.asarray(converge, bool), (N,))
    if hasattr(solver, "for_constraints"):      # a solver may specialise itself to the batch's A, b (host side)
        solver = solver.for_constraints(A, b)
    problems = Problem(x0, jax.tree.map(np.asarray, args), A, b, max_iter.astype(np.int32), converge.copy())
    n_dev = n_devices or len(jax.devices())
    batch, tail = default_sizes(N, n_dev, jax.devices()[0].platform)
    batch, tail = batch_size or batch, tail_size or tail
    if one_width:
        batch = tail
    if batch % n_dev or tail % n_dev or batch < 2 * n_dev or tail < 2 * n_dev:
        raise ValueError(f"batch_size {batch} and tail_size {tail} must be multiples of the {n_dev} devices, "
                         "with at least 2 slots per device")
    run = _compiled(fun, solver)
    blank = jax.eval_shape(_per_problem(fun, solver)[0], jax.tree.map(lambda a: a[0], problems))
    packing = _Packing(jax.tree.map(lambda leaf: np.zeros(leaf.shape, leaf.dtype), blank))
    rows = np.repeat(packing.blank_row[None], N, axis=0)     # every problem's state, host side
    done = [0]

    def report(newly_done):
        done[0] += newly_done
        if progress is not None:
            progress(done[0], N)

    status_col = packing.columns["status"][0]
    q_len = queue_size or QUEUE_PER_SLOT * (batch // n_dev)
    none = np.zeros(0, np.int64)
    if tail < batch and N > tail:     # the bulk through the queue, then the last ones in the tail's slots
        live = _phase(run, problems, rows, none, np.arange(N), batch, tail // n_dev, n_dev, q_len, chunk, status_col,
                      report)
        _phase(run, problems, rows, live, none, tail, 0, n_dev, tail // n_dev, chunk, status_col, report)
    else:                             # one width for everything (the default)
        slots = batch if tail >= batch else tail
        _phase(run, problems, rows, none, np.arange(N), slots, 0, n_dev, q_len if slots == batch else slots // n_dev,
               chunk, status_col, report)

    get = packing.get
    return Result(get(rows, "x").copy(), get(rows, "f").copy(), *(get(rows, k).astype(np.int64) for k in
                  ("iters", "f_count", "g_count", "h_count")), get(rows, "status").astype(np.int32))


def _phase(run, problems, rows, started, pending, slots, stop_live, n_dev, q_len, chunk, status_col, report):
    """Problems ``started`` (their states in ``rows``; at most ``slots // n_dev`` per device, spread
    over the devices) in ``slots`` slots, and the fresh problems ``pending`` handed to each device's
    queue ``q_len`` at a time; the host visits when a queue is used up or after ``chunk`` steps. Ends
    when the host has nothing left to hand out and at most ``stop_live`` problems run on each
    device; every problem's row goes back into ``rows`` (in place). Returns the indices of the
    problems still running."""
    per_dev = slots // n_dev
    devices = jax.devices()[:n_dev] if n_dev > 1 else [None]       # None: JAX's default device
    owner = np.full(slots, -1, np.int64)
    for j, i in enumerate(started):          # started problems, dealt round-robin over the devices
        owner[(j % n_dev) * per_dev + j // n_dev] = i
    pick = np.where(owner >= 0, owner, 0)
    on_device = [(jax.tree.map(lambda a: a[pick[mine]], problems), rows[pick[mine]], owner[mine].astype(np.int32))
                 for mine in (slice(d * per_dev, (d + 1) * per_dev) for d in range(n_dev))]
    states = [jax.device_put(state, dev) for state, dev in zip(on_device, devices)]
    while True:
        handed = [pending[d * q_len:(d + 1) * q_len] for d in range(n_dev)]
        rest = pending[n_dev * q_len:]
        outs = []
        for state, h, dev in zip(states, handed, devices):     # dispatched asynchronously: devices run together
            q_idx = np.append(h, np.zeros(q_len - len(h), h.dtype))
            q_owner = np.append(h, np.full(q_len - len(h), -1)).astype(np.int32)
            queue = jax.device_put((jax.tree.map(lambda a: a[q_idx], problems), q_owner, np.int32(len(h))), dev)
            outs.append(run(*state, *queue, len(rest) > 0, np.int32(chunk), np.int32(stop_live)))
        states = [out[:3] for out in outs]
        out_owner = np.concatenate([np.asarray(out[5]) for out in outs])
        out_rows = np.concatenate([np.asarray(out[4]) for out in outs])
        finished = out_owner >= 0
        rows[out_owner[finished]] = out_rows[finished]
        pending = np.concatenate([h[int(out[3]):] for h, out in zip(handed, outs)] + [rest])
        report(int(finished.sum()))
        owner = np.concatenate([np.asarray(state[2]) for state in states])
        slot_rows = np.concatenate([np.asarray(state[1]) for state in states])
        live = (owner >= 0) & (slot_rows[:, status_col] == Status.RUNNING)
        if len(pending) == 0 and live.reshape(n_dev, per_dev).sum(axis=1).max() <= stop_live:
            rows[owner[live]] = slot_rows[live]
            return owner[live].astype(np.int64)


@functools.lru_cache(maxsize=None)
def _evaluator(fun: Callable):
    return jax.jit(jax.vmap(fun))


def evaluate(fun: Callable, x, args) -> np.ndarray:
    """fun at x for every problem of a batch (no optimisation), as a numpy array (N,): one program of
    EVALUATE_WIDTH problems, called on consecutive blocks (the last one padded by repeating its last
    problem), so every problem's value comes from the same code whatever the batch."""
    x = np.asarray(x, np.float64)
    N = x.shape[0]
    size = -(-N // EVALUATE_WIDTH) * EVALUATE_WIDTH
    pad = lambda a: np.concatenate([np.asarray(a), np.repeat(np.asarray(a)[-1:], size - N, axis=0)])
    x, args = pad(x), jax.tree.map(pad, args)
    blocks = [np.asarray(_evaluator(fun)(x[i:i + EVALUATE_WIDTH], jax.tree.map(lambda a: a[i:i + EVALUATE_WIDTH], args)))
              for i in range(0, size, EVALUATE_WIDTH)]
    return np.concatenate(blocks)[:N] if blocks else np.zeros(0)
