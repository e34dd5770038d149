"""Simulated annealing (Kirkpatrick, Gelatt & Vecchi 1983; the global method of Tensor, Dosset et
al. 2000): a complete solver, one function evaluation per engine step.

Each step proposes y = x + w_k ⊙ N(0, I) and accepts it with the Metropolis probability
min(1, exp(−(f(y) − f(x))/T_k)); proposals outside A·x ≥ b are rejected unevaluated in effect
(their value is not used) when ``constrained``. Schedule: T_k = T0·cooling^k with
T0 = t0·max(|f(x0)|, 1e-300), proposal widths w_k = width·max(1, |x0|)·√(T_k/T0); the run ends
after ``steps`` proposals (CONVERGED: the schedule is complete) or at max_iter (MAX_ITERATIONS).
The best point seen is returned; iters = proposals, f_count = evaluations.

Randomness: a per-problem stream from ``seed`` and the bits of the problem's start x0 (never the
batch position), folded with the step index, so a problem gives the same result alone or in any
batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from mfjax.solvers.base import Problem
from mfjax.solvers.derivatives import value
from mfjax.status import Status


class SAState(NamedTuple):
    x: Any          # best point seen
    f: Any
    cur: Any        # the chain's current point
    f_cur: Any
    trial: Any      # the point the next step evaluates
    T0: Any
    iters: Any
    f_count: Any
    g_count: Any
    h_count: Any
    starting: Any
    status: Any


def problem_key(seed, x0):
    """A PRNG key from ``seed`` and the bit pattern of x0 (float64 as two uint32 words each)."""
    key = jax.random.PRNGKey(seed)
    words = jax.lax.bitcast_convert_type(x0, jnp.uint32).reshape(-1)
    for i in range(words.shape[0]):
        key = jax.random.fold_in(key, words[i])
    return key


@dataclass(frozen=True)
class SimulatedAnnealing:
    """Simulated annealing with a geometric schedule (see the module docstring)."""

    seed: int = 0
    steps: int = 5000
    t0: float = 1.0
    cooling: float = 0.995
    width: float = 0.5
    constrained: bool = True

    def init(self, fun, prob: Problem) -> SAState:
        x0 = prob.x0
        zi, zf = jnp.zeros((), jnp.int32), jnp.zeros((), x0.dtype)
        return SAState(x0, zf, x0, zf, x0, zf, zi, zi, zi, zi, jnp.asarray(True), zi + Status.RUNNING)

    def step(self, fun, prob: Problem, s: SAState) -> SAState:
        start = s.starting
        key = jax.random.fold_in(problem_key(self.seed, prob.x0), s.iters)
        k_move, k_accept = jax.random.split(key)
        trial = jnp.where(start, s.x, s.trial)
        f_t = value(fun, trial, prob.args)
        feasible = jnp.all(prob.A @ trial - prob.b >= 0) if (self.constrained and prob.A.shape[0]) else True
        T0 = jnp.where(start, self.t0 * jnp.maximum(jnp.abs(f_t), 1e-300), s.T0)
        T = T0 * self.cooling ** s.iters.astype(T0.dtype)
        u = jax.random.uniform(k_accept, dtype=trial.dtype)
        ok = feasible & jnp.isfinite(f_t) & ((f_t <= s.f_cur) | (u < jnp.exp(-(f_t - s.f_cur) / T)))
        take = start | (~start & ok)
        cur = jnp.where(take, trial, s.cur)
        f_cur = jnp.where(take, f_t, s.f_cur)
        better = start | (feasible & (f_t < s.f))
        iters = s.iters + jnp.where(start, 0, 1)
        w = self.width * jnp.maximum(1.0, jnp.abs(prob.x0)) * jnp.sqrt(self.cooling ** iters.astype(T0.dtype))
        nxt = cur + w * jax.random.normal(k_move, trial.shape, trial.dtype)
        status = jnp.select([start & ~jnp.isfinite(f_t), iters >= prob.max_iter, iters >= self.steps],
                            [Status.NOT_FINITE, Status.MAX_ITERATIONS, Status.CONVERGED], Status.RUNNING)
        return SAState(jnp.where(better, trial, s.x), jnp.where(better, f_t, s.f), cur, f_cur, nxt, T0,
                       iters.astype(jnp.int32), s.f_count + 1, s.g_count, s.h_count, jnp.asarray(False),
                       status.astype(jnp.int32))
