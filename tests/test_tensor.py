"""Global tensor fit: the block (Schur) Newton–GMW step against dense linear algebra, derivative blocks
against finite differences, and recovery of relax's four synthetic tensors from noise-free data."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mfjax
import mfjax.relaxation
from mfjax.diffusion import Ellipsoid, Sphere, Spheroid
from mfjax.models import get_model
from mfjax.objective import _Layout
from mfjax.status import Status
from mfjax.tensor import _kernels, fit_tensor, residue_constraints, schur_step, tensor_constraints, tensor_vector

EXP = mfjax.Experiment(["R1", "R2", "NOE"] * 2, [600.0] * 3 + [800.0] * 3)
N = 30


def fibonacci_vectors(n):
    """n unit vectors spread uniformly on the sphere (golden-angle spiral)."""
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = np.pi * (1 + 5 ** 0.5) * i
    return np.stack([np.sqrt(1 - z * z) * np.cos(phi), np.sqrt(1 - z * z) * np.sin(phi), z], 1)


VECTORS = fibonacci_vectors(N)
RNG = np.random.default_rng(2008)
TRUE_PARAMS = {"s2": RNG.uniform(0.7, 0.95, N), "te": RNG.uniform(20e-12, 200e-12, N)}


def synthetic(model, tensor):
    """Noise-free R1, R2, NOE at 600 and 800 MHz; errors 5 % (R1, R2) and 0.04 (NOE), as relax's sets.
    model: one name or a list per residue; returns the data and the true parameters (NaN where unused)."""
    names = [model] * N if isinstance(model, str) else list(model)
    values = np.zeros((N, EXP.n_measurements))
    params = {}
    for name in dict.fromkeys(names):
        idx = np.array([i for i, m in enumerate(names) if m == name])
        p = {q: TRUE_PARAMS[q][idx] for q in get_model(name).params}
        values[idx] = mfjax.back_calc(EXP, name, p, tensor, vectors=VECTORS[idx])
        for q, v in p.items():
            params.setdefault(q, np.full(N, np.nan))[idx] = v
    errors = np.where(np.array(EXP.kinds) == "NOE", 0.04, 0.05 * values)
    return mfjax.RelaxationData(EXP, values, errors), params


# ---------------------------------------------------------------------------------------------------
# The block step on random arrowhead matrices

SCHUR = jax.jit(schur_step)   # one compilation per block shape


def _arrowhead(rng, n, p, k, pd):
    """Random arrowhead Hessian blocks; PD (diagonally dominant) or indefinite."""
    a = rng.standard_normal((n, p, p))
    h_xx = a @ np.swapaxes(a, 1, 2) + (3.0 * p * np.eye(p) if pd else -2.0 * np.eye(p))
    h_xt = 0.3 * rng.standard_normal((n, p, k))
    b = rng.standard_normal((k, k))
    h_tt = b @ b.T + (n * k * np.eye(k) if pd else -3.0 * np.eye(k))
    return h_xx, h_xt, h_tt, rng.standard_normal((n, p)), rng.standard_normal(k)


def _dense(h_xx, h_xt, h_tt):
    n, p, k = h_xt.shape
    h = np.zeros((n * p + k, n * p + k))
    for i in range(n):
        h[i * p:(i + 1) * p, i * p:(i + 1) * p] = h_xx[i]
        h[i * p:(i + 1) * p, n * p:] = h_xt[i]
        h[n * p:, i * p:(i + 1) * p] = h_xt[i].T
    h[n * p:, n * p:] = h_tt
    return h


def test_schur_step_is_the_dense_newton_step_when_pd():
    h_xx, h_xt, h_tt, g_x, g_t = _arrowhead(np.random.default_rng(0), 7, 3, 4, pd=True)
    h = _dense(h_xx, h_xt, h_tt)
    assert np.linalg.eigvalsh(h).min() > 0
    p_x, p_t, e_x, e_t = SCHUR([(h_xx, h_xt, g_x)], h_tt, g_t)
    assert np.all(np.asarray(e_x[0]) == 0) and np.all(np.asarray(e_t) == 0)     # GMW left the blocks alone
    dense = np.linalg.solve(h, -np.concatenate([g_x.ravel(), g_t]))
    got = np.concatenate([np.asarray(p_x[0]).ravel(), np.asarray(p_t)])
    np.testing.assert_allclose(got, dense, rtol=1e-10, atol=1e-12 * np.abs(dense).max())


def test_schur_step_is_a_descent_direction_when_indefinite():
    rng = np.random.default_rng(1)
    for _ in range(5):
        h_xx, h_xt, h_tt, g_x, g_t = _arrowhead(rng, 6, 2, 3, pd=False)
        h = _dense(h_xx, h_xt, h_tt)
        assert np.linalg.eigvalsh(h).min() < 0
        p_x, p_t, e_x, e_t = SCHUR([(h_xx, h_xt, g_x)], h_tt, g_t)
        g = np.concatenate([g_x.ravel(), g_t])
        p = np.concatenate([np.asarray(p_x[0]).ravel(), np.asarray(p_t)])
        assert g @ p < 0
        # the step solves (H + E) p = −g with E ≥ 0 diagonal and H + E positive definite
        e = np.concatenate([np.asarray(e_x[0]).ravel(), np.asarray(e_t)])
        assert e.min() >= 0 and e.max() > 0
        m = h + np.diag(e)
        assert np.linalg.eigvalsh(m).min() > 0
        np.testing.assert_allclose(m @ p, -g, rtol=0, atol=1e-10 * np.abs(g).max())


# ---------------------------------------------------------------------------------------------------
# Derivative blocks and the step on the real objective (ellipsoid, m2, 30 residues)

def _problem(model, tensor, fix_residues=False):
    data, params = synthetic(model, tensor)
    m = get_model(model)
    args = [{"values": jnp.asarray(data.values), "errors": jnp.asarray(data.errors), "mask": jnp.asarray(data.mask),
             "d": jnp.full(N, float(mfjax.relaxation.dipolar_constant(1.02e-10))),
             "c": jnp.asarray(np.broadcast_to(mfjax.relaxation.csa_constant(-172e-6, (600.0, 800.0)), (N, 2))),
             "vector": jnp.asarray(VECTORS)}]
    a_t, b_t = tensor_constraints(type(tensor))
    a_x, a_gt, b = residue_constraints(m, a_t.shape[1])
    cons = {"A_t": jnp.asarray(a_t), "b_t": jnp.asarray(b_t),
            "groups": [{"A_x": jnp.asarray(a_x), "A_t": jnp.asarray(a_gt), "b": jnp.asarray(b)}]}
    lagrangian, derivatives, _ = _kernels(type(tensor), ((m, _Layout.of(EXP)),), fix_residues)
    x = np.stack([params["s2"], params["te"] / 1e-12], 1)
    return lagrangian, derivatives, args, cons, x, a_t.shape[0], b.shape[0]


def test_blocks_against_finite_differences_and_dense_newton():
    truth = Ellipsoid.from_eigenvalues(1e7, 2e7, 3e7, 1.0, 2.0, 0.5)
    lagrangian, derivatives, args, cons, x, k_t, k_r = _problem("m2", truth)
    t = tensor_vector(truth)
    # a nearby feasible point where H is positive definite (every constraint inactive, λ = 0: L = χ²)
    x = x * np.array([0.999, 1.002])
    t = t * np.array([1.001, 0.998, 1.002, 1.0, 1.0, 1.0]) + np.array([0, 0, 0, 2e-3, -3e-3, 1e-3])
    lam, mu = (np.zeros(k_t), [np.zeros((N, k_r))]), 1e-5
    active = (np.zeros(k_t, bool), [np.zeros((N, k_r), bool)])

    def chi2(flat):
        return float(lagrangian([flat[:2 * N].reshape(N, 2)], flat[2 * N:], args, cons, lam, mu)[1])

    def grad(flat):
        out = derivatives([flat[:2 * N].reshape(N, 2)], flat[2 * N:], args, cons, lam, mu, active)[4]
        return np.concatenate([np.asarray(out[0][0]).ravel(), np.asarray(out[1])])

    flat = np.concatenate([x.ravel(), t])
    g = grad(flat)
    out = derivatives([x], t, args, cons, lam, mu, active)
    (h_xx, h_xt), = out[4][3]
    h = _dense(np.asarray(h_xx), np.asarray(h_xt), np.asarray(out[4][2]))     # the assembled dense Hessian
    steps = 1e-6 * np.maximum(np.abs(flat), 1e-3)
    for j in [0, 1, 2, 3, 17, 2 * N, 2 * N + 1, 2 * N + 2, 2 * N + 3, 2 * N + 4, 2 * N + 5]:
        e = np.zeros_like(flat)
        e[j] = steps[j]
        fd = (chi2(flat + e) - chi2(flat - e)) / (2 * steps[j])
        np.testing.assert_allclose(g[j], fd, rtol=2e-6, atol=1e-6 * np.abs(g).max())
        # Hessian column j (residue and tensor blocks) by central differences of the analytic gradient
        col = (grad(flat + e) - grad(flat - e)) / (2 * steps[j])
        np.testing.assert_allclose(h[:, j], col, rtol=1e-5, atol=1e-6 * np.abs(h).max())

    # the Schur step against the dense Newton step (np.linalg.solve on the assembled Hessian)
    assert np.linalg.eigvalsh(h).min() > 0
    dense = np.linalg.solve(h, -g)
    out = derivatives([x], t, args, cons, lam, mu, active)
    got = np.concatenate([np.asarray(out[2][0]).ravel(), np.asarray(out[3])])
    np.testing.assert_allclose(got, dense, rtol=1e-10, atol=1e-10 * np.abs(dense).max())


# ---------------------------------------------------------------------------------------------------
# Recovery of relax's four synthetic tensors (Euler angles (1, 2, 0.5) rad)

def _ellipsoid(dx, dy, dz):
    return Ellipsoid.from_eigenvalues(dx, dy, dz, 1.0, 2.0, 0.5)


CASES = {
    "sphere": ("m2", Sphere.from_diso(2e7), Sphere.from_diso(2e7 * 1.15), None),
    "prolate": (["m1", "m2"] * (N // 2), Spheroid.from_tensor(_ellipsoid(2e7, 2e7, 3e7).tensor()), None, "prolate"),
    "oblate": ("m1", Spheroid.from_tensor(_ellipsoid(2e7, 3e7, 3e7).tensor()), None, "oblate"),
    "ellipsoid": ("m2", _ellipsoid(1e7, 2e7, 3e7), None, None),
}


def _start(truth):
    if isinstance(truth, Spheroid):
        return Spheroid.from_dpar_dper(truth.dpar * 1.15, truth.dper * 0.88, truth.theta + 0.2, truth.phi - 0.2)
    if isinstance(truth, Ellipsoid):
        return Ellipsoid.from_eigenvalues(truth.dx * 1.15, truth.dy * 0.85, truth.dz * 1.1, truth.alpha + 0.2,
                                          truth.beta - 0.2, truth.gamma + 0.2)
    return Sphere.from_diso(truth.diso * 1.15)


def _angles(tensor):
    return {Sphere: (), Spheroid: ("theta", "phi"), Ellipsoid: ("alpha", "beta", "gamma")}[type(tensor)]


@pytest.mark.parametrize("case", list(CASES))
def test_recovers_the_synthetic_tensors(case):
    model, truth, _, spheroid_type = CASES[case]
    data, params = synthetic(model, truth)
    start_params = {p: v * (0.9 if p == "s2" else 1.2) for p, v in params.items()}   # NaN stays NaN
    res = fit_tensor(data, model, _start(truth), vectors=VECTORS, params=start_params, spheroid_type=spheroid_type)
    assert res.status == Status.CONVERGED and res.chi2 < 1e-15
    assert type(res.diffusion) is type(truth)
    np.testing.assert_allclose(res.diffusion.eigenvalues, truth.eigenvalues, rtol=1e-6)
    for name in _angles(truth):
        assert abs(getattr(res.diffusion, name) - getattr(truth, name)) < 1e-6, name
    for p, v in params.items():
        np.testing.assert_allclose(res.params[p], v, rtol=1e-6)        # NaN where the residue's model lacks p
    np.testing.assert_allclose(res.chi2_residues.sum(), res.chi2, rtol=1e-12)
    assert res.iterations > 0 and res.f_count > res.iterations and res.h_count >= res.iterations


def test_tensor_only_fit_and_grid_search():
    model, truth = "m2", CASES["ellipsoid"][1]
    data, params = synthetic(model, truth)
    res = fit_tensor(data, model, _start(truth), vectors=VECTORS, params=params, fix_residues=True)
    assert res.status == Status.CONVERGED and res.chi2 < 1e-15
    np.testing.assert_allclose(res.diffusion.eigenvalues, truth.eigenvalues, rtol=1e-6)
    np.testing.assert_array_equal(res.params["s2"], params["s2"])        # residues untouched
    # sphere: grid over 1–12 ns (11 points, the residues fixed), then the global Newton
    model, truth = "m2", CASES["sphere"][1]
    data, params = synthetic(model, truth)
    res = fit_tensor(data, model, Sphere(3e-9), vectors=VECTORS, params=params, grid_inc=True)
    assert res.grid_count == 11 and res.chi2 < 1e-15
    np.testing.assert_allclose(res.diffusion.tm, truth.tm, rtol=1e-9)
    # plain Newton (no Method of Multipliers) from the 15 % start: the same minimum
    res = fit_tensor(data, model, _start(truth), vectors=VECTORS, params=params, constraints=False)
    assert res.status == Status.CONVERGED and res.chi2 < 1e-15
    np.testing.assert_allclose(res.diffusion.tm, truth.tm, rtol=1e-9)


def test_default_start_is_the_per_residue_fit():
    truth = CASES["sphere"][1]
    data, params = synthetic("m1", truth)
    res = fit_tensor(data, "m1", Sphere(truth.tm * 1.1), params=None)
    assert res.status == Status.CONVERGED and res.chi2 < 1e-15
    np.testing.assert_allclose(res.params["s2"], params["s2"], rtol=1e-6)
    np.testing.assert_allclose(res.diffusion.tm, truth.tm, rtol=1e-9)


def test_bad_input_is_refused():
    data, params = synthetic("m1", CASES["sphere"][1])
    start = Spheroid(8e-9, 1e6, 0.1, 0.2)
    with pytest.raises(ValueError, match="unit vectors"):
        fit_tensor(data, "m1", start, vectors=VECTORS * 1.1, params=params)
    with pytest.raises(ValueError, match="needs the XH unit vectors"):
        fit_tensor(data, "m1", start, params=params)
    with pytest.raises(ValueError, match="eigenvalue Dper"):
        fit_tensor(data, "m1", Spheroid(8e-9, 1e9, 0.1, 0.2), vectors=VECTORS, params=params)
    with pytest.raises(ValueError, match="local tm"):
        fit_tensor(data, "tm1", start, vectors=VECTORS, params=params)
    with pytest.raises(ValueError, match="31 models given for 30 residues"):
        fit_tensor(data, ["m1"] * 31, start, vectors=VECTORS, params=params)
    with pytest.raises(ValueError, match="spheroid_type"):
        fit_tensor(data, "m1", start, vectors=VECTORS, params=params, spheroid_type="round")
    with pytest.raises(ValueError, match="no finite start value of 'te' for residue '1'"):
        fit_tensor(data, "m2", start, vectors=VECTORS, params=params)


def test_readme_tensor_example():
    from pathlib import Path
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = text.split("## Diffusion tensors")[1].split("```python")[1].split("```")[0]
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    res, truth = namespace["res"], namespace["truth"]
    assert res.status == Status.CONVERGED and res.chi2 < 1e-15
    np.testing.assert_allclose(res.diffusion.eigenvalues, truth.eigenvalues, rtol=1e-6)
    np.testing.assert_allclose([res.diffusion.alpha, res.diffusion.beta, res.diffusion.gamma], [1.0, 2.0, 0.5],
                               atol=1e-6)
    np.testing.assert_allclose(res.params["te"], 50e-12, rtol=1e-6)


def test_tensor_chi2_matches_the_per_residue_chi2():
    from mfjax.tensor import tensor_chi2
    model, truth, _, _ = CASES["prolate"]          # a model list: m1 and m2 residues
    data, params = synthetic(model, truth)
    others = [_start(truth), Spheroid(9e-9, -2e6, 0.3, 2.9)]
    got = tensor_chi2(data, model, [truth, *others], params, vectors=VECTORS)
    assert got[0] < 1e-20
    m1 = np.array(model) == "m1"
    for value, tensor in zip(got[1:], others):
        want = sum(mfjax.chi2(data.subset(np.flatnonzero(sel)), name, {p: params[p][sel] for p in get_model(name).params},
                              tensor, vectors=VECTORS[sel]).sum() for name, sel in (("m1", m1), ("m2", ~m1)))
        np.testing.assert_allclose(value, want, rtol=1e-12)
