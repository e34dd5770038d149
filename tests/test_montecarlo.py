"""Monte Carlo errors: agreement with the covariance errors (linear theory) on a well-determined case,
reproducible noise, resuming an interrupted run bitwise, relax's alternatives and the bookkeeping."""
import numpy as np
import pytest

import mfjax
from mfjax.data import Experiment, RelaxationData
from mfjax.diffusion import Sphere
from mfjax.montecarlo import replica_noise
from mfjax.status import Status

TM = Sphere(tm=10e-9)
KW = dict(diffusion=TM, r=1.02 * 1e-10, csa=-160 * 1e-6, grid_bounds="paper")
EXP = Experiment(["R1", "R2", "NOE"] * 2, [600.0] * 3 + [500.0] * 3)
TRUTH = {"s2": np.array([0.8, 0.9, 0.6]), "te": np.array([100e-12, 40e-12, 1000e-12]),
         "rex": np.array([1.0, 2.0, 0.5])}


def _data(scale=1.0, mask=None):
    values = mfjax.back_calc(EXP, "m4", TRUTH, diffusion=TM, r=KW["r"], csa=KW["csa"])
    errors = 0.02 * values
    errors[:, 2], errors[:, 5] = 0.04, 0.05
    return RelaxationData(EXP, values, scale * errors, mask=mask)


@pytest.fixture(scope="module")
def small():
    data = _data(scale=0.25)        # small errors: the linear (covariance) theory holds
    return data, mfjax.fit(data, "m4", **KW)


def test_sds_agree_with_covariance_errors(small):
    # 400 replicas: the relative standard error of a sample SD is 1/sqrt(2(n − 1)) = 0.0354;
    # every MC SD must lie within 4 of those (±14 %) of the 2·H⁻¹ error.
    data, res = small
    mc = mfjax.monte_carlo(data, res, n_sims=400, seed=3, chunk_size=200)
    cov = mfjax.covariance_errors(data, res)
    assert np.all(mc.status == Status.CONVERGED) and mc.selected.all()
    band = 4.0 / np.sqrt(2 * (400 - 1))
    for name in ("s2", "te", "rex"):
        ratio = mc.errors[name] / cov.errors[name]
        assert np.all(np.abs(ratio - 1.0) < band), (name, ratio)
    # the SD is the n − 1 sample SD of the samples
    np.testing.assert_allclose(mc.errors["te"], mc.samples["te"].std(axis=0, ddof=1), rtol=1e-10)


def test_noise_depends_only_on_seed_and_replica():
    all_ten = replica_noise(7, np.arange(10), (4, 6))
    assert np.array_equal(replica_noise(7, [5], (4, 6))[0], all_ten[5])
    assert np.array_equal(replica_noise(7, [9, 3], (4, 6)), all_ten[[9, 3]])
    assert not np.array_equal(replica_noise(8, [5], (4, 6))[0], all_ten[5])
    z = replica_noise(0, np.arange(2000), (3, 6))
    assert abs(z.std() - 1.0) < 0.02 and abs(z.mean()) < 0.02    # 36,000 draws: SE 0.005


def test_interrupted_run_resumes_bitwise(small, tmp_path):
    data, res = small
    reference = mfjax.monte_carlo(data, res, n_sims=40, seed=1, chunk_size=10)

    def stop_after_two_chunks(done, total):
        if done == 20:
            raise KeyboardInterrupt("killed part-way")

    with pytest.raises(KeyboardInterrupt):
        mfjax.monte_carlo(data, res, n_sims=40, seed=1, chunk_size=10, resume_dir=tmp_path,
                          progress=stop_after_two_chunks)
    assert len(list(tmp_path.glob("chunk_*.npz"))) == 2
    seen = []
    resumed = mfjax.monte_carlo(data, res, n_sims=40, seed=1, chunk_size=10, resume_dir=tmp_path,
                                progress=lambda done, total: seen.append(done))
    assert resumed.n_fits_run == 20 * data.n_residues        # only the two missing chunks were fitted
    assert seen == [10, 20, 30, 40]
    for name in reference.samples:
        assert np.array_equal(resumed.samples[name], reference.samples[name])
        assert np.array_equal(resumed.errors[name], reference.errors[name])
    # one chunk of 40: the same noise and the same numbers (the solver is bitwise batch-independent)
    whole = mfjax.monte_carlo(data, res, n_sims=40, seed=1, chunk_size=40)
    for name in reference.samples:
        assert np.array_equal(whole.samples[name], reference.samples[name])
    with pytest.raises(ValueError, match="different Monte Carlo run"):
        mfjax.monte_carlo(data, res, n_sims=40, seed=2, chunk_size=10, resume_dir=tmp_path)


def test_direct_method_with_zero_fixed_sigma_refits_the_data(small):
    data, res = small
    mc = mfjax.monte_carlo(data, res, n_sims=10, method="direct", distribution="fixed", sigma=0.0)
    for name in ("s2", "te", "rex"):
        np.testing.assert_allclose(mc.samples[name], np.broadcast_to(res.params[name], (10, 3)), rtol=1e-9)
        assert np.all(mc.errors[name] < 1e-9 * np.abs(res.params[name]))
    with pytest.raises(ValueError, match="sigma"):
        mfjax.monte_carlo(data, res, n_sims=10, distribution="fixed")


def test_skipped_residues_and_elimination_counts():
    mask = np.ones((3, 6), bool)
    mask[1] = False
    data = _data(mask=mask)
    res = mfjax.fit(data, "m4", **KW)
    mc = mfjax.monte_carlo(data, res, n_sims=15, seed=0, eliminate=True, start="grid")
    assert all(np.isnan(mc.errors[name][1]) for name in mc.errors)
    assert np.all(mc.status[:, 1] == Status.SKIPPED_NO_DATA) and mc.n_fits_run == 15 * 2
    for i in (0, 2):
        assert mc.selected[:, i].sum() + mc.n_eliminated[i] + mc.n_failed[i] == 15
        assert np.isfinite(mc.errors["s2"][i]) and mc.errors["s2"][i] > 0
    # relax's rule: te ≥ 1.5·τm (15 ns) is eliminated; none of these replicas come near it
    assert mc.n_eliminated.sum() == 0


def test_fitted_values_a_hair_outside_a_bound_are_accepted(small):
    # the Method of Multipliers can end a hair outside a bound (Rex = -7e-27 on the RG): such a fit
    # is still fed back (back-calculation, start values) without tripping the physical-range checks
    import dataclasses
    data, res = small
    rex = res.params["rex"].copy()
    rex[0] = -1e-26
    params = dict(res.params, rex=rex)
    nudged = dataclasses.replace(res, params=params)
    mc = mfjax.monte_carlo(data, nudged, n_sims=10, seed=0)
    assert np.all(np.isfinite(mc.errors["rex"])) and np.all(mc.status == Status.CONVERGED)
    # mfjax.sanity accepts such round-off everywhere: the rates equal those at Rex = 0 to round-off
    at_zero = dict(params, rex=np.where(rex < 0, 0.0, rex))
    np.testing.assert_allclose(mfjax.back_calc(EXP, "m4", params, diffusion=TM, r=KW["r"], csa=KW["csa"]),
                               mfjax.back_calc(EXP, "m4", at_zero, diffusion=TM, r=KW["r"], csa=KW["csa"]),
                               rtol=1e-15)
