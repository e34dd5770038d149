"""Fast first calls: the generic χ² equals each model's own (value, gradient, Hessian, residuals);
another residue count within the padded sizes, or another model with as many parameters through the
shared programs, compiles nothing (counted with jax.monitoring); the persistent cache is on by default
and can be turned off."""
import contextlib
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mfjax
from mfjax import linear_grid, models
from mfjax.objective import residue_problem
from mfjax.solvers.derivatives import value_grad_hess

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"   # one per program compiled or loaded from disk
SPHEROID = mfjax.Spheroid(tm=8e-9, da=3.0 / (6.0 * 8e-9) * 0.3 / 3.3, theta=1.0, phi=0.5)
EXP = mfjax.Experiment(["R1", "R2", "NOE"] * 2, [600.0] * 3 + [800.0] * 3)


@contextlib.contextmanager
def compilations():
    """The names of the programs compiled inside the block."""
    names = []

    def listener(event, seconds, fun_name=None, **_):
        if event == COMPILE_EVENT:
            names.append(fun_name)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield names
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def _vectors(n):
    k = np.arange(n) + 0.5
    z = 1.0 - 2.0 * k / n
    phi = np.pi * (1.0 + 5 ** 0.5) * k
    return np.stack([np.sqrt(1 - z ** 2) * np.cos(phi), np.sqrt(1 - z ** 2) * np.sin(phi), z], axis=1)


def _m1_data(n):
    """Noise-free m1 data (S2 from 0.6 to 0.95) for n residues with a spheroid."""
    vectors = _vectors(n)
    s2 = np.linspace(0.6, 0.95, n)
    values = mfjax.back_calc(EXP, "m1", {"s2": s2}, diffusion=SPHEROID, vectors=vectors)
    errors = np.where(np.array(EXP.kinds) == "NOE", 0.05, 0.02 * values)
    return mfjax.RelaxationData(EXP, values, errors), vectors, s2


@pytest.fixture(scope="module")
def fig2():
    from mfjax import examples
    data = examples.load_example("S2_0.970_te_2048_Rex_0.149")
    return data.subset([data.residues.index("2 ALA")])


@pytest.mark.parametrize("name", list(models.MODELS))
def test_generic_chi2_equals_each_models_own(name, fig2):
    model = models.get_model(name)
    diffusion = None if model.local_tm else SPHEROID
    vectors = None if model.local_tm else np.array([[0.6, 0.0, 0.8]])
    own = residue_problem(fig2, model, diffusion=diffusion, vectors=vectors)
    shared = residue_problem(fig2, model, diffusion=diffusion, vectors=vectors, generic=True)
    assert shared.fun is not own.fun and shared.fun.__name__.startswith("chi2_generic")
    lower, upper = models.grid_bounds(model, "paper")
    rng = np.random.default_rng(sum(map(ord, name)))
    args_own = jax.tree.map(lambda a: jnp.asarray(a[0]), own.args)
    args_shared = jax.tree.map(lambda a: jnp.asarray(a[0]), shared.args)
    x = (lower + rng.uniform(0.05, 0.95, model.n_params) * (upper - lower)) / own.scales
    n, size = model.n_params, shared.scales.shape[0]          # padded to 3 (m1–m5, m9, tm0–tm3) or 6
    assert size == (0 if n == 0 else 3 if n <= 3 else 6) and np.array_equal(shared.scales[:n], own.scales)
    padded = np.concatenate([x, np.full(size - n, 0.7)])      # any value of a padding entry
    a = value_grad_hess(own.fun, jnp.asarray(x), args_own)
    b = value_grad_hess(shared.fun, jnp.asarray(padded), args_shared)
    assert float(a[0]) > 0
    np.testing.assert_allclose(float(b[0]), float(a[0]), rtol=1e-13, atol=0, err_msg=name)
    np.testing.assert_allclose(np.asarray(b[1])[:n], np.asarray(a[1]), rtol=1e-13, atol=0, err_msg=name)
    np.testing.assert_allclose(np.asarray(b[2])[:n, :n], np.asarray(a[2]), rtol=1e-13, atol=0, err_msg=name)
    grad, hess = np.asarray(b[1]), np.asarray(b[2])
    assert np.all(grad[n:] == 0) and np.all(hess[n:] == 0) and np.all(hess[:, n:] == 0)    # exact zeros
    r = np.asarray(shared.fun.residuals(tuple(jnp.asarray(padded)), args_shared))
    np.testing.assert_allclose(np.sum(r ** 2), float(a[0]), rtol=1e-13)


def test_generic_spectral_density_reproduces_every_form_bit_for_bit():
    from mfjax.spectral import FORM_SLOTS, GENERIC_FIXED, generic_spectral_density, spectral_density
    omega = np.array([[0.0, -3.8e8, 4.1e9, 3.77e9, 3.4e9]])
    weights, taus = jnp.array([0.2, 0.5, 0.3]), jnp.array([7e-9, 8e-9, 9e-9])
    p = {"s2": 0.8, "s2f": 0.9, "s2s": 0.85, "te": 40e-12, "tf": 20e-12, "ts": 1.2e-9}
    for form, slot_of in FORM_SLOTS.items():
        slots = dict(GENERIC_FIXED, **{slot: jnp.asarray(p[name]) for name, slot in slot_of.items()})
        expected = np.asarray(spectral_density(form, p, omega, weights, taus))     # op by op: no fusion
        got = np.asarray(generic_spectral_density(slots, omega, weights, taus))
        np.testing.assert_array_equal(got, expected, err_msg=form)


