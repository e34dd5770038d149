"""Solver settings with minfx's defaults (minfx 1.0.13, ``generic.py generic_minimise`` and the
algorithm modules), as frozen dataclasses: a run changes them by passing other values, and a
change compiles a new program. Each part (direction, line search, constraint handling) carries
its own settings as dataclass fields; this module holds those shared between parts.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Termination:
    """minfx's termination tests (``generic_minimise``): stop when |f_new − f| ≤ func_tol or
    ‖∇f‖ ≤ grad_tol (None: test off). relax passes func_tol = 1e-25, grad_tol = None (relax
    ``MF_minimise_command.optimise``); the iteration limit is per problem (``max_iter`` of fit)."""

    func_tol: float | None = 1e-25
    grad_tol: float | None = None


@dataclass(frozen=True)
class LineSearchConstants:
    """The line-search constants an algorithm hands its line search (minfx sets them per
    algorithm): a0, the first trial step; mu, the sufficient-decrease constant; eta, the
    curvature constant (Moré–Thuente only)."""

    a0: float = 1.0
    mu: float = 1e-4
    eta: float = 0.9


NEWTON_LS = LineSearchConstants(1.0, 1e-4, 0.9)    # minfx newton.py
BFGS_LS = LineSearchConstants(1.0, 1e-4, 0.9)      # minfx bfgs.py
SD_LS = LineSearchConstants(1.0, 1e-4, 0.1)        # minfx steepest_descent.py (a0 adaptive after the first step)
CD_LS = LineSearchConstants(1.0, 1e-4, 0.1)        # minfx coordinate_descent.py
