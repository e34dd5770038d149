"""What the batched engine (:mod:`mfjax.solvers.batch`) needs from a solver, and nothing more.

A solver is a frozen (hashable) dataclass — its fields are its settings, and a change of them
compiles a new program — with two pure functions of ONE problem:

- ``init(fun, prob) -> state``: the state before anything is evaluated (fixed shapes);
- ``step(fun, prob, state) -> state``: one evaluation of ``fun`` (and whatever derivatives the
  algorithm needs) at one trial point, and every transition it triggers.

``state`` is a NamedTuple that has at least the fields ``x`` (current iterate), ``f`` (objective at
``x``), ``iters``, ``f_count``, ``g_count``, ``h_count`` (minfx's counters) and ``status`` (an int32
:class:`~mfjax.status.Status`, ``RUNNING`` until the problem is finished). A step on a finished
problem is never taken: the engine freezes finished problems. Everything else in the state is the
solver's own business. Solvers never loop over iterations themselves (no nested ``while_loop``):
the engine's one loop calls ``step`` until the status leaves ``RUNNING``.
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
