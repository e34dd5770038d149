"""Covariance errors: 2·H⁻¹ against (JᵀWJ)⁻¹ from a finite-difference Jacobian of the back-calculated
data (an independent route at a zero-residual minimum), and the identifiability report on the flat
valley of a Double Motion Grid point with τs ≤ 1 ps (d'Auvergne & Gooley 2008)."""
import numpy as np
import pytest

import mfjax
from mfjax.data import Experiment, RelaxationData
from mfjax.diffusion import Sphere

TM = Sphere(tm=10e-9)
R, CSA = 1.02 * 1e-10, -160 * 1e-6
EXP = Experiment(["R1", "R2", "NOE"] * 2, [600.0] * 3 + [500.0] * 3)


def _errors(values):
    errors = 0.02 * values
    errors[:, 2], errors[:, 5] = 0.04, 0.05
    return errors


def test_covariance_matches_finite_difference_jacobian():
    truth = {"s2": np.array([0.8, 0.6]), "te": np.array([100e-12, 1000e-12]), "rex": np.array([1.0, 0.5])}
    values = mfjax.back_calc(EXP, "m4", truth, diffusion=TM, r=R, csa=CSA)
    data = RelaxationData(EXP, values, _errors(values))
    res = mfjax.fit(data, "m4", diffusion=TM, r=R, csa=CSA, x0=truth)     # the truth is the minimum (χ² = 0)
    cov = mfjax.covariance_errors(data, res)
    steps = {"s2": 1e-6, "te": 1e-16, "rex": 1e-6}
    for i in range(2):
        J = np.empty((6, 3))
        for j, name in enumerate(("s2", "te", "rex")):
            up = {k: v[i:i + 1].copy() for k, v in truth.items()}
            down = {k: v[i:i + 1].copy() for k, v in truth.items()}
            up[name] += steps[name]
            down[name] -= steps[name]
            J[:, j] = (mfjax.back_calc(EXP, "m4", up, diffusion=TM, r=R, csa=CSA)[0]
                       - mfjax.back_calc(EXP, "m4", down, diffusion=TM, r=R, csa=CSA)[0]) / (2 * steps[name])
        Jw = J / data.errors[i][:, None]
        reference = np.linalg.inv(Jw.T @ Jw)
        np.testing.assert_allclose(cov.covariance[i], reference, rtol=1e-5)
        np.testing.assert_allclose([cov.errors[k][i] for k in ("s2", "te", "rex")], np.sqrt(np.diag(reference)),
                                   rtol=1e-5)
    assert cov.undetermined == [[], []]
    assert np.all(cov.condition < 1e8)


def test_flat_valley_is_reported_undetermined():
    # DMG point S2f 0.873, S2s 0.582, τs 0.1 ps: with τs → 0 the fast term vanishes and only S2 and a
    # combination of S2f and τs are left: the Hessian has one eigenvalue ~1e-12 of its largest.
    truth = {"s2f": np.array([0.873, 0.9]), "s2": np.array([0.873 * 0.582, 0.72]), "ts": np.array([0.1e-12, 800e-12])}
    values = mfjax.back_calc(EXP, "m5", truth, diffusion=TM, r=R, csa=CSA)
    data = RelaxationData(EXP, values, _errors(values))
    res = mfjax.fit(data, "m5", diffusion=TM, r=R, csa=CSA, grid_bounds="paper")
    assert res.chi2[0] < 1e-15
    cov = mfjax.covariance_errors(data, res)
    (combo,) = cov.undetermined[0]
    assert "s2f" in combo and "ts" in combo and "s2 " not in combo + " "
    assert np.isinf(cov.errors["s2f"][0]) and np.isinf(cov.errors["ts"][0])
    assert np.isfinite(cov.errors["s2"][0]) and cov.condition[0] > 1e8
    # the combination is the valley: moving along it leaves χ² ~ 0 while s2f alone does not
    v = cov.eigenvectors[0][:, 0] * np.array([1.0, 1.0, 1e-12])       # scaled -> SI (ts in ps)
    step = 0.005 / abs(v[0])
    moved = {k: res.params[k][:1] + step * v[j] for j, k in enumerate(("s2f", "s2", "ts"))}
    if moved["ts"][0] < 0:
        moved = {k: res.params[k][:1] - step * v[j] for j, k in enumerate(("s2f", "s2", "ts"))}
    along = mfjax.chi2(data.subset([0]), "m5", moved, diffusion=TM, r=R, csa=CSA)[0]
    across = mfjax.chi2(data.subset([0]), "m5", {**{k: res.params[k][:1] for k in ("s2", "ts")},
                                                  "s2f": res.params["s2f"][:1] + 0.005}, diffusion=TM, r=R, csa=CSA)[0]
    assert along < 1e-2 * across
    assert cov.undetermined[1] == [] and np.all(np.isfinite([cov.errors[k][1] for k in cov.errors]))


def test_skipped_residue_gets_nan():
    truth = {"s2": np.array([0.8, 0.8])}
    values = mfjax.back_calc(EXP, "m1", truth, diffusion=TM, r=R, csa=CSA)
    mask = np.ones((2, 6), bool)
    mask[1, 1:] = False
    data = RelaxationData(EXP, values, _errors(values), mask=mask)
    res = mfjax.fit(data, "m1", diffusion=TM, r=R, csa=CSA)
    cov = mfjax.covariance_errors(data, res)
    assert np.isnan(cov.errors["s2"][1]) and np.isfinite(cov.errors["s2"][0])
    with pytest.raises(ValueError, match="residues differ"):
        mfjax.covariance_errors(data.subset([0]), res)
