"""The grid search of ``mfjax.fit`` evaluated through the linear structure of the model-free χ²
(the same grid, the same point chosen as minfx's ``grid`` over relax's grid; docs/algorithms.md,
"Grid search").

For fixed correlation times, J(ω) is linear in the order parameters (Lipari & Szabo 1982; Clore et
al. 1990) and Rex enters R2 linearly. With the generic form of :mod:`mfjax.spectral.model_free`

    J(ω) = P·S2·A(ω) + P·(1 − S2f)·F(ω, tf) + P·(S2f − S2)·F(ω, ts),
    A = 0.4·Σ_i c_i τ_i /(1 + ω²τ_i²),    F(ω, t) = 0.4·Σ_i c_i τ_i·fact_t(ω, t, τ_i),

and R1, R2 and σNOE are linear maps of J (:func:`mfjax.relaxation.rates`). So the rates of A and of
F at each value of a time axis are computed once per residue (11 Lorentzian evaluations per axis instead
of one per grid point), and every grid point's rates are a few multiply-adds; NOE = 1 + (γH/γX)·σ/R1
and χ² then follow per point, summed in measurement order. The values equal the direct evaluation's
up to round-off (another grouping of the same sums), so to choose exactly the direct search's point
every point within TIE_TOL of the best is evaluated again with the model's own χ² (the candidates,
at most N_CANDIDATES, in odometer order) and the first of the lowest wins (minfx's strict <). A residue
with more candidates than that goes through the direct search (``mfjax.solvers.grid``).

Covers models with a fixed diffusion tensor whose form has generic slots (m0–m9 and custom models of
those forms), constraints A·x ≥ b and bounds shared by all residues. Measured on the paper's Rex Grid:
m8's grid (161,051 points × 2,640 residues) in about 1 s instead of about 29 s (README, "Model selection").
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from mfjax import relaxation
from mfjax._x64 import x64
from mfjax.models import Model
from mfjax.objective import _Layout, generic_route, SLOTS
from mfjax.solvers import grid
from mfjax.spectral.model_free import fact_t, fact_ti
from mfjax.spectral.summation import numpy_sum

TIE_TOL_REL = 1e-8      # candidates: f ≤ f_min·(1 + TIE_TOL_REL) + TIE_TOL_ABS (round-off of the linear form)
TIE_TOL_ABS = 1e-10
N_CANDIDATES = 128      # candidates re-evaluated with the model's χ² per residue
N_Q = 256               # points of the grid without its Rex axis examined at every Rex value
BLOCK = 16              # residues per compiled call of the linear form (the last block padded)
EXACT_BLOCK = 64        # residues per call of the candidates' exact χ² (fewer dispatches; the last block padded)
MIN_POINTS = 5000       # smaller grids go through the direct search, faster there: RG warm with no iterations,
                        # m4 (1,331 points) 0.079 s direct vs 0.102 s linear, m5 0.077 vs 0.091 s; m6
                        # (14,641) 0.65 s linear vs 1.07 s direct (experiments/bench_fit.py's machine, quiet)
_TIMES = ("tf", "ts")


def covers(model: Model, diffusion, n_points: int | None = None) -> bool:
    """True when the linear grid applies (a fixed tensor, a form with generic slots, Rex last if fitted)
    and pays (``n_points``, the grid's size, at least MIN_POINTS; None: not checked)."""
    rex_last = "rex" not in model.params or model.params[-1] == "rex"
    return (not model.local_tm and diffusion is not None and generic_route(model) is not None and model.n_params > 0
            and rex_last and (n_points is None or n_points >= MIN_POINTS))


@x64
def grid_search(problem, model: Model, experiment, lower, upper, inc, A=None, b=None):
    """Grid search of ``problem`` (``objective.residue_problem`` of ``model``, not generic) over the
    (n,) scaled bounds; returns (x_best (N, n), f_best (N,), n_feasible (N,)) as
    :func:`mfjax.solvers.grid.grid_search` does, with the same chosen points (see the module doc)."""
    n = model.n_params
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    incs = grid._incs(inc, n)
    axes = grid.grid_axes(lower, upper, incs)                       # relax's points, from numpy
    index = grid._odometer(incs)
    points = np.stack([axes[j][index[:, j]] for j in range(n)], axis=1)
    feasible = np.ones(len(points), bool)
    if A is not None and np.shape(A)[0]:
        A, b = np.asarray(A, float), np.asarray(b, float)
        ax = sum(A[:, k] * points[:, k:k + 1] for k in range(n))
        feasible = ~(np.min(ax - b, axis=1) < 0)
    args = {k: np.asarray(v) for k, v in problem.args.items()}
    N = args["values"].shape[0]
    n_r = incs[-1] if "rex" in model.params else 1
    by_rex = feasible.reshape(n_r, -1)
    if N == 0 or not np.array_equal(by_rex, np.broadcast_to(by_rex[:1], by_rex.shape)):
        # no residues, or constraints on Rex that depend on the other parameters: the direct search
        return grid.grid_search(problem.fun, args, lower, upper, incs, A, b)
    route = generic_route(model)
    slot_of = tuple(int(r) for r in route["route"])                 # slot -> parameter index (−1: fixed)
    slot_scale = tuple(float(s) for s in route["scale"])
    structure = (_Layout.of(experiment), slot_of, slot_scale, incs)
    # numpy arrays straight into the programs: jnp.asarray would compile a transfer per shape (jit(stage))
    parts = [_candidates(structure, block, axes, by_rex[0]) for block in _blocks(args, N, BLOCK)]
    cand, n_cand = (np.concatenate([np.asarray(p[k]) for p in parts])[:N] for k in range(2))
    # the candidates' χ² from the model's own function, the first lowest wins (strict <, as minfx); in
    # fixed blocks too, so that no residue count compiles a program of its own
    f = np.concatenate([np.asarray(_exact(problem.fun, *block))
                        for block in _blocks((points[np.maximum(cand, 0)], args), N, EXACT_BLOCK)])[:N]
    key = np.where((cand >= 0) & (f < grid.F_START), f, np.inf)
    key = np.where(np.isnan(key), np.inf, key)
    best = np.argmin(key, axis=1)
    best_f = key[np.arange(N), best]
    best_i = np.where(np.isfinite(best_f), cand[np.arange(N), best], -1)
    x = np.where(best_i[:, None] >= 0, points[np.maximum(best_i, 0)], np.nan)
    count = np.full(N, int(feasible.sum()), np.int64)
    over = np.flatnonzero(n_cand > N_CANDIDATES)
    if over.size:                     # too many near-ties: the direct search decides
        sub = jax.tree.map(lambda a: a[over], args)
        x[over], best_f[over], count[over] = grid.grid_search(problem.fun, sub, lower, upper, incs, A, b)
    return x, best_f, count


def _blocks(arrays, n: int, block: int) -> list:
    """The (n, ...) arrays of the pytree ``arrays`` cut into blocks of ``block`` rows, the last padded
    by repeating the last row: one shape for every residue count."""
    pick = np.minimum(np.arange(-(-n // block) * block), n - 1)
    return [jax.tree.map(lambda a: np.asarray(a)[pick[i:i + block]], arrays) for i in range(0, len(pick), block)]


@functools.partial(jax.jit, static_argnums=(0,), compiler_options=grid.COMPILER_OPTIONS)
def _exact(fun, points, args):
    """χ² (N, K) of K points (N, K, n) per residue with the residue's own function, compiled as the
    direct search evaluates its points (a chunk of points for one residue at a time, the same compiler
    options), so that the χ² values, and so the ties, are the direct search's bit for bit."""
    return jax.lax.map(lambda pa: jax.vmap(fun, (0, None))(*pa), (points, args))


@functools.partial(jax.jit, static_argnums=(0,))
def _candidates(structure, args, axes, feasible):
    """Per residue: the first N_CANDIDATES grid indices (odometer order) within the tie tolerance of
    the lowest linear-form χ² (−1 padded), and how many there are (N_CANDIDATES + 1: too many).

    With Rex (the last parameter, the outermost grid axis) χ² is a convex quadratic in Rex at every
    point q of the other axes: its lowest grid value lies at one of the two grid values around the
    vertex, so the minimum costs two evaluations per q; only the q within the tolerance are then
    evaluated at every Rex value."""
    layout, slot_of, slot_scale, incs = structure
    n = len(incs)
    omega = relaxation.frequencies(layout.fields_mhz, layout.nucleus)              # (nf, 5)
    ratio = relaxation.g_ratio(layout.nucleus)
    rex_factor = relaxation.rex_factor(layout.fields_mhz) * relaxation.rex_scale(layout.rex_field_mhz)
    j_rex = slot_of[SLOTS.index("rex")]
    has_rex = j_rex >= 0
    q_shape = tuple(reversed(incs[:n - 1] if has_rex else incs))                 # the cube without Rex
    n_q = math.prod(q_shape)
    n_r = incs[-1] if has_rex else 1
    rex_values = axes[j_rex] * slot_scale[SLOTS.index("rex")] if has_rex else jnp.zeros(1)

    def cube(j, values):
        """Axis values of parameter j (not Rex) shaped to broadcast on the q cube (last parameter first)."""
        shape = [1] * len(q_shape)
        shape[len(q_shape) - 1 - j] = values.shape[0]
        return values.reshape(shape)

    def slot(name, fixed):
        s = SLOTS.index(name)
        j = slot_of[s]
        return fixed if j < 0 else cube(j, axes[j] * slot_scale[s])

    def one(a):
        weights, taus, d, c = a["weights"], a["taus"], a["d"], a["c"]
        k = taus.shape[0]
        lorentz = 0.4 * numpy_sum([(weights[i] * taus[i]) * fact_ti(omega, taus[i]) for i in range(k)])

        def internal(t):                                                  # t (inc,) -> (inc, nf, 5)
            t = t[:, None, None]
            return 0.4 * numpy_sum([(weights[i] * taus[i]) * fact_t(omega, t, taus[i]) for i in range(k)])

        def rates(jw):                                                    # (..., nf, 5) -> 3 × (..., nf)
            j0, j1, j2, j3, j4 = (jw[..., i] for i in range(5))
            r1 = d * (j2 + 3.0 * j1 + 6.0 * j4) + c * j1
            r2 = (d / 2.0) * (4.0 * j0 + j2 + 3.0 * j1 + 6.0 * j3 + 6.0 * j4) + (c / 6.0) * (4.0 * j0 + 3.0 * j1)
            return r1, r2, d * (6.0 * j4 - j2)

        p, s2, s2f = slot("prefactor", 1.0), slot("s2", 1.0), slot("s2f", 1.0)
        basis = [(p * s2, rates(lorentz), None)]                          # (coefficient, rates of its J, axis)
        for name, coefficient in (("tf", lambda: p * (1.0 - s2f)), ("ts", lambda: p * (s2f - s2))):
            s = SLOTS.index(name)
            if slot_of[s] >= 0:
                basis.append((coefficient(), rates(internal(axes[slot_of[s]] * slot_scale[s])), slot_of[s]))

        def combine(kind, field):
            total = 0.0
            for coefficient, rs, j in basis:
                value = rs[kind][field] if j is None else cube(j, rs[kind][:, field])
                total = total + coefficient * value
            return total

        static, rex_rows = [], []       # χ² terms without Rex; (inverse error, value, R2 without Rex, factor)
        for m, (kind, field) in enumerate(zip(layout.kinds, layout.field_index)):
            inverse = 1.0 / a["errors"][m]
            if kind == 2:
                r1, sigma = combine(0, field), combine(2, field)
                zero = r1 == 0.0
                calc = jnp.where(zero, jnp.where(sigma == 0.0, 1.0, 1e99), 1.0 + ratio * (sigma / jnp.where(zero, 1.0, r1)))
            else:
                calc = combine(kind, field)
            if kind == 1 and has_rex:
                rex_rows.append((jnp.where(a["mask"][m], inverse, 0.0), a["values"][m], calc, float(rex_factor[field])))
            else:
                static.append(jnp.where(a["mask"][m], (inverse * (a["values"][m] - calc)) ** 2, 0.0))
        g = jnp.broadcast_to(numpy_sum(static) if static else 0.0, q_shape).reshape(-1)
        rows = [(w, v, jnp.broadcast_to(base, q_shape).reshape(-1), kf) for w, v, base, kf in rex_rows]

        def chi2(q, rex):               # χ² at q-cube points q (flat indices or all) and Rex values
            total = g if q is None else g[q]
            for w, v, base, kf in rows:
                base = base if q is None else base[q]
                total = total + (w * (v - (base + rex * kf))) ** 2
            return total

        if rows:                        # the Rex grid values around the vertex of the quadratic
            curvature = sum((w * kf) ** 2 for w, v, base, kf in rows)
            slope = sum(w * w * kf * (v - base) for w, v, base, kf in rows)
            vertex = jnp.where(curvature > 0, slope / jnp.where(curvature > 0, curvature, 1.0), rex_values[0])
            step = (rex_values[-1] - rex_values[0]) / max(n_r - 1, 1)
            at = jnp.where(step > 0, (vertex - rex_values[0]) / jnp.where(step > 0, step, 1.0), 0.0)
            lo = jnp.clip(jnp.floor(at), 0, n_r - 1).astype(jnp.int32)
            hi = jnp.clip(lo + 1, 0, n_r - 1)
            h = jnp.minimum(_finite(chi2(None, rex_values[lo])), _finite(chi2(None, rex_values[hi])))
        else:
            h = _finite(g)
        key_q = jnp.where(feasible, h, jnp.inf)
        f_min = jnp.min(key_q)
        limit = f_min * (1.0 + TIE_TOL_REL) + TIE_TOL_ABS
        near_q = key_q <= limit
        q = jnp.nonzero(near_q, size=N_Q, fill_value=0)[0]                        # (N_Q,) ascending
        f = _finite(jax.vmap(lambda r: chi2(q, r))(rex_values))                 # (n_r, N_Q)
        valid = (jnp.arange(N_Q) < jnp.sum(near_q))[None, :] & feasible[q][None, :]
        near = valid & (f <= limit)
        flat = (q[None, :] + n_q * jnp.arange(n_r)[:, None]).reshape(-1)     # odometer order: Rex outermost
        pick = jnp.nonzero(near.reshape(-1), size=N_CANDIDATES, fill_value=-1)[0]
        idx = jnp.where(pick >= 0, flat[jnp.maximum(pick, 0)], -1)
        count = jnp.where(jnp.sum(near_q) > N_Q, N_CANDIDATES + 1, jnp.sum(near))
        return jnp.where(jnp.isfinite(f_min), idx, -1), count

    return jax.lax.map(one, args)


def _finite(f):
    """f where it can win a grid search (finite and below minfx's 1e300), else inf."""
    return jnp.where(f < grid.F_START, f, jnp.inf)
