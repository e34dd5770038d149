"""χ², its gradient and Hessian in scaled coordinates against relax's own numbers (relax's unit-test vectors),
bit for bit without FMA; anisotropic tensors and 100,000 residues in one call; masks; refusals.
(Model-by-model checks: test_objective_models.py.)"""
import json
import os
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import _numpy_reference as ref
from _helpers import derivatives, one, random_params
from mfjax.data import Experiment, RelaxationData
from mfjax.diffusion import Ellipsoid, Sphere, Spheroid
from mfjax.models import MODELS
from mfjax.objective import back_calc, chi2, residue_problem

# --- the relax S2_0.970_te_2048_Rex_0.149 set-up (values and errors copied from relax's data files) -------
EXP = Experiment(["R1", "R2", "NOE", "R1", "R2", "NOE"], [600.0, 600.0, 600.0, 500.0, 500.0, 500.0])
VALUES = [1.3874977659397683, 14.239506503694924, 0.80408892327499626,
          1.7836568628249123, 13.40684281033935, 0.78105687098694854]
ERRORS = [0.027749955318795365, 0.28479013007389847, 0.040000000000000001,
          0.035673137256498247, 0.26813685620678701, 0.050000000000000003]
SETUP = dict(diffusion=Sphere(10e-9), r=1.02 * 1e-10, csa=-160 * 1e-6)

# relax's χ², gradient and Hessian for m4 at x = [S2, te (ps), Rex (s^-1 at 600 MHz)]
RELAX = [
    ([1.0, 0.0, 0.0], 3.984411790898229, [-82.31513169939811, 0.0, 8.02306755568826],
     [[19828.30858907773, 1.4806965157938974, 618.1476386821071], [1.4806965157938974, 0, 0],
      [618.1476386821071, 0, 38.074305407859555]]),
    ([0.97, 2048.0, 0.149], 5.4332766471805684e-27,
     [2.793041886601291e-13, -7.102738096203412e-17, -4.343971954357571e-13],
     [[12405.24399630733, -0.019844128509497683, 456.53796871533075],
      [-0.019844128509497683, 9.782507167988636e-07, 0.0014290907467807811],
      [456.53796871533075, 0.0014290907467807814, 38.074305407859555]]),
    ([0.9, 100.0, 1.0], 60.84397639639646, [-1280.5395410539309, 0.10559724315874344, -13.381661378354634],
     [[20449.308010202676, -3.442407895632059, 594.7903434190254],
      [-3.442407895632059, 0.002764264765930854, 0.020499662662583563],
      [594.7903434190254, 0.020499662662583563, 38.074305407859555]]),
    ([0.5, 500.0, 2.0], 2066.48832638109, [-9349.773235438304, -4.207156030236732, -190.74395865805081],
     [[22364.202583461767, 19.936900750400937, 549.8312740589165],
      [19.936900750400937, 0.0076559830009768565, 0.03673295039501094],
      [549.8312740589165, 0.03673295039501094, 38.074305407859555]]),
]

# --- 3. relax's χ², gradient, Hessian -----------------------------------------------------------------

