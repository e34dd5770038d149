"""The problem zoo: test problems with known minima for every algorithm of the zoo.

Two groups, each one function with per-problem arguments, so one batch (one compilation) per solver
runs a whole group:

- ``PLANE`` (n = 2): ``plane(x, a) = w·Rosenbrock(x; a_r) + ½ (x − c)ᵀ Q (x − c)`` with Q = L Lᵀ, and
  its weighted residuals ``plane.residuals`` (Σ r² = f): Rosenbrock, quadratics of condition number
  10 and 1e4, Rosenbrock under the bound x₀ ≤ 0.5 (minimum on the bound), and a quadratic under the
  linear inequality x₀ + x₁ ≤ 2 (minimum on the line). Every problem carries one constraint row
  A·x ≥ b (a row that can never be active, 0 ≥ −1, for the unconstrained ones).
- ``M4``: the χ² of model m4 at the d'Auvergne & Gooley (2008) Fig. 2 point (bundled example
  S2_0.970_te_2048_Rex_0.149; sphere τm 10 ns, r 1.02 Å, CSA −160 ppm), scaled x = [S2, τe (ps),
  Rex (s⁻¹ at 600 MHz)], from relax's start [1, 0, 0] and from an interior start, under relax's
  A·x ≥ b; known minimum (0.970, 2048, 0.149) with χ² ≈ 0 (3e-28 at the truth).
"""
from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np


@dataclass(frozen=True)
class Group:
    """Problems sharing one function: args has a leading problem axis."""

    name: str
    fun: object
    names: tuple
    args: dict
    x0: np.ndarray        # (N, n)
    A: np.ndarray         # (N, m, n)
    b: np.ndarray         # (N, m)
    x_star: np.ndarray    # (N, n)
    f_star: np.ndarray    # (N,)
    x_tol: np.ndarray     # (N,) tolerance on x: |x − x*| ≤ x_tol·max(1, |x*|) per parameter
    f_tol: np.ndarray     # (N,) absolute tolerance on f − f*
    constrained: np.ndarray  # (N,) bool: the constraint row matters (active at the minimum)

    def subset(self, idx):
        idx = np.asarray(idx)
        pick = lambda a: a[idx]
        return Group(self.name, self.fun, tuple(self.names[i] for i in idx),
                     {k: v[idx] for k, v in self.args.items()}, *(pick(getattr(self, f)) for f in (
                         "x0", "A", "b", "x_star", "f_star", "x_tol", "f_tol", "constrained")))


def plane(x, a):
    """w·((a_r − x₀)² + 100 (x₁ − x₀²)²) + ½ (x − c)ᵀ L Lᵀ (x − c)."""
    return jnp.sum(plane_residuals(x, a) ** 2)


def plane_residuals(x, a):
    x = jnp.stack([x[0], x[1]])
    sw = jnp.sqrt(a["w"])
    rosen = jnp.stack([sw * (a["a"] - x[0]), sw * 10.0 * (x[1] - x[0] ** 2)])
    quad = a["L"].T @ (x - a["c"]) / jnp.sqrt(2.0)
    return jnp.concatenate([rosen, quad])


plane.residuals = plane_residuals


def _rotated(eigs, angle):
    c, s = np.cos(angle), np.sin(angle)
    q = np.array([[c, -s], [s, c]])
    return (q * np.asarray(eigs, float)) @ q.T


