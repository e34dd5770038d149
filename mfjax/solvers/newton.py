"""The Newton direction p = −B⁻¹∇f with a Hessian modification B (minfx ``newton.py``; Nocedal &
Wright 1999, §6.3): a direction part for :class:`mfjax.solvers.descent.Descent`.

Hessian modifications are parts too, each a frozen dataclass with ``direction(H, g) -> p``:
:class:`GMW` (Gill, Murray & Wright 1981, minfx's GMW81, minfx's default) and
:class:`NoModification` (−H⁻¹∇f as minfx's "No Hessian mod").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp

from mfjax.solvers import gmw
from mfjax.solvers.settings import NEWTON_LS, LineSearchConstants
from mfjax.status import Status


@dataclass(frozen=True)
class GMW:
    """GMW81 modified Cholesky (minfx ``hessian_mods/gmw81.py``) with ε = ``mach_acc``."""

    mach_acc: float = 1e-16

    def direction(self, H, g):
        return gmw.gmw_direction(H, g, self.mach_acc)


@dataclass(frozen=True)
class NoModification:
    """The unmodified Newton step −H⁻¹∇f (minfx "No Hessian mod")."""

    def direction(self, H, g):
        return gmw.unmodified_newton_direction(H, g)


@dataclass(frozen=True)
class Newton:
    """Newton direction part: no memory, needs the Hessian at every new iterate."""

    hessian_mod: Any = GMW()
    ls: LineSearchConstants = NEWTON_LS
    needs_hessian = True

    def init(self, x0):
        return ()

    def next(self, dstate, restart, x_old, x_new, g_old, F_new, alpha):
        p = self.hessian_mod.direction(F_new.H, F_new.g)
        return p, jnp.asarray(self.ls.a0, p.dtype), dstate, jnp.asarray(Status.RUNNING, jnp.int32)