def test_chi2_gradient_hessian_match_relax():
    problem = residue_problem(RelaxationData(EXP, [VALUES], [ERRORS]), "m4", **SETUP)
    np.testing.assert_array_equal(problem.scales, [1.0, 1e-12, 1.0])
    f, g, h = derivatives(problem.fun, [p[0] for p in RELAX], one(problem.args))
    for k, (_, chi2_ref, grad_ref, hess_ref) in enumerate(RELAX):
        grad_ref, hess_ref = np.array(grad_ref), np.array(hess_ref)
        if chi2_ref > 1e-20:
            np.testing.assert_allclose(f[k], chi2_ref, rtol=1e-12, atol=0)       # measured: ≤ 5.6e-15 (0 without FMA)
            np.testing.assert_allclose(g[k], grad_ref, rtol=1e-12, atol=1e-14)   # measured: ≤ 1e-14
        else:
            # At the minimum χ² (5e-27) and ∇χ² (1e-13) are pure round-off: the residuals are a few ulp of
            # each rate, and XLA's default FMA contraction moves rates by an ulp or two. One ulp of R2(600)
            # (1.8e-15) changes χ² by ~1e-28 here and ∂χ²/∂S2 by 2·1.8e-15·∂R2/∂S2/σ² ≈ 6.5e-13, so this
            # build is held to 2e-27 and 3e-12 absolute (a few ulp per rate). Without FMA the gradient
            # agrees to 1e-14 absolute and χ² bit for bit: test_bit_exact_without_fma.
            np.testing.assert_allclose(f[k], chi2_ref, rtol=0, atol=2e-27)
            np.testing.assert_allclose(g[k], grad_ref, rtol=0, atol=3e-12)
        # Hessian: 1e-12 relative; elements below 1e-3 (e.g. ∂²/∂te² ~ 1e-6) 1e-10 absolute-ish
        tolerance = np.where(np.abs(hess_ref) >= 1e-3, 1e-12 * np.abs(hess_ref), 1e-10 * max(np.abs(hess_ref).max(), 1))
        assert (np.abs(h[k] - hess_ref) <= tolerance).all(), (k, h[k] - hess_ref)   # measured: ≤ 7e-15 relative


def test_bit_exact_without_fma():
    """With FMA contraction switched off (XLA_FLAGS=--xla_cpu_max_isa=AVX) χ² equals relax's to the last bit,
    which pins relax's operation order (ω²τ², (t+τ)t·(1/den), 0.4·Σ(cτ·X), numpy's summation order);
    XLA contracts a*b+c into FMAs by default on CPUs that have them, which moves the last bits.
    The gradient at the minimum (~1e-13, pure round-off) then agrees with relax's to 1e-14 absolute."""
    code = (
        "import json, jax, jax.numpy as jnp\n"
        "jax.config.update('jax_enable_x64', True)\n"
        "from mfjax.data import Experiment, RelaxationData\n"
        "from mfjax.diffusion import Sphere\n"
        "from mfjax.objective import residue_problem\n"
        f"exp = Experiment({list(EXP.kinds)!r}, {[float(f) for f in EXP.fields_mhz]!r})\n"
        f"p = residue_problem(RelaxationData(exp, [{VALUES!r}], [{ERRORS!r}]), 'm4', Sphere(10e-9),"
        " r=1.02 * 1e-10, csa=-160 * 1e-6)\n"
        "args = {k: v[0] for k, v in p.args.items()}\n"
        "f, g, h = jax.jit(p.fun), jax.jit(jax.grad(p.fun)), jax.jit(jax.hessian(p.fun))\n"
        f"xs = [jnp.array(x) for x in {[p[0] for p in RELAX]!r}]\n"
        "print(json.dumps([[float(f(x, args)), g(x, args).tolist(), h(x, args).tolist()] for x in xs]))\n")
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") + " --xla_cpu_max_isa=AVX").strip())
    run = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads(run.stdout.strip().splitlines()[-1])
    assert [r[0] for r in results] == [p[1] for p in RELAX]                   # χ²: 0 ulp at all four points
    for (_, _, grad_ref, hess_ref), (_, g, h) in zip(RELAX, results):
        np.testing.assert_allclose(g, grad_ref, rtol=1e-12, atol=1e-14)       # measured: ≤ 1.5e-15 relative
        np.testing.assert_allclose(h, hess_ref, rtol=1e-12, atol=1e-12)       # measured: ≤ 2e-15 relative


# --- anisotropic tensors, batching, masks -------------------------------------------------------------

EXP3 = Experiment(["NOE", "R1", "R2", "R1", "R2", "NOE", "R2", "R1"], [500, 600, 600, 800, 800, 800, 500, 500],
                  rex_field_mhz=600.0)

