"""The interfaces between the solver parts (one concept each, see docs/algorithms.md).

**Solver** — what the batched engine (:mod:`mfjax.solvers.batch`) runs, and nothing more. A
solver is a frozen (hashable) dataclass — its fields are its settings, and a change of them
compiles a new program — with two pure functions of ONE problem:

- ``init(fun, prob) -> state``: the state before anything is evaluated (fixed shapes);
- ``step(fun, prob, state) -> state``: one evaluation of ``fun`` (and whatever derivatives the
  algorithm needs) at one trial point, and every transition it triggers.

``state`` is a NamedTuple that has at least the fields ``x`` (current iterate), ``f`` (objective at
``x``), ``iters``, ``f_count``, ``g_count``, ``h_count`` (minfx's counters) and ``status`` (an int32
:class:`~mfjax.status.Status`, ``RUNNING`` until the problem is finished). A step on a finished
problem is never taken: the engine freezes finished problems. Everything else in the state is the
solver's own business. Solvers never loop over iterations themselves (no nested ``while_loop``):
the engine's one loop calls ``step`` until the status leaves ``RUNNING``. A solver with a field
``constrained = False`` is given no constraints (A, b). A solver with ``scalar_code`` True is
compiled without SIMD vectorisation (see :mod:`mfjax.solvers.batch`, "Bitwise batch independence");
the wrappers and :class:`~mfjax.solvers.descent.Descent` pass on the value of their inner part.

Two optional hooks (:class:`~mfjax.solvers.projected_newton.ProjectedNewton` has both):
``for_constraints(A, b) -> solver``, called by the engine with the batch's host arrays A (N, m, n),
b (N, m) before it compiles, returns the solver specialised to them (e.g. no passes for rows that no
problem has); ``wants_prepare(state) -> bool`` and ``prepare(fun, prob, state) -> state``: rare work
(e.g. a restart point) that the engine runs, before ``step``, on the problems that want it, in a
branch taken only when at least one running problem does — so the other steps do not pay for it as
they would for a ``jnp.where`` inside ``step`` (under ``vmap`` both sides of a select are computed).

A third optional hook, cheap trials (the wrappers of :mod:`mfjax.solvers.constraints` around a
Newton-type :class:`~mfjax.solvers.descent.Descent` with backtracking): a solver with
``cheap_trials`` True keeps the objective's value at the next trial point in its state (``init``
and ``probe(fun, prob, state) -> state`` evaluate f alone there) and splits ``step`` into
``trial(fun, prob, state) -> (state, settled)`` (decide on that stored value; ``settled``: a
rejected trial, whose state is then complete), ``finish(fun, prob, state) -> state`` (the rest of
the step — ∇f, ∇²f, direction, transitions — for the problems not settled) and ``probe``. The
engine runs ``trial`` on every running problem, ``finish`` in a branch taken only when some running
problem is not settled, then ``probe``; ``step`` is the same three parts for one problem.

The solvers built from parts (:mod:`mfjax.solvers.registry`) are a constraint handling
(:mod:`mfjax.solvers.constraints`: ``Unconstrained``, ``MethodOfMultipliers``, ...) wrapped around
an **inner algorithm** that never knows whether it is wrapped. The inner protocol (implemented by
:class:`mfjax.solvers.descent.Descent` — a direction part plus a line-search part — and by any
algorithm with its own state) is:

- ``order``: 0, 1 or 2 — the derivatives the inner algorithm needs (f; f, ∇f; f, ∇f, ∇²f);
- ``blank(x0) -> istate``: shapes only; the first step evaluates at x0;
- ``point(istate) -> x_t``: where the next evaluation happens;
- ``assess(istate, F_t, tests) -> Assessment``: feed it the values ``F_t`` (an :class:`Eval` of
  the objective the wrapper hands it, e.g. the augmented Lagrangian) at ``x_t``; it decides
  accept/reject, the end of an iteration and of the whole (inner) run under ``tests``
  (:class:`Tests`), without computing the next direction;
- ``advance(istate, assessment, restart, F_next) -> (istate, status)``: the next state. With
  ``restart`` True a new minimisation begins at ``assessment.x_t`` whose values are ``F_next``
  (the wrapper's new objective at the same point, e.g. new multipliers: no new evaluation), as
  on the first step; otherwise ``F_next`` is ``F_t``. ``status`` is ``Status.RUNNING`` or a failure
  of the algorithm itself (e.g. a singular matrix), which ends the problem.

The inner state carries minfx's counters summed over all its runs (``iters``, ``f_count``,
``g_count``, ``h_count``: a run's set-up counts one f and one ∇f, as minfx's does) and ``x``.
An inner run stops only right after it has consumed the evaluation at its final point.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Protocol

RESULT_FIELDS = ("x", "f", "iters", "f_count", "g_count", "h_count", "status")


class Problem(NamedTuple):
    """One element of the batch (the engine adds the leading batch axis)."""

    x0: Any          # (n,) start, scaled coordinates
    args: Any        # pytree passed to fun
    A: Any           # (m, n) constraint matrix (A·x ≥ b); m may be 0
    b: Any           # (m,)
    max_iter: Any    # () int: minfx's maxiter
    converge: Any    # () bool: False forces the problem to run to max_iter (benchmarks)


class Solver(Protocol):
    """The engine's view of an algorithm (see the module docstring)."""

    def init(self, fun, prob: Problem) -> Any: ...

    def step(self, fun, prob: Problem, state: Any) -> Any: ...


class Eval(NamedTuple):
    """Values of an objective at one point: f, ∇f (None for order 0), ∇²f (None below order 2)."""

    f: Any
    g: Any = None
    H: Any = None


class Tests(NamedTuple):
    """The termination tests a wrapper hands its inner algorithm (minfx ``generic_minimise``
    arguments). ``func_tol`` and ``grad_tol`` None switch a test off; with ``grad_tol`` alone an
    exactly zero change of f also stops (minfx's ``setup_conv_tests``)."""

    func_tol: Any            # Python float or None (static)
    grad_tol: Any            # () array or None
    max_iter: Any            # () int array: iterations of this run at most
    converge: Any            # () bool: False switches the convergence tests off (benchmarks)


class Assessment(NamedTuple):
    """What an inner algorithm made of one evaluation (see the module docstring)."""

    x_t: Any          # the trial point evaluated
    F_t: Any          # the values there (Eval)
    start: Any        # this was the first evaluation (at x0)
    finite: Any       # F_t is finite everywhere
    moved: Any        # the trial point was accepted as the new iterate
    cont: Any         # a new iteration of the same run begins at x_t
    stop: Any         # the run ended at x_t (accepted), with ...
    stop_status: Any  # ... this reason (CONVERGED, MAX_ITERATIONS, NOT_FINITE, LINE_SEARCH_ERROR: aborted at x)
    error: Any        # int32 status of a breakdown (RUNNING: none): it ends the problem
    iters: Any        # the inner run's iteration total after this evaluation (minfx's iter)
    rest: Any         # the algorithm's own intermediate results for advance()


# A wrapper's ``scalar_code`` is its inner part's (see the module docstring): one property, shared.
inner_scalar_code = property(lambda self: getattr(self.inner, "scalar_code", False))