def _plane_group():
    never = (np.array([[0.0, 0.0]]), np.array([-1.0]))
    rows = []   # name, w, a_r, Q, c, x0, A, b, x*, f*, x_tol, f_tol
    zero_q = np.zeros((2, 2))
    rows.append(("rosenbrock", 1.0, 1.0, zero_q, np.zeros(2), [-1.2, 1.0], *never, [1.0, 1.0], 0.0, 1e-6, 1e-12))
    rows.append(("quadratic_cond10", 0.0, 0.0, _rotated([1.0, 10.0], 0.3), np.array([1.0, -2.0]), [4.0, 3.0],
                 *never, [1.0, -2.0], 0.0, 1e-6, 1e-12))
    rows.append(("quadratic_cond1e4", 0.0, 0.0, _rotated([1.0, 1e4], 0.7), np.array([-0.5, 2.0]), [2.0, 1.0],
                 *never, [-0.5, 2.0], 0.0, 1e-4, 1e-9))
    # Rosenbrock under x0 <= 0.5: minimum (0.5, 0.25) on the bound, f = 0.25.
    rows.append(("rosenbrock_bound", 1.0, 1.0, zero_q, np.zeros(2), [-1.2, 1.0], np.array([[-1.0, 0.0]]),
                 np.array([-0.5]), [0.5, 0.25], 0.25, 1e-5, 1e-9))
    # ½ (x − (1, 2))ᵀ Q (x − (1, 2)) under x0 + x1 <= 2, Q = [[4, 1], [1, 3]]: d = −Q⁻¹1/(1ᵀQ⁻¹1),
    # x* = (0.6, 1.4), f* = ½/(1ᵀQ⁻¹1) = 1.1.
    rows.append(("quadratic_inequality", 0.0, 0.0, np.array([[4.0, 1.0], [1.0, 3.0]]), np.array([1.0, 2.0]),
                 [3.0, -1.0], np.array([[-1.0, -1.0]]), np.array([-2.0]), [0.6, 1.4], 1.1, 1e-5, 1e-9))
    names = tuple(r[0] for r in rows)
    L = np.stack([np.linalg.cholesky(r[3]) if r[3].any() else np.zeros((2, 2)) for r in rows])
    args = {"w": np.array([r[1] for r in rows]), "a": np.array([r[2] for r in rows]), "L": L,
            "c": np.stack([r[4] for r in rows])}
    return Group("plane", plane, names, args, np.array([r[5] for r in rows], float),
                 np.stack([r[6] for r in rows]), np.stack([r[7] for r in rows]),
                 np.array([r[8] for r in rows], float), np.array([r[9] for r in rows], float),
                 np.array([r[10] for r in rows]), np.array([r[11] for r in rows]),
                 np.array([False, False, False, True, True]))


def _m4_group():
    from mfjax import examples, models
    from mfjax.diffusion import Sphere
    from mfjax.objective import residue_problem

    data = examples.load_example("S2_0.970_te_2048_Rex_0.149").subset([1])     # residue 2 ALA
    prob = residue_problem(data, "m4", diffusion=Sphere(tm=10e-9), csa=-160 * 1e-6)  # relax literal form
    A, b = models.linear_constraints(models.get_model("m4"), tm=10e-9)
    starts = np.array([[1.0, 0.0, 0.0], [0.8, 1000.0, 1.0]])
    N = len(starts)
    args = {k: np.repeat(np.asarray(v), N, axis=0) for k, v in prob.args.items()}
    return Group("m4", prob.fun, ("m4_relax_start", "m4_interior_start"), args, starts,
                 np.repeat(np.asarray(A, float)[None], N, 0), np.repeat(np.asarray(b, float)[None], N, 0),
                 np.tile([0.970, 2048.0, 0.149], (N, 1)), np.zeros(N), np.array([1e-6, 1e-6]),
                 np.array([1e-12, 1e-12]), np.array([False, False]))


PLANE = _plane_group()


def m4_group():
    """The m4 group (built on first use: it loads the example data)."""
    return _m4_group()


def check(group: Group, x, f):
    """Per problem: (x within x_tol, f within f_tol) against the known minimum."""
    scale = np.maximum(1.0, np.abs(group.x_star))
    x_ok = np.all(np.abs(x - group.x_star) <= group.x_tol[:, None] * scale, axis=1)
    f_ok = np.abs(f - group.f_star) <= group.f_tol
    return x_ok, f_ok
