"""Coordinate descent, minfx's "back-and-forth" variant (minfx ``coordinate_descent.py``): a
direction part for :class:`mfjax.solvers.descent.Descent`.

The directions start as the rows of the identity; the coordinate sequence is 0, 1, …, n−1, n−2, …,
0, 1, … . The direction is dir[i], or −dir[i] when ∇f·dir[i] > 0; after the step, dir[i] is
overwritten with α·p, so the next visit of coordinate i starts from the last step taken along it.
a0 = 1 always; line-search constants mu 1e-4, eta 0.1 (minfx).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax.numpy as jnp

from mfjax.solvers.settings import CD_LS, LineSearchConstants
from mfjax.status import Status


class CDState(NamedTuple):
    dirs: Any     # (n, n) the current direction of each coordinate
    index: Any    # coordinate of the current direction
    sweep: Any    # +1 or −1: the sweep's sense
    p: Any        # the current direction


@dataclass(frozen=True)
class CoordinateDescent:
    """Back-and-forth coordinate-descent direction part."""

    ls: LineSearchConstants = CD_LS
    needs_hessian = False

    def init(self, x0):
        n = x0.shape[0]
        return CDState(jnp.eye(n, dtype=x0.dtype), jnp.zeros((), jnp.int32), jnp.ones((), jnp.int32),
                       jnp.zeros_like(x0))

    def next(self, dstate, restart, x_old, x_new, g_old, F_new, alpha):
        n = x_new.shape[0]
        # After a step along coordinate `index`: remember α·p there, move on back and forth.
        dirs = dstate.dirs.at[dstate.index].set(alpha * dstate.p)
        turn = (dstate.index + dstate.sweep < 0) | (dstate.index + dstate.sweep > n - 1)
        sweep = jnp.where(turn, -dstate.sweep, dstate.sweep)
        index = jnp.clip(dstate.index + sweep, 0, n - 1) if n > 1 else dstate.index
        fresh = self.init(x_new)
        dirs = jnp.where(restart, fresh.dirs, dirs)
        index = jnp.where(restart, fresh.index, index).astype(jnp.int32)
        sweep = jnp.where(restart, fresh.sweep, sweep).astype(jnp.int32)
        d = dirs[index]
        p = jnp.where(F_new.g @ d > 0, -d, d)
        return (p, jnp.asarray(self.ls.a0, p.dtype), CDState(dirs, index, sweep, p),
                jnp.asarray(Status.RUNNING, jnp.int32))
