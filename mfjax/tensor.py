"""``mfjax.fit_tensor``: the diffusion tensor and every residue's model-free parameters in one global fit.

The problem (relax's model types 'all' and 'diff', d'Auvergne & Gooley 2008): minimise
χ²(θ₁, …, θₙ, t) = Σᵢ χ²ᵢ(θᵢ, t) over the residue parameters θᵢ and the tensor parameters t, in relax's
scaled coordinates (times in ps, Da in 1e7 s⁻¹, Dr and angles as they are), by Newton with the exact
Hessian and a backtracking line search inside the Method of Multipliers (minfx ``newton``, ``backtrack``,
``method_of_multipliers``) on relax's linear constraints: 0 ≤ τm ≤ 200 ns, prolate Da ≥ 0 / oblate Da ≤ 0,
ellipsoid Da ≥ 0 and 0 ≤ Dr ≤ 1, and the residues' rows of ``models.linear_constraints`` with te, ts ≤ 2τm
taken against the fitted τm (relax's ``(+2 at tm, −1 at te) ≥ 0`` row).

**Arrowhead structure.** Residue i's χ² depends only on (θᵢ, t), and every constraint row touches one
residue and/or the tensor, so the Hessian of the augmented Lagrangian is an arrowhead::

    H = [[H_11,          H_1t],
         [      ⋱,       ⋮   ],
         [         H_nn, H_nt],
         [H_t1, …, H_tn, H_tt]]

Per-residue gradients and blocks (H_ii, H_it and residue i's share of H_tt) come from one ``vmap`` over the
residues of ``jax.hessian`` of χ²ᵢ as a function of (θᵢ, t). The Newton step solves H p = −g by the Schur
complement S = H_tt − Σᵢ H_ti H_ii⁻¹ H_it: O(n) work and memory instead of the dense O(n³) solve.

**The modified-Cholesky safeguard in block form.** Newton–GMW replaces an indefinite H by a positive-definite
H + E (Gill, Murray & Wright 1981; Nocedal & Wright 2006, §3.4). Here: (1) GMW-modify each residue block,
H̃_ii = H_ii + E_i (``solvers.gmw.gmw_cholesky``, E_i ≥ 0 diagonal, H̃_ii positive definite); (2) form
S = H_tt − Σᵢ H_ti H̃_ii⁻¹ H_it and GMW-modify it, S̃ = S + E_t; (3) solve with the block factors. The
matrix this step inverts is M = H + diag(E_1, …, E_n, E_t), since

    M = [[I, 0], [H_td H̃_D⁻¹, I]] · diag(H̃_D, S̃) · [[I, H̃_D⁻¹ H_dt], [0, I]]      (D = all residues)

is congruent to the block-diagonal diag(H̃_D, S̃), whose blocks are positive definite, so M is positive
definite (Sylvester's law of inertia), E ≥ 0 is diagonal, and p = −M⁻¹ g is a descent direction
(gᵀp = −gᵀM⁻¹g < 0 for g ≠ 0). When H is positive definite and GMW leaves the blocks alone (E = 0),
M = H and p is the exact Newton step of the dense system. The modification differs from GMW on the dense
H (whose pivoting would mix the blocks), but keeps the two properties the line search needs.

The tensor-only fit (``fix_residues=True``, relax's 'diff' model type) is the same machinery with the step
restricted to t (M = H_tt + E_t). The grid search over the tensor evaluates the global χ² with the residues
fixed, batched with ``vmap`` over the grid points (relax's ``grid_search`` with ``fix('all_spins')``).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from mfjax import models
from mfjax._x64 import x64
from mfjax.constants import N15_CSA, NH_BOND_LENGTH
from mfjax.data import RelaxationData
from mfjax.diffusion import Ellipsoid, Sphere, Spheroid, components, fold
from mfjax.objective import _check_vectors, _data_arrays, _inputs, _Layout, _residue_chi2, _residue_values
from mfjax.solvers.gmw import gmw_cholesky
from mfjax.solvers.grid import grid_points
from mfjax.status import Status

# Tensor parameters in relax's vector order, with relax's scaling (diffusion_tensor parameter objects).
TENSOR_PARAMS = {Sphere: ("tm",), Spheroid: ("tm", "da", "theta", "phi"),
                 Ellipsoid: ("tm", "da", "dr", "alpha", "beta", "gamma")}
TENSOR_SCALES = {"tm": 1e-12, "da": 1e7, "dr": 1.0, "theta": 1.0, "phi": 1.0, "alpha": 1.0, "beta": 1.0,
                 "gamma": 1.0}
UPPER_TM = 200e-9                                   # s, relax's upper limit on the global tm
GRID_INC = {Sphere: 11, Spheroid: 11, Ellipsoid: 6}  # relax's dauvergne_protocol diffusion grids
GRID_BOUNDS = {"tm": (1e-9, 12e-9), "dr": (0.0, 1.0), "theta": (0.0, np.pi), "phi": (0.0, np.pi),
               "alpha": (0.0, np.pi), "beta": (0.0, np.pi), "gamma": (0.0, np.pi)}

# minfx's Method of Multipliers and Newton/backtracking settings (method_of_multipliers.py, newton.py)
MU0, EPSILON0, GAMMA0, INIT_LAMBDA = 1e-5, 1e-2, 1e-2, 1e4
SCALE_MU, SCALE_EPSILON, SCALE_GAMMA = 0.5, 1e-2, 1e-2
INNER_MAXITER = 500
ARMIJO_C, RHO, LS_MAX_EVALS = 1e-4, 0.5, 501
HESSIAN_BATCH = 64                                  # residues per block of the per-residue Hessians


@dataclasses.dataclass
class TensorFitResult:
    """Result of :func:`fit_tensor`.

    diffusion: the fitted tensor (same class as the start, angles folded). params: name -> (n,) SI arrays
    (NaN where a residue's model lacks the parameter; S2s etc. deconvolved). chi2: the total χ²;
    chi2_residues: (n,) per residue. iterations, f_count, g_count, h_count: minfx-style counts of the
    global minimisation (grid_count: grid points evaluated). status: a :class:`Status`. unfolded: the
    tensor as the optimiser left it, before folding the angles (the same diffusion weights).
    """

    diffusion: object
    models: tuple[str, ...]
    residues: tuple[str, ...]
    params: dict[str, np.ndarray]
    chi2: float
    chi2_residues: np.ndarray
    iterations: int
    f_count: int
    g_count: int
    h_count: int
    grid_count: int
    status: Status
    unfolded: object = None
    settings: dict = dataclasses.field(default_factory=dict)

    def __repr__(self):
        return (f"TensorFitResult(diffusion={self.diffusion}, chi2={self.chi2:.6g}, residues={len(self.residues)}, "
                f"iterations={self.iterations}, status={self.status.name})")


# ---------------------------------------------------------------------------------------------------
# The one-residue χ² as a function of z = (θᵢ scaled, t scaled)

def tensor_scales(cls) -> np.ndarray:
    """Scale factors (SI = scaled · scale) of the tensor parameters of ``cls`` in vector order."""
    return np.array([TENSOR_SCALES[p] for p in TENSOR_PARAMS[cls]], dtype=np.float64)


def tensor_vector(diffusion) -> np.ndarray:
    """The scaled parameter vector t of a tensor (tm in ps, Da in 1e7 s⁻¹, Dr and angles as they are)."""
    cls = type(diffusion)
    return np.array([float(getattr(diffusion, p)) for p in TENSOR_PARAMS[cls]]) / tensor_scales(cls)


def tensor_from_vector(cls, t):
    """The tensor of class ``cls`` from its scaled vector t (works on tracers)."""
    return cls(*(t[k] * s for k, s in enumerate(tensor_scales(cls))))


@functools.lru_cache(maxsize=None)
def residue_chi2(model: models.Model, layout: _Layout, cls) -> callable:
    """χ²ᵢ(z, args_one) with z = concat(θᵢ scaled (p,), t scaled) for one residue; args_one holds values,
    errors, mask (m,), d, c (nf,) and vector (3,)."""
    names, scales = model.params, tuple(float(s) for s in models.scaling(model))
    p_count = len(names)

    def fun(z, args):
        p = {name: z[i] * scales[i] for i, name in enumerate(names)}
        weights, taus = components(tensor_from_vector(cls, z[p_count:]), args["vector"])
        back = _residue_values(layout, model.form, p, weights, taus, args["d"], args["c"])
        return _residue_chi2(args["values"], args["errors"], args["mask"], back)

    return fun


# ---------------------------------------------------------------------------------------------------
# Block Newton step (pure jax)

def _sym(h):
    return 0.5 * (h + jnp.swapaxes(h, -1, -2))


def _cholesky_solve(h, rhs):
    """h⁻¹·rhs for one small symmetric positive-definite h (p, p) and rhs (p, q), by a Cholesky
    factorisation unrolled over scalars (fuses under vmap; batched LAPACK calls cost far more here)."""
    p = h.shape[0]
    low = [[None] * p for _ in range(p)]
    for j in range(p):
        d = h[j, j] - sum(low[j][k] ** 2 for k in range(j))
        low[j][j] = jnp.sqrt(d)
        for i in range(j + 1, p):
            low[i][j] = (h[i, j] - sum(low[i][k] * low[j][k] for k in range(j))) / low[j][j]
    y = []
    for i in range(p):                        # L y = rhs
        y.append((rhs[i] - sum(low[i][k] * y[k] for k in range(i))) / low[i][i])
    x = [None] * p
    for i in reversed(range(p)):              # Lᵀ x = y
        x[i] = (y[i] - sum(low[k][i] * x[k] for k in range(i + 1, p))) / low[i][i]
    return jnp.stack(x)


def schur_step(blocks, h_tt, g_t):
    """Newton–GMW step on an arrowhead Hessian by the Schur complement (see the module docstring).

    blocks: list of groups (h_xx (n_g, p, p), h_xt (n_g, p, k), g_x (n_g, p)); h_tt (k, k), g_t (k,).
    Returns (p_x list of (n_g, p), p_t (k,), e_x list of (n_g, p), e_t (k,)): the step and the diagonal
    GMW modifications E of the residue blocks and of the Schur complement.
    """
    s, r = _sym(h_tt), g_t
    solved = []
    for h_xx, h_xt, g_x in blocks:
        h_xx = _sym(h_xx)
        e_x = jax.vmap(lambda h: gmw_cholesky(h)[2])(h_xx)
        h_mod = h_xx + jax.vmap(jnp.diag)(e_x)
        rhs = jnp.concatenate([g_x[..., None], h_xt], axis=-1)          # (n_g, p, 1 + k)
        sol = jax.vmap(_cholesky_solve)(h_mod, rhs)                       # H̃⁻¹ [g, H_xt]
        s = s - jnp.einsum("ipa,ipb->ab", h_xt, sol[..., 1:])
        r = r - jnp.einsum("ipa,ip->a", h_xt, sol[..., 0])
        solved.append((sol, e_x))
    s = _sym(s)
    e_t = gmw_cholesky(s)[2]
    p_t = -jnp.linalg.solve(s + jnp.diag(e_t), r)
    p_x = [-(sol[..., 0] + jnp.einsum("ipa,a->ip", sol[..., 1:], p_t)) for sol, _ in solved]
    return p_x, p_t, [e for _, e in solved], e_t


def _grad_and_hessian(f):
    """z, args -> (∇²f, ∇f), forward over forward (XLA compiles it several times faster than
    forward-over-reverse for these small functions)."""
    grad = jax.jacfwd(f)
    return jax.jacfwd(lambda z, a: (grad(z, a), grad(z, a)), has_aux=True)


@functools.lru_cache(maxsize=None)
def _kernels(cls, groups: tuple, fix_residues: bool):
    """jitted global functions for a structure: groups = ((model, layout), ...)."""
    funs = [residue_chi2(model, layout, cls) for model, layout in groups]
    sizes = [model.n_params for model, _ in groups]

    def chi2_groups(xs, t, args):
        return [jax.vmap(f, in_axes=(0, 0))(jnp.concatenate([x, jnp.broadcast_to(t, (x.shape[0], t.shape[0]))], 1), a)
                for f, x, a in zip(funs, xs, args)]

    def constraint_values(xs, t, cons):
        c_t = cons["A_t"] @ t - cons["b_t"]
        c_g = [x @ g["A_x"].T + t @ g["A_t"].T - g["b"] for x, g in zip(xs, cons["groups"])]
        return c_t, c_g

    def penalty(c, lam, mu):
        active = c <= mu * lam
        return jnp.sum(jnp.where(active, -lam * c + c ** 2 / (2 * mu), -mu * lam ** 2 / 2)), active

    @jax.jit
    def lagrangian(xs, t, args, cons, lam, mu):
        per = chi2_groups(xs, t, args)
        f = sum(jnp.sum(v) for v in per)
        c_t, c_g = constraint_values(xs, t, cons)
        total, act_t = penalty(c_t, lam[0], mu)
        act_g = []
        for c, l in zip(c_g, lam[1]):
            value, act = penalty(c, l, mu)
            total, act_g = total + value, act_g + [act]
        return f + total, f, per, (act_t, act_g)

    @jax.jit
    def derivatives(xs, t, args, cons, lam, mu, active):
        """Gradient blocks, Hessian blocks (with the MoM penalty's) and the block Newton–GMW step."""
        k = t.shape[0]
        c_t, c_g = constraint_values(xs, t, cons)
        coef_t = jnp.where(active[0], lam[0] - c_t / mu, 0.0)
        g_t = -cons["A_t"].T @ coef_t
        h_tt = cons["A_t"].T @ (active[0][:, None] / mu * cons["A_t"])
        blocks, g_xs, h_blocks = [], [], []
        for f, p, x, a, g, c, l, act in zip(funs, sizes, xs, args, cons["groups"], c_g, lam[1], active[1]):
            z = jnp.concatenate([x, jnp.broadcast_to(t, (x.shape[0], k))], 1)
            # blocks of HESSIAN_BATCH residues at a time: the second-order intermediates stay in cache
            # (about 7x faster than one vmap over 5,000 residues on a CPU)
            hess, grad = jax.lax.map(lambda za: _grad_and_hessian(f)(*za), (z, a),
                                     batch_size=min(HESSIAN_BATCH, z.shape[0]))
            coef = jnp.where(act, l - c / mu, 0.0)                        # (n_g, rows)
            w = act / mu
            g_x = grad[:, :p] - coef @ g["A_x"]
            g_t = g_t + jnp.sum(grad[:, p:], 0) - jnp.sum(coef @ g["A_t"], 0)
            h_xx = hess[:, :p, :p] + jnp.einsum("ra,ir,rb->iab", g["A_x"], w, g["A_x"])
            h_xt = hess[:, :p, p:] + jnp.einsum("ra,ir,rb->iab", g["A_x"], w, g["A_t"])
            h_tt = h_tt + jnp.sum(hess[:, p:, p:], 0) + jnp.einsum("ra,ir,rb->ab", g["A_t"], w, g["A_t"])
            g_xs.append(g_x)
            h_blocks.append((h_xx, h_xt))
            if p and not fix_residues:
                blocks.append((h_xx, h_xt, g_x))
        p_x, p_t, _, _ = schur_step(blocks, h_tt, g_t)
        steps, it = [], iter(p_x)
        for p, x in zip(sizes, xs):
            steps.append(next(it) if p and not fix_residues else jnp.zeros_like(x))
        norm2 = g_t @ g_t + (0.0 if fix_residues else sum(jnp.sum(g * g) for g in g_xs))
        slope = g_t @ p_t + sum(jnp.sum(g * s) for g, s in zip(g_xs, steps))
        return jnp.sqrt(norm2), slope, steps, p_t, (g_xs, g_t, h_tt, h_blocks)

    @jax.jit
    def grid_chi2(points, xs, args):
        return jax.lax.map(lambda t: sum(jnp.sum(v) for v in chi2_groups(xs, t, args)), points, batch_size=256)

    return lagrangian, derivatives, grid_chi2


# ---------------------------------------------------------------------------------------------------
# Constraints (relax's linear_constraints for model types 'all' / 'diff')

def tensor_constraints(cls, spheroid_type=None):
    """A_t, b_t (scaled): 0 ≤ tm ≤ 200 ns; spheroid Da ≥ 0 (prolate) or −Da ≥ 0 (oblate);
    ellipsoid Da ≥ 0 and 0 ≤ Dr ≤ 1."""
    k = len(TENSOR_PARAMS[cls])
    rows = [({0: 1.0}, 0.0), ({0: -1.0}, -UPPER_TM / TENSOR_SCALES["tm"])]
    if cls is Spheroid and spheroid_type is not None:
        rows.append(({1: 1.0 if spheroid_type == "prolate" else -1.0}, 0.0))
    if cls is Ellipsoid:
        rows += [({1: 1.0}, 0.0), ({2: 1.0}, 0.0), ({2: -1.0}, -1.0)]
    a = np.zeros((len(rows), k))
    for i, (coefficients, _) in enumerate(rows):
        for j, v in coefficients.items():
            a[i, j] = v
    return a, np.array([bound for _, bound in rows])


def residue_constraints(model, k: int):
    """A_x (rows, p), A_t (rows, k), b (rows,): the model's rows with te, ts ≤ 2τm against the tensor's tm
    (relax's '(+2 at tm, −1 at te) ≥ 0' row of model type 'all'; tm and te share the ps scale)."""
    a1, b1 = models.linear_constraints(model, tm=1e-9)
    _, b2 = models.linear_constraints(model, tm=2e-9)
    coupled = b1 != b2                                   # the rows −te ≥ −2 tm / s
    a_t = np.zeros((a1.shape[0], k))
    a_t[coupled, 0] = 2.0
    b = np.where(coupled, 0.0, b1)
    return a1, a_t, b


# ---------------------------------------------------------------------------------------------------
# Host-side minimisation: Newton + backtracking (inner), Method of Multipliers (outer)

class _Counts:
    def __init__(self):
        self.iterations = self.f = self.g = self.h = 0


def _trial(xs, t, steps, p_t, alpha):
    """x + α p on the host (numpy float64: no small compilations, no weak types)."""
    return ([np.asarray(x) + alpha * np.asarray(s) for x, s in zip(xs, steps)],
            np.asarray(t) + alpha * np.asarray(p_t))


def _newton(problem, xs, t, lam, mu, grad_tol, func_tol, max_iter, counts):
    """minfx's generic loop with Newton–GMW and backtracking on L(·; λ, μ). Returns (xs, t, L, status)."""
    lagrangian, derivatives = problem["lagrangian"], problem["derivatives"]
    args, cons = problem["args"], problem["cons"]
    f, _, _, active = lagrangian(xs, t, args, cons, lam, mu)
    counts.f += 1
    norm, slope, steps, p_t, _ = derivatives(xs, t, args, cons, lam, mu, active)
    counts.g += 1
    counts.h += 1
    for k in range(max_iter):
        if not (np.isfinite(float(f)) and np.isfinite(float(slope))):
            return xs, t, f, Status.NOT_FINITE, k
        alpha, accepted = 1.0, False
        for _ in range(LS_MAX_EVALS):
            xs_a, t_a = _trial(xs, t, steps, p_t, alpha)
            f_a, _, _, active_a = lagrangian(xs_a, t_a, args, cons, lam, mu)
            counts.f += 1
            if float(f_a) <= float(f) + ARMIJO_C * alpha * float(slope):
                accepted = True
                break
            alpha *= RHO
        if not accepted:
            alpha = RHO ** 10
            xs_a, t_a = _trial(xs, t, steps, p_t, alpha)
            f_a, _, _, active_a = lagrangian(xs_a, t_a, args, cons, lam, mu)
        counts.f += 1
        norm, slope, steps, p_t, _ = derivatives(xs_a, t_a, args, cons, lam, mu, active_a)
        counts.g += 1
        counts.iterations += 1
        if k >= max_iter - 1:
            return xs_a, t_a, f_a, Status.MAX_ITERATIONS, k + 1
        if grad_tol is not None:
            done = float(norm) <= grad_tol or float(f_a) - float(f) == 0.0
        else:
            done = abs(float(f_a) - float(f)) <= func_tol
        if not np.isfinite(float(f_a)):
            return xs, t, f, Status.NOT_FINITE, k + 1
        xs, t, f = xs_a, t_a, f_a
        if done:
            return xs, t, f, Status.CONVERGED, k + 1
        counts.h += 1
    return xs, t, f, Status.MAX_ITERATIONS, max_iter


def _zero_lambda(xs, cons):
    return (np.zeros(np.shape(cons["b_t"])), [np.zeros((np.shape(x)[0], np.shape(g["b"])[0]))
                                              for x, g in zip(xs, cons["groups"])])


def _constraint_values(xs, t, cons):
    """c = A·x − b on the host: tensor rows (k_t,) and per group (n_g, rows)."""
    t = np.asarray(t)
    c_t = np.asarray(cons["A_t"]) @ t - np.asarray(cons["b_t"])
    c_g = [np.asarray(x) @ np.asarray(g["A_x"]).T + t @ np.asarray(g["A_t"]).T - np.asarray(g["b"])
           for x, g in zip(xs, cons["groups"])]
    return c_t, c_g


def _minimise(problem, xs, t, constrained, func_tol, max_iter):
    counts = _Counts()
    cons = problem["cons"]
    zero_lam = _zero_lambda(xs, cons)
    if not constrained:
        xs, t, _, status, _ = _newton(problem, xs, t, zero_lam, 1.0, None, func_tol, max_iter, counts)
        return xs, t, status, counts
    c_t, c_g = _constraint_values(xs, t, cons)
    lam = (np.where(c_t <= 0, INIT_LAMBDA, 0.0), [np.where(c <= 0, INIT_LAMBDA, 0.0) for c in c_g])
    mu, eps, gamma = MU0, EPSILON0, GAMMA0
    l_prev = float(problem["lagrangian"](xs, t, problem["args"], cons, lam, mu)[0])
    status = Status.CONVERGED
    while True:
        c_norm = np.sqrt(np.sum(c_t ** 2) + sum(np.sum(c ** 2) for c in c_g))
        tol = min(eps, gamma * c_norm)
        inner_max = min(INNER_MAXITER, max_iter - counts.iterations)
        xs, t, l_new, inner, _ = _newton(problem, xs, t, lam, mu, tol, None, inner_max, counts)
        l_new = float(l_new)
        if inner == Status.NOT_FINITE:
            status = inner
            break
        if counts.iterations >= max_iter - 1:
            status = Status.MAX_ITERATIONS
            break
        if abs(l_new - l_prev) <= func_tol:
            break
        c_t, c_g = _constraint_values(xs, t, cons)
        lam = (np.maximum(lam[0] - c_t / mu, 0.0), [np.maximum(l - c / mu, 0.0) for l, c in zip(lam[1], c_g)])
        mu, eps, gamma = mu * SCALE_MU, eps * SCALE_EPSILON, gamma * SCALE_GAMMA
        if mu < 1e-99:
            status = Status.MU_TOO_SMALL
            break
        l_prev = l_new
    return xs, t, status, counts


# ---------------------------------------------------------------------------------------------------
# Public

def _models_per_residue(model, n: int) -> list[models.Model]:
    names = [model] * n if isinstance(model, (str, models.Model)) else list(model)
    if len(names) != n:
        raise ValueError(f"model: {len(names)} models given for {n} residues")
    out = []
    for i, name in enumerate(names):
        try:
            m = models.get_model(name)
        except (KeyError, ValueError) as err:
            raise ValueError(f"model of residue index {i}: {err}") from None
        if m.local_tm:
            raise ValueError(f"model {m.name!r} (residue index {i}) has a local tm: the global tensor fit takes "
                             "the m0-m9 models")
        out.append(m)
    return out


def _start_params(params, model_list, n, labels):
    """User start values: dict name -> scalar or (n,) SI (NaN allowed where a residue's model lacks it)."""
    if not isinstance(params, Mapping):
        raise ValueError(f"params must be a dict name -> values (SI), got {type(params).__name__}")
    out = {}
    for name, value in params.items():
        array = np.broadcast_to(np.asarray(value, dtype=np.float64), (n,))
        out[name] = array
    for i, m in enumerate(model_list):
        for name in m.params:
            if name not in out or not np.isfinite(out[name][i]):
                raise ValueError(f"params: no finite start value of {name!r} for residue {labels[i]!r} "
                                 f"(model {m.name})")
    return out


def _check_spheroid_type(diffusion, spheroid_type):
    if spheroid_type not in (None, "prolate", "oblate"):
        raise ValueError(f"spheroid_type must be None, 'prolate' or 'oblate', got {spheroid_type!r}")
    if spheroid_type is not None and not isinstance(diffusion, Spheroid):
        raise ValueError(f"spheroid_type is only for a Spheroid, not a {type(diffusion).__name__}")


@x64
def fit_tensor(data: RelaxationData, model="m0", diffusion=None, vectors=None, r=NH_BOND_LENGTH, csa=N15_CSA,
               params=None, fix_residues=False, grid_inc=None, constraints=True, spheroid_type=None,
               func_tol=1e-25, max_iter=10_000_000) -> TensorFitResult:
    """Fit the diffusion tensor together with every residue's model-free parameters (see the module docstring).

    data: RelaxationData. model: one model name ("m0"–"m9") for all residues or a list per residue.
    diffusion: the start tensor (Sphere, Spheroid or Ellipsoid); its class is the class fitted.
    vectors: (n, 3) XH unit vectors (needed unless the tensor is a Sphere). r (m), csa: scalars or (n,).
    params: start values, dict name -> scalar or (n,) SI; None: each residue fitted at the start tensor
    with :func:`mfjax.fit` (grid search, then Newton). fix_residues: fit the tensor only (relax's 'diff').
    grid_inc: None (start from ``diffusion``), True (relax's increments: sphere 11, spheroid 11, ellipsoid 6)
    or an int: grid search over the tensor with the residues fixed first, over 1–12 ns, Da 0–1e7 (prolate,
    ellipsoid) / −1e7–0 (oblate) / ±1e7, Dr 0–1 and angles 0–π. constraints: Method of Multipliers on
    relax's constraints, or plain Newton. spheroid_type: None, 'prolate' (Da ≥ 0) or 'oblate' (Da ≤ 0).
    func_tol, max_iter: minfx's termination settings. Returns a :class:`TensorFitResult`.
    """
    setup = _setup(data, model, diffusion, vectors, r, csa, params, spheroid_type, fix_residues)
    cls, n, groups, model_list = type(diffusion), data.n_residues, setup["groups"], setup["models"]
    xs, args, cons, (a_t, b_t) = setup["xs"], setup["args"], setup["cons"], setup["tensor_rows"]
    lagrangian, _, grid_chi2 = setup["kernels"]
    problem = {"lagrangian": lagrangian, "derivatives": setup["kernels"][1], "args": args, "cons": cons}

    t = tensor_vector(diffusion)
    grid_count = 0
    if grid_inc is not None and grid_inc is not False:
        t, grid_count = _grid(grid_chi2, cls, xs, args, a_t, b_t, grid_inc, spheroid_type)

    xs, t, status, counts = _minimise(problem, xs, t, bool(constraints), func_tol, int(max_iter))

    _, total, per, _ = lagrangian(xs, t, args, cons, _zero_lambda(xs, cons), 1.0)
    chi2_res = np.full(n, np.nan)
    out = {}
    for (m, idx), x, v in zip(groups, xs, per):
        chi2_res[idx] = np.asarray(v)
        x = np.asarray(x)
        fitted = models.deconvolve(m, {p: x[:, j] * s for j, (p, s) in enumerate(zip(m.params, models.scaling(m)))})
        for name, value in fitted.items():
            out.setdefault(name, np.full(n, np.nan))[idx] = value
    unfolded = tensor_from_vector(cls, [float(v) for v in np.asarray(t)])
    fitted_tensor = fold(unfolded)
    if not np.isfinite(chi2_res).all():
        status = Status.NOT_FINITE
    settings = dict(r=r, csa=csa, fix_residues=fix_residues, grid_inc=grid_inc, constraints=constraints,
                    spheroid_type=spheroid_type, func_tol=func_tol, max_iter=max_iter, start=diffusion)
    return TensorFitResult(diffusion=fitted_tensor, models=tuple(m.name for m in model_list),
                           residues=tuple(data.residues),
                           params=out, chi2=float(total), chi2_residues=chi2_res, iterations=counts.iterations,
                           f_count=counts.f, g_count=counts.g, h_count=counts.h, grid_count=grid_count,
                           status=Status(status), unfolded=unfolded, settings=settings)


def _setup(data, model, diffusion, vectors, r, csa, params, spheroid_type=None, fix_residues=False):
    """Validate the inputs and build the groups (residues sharing a model), their arrays, the start
    values xs (scaled), the constraints and the compiled kernels."""
    from mfjax.fit import fit   # orchestration: the per-residue starting fit

    if not isinstance(data, RelaxationData):
        raise ValueError(f"data must be an mfjax RelaxationData, got {type(data).__name__}")
    if not isinstance(diffusion, (Sphere, Spheroid, Ellipsoid)):
        raise ValueError("diffusion must be the start tensor: a Sphere, Spheroid or Ellipsoid, "
                         f"got {type(diffusion).__name__}")
    diffusion.validate()
    _check_spheroid_type(diffusion, spheroid_type)
    cls, n, labels = type(diffusion), data.n_residues, data.residues
    model_list = _models_per_residue(model, n)
    vectors = _check_vectors(diffusion, vectors, n, labels)
    if vectors is None:
        vectors = np.zeros((n, 3))
    layout = _Layout.of(data.experiment)
    inputs = _inputs(data.experiment, models.get_model("m0"), None, Sphere(1e-8), r, csa, None, n, labels)
    values, errors, mask = _data_arrays(data)
    if np.any(data.n_points == 0):
        raise ValueError(f"residue {labels[int(np.flatnonzero(data.n_points == 0)[0])]!r} has no data; "
                         "remove it (data.subset) before the global fit")

    # groups of residues sharing a model
    order = list(dict.fromkeys(m.name for m in model_list))
    groups = [(models.get_model(name), np.array([i for i, m in enumerate(model_list) if m.name == name]))
              for name in order]
    if params is None:
        start = {}
        for m, idx in groups:
            if m.n_params:
                res = fit(data.subset(idx), m, diffusion=diffusion, vectors=vectors[idx] if
                          cls is not Sphere else None, r=_take(r, idx), csa=_take(csa, idx))
                for name in m.params:
                    start.setdefault(name, np.full(n, np.nan))[idx] = res.params[name]
        params = start
    params = _start_params(params, model_list, n, labels)

    k = len(TENSOR_PARAMS[cls])
    a_t, b_t = tensor_constraints(cls, spheroid_type)
    cons = {"A_t": jnp.asarray(a_t), "b_t": jnp.asarray(b_t), "groups": []}
    args, xs = [], []
    for m, idx in groups:
        a_x, a_gt, b = residue_constraints(m, k)
        cons["groups"].append({"A_x": jnp.asarray(a_x), "A_t": jnp.asarray(a_gt), "b": jnp.asarray(b)})
        args.append({"values": jnp.asarray(values[idx]), "errors": jnp.asarray(errors[idx]),
                     "mask": jnp.asarray(mask[idx]), "d": jnp.asarray(inputs.d[idx]), "c": jnp.asarray(inputs.c[idx]),
                     "vector": jnp.asarray(vectors[idx])})
        scales = models.scaling(m)
        xs.append(np.stack([params[p][idx] / s for p, s in zip(m.params, scales)], 1)
                  if m.n_params else np.zeros((len(idx), 0)))
    kernels = _kernels(cls, tuple((m, layout) for m, _ in groups), bool(fix_residues))
    return {"groups": groups, "models": model_list, "xs": xs, "args": args, "cons": cons,
            "tensor_rows": (a_t, b_t), "kernels": kernels}


@x64
def tensor_chi2(data: RelaxationData, model, tensors, params, vectors=None, r=NH_BOND_LENGTH, csa=N15_CSA):
    """Global χ² (P,) of a list of P tensors of one class with every residue fixed at ``params``
    (dict name -> scalar or (n,) SI): the surface the tensor grid search samples, for χ² maps."""
    tensors = list(tensors)
    if not tensors or len({type(t) for t in tensors}) != 1:
        raise ValueError("tensors must be a non-empty list of tensors of one class")
    setup = _setup(data, model, tensors[0], vectors, r, csa, params)
    points = np.stack([tensor_vector(t) for t in tensors])
    return np.asarray(setup["kernels"][2](jnp.asarray(points), setup["xs"], setup["args"]))


def _take(value, idx):
    value = np.asarray(value, dtype=np.float64)
    return value[idx] if value.ndim else float(value)


def grid_bounds(cls, spheroid_type=None):
    """Tensor grid bounds (lower, upper) in SI (the paper's and relax's: 1–12 ns, Dr 0–1, angles 0–π,
    Da 0–1e7 for prolate spheroids and ellipsoids, −1e7–0 for oblate, ±1e7 for an untyped spheroid)."""
    da = {"prolate": (0.0, 1e7), "oblate": (-1e7, 0.0), None: (-1e7, 1e7)}[spheroid_type]
    if cls is Ellipsoid:
        da = (0.0, 1e7)
    table = {**GRID_BOUNDS, "da": da}
    names = TENSOR_PARAMS[cls]
    return np.array([table[p][0] for p in names]), np.array([table[p][1] for p in names])


def _grid(grid_chi2, cls, xs, args, a_t, b_t, grid_inc, spheroid_type):
    """Best tensor (scaled) over the grid with the residues fixed; (t, number of points evaluated)."""
    inc = GRID_INC[cls] if grid_inc is True else int(grid_inc)
    lower, upper = grid_bounds(cls, spheroid_type)
    scales = tensor_scales(cls)
    points = grid_points(lower / scales, upper / scales, inc)
    points = points[np.min(points @ a_t.T - b_t, axis=1) >= 0]          # relax skips infeasible points
    f = np.asarray(grid_chi2(jnp.asarray(points), xs, args))
    best = int(np.argmin(np.where(np.isfinite(f), f, np.inf)))           # first minimum, as minfx's strict <
    return points[best], len(points)