def test_ellipsoid_100000_residues_one_call():
    n = 100_000
    rng = np.random.default_rng(7)
    model = MODELS["m8"]
    params = random_params(model, n, rng)
    vectors = rng.standard_normal((n, 3))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    dx, dy, dz = 1.405e7, 1.566e7, 1.829e7
    diso, da = (dx + dy + dz) / 3, dz - (dx + dy) / 2
    angles = (1.0, 2.0, 0.5)
    tensor = Ellipsoid(1 / (6 * diso), da, (dy - dx) / (2 * da), *angles)
    out = back_calc(EXP3, model, params, tensor, r=1.02 * 1e-10, csa=-160 * 1e-6, vectors=vectors)
    assert out.shape == (n, EXP3.n_measurements) and np.isfinite(out).all()
    axes = ref.rotation_zyz(*angles)
    for i in rng.choice(n, 5, replace=False):
        p = {name: float(v[i]) for name, v in params.items()}
        want = ref.rates(EXP3.kinds, list(EXP3.fields_mhz), p, ref.woessner(dx, dy, dz, axes, vectors[i]),
                         1.02e-10, -160e-6, "15N", 600.0)
        np.testing.assert_allclose(out[i], want, rtol=1e-12)


def test_problem_with_spheroid_matches_chi2():
    rng = np.random.default_rng(8)
    model = MODELS["m2"]
    params = random_params(model, 3, rng)
    vectors = np.array([[0.0, 0.0, 1.0], [0.6, 0.0, 0.8], [0.0, 1.0, 0.0]])
    tensor = Spheroid(9e-9, 5e6, 0.5, 1.5)
    values = back_calc(EXP, model, params, tensor, vectors=vectors) * 1.01
    data = RelaxationData(EXP, values, 0.02 * values)
    problem = residue_problem(data, model, tensor, vectors=vectors)
    assert problem.args["weights"].shape == (3, 3)
    x = np.stack([params[p] for p in model.params], axis=1) / problem.scales
    f = [float(problem.fun(jnp.asarray(x[i]), one(problem.args, i))) for i in range(3)]
    # components precomputed in args vs inside chi2's jit: an ulp apart, amplified ~100x by the 1 % residuals
    np.testing.assert_allclose(f, chi2(data, model, params, tensor, vectors=vectors), rtol=1e-12)
    # every point 1 % off; the residual 0.01·R/1.01 loses two digits to cancellation
    np.testing.assert_allclose(f, 6 * (0.01 / 1.01 / 0.02) ** 2, rtol=1e-11)


def test_masked_points_add_zero():
    values = np.array([VALUES, VALUES])
    values[1, 4] = np.nan                            # unmeasured: any value allowed
    mask = np.ones_like(values, dtype=bool)
    mask[1, 4] = False
    data = RelaxationData(EXP, values, [ERRORS, ERRORS], mask=mask)
    params = {"s2": [0.9, 0.9], "te": [100e-12, 100e-12], "rex": [1.0, 1.0]}
    c = chi2(data, "m4", params, **SETUP)
    full = chi2(RelaxationData(EXP, [VALUES], [ERRORS]), "m4", {k: v[:1] for k, v in params.items()}, **SETUP)
    bc = back_calc(EXP, "m4", params, **SETUP)[1]
    terms = ((np.array(VALUES) - bc) / np.array(ERRORS)) ** 2
    np.testing.assert_allclose(c, [full[0], terms.sum() - terms[4]], rtol=1e-14)
    problem = residue_problem(data, "m4", **SETUP)
    _, g, h = derivatives(problem.fun, [[0.9, 100.0, 1.0]], one(problem.args, 1))
    assert np.isfinite(np.asarray(g)).all() and np.isfinite(np.asarray(h)).all()


def test_fun_is_shared_and_tm_models():
    data1 = RelaxationData(EXP, [VALUES], [ERRORS])
    data2 = RelaxationData(EXP, [VALUES, VALUES], [ERRORS, ERRORS])
    assert residue_problem(data1, "m4", **SETUP).fun is residue_problem(data2, "m4", Sphere(5e-9)).fun
    problem = residue_problem(data1, "tm4", None, r=1.02 * 1e-10, csa=-160 * 1e-6)
    assert "taus" not in problem.args
    np.testing.assert_array_equal(problem.scales, [1e-12, 1.0, 1e-12, 1.0])
    # tm4 at local_tm = 10 ns is m4 with the 10 ns sphere
    f_tm = float(problem.fun(jnp.array([10000.0, 0.97, 2048.0, 0.149]), one(problem.args)))
    f_m = float(residue_problem(data1, "m4", **SETUP).fun(jnp.array([0.97, 2048.0, 0.149]),
                                                          one(residue_problem(data1, "m4", **SETUP).args)))
    assert f_tm == f_m