def test_new_residue_count_and_models_sharing_n_compile_nothing():
    data40, vectors40, s2_40 = _m1_data(40)
    data60, vectors60, s2_60 = _m1_data(60)
    with compilations() as compiled:
        first = mfjax.fit_models(data40, ["m1"], diffusion=SPHEROID, vectors=vectors40)["m1"]
    assert compiled.count("jit(run)") == 1     # one solver program: bulk and tail share the slots' width
    np.testing.assert_allclose(first.params["s2"], s2_40, rtol=1e-8)
    assert np.all(mfjax.chi2(data40, "m1", first.params, diffusion=SPHEROID, vectors=vectors40) < 1e-15)
    with compilations() as compiled:
        again = mfjax.fit_models(data60, ["m1"], diffusion=SPHEROID, vectors=vectors60)["m1"]
        chi2 = mfjax.chi2(data60, "m1", again.params, diffusion=SPHEROID, vectors=vectors60)
    assert compiled == []          # 60 residues: the programs of 40 (64 slots, 256-row chunks)
    np.testing.assert_allclose(again.params["s2"], s2_60, rtol=1e-8)
    assert np.all(chi2 < 1e-15)
    with compilations() as compiled:     # m9 (rex), tm0 (local tm) and m4 share m1's programs (padded to 3)
        others = mfjax.fit_models(data60, ["m9", "tm0", "m4"], diffusion=SPHEROID, vectors=vectors60)
    assert [name for name in compiled if "grid" not in name] == []       # a grid search per increments
    for name, res in others.items():     # their χ² at their minimum, recomputed by the model's own function
        model = models.get_model(name)
        own = residue_problem(data60, model, diffusion=None if model.local_tm else SPHEROID,
                              vectors=None if model.local_tm else vectors60)
        x = np.stack([res.params[p] for p in model.params], axis=1) / own.scales
        np.testing.assert_allclose(res.chi2, jax.vmap(own.fun)(x, own.args), rtol=1e-12, atol=1e-20)
        if name == "m4":                   # m1 is m4 with τe = Rex = 0: it fits m1's data
            assert np.all(res.chi2 < 1e-6) and np.all(np.abs(res.params["s2"] - s2_60) < 1e-3)
        else:
            assert np.all(res.chi2 > 1.0)  # neither m9 nor tm0 fits m1 data


@pytest.mark.parametrize("linear", [False, True])
def test_plain_fit_compiles_nothing_for_a_new_residue_count(linear, monkeypatch):
    # m4 (11³ points) takes the direct grid search (grids below linear_grid.MIN_POINTS) or, forced, the
    # linear one (mfjax.linear_grid): both run in fixed blocks of residues, and no array goes through
    # jnp.asarray (a transfer program per shape)
    if linear:
        monkeypatch.setattr(linear_grid, "MIN_POINTS", 0)
    data5, vectors5, s2_5 = _m1_data(5)            # at most 8 residues: the solver's tail slots only
    data8, vectors8, s2_8 = _m1_data(8)
    with compilations() as compiled:
        first = mfjax.fit(data5, "m4", diffusion=SPHEROID, vectors=vectors5)
    grid_programs = {"jit(_candidates)", "jit(_exact)"} if linear else {"jit(_grid_search)"}
    assert grid_programs <= set(compiled) and "jit(stage)" not in compiled
    with compilations() as compiled:
        again = mfjax.fit(data8, "m4", diffusion=SPHEROID, vectors=vectors8)
    assert compiled == []          # 8 residues: the same block of residues (and the same solver slots)
    for res, s2 in ((first, s2_5), (again, s2_8)):     # m1 is m4 with τe = Rex = 0: it fits m1's data
        assert np.all(res.chi2 < 1e-15) and np.all(np.abs(res.params["s2"] - s2) < 1e-6)


def test_shared_programs_unpadded_for_an_unmodified_hessian():
    # a padding entry makes the Hessian singular: without GMW the shared χ² keeps the model's own size
    data, vectors, s2 = _m1_data(5)
    res = mfjax.fit_models(data, ["m1"], diffusion=SPHEROID, vectors=vectors, hessian_mod="none")["m1"]
    np.testing.assert_allclose(res.params["s2"], s2, rtol=1e-8)
    assert res.status_names == ["CONVERGED"] * 5


def test_cache_is_on_by_default_and_can_be_turned_off(tmp_path):
    # in child processes, so that this test process never touches JAX's cache
    script = textwrap.dedent("""
        import os, sys, jax, numpy as np, mfjax
        exp = mfjax.Experiment(["R1", "R2", "NOE"], [600.0] * 3)
        assert jax.config.jax_compilation_cache_dir is None        # nothing happens at import
        mfjax.back_calc(exp, "m2", {"s2": 0.9, "te": 50e-12}, diffusion=mfjax.Sphere(tm=10e-9))
        folder = sys.argv[1]
        print(jax.config.jax_compilation_cache_dir, len(os.listdir(folder)) if os.path.isdir(folder) else 0)
    """)
    folder = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if k not in ("MFJAX_NO_CACHE", "MFJAX_CACHE_DIR")}
    on = subprocess.run([sys.executable, "-c", script, str(folder)], capture_output=True, text=True, timeout=300,
                        env=dict(env, MFJAX_CACHE_DIR=str(folder)))
    assert on.returncode == 0, on.stderr[-2000:]
    used, files = on.stdout.split()
    assert used == str(folder) and int(files) > 0
    off_folder = tmp_path / "off"
    off = subprocess.run([sys.executable, "-c", script, str(off_folder)], capture_output=True, text=True,
                         timeout=300, env=dict(env, MFJAX_CACHE_DIR=str(off_folder), MFJAX_NO_CACHE="1"))
    assert off.returncode == 0, off.stderr[-2000:]
    assert off.stdout.split() == ["None", "0"]
