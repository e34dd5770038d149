"""Dasha-style bounds (Orekhov, Nolde, Golovanov & Arseniev 1995, as d'Auvergne & Gooley 2008
describe it): no constraint algorithm, but the objective becomes χ² plus the distance outside each
limit to the sixth power, f + Σ_i max(0, b_i − A_i·x)⁶ (scaled coordinates).

:func:`penalised` turns a χ² function into that objective (with ``residuals`` extended by
max(0, b − A·x)³ when the function has residuals, so least-squares solvers see the same sum of
squares); :class:`Dasha` runs any inner algorithm (protocol in :mod:`mfjax.solvers.base`) on it, and
:class:`DashaSolver` any complete solver. The reported f is the penalised value, which equals χ²
wherever the constraints hold.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax.numpy as jnp

from mfjax.solvers._arith import matvec
from mfjax.solvers.base import Problem, inner_scalar_code
from mfjax.solvers.constraints import Unconstrained
from mfjax.solvers.settings import Termination

POWER = 6


def _vector(x):
    return jnp.stack(list(x)) if isinstance(x, (tuple, list)) else x


def penalised(fun, A, b):
    """x ↦ fun(x) + Σ max(0, b − A·x)⁶ (A, b may be traced arrays of the problem)."""

    def outside(x):
        return jnp.maximum(b - matvec(A, _vector(x)), 0.0)

    def pen(x, args):
        v = outside(x) ** POWER
        total = fun(x, args)
        for i in range(v.shape[0]):          # in order: the same bits in any batch
            total = total + v[i]
        return total

    if hasattr(fun, "residuals"):
        pen.residuals = lambda x, args: jnp.concatenate([fun.residuals(x, args), outside(x) ** (POWER // 2)])
    return pen


@dataclass(frozen=True)
class Dasha:
    """Dasha-style penalty around an inner algorithm; one run with minfx's termination tests."""

    inner: Any
    termination: Termination = field(default_factory=Termination)
    constrained = True

    scalar_code = inner_scalar_code

    def init(self, fun, prob: Problem):
        # the penalised objective here too: with cheap trials init evaluates f at x0 (constraints.py)
        return Unconstrained(self.inner, self.termination).init(penalised(fun, prob.A, prob.b), prob)

    def step(self, fun, prob: Problem, s):
        return Unconstrained(self.inner, self.termination).step(penalised(fun, prob.A, prob.b), prob, s)


@dataclass(frozen=True)
class DashaSolver:
    """Dasha-style penalty around a complete solver with its own state (e.g. Levenberg–Marquardt)."""

    solver: Any
    constrained = True

    @property
    def scalar_code(self):
        return getattr(self.solver, "scalar_code", False)

    def init(self, fun, prob: Problem):
        return self.solver.init(fun, prob)

    def step(self, fun, prob: Problem, s):
        return self.solver.step(penalised(fun, prob.A, prob.b), prob, s)
