"""Every model m0–m9 and tm0–tm9: back-calculated rates against an independent plain-numpy
implementation, χ² gradients and Hessians against finite differences, and finite values and derivatives
with every parameter on its bounds."""
import itertools

import numpy as np
import pytest

import _numpy_reference as ref
from _helpers import derivatives, forward, one, random_params
from mfjax.data import Experiment, RelaxationData
from mfjax.diffusion import Sphere
from mfjax.models import MODELS, scaling
from mfjax.objective import back_calc, residue_problem

BUILTIN = [f"m{i}" for i in range(10)] + [f"tm{i}" for i in range(10)]

# an unordered multi-field experiment for the model-by-model tests (NOE before its R1, Rex at 600 MHz)
EXP3 = Experiment(["NOE", "R1", "R2", "R1", "R2", "NOE", "R2", "R1"], [500, 600, 600, 800, 800, 800, 500, 500],
                  rex_field_mhz=600.0)
TM = 8e-9


def numpy_rates(exp, model, params, r, csa, i, nucleus="15N"):
    p = {name: float(values[i]) for name, values in params.items()}
    tau = p.pop("local_tm") if model.local_tm else TM
    return ref.rates(exp.kinds, list(exp.fields_mhz), p, [(1.0, tau)], float(r[i]), float(csa[i]), nucleus,
                     exp.rex_field_mhz)


def diffusion_of(model):
    return None if model.local_tm else Sphere(TM)


@pytest.mark.parametrize("name", BUILTIN)
def test_model_against_numpy_and_finite_differences(name):
    model = MODELS[name]
    rng = np.random.default_rng(BUILTIN.index(name))
    n = 4
    params = random_params(model, n, rng)
    r = rng.uniform(1.0e-10, 1.05e-10, n)
    csa = rng.uniform(-200e-6, -140e-6, n)
    got = back_calc(EXP3, model, params, diffusion_of(model), r=r, csa=csa)
    want = np.array([numpy_rates(EXP3, model, params, r, csa, i) for i in range(n)])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)                 # measured: ≤ ~3e-15

    if model.n_params == 0:
        return
    # synthetic data: the rates of residue 0 perturbed by a few %, 2 % / 0.03 errors
    values = got[:1] * (1 + 0.03 * rng.standard_normal(got[:1].shape))
    errors = np.where(np.array(EXP3.kinds) == "NOE", 0.03, 0.02 * np.abs(values))
    problem = residue_problem(RelaxationData(EXP3, values, errors), model, diffusion_of(model), r=r[0], csa=csa[0])
    args = one(problem.args)
    x = np.stack([np.array([params[p][i] for p in model.params]) / problem.scales for i in range(n)])
    f, g, hess = derivatives(problem.fun, x, args, forward)
    # central differences with one Richardson step (error O(h⁴)), h = 1e-4·max(|x|, 1) and h/2 per
    # coordinate; all shifted points are evaluated in one batch
    k = model.n_params
    h = 1e-4 * np.maximum(np.abs(x), 1.0)
    shifts = [1.0, -1.0, 0.5, -0.5]
    shifted = np.concatenate([x[:, None, :] + s * h[:, None, :] * np.eye(k)[None] for s in shifts], axis=1)
    fs, gs, _ = (a.reshape(n, len(shifts), k, *a.shape[1:])
                 for a in derivatives(problem.fun, shifted.reshape(-1, k), args, forward))
    richardson = lambda v, width: (4 * (v[:, 2] - v[:, 3]) / width - (v[:, 0] - v[:, 1]) / (2 * width)) / 3
    g_fd = richardson(fs, h)
    h_fd = richardson(gs, h[:, :, None])                              # row j: d∇χ²/dx_j
    for i in range(n):
        # 1e-6 relative, with an absolute floor of 1e-6 of the largest element (elements that cancel to ~0)
        np.testing.assert_allclose(g[i], g_fd[i], rtol=1e-6, atol=1e-6 * np.abs(g[i]).max())
        np.testing.assert_allclose(hess[i], h_fd[i], rtol=1e-6, atol=1e-6 * np.abs(hess[i]).max())


def test_carbon_13():
    model = MODELS["m6"]
    rng = np.random.default_rng(13)
    params = random_params(model, 3, rng)
    r, csa = np.full(3, 1.09 * 1e-10), np.full(3, 25e-6)
    exp = Experiment(EXP3.kinds, EXP3.fields_mhz, nucleus="13C", rex_field_mhz=600.0)
    got = back_calc(exp, model, params, Sphere(TM), r=r, csa=csa)
    want = np.array([numpy_rates(exp, model, params, r, csa, i, "13C") for i in range(3)])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    assert (got[:, 0] > 1).all()          # 13C NOE is positive enhancement (γC > 0)


# --- 6. parameters on their bounds ---------------------------------------------------------------------

BOUND_VALUES = {"s2": (0.0, 1.0), "s2f": (0.0, 1.0), "s2s": (0.0, 1.0), "te": (0.0, 10e-9), "tf": (0.0, 10e-9),
                "ts": (0.0, 10e-9), "rex": (0.0, 20.0), "local_tm": (0.0, 1e-9, 200e-9)}


@pytest.mark.parametrize("name", BUILTIN)
def test_bounds_give_finite_values_and_derivatives(name):
    model = MODELS[name]
    if model.n_params == 0:
        out = back_calc(EXP3, model, {}, Sphere(TM))
        assert np.isfinite(out).all()
        return
    combos = np.array(list(itertools.product(*(BOUND_VALUES[p] for p in model.params))))
    params = {p: combos[:, j] for j, p in enumerate(model.params)}
    out = back_calc(EXP3, model, params, diffusion_of(model))
    assert np.isfinite(out).all(), combos[~np.isfinite(out).all(axis=1)]
    values = np.array([[0.8, 1.2, 10.0, 1.1, 9.0, 0.8, 11.0, 1.3]])
    errors = np.where(np.array(EXP3.kinds) == "NOE", 0.03, 0.02 * values)
    problem = residue_problem(RelaxationData(EXP3, values, errors), model, diffusion_of(model))
    f, g, h = derivatives(problem.fun, combos / scaling(model), one(problem.args), forward)
    assert np.isfinite(f).all() and np.isfinite(g).all() and np.isfinite(h).all()
    if name == "tm8":    # the solvers' jax.hessian (forward-over-reverse) too, on the largest model
        f, g, h = derivatives(problem.fun, combos / scaling(model), one(problem.args))
        assert np.isfinite(f).all() and np.isfinite(g).all() and np.isfinite(h).all()
