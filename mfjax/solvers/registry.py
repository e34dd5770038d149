"""Names → solver parts, and :func:`build`, which combines them into a solver for the engine.

Adding an algorithm is one new file (its direction part, or an inner algorithm with its own
state) plus one line in :data:`ALGORITHMS`. An entry is a function
``(line_search, hessian_mod) -> inner algorithm`` (protocol in :mod:`mfjax.solvers.base`); the
parts it receives are already built from their names (algorithms without a Hessian ignore
``hessian_mod``).
"""
from __future__ import annotations

from mfjax.solvers import constraints, linesearch, newton
from mfjax.solvers.descent import Descent
from mfjax.solvers.settings import Termination

ALGORITHMS = {
    "newton": lambda ls, hm: Descent(newton.Newton(hessian_mod=hm), ls),
}

LINE_SEARCHES = {
    "backtrack": linesearch.Backtracking,
    "more_thuente": linesearch.MoreThuente,
    "none": linesearch.NoLineSearch,
}

HESSIAN_MODS = {
    "gmw": newton.GMW,
    "none": newton.NoModification,
}

CONSTRAINTS = {
    "mom": constraints.MethodOfMultipliers,     # minfx's Method of Multipliers (relax's default)
    "none": constraints.Unconstrained,
}


def _lookup(table, name, what):
    if name not in table:
        raise ValueError(f"unknown {what} {name!r}; available: {tuple(table)}")
    return table[name]


def build(algorithm="newton", line_search="backtrack", hessian_mod="gmw", constraints="mom", func_tol=1e-25,
          grad_tol=None):
    """The solver for ``batch.minimise``: ``constraints`` (a CONSTRAINTS name; True = "mom",
    False = "none") wrapped around ``algorithm`` with ``line_search`` and ``hessian_mod`` (None =
    "none"), with minfx's termination settings func_tol and grad_tol. Refuses unknown names."""
    if constraints is True or constraints is False:
        constraints = "mom" if constraints else "none"
    hessian_mod = "none" if hessian_mod is None else hessian_mod
    make = _lookup(ALGORITHMS, algorithm, "algorithm")
    ls = _lookup(LINE_SEARCHES, line_search, "line search")()
    hm = _lookup(HESSIAN_MODS, hessian_mod, "Hessian modification")()
    wrap = _lookup(CONSTRAINTS, constraints, "constraint handling")
    return wrap(make(ls, hm), termination=Termination(func_tol, grad_tol))