# --- 7. refusals -----------------------------------------------------------------------------------------

P4 = {"s2": [0.9], "te": [1e-10], "rex": [1.0]}


@pytest.mark.parametrize("kwargs,match", [
    (dict(model="m4", params=P4, diffusion=Spheroid(1e-8, 1e6, 0.1, 0.2)), "needs the XH unit vectors"),
    (dict(model="m4", params=P4, diffusion=Ellipsoid(1e-8, 1e6, 0.1, 0.1, 0.2, 0.3),
          vectors=np.tile([0.0, 0.0, 1.0], (2, 1))),
     r"inconsistent numbers of residues \(parameter 's2': 1, parameter 'te': 1, parameter 'rex': 1, vectors: 2\)"),
    (dict(model="m4", params=P4, diffusion=Spheroid(1e-8, 1e6, 0.1, 0.2), vectors=[[0.0, 0.0, 1.1]]),
     "must be unit vectors.*residue index 0 has length 1.1"),
    (dict(model="m4", params={"s2": [0.9], "te": [1e-10]}, diffusion=Sphere(1e-8)), r"missing \['rex'\]"),
    (dict(model="m4", params={**P4, "ts": [1e-10]}, diffusion=Sphere(1e-8)), r"unknown \['ts'\]"),
    (dict(model="tm4", params={**P4, "local_tm": [1e-8]}, diffusion=Sphere(1e-8)), "fits a local tm"),
    (dict(model="m4", params=P4, diffusion=None), "needs a diffusion tensor"),
    (dict(model="m4", params={"s2": [0.9, 0.8], "te": [1e-10], "rex": [1.0]}, diffusion=Sphere(1e-8)),
     "inconsistent numbers of residues"),
    (dict(model="m4", params={"s2": [np.nan], "te": [1e-10], "rex": [1.0]}, diffusion=Sphere(1e-8)),
     "parameter 's2' is not finite"),
    (dict(model="m4", params={"s2": [0.9], "te": [np.inf], "rex": [1.0]}, diffusion=Sphere(1e-8)),
     "parameter 'te' is not finite"),
    (dict(model="m4", params=P4, diffusion=Sphere(np.nan)), "Sphere.tm must be a finite scalar"),
    (dict(model="m4", params=P4, diffusion=Sphere(1e-8), r=[1e-10, 1e-10]), "inconsistent numbers of residues"),
    (dict(model="m4", params=P4, diffusion=Sphere(1e-8), csa=np.nan), "csa is not finite"),
    (dict(model="m44", params=P4, diffusion=Sphere(1e-8)), "unknown model 'm44'"),
])
def test_refusals(kwargs, match):
    with pytest.raises(ValueError, match=match):
        back_calc(EXP, **kwargs)


def test_refusals_with_data_name_the_residue():
    data = RelaxationData(EXP, [VALUES, VALUES], [ERRORS, ERRORS], residues=["ALA2", "GLY3"])
    with pytest.raises(ValueError, match="residue 'GLY3' has length 0.5"):
        residue_problem(data, "m4", Spheroid(1e-8, 1e6, 0.1, 0.2), vectors=[[0.0, 0.0, 1.0], [0.0, 0.5, 0.0]])
    with pytest.raises(ValueError, match=r"parameter 'te' is not finite \(nan\) at residue 'GLY3'"):
        chi2(data, "m2", {"s2": [0.9, 0.9], "te": [1e-10, np.nan]}, Sphere(1e-8))
    with pytest.raises(ValueError, match=r"r \(bond length, m\) has 3 values but there are 2 residues"):
        residue_problem(data, "m4", Sphere(1e-8), r=[1e-10] * 3)
