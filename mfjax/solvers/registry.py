"""Names → solver parts, and :func:`build`, which combines them into a solver for the engine.

Adding an algorithm is one new file (its direction part, or an inner algorithm with its own
state) plus one line in :data:`ALGORITHMS`. An entry is a function
``(line_search, hessian_mod) -> inner algorithm`` (protocol in :mod:`mfjax.solvers.base`); the
parts it receives are already built from their names (algorithms without a Hessian ignore
``hessian_mod``).
"""
from __future__ import annotations

import dataclasses

from mfjax.solvers import (adam, annealing, bfgs, conjugate_gradient, constraints, coordinate_descent, dasha,
                           hessian_mods, lbfgs, least_squares, linesearch, modelfree4, nelder_mead, newton,
                           newton_cg, preconditioned_cg, projected_newton, steepest_descent)
from mfjax.solvers.descent import Descent
from mfjax.solvers.settings import Termination

ALGORITHMS = {
    "newton": lambda ls, hm: Descent(newton.Newton(hessian_mod=hm), ls),
    "newton_cg": lambda ls, hm: Descent(newton_cg.NewtonCG(), ls),
    "sd": lambda ls, hm: Descent(steepest_descent.SteepestDescent(), ls),
    "cd": lambda ls, hm: Descent(coordinate_descent.CoordinateDescent(), ls),
    "bfgs": lambda ls, hm: Descent(bfgs.BFGS(), ls),
    "lbfgs": lambda ls, hm: Descent(lbfgs.LBFGS(), ls),
    "fr": lambda ls, hm: Descent(conjugate_gradient.ConjugateGradient("fr"), ls),
    "pr": lambda ls, hm: Descent(conjugate_gradient.ConjugateGradient("pr"), ls),
    "pr+": lambda ls, hm: Descent(conjugate_gradient.ConjugateGradient("pr+"), ls),
    "hs": lambda ls, hm: Descent(conjugate_gradient.ConjugateGradient("hs"), ls),
    "pcg_diag": lambda ls, hm: Descent(preconditioned_cg.DiagonalPreconditionedCG(), ls),
    # Complete solvers with their own state (their own step rule: line_search and hessian_mod unused).
    "lm": lambda ls, hm: least_squares.LevenbergMarquardt(),
    "gauss_newton": lambda ls, hm: least_squares.GaussNewton(),
    "simplex": lambda ls, hm: nelder_mead.NelderMead(),
    "annealing": lambda ls, hm: annealing.SimulatedAnnealing(),
    "adam": lambda ls, hm: adam.Adam(),
    # Its own treatment of A·x ≥ b (constraints True / "own"; "none" drops A, b): docs/constrained_newton.md.
    "projected_newton": lambda ls, hm: projected_newton.ProjectedNewton(),
}

LINE_SEARCHES = {
    "backtrack": linesearch.Backtracking,
    "more_thuente": linesearch.MoreThuente,
    "none": linesearch.NoLineSearch,
}

HESSIAN_MODS = {
    "gmw": newton.GMW,
    "none": newton.NoModification,
    "eigen": hessian_mods.Eigen,
    "chol": hessian_mods.CholeskyShift,
}

CONSTRAINTS = {
    "mom": constraints.MethodOfMultipliers,     # minfx's Method of Multipliers (relax's default)
    "none": constraints.Unconstrained,
    "modelfree4": modelfree4.Modelfree4,        # steps cut flush at the bounds, stop when blocked
    "dasha": dasha.Dasha,                       # χ² + (distance outside a bound)⁶
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
    make = _lookup(ALGORITHMS, algorithm, "algorithm")
    if handles_constraints(algorithm):
        return _own_constraints(algorithm, make(None, None), constraints)
    if constraints is True or constraints is False:
        constraints = "mom" if constraints else "none"
    hessian_mod = "none" if hessian_mod is None else hessian_mod
    ls = _lookup(LINE_SEARCHES, line_search, "line search")()
    hm = _lookup(HESSIAN_MODS, hessian_mod, "Hessian modification")()
    wrap = _lookup(CONSTRAINTS, constraints, "constraint handling")
    inner = make(ls, hm)
    if hasattr(inner, "step"):
        return _complete(algorithm, inner, constraints, func_tol, grad_tol)
    if constraints == "modelfree4" and not isinstance(ls, (linesearch.Backtracking, linesearch.NoLineSearch)):
        raise ValueError("Modelfree4-style constraints cut the first trial step at the bounds: use line_search "
                         f"'backtrack' or 'none' (not {line_search!r})")
    return wrap(inner, termination=Termination(func_tol, grad_tol))


def has_own_state(algorithm) -> bool:
    """True for the complete solvers with their own state (no line search, Hessian modification or
    Method of Multipliers; constraints "none" or "dasha", and "modelfree4" for lm and gauss_newton)."""
    make = _lookup(ALGORITHMS, algorithm, "algorithm")
    return hasattr(make(LINE_SEARCHES["backtrack"](), HESSIAN_MODS["gmw"]()), "step")


def handles_constraints(algorithm) -> bool:
    """True for the solvers with their own treatment of A·x ≥ b (``handles_constraints = True``)."""
    return getattr(_lookup(ALGORITHMS, algorithm, "algorithm")(None, None), "handles_constraints", False)


def _own_constraints(algorithm, solver, constraints):
    """A solver with its own treatment of A·x ≥ b: constraints True, "own" or "mom" (fit's default)
    keep it; False or "none" drop A, b; the other handlings do not apply."""
    if constraints in (True, "own", "mom"):
        return solver
    if constraints in (False, "none"):
        return dataclasses.replace(solver, constrained=False)
    raise ValueError(f"algorithm {algorithm!r} treats A·x ≥ b itself: use constraints True / 'own' or "
                     f"False / 'none' (not {constraints!r})")


def _complete(algorithm, solver, constraints, func_tol, grad_tol):
    """A complete solver with its own state: its termination settings, and the constraint handling
    it supports (none, Dasha's penalty; Modelfree4's cut for the least-squares solvers)."""
    names = {f.name for f in dataclasses.fields(solver)}
    settings = {"func_tol": func_tol} if "func_tol" in names else {}
    if "grad_tol" in names and grad_tol is not None:
        settings["grad_tol"] = grad_tol
    solver = dataclasses.replace(solver, **settings)
    if constraints == "none":
        return dataclasses.replace(solver, constrained=False) if "constrained" in names else solver
    if constraints == "dasha":
        return dasha.DashaSolver(dataclasses.replace(solver, constrained=False) if "constrained" in names else solver)
    if constraints == "modelfree4" and "modelfree4" in names:
        return dataclasses.replace(solver, modelfree4=True)
    raise ValueError(f"algorithm {algorithm!r} has its own state and cannot run inside constraint handling "
                     f"{constraints!r}; use constraints 'none' or 'dasha'"
                     + (" or 'modelfree4'" if "modelfree4" in names else ""))
