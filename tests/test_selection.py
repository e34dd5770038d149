"""Model selection: relax's AIC/AICc/BIC formulas against hand-computed values, its elimination rules
(≥ on SI values), strict-< ties, and mfjax.select on noise-free RG-like points."""
import numpy as np
import pytest

import mfjax
from mfjax.data import Experiment, RelaxationData
from mfjax.diffusion import Sphere
from mfjax.selection import choose, eliminated, information_criterion

TM = Sphere(tm=10e-9)
KW = dict(diffusion=TM, r=1.02 * 1e-10, csa=-160 * 1e-6, grid_bounds="paper")
EXP = Experiment(["R1", "R2", "NOE"] * 2, [600.0] * 3 + [500.0] * 3)


def test_criteria_by_hand():
    # χ² 3.5, k 3, n 6: AIC 3.5 + 6; AICc 3.5 + 6 + 2·3·4/(6 − 3 − 1) = 21.5; BIC 3.5 + 3 ln 6
    assert information_criterion(3.5, 3, 6, "AIC") == 9.5
    assert information_criterion(3.5, 3, 6, "AICc") == 21.5
    assert information_criterion(3.5, 3, 6, "BIC") == pytest.approx(3.5 + 3 * 1.791759469228055, rel=1e-15)
    # AICc is undefined (not selectable) when n ≤ k + 1
    assert np.isnan(information_criterion(1.0, 3, 4, "AICc")) and np.isfinite(information_criterion(1.0, 3, 5, "AICc"))
    with pytest.raises(ValueError, match="criterion"):
        information_criterion(1.0, 1, 3, "CV")


def test_elimination_rules():
    # local τm ≥ 50 ns; te ≥ 1.5·local τm (the comparison is ≥, on SI values)
    p = {"local_tm": np.array([50e-9, 49.9e-9, 10e-9, 10e-9]), "s2": np.full(4, 0.8),
         "te": np.array([1e-12, 1e-12, 1.5 * 10e-9, 14.99e-9])}     # 1.5·10e-9 is 1.5000000000000002e-08
    assert list(eliminated("tm2", p)) == [True, False, True, False]
    # a fixed tensor's τm (10 ns): te, tf, ts ≥ 15 ns
    p6 = {"s2f": np.full(3, 0.9), "tf": np.array([1.5 * 10e-9, 1e-12, 1e-12]), "s2": np.full(3, 0.7),
          "ts": np.array([1e-9, 15.1e-9, 1.5 * 10e-9 * (1 - 1e-15)])}
    assert list(eliminated("m6", p6, tm=10e-9)) == [True, True, False]
    assert not eliminated("m1", {"s2": np.array([0.9])}, tm=10e-9).any()


def test_ties_go_to_the_first_model():
    values = np.array([[5.0, 1.0, np.nan], [5.0, 0.5, 2.0], [4.0, 0.5, 3.0]])
    selectable = np.array([[True, True, False], [True, True, True], [False, True, True]])
    assert list(choose(values, selectable)) == [0, 1, 1]
    assert list(choose(values, np.zeros_like(selectable))) == [-1, -1, -1]


@pytest.fixture(scope="module")
def selection():
    # m4 truths (RG-like: S2, τe, Rex at 600 MHz) and a Rex = 0 point, which model m2 fits exactly
    truth = {"s2": np.array([0.8, 0.582, 0.905, 0.8]), "te": np.array([100e-12, 1024e-12, 32e-12, 100e-12]),
             "rex": np.array([1.102, 3.660, 0.495, 0.0])}
    values = mfjax.back_calc(EXP, "m4", truth, diffusion=TM, r=KW["r"], csa=KW["csa"])
    errors = 0.02 * values
    errors[:, 2], errors[:, 5] = 0.04, 0.05
    mask = np.ones((5, 6), bool)
    mask[4] = False                                        # a residue without data
    data = RelaxationData(EXP, np.vstack([values, values[:1]]), np.vstack([errors, errors[:1]]), mask=mask)
    return data, mfjax.select(data, models=["m1", "m2", "m3", "m4"], criterion="AIC", **KW)


def test_aic_picks_the_true_model(selection):
    data, sel = selection
    # m4 data with Rex > 0: only m4 fits (χ² ~ 0, AIC = 6); the others leave χ² far above 6.
    # Rex = 0: m2 fits exactly with k = 2 (AIC = 4 < m4's 6), so AIC picks the simpler m2.
    assert list(sel.model) == ["m4", "m4", "m4", "m2", ""]
    assert list(sel.index) == [3, 3, 3, 1, -1]
    assert np.all(sel.chi2[:4] < 1e-15)
    np.testing.assert_allclose(sel.criterion[3, :3], 6.0, atol=1e-12)
    np.testing.assert_allclose(sel.criterion[1, 3], 4.0, atol=1e-12)
    np.testing.assert_allclose(sel.params["s2"][:4], [0.8, 0.582, 0.905, 0.8], rtol=1e-6)
    np.testing.assert_allclose(sel.params["rex"][:3], [1.102, 3.660, 0.495], rtol=1e-6)
    assert np.isnan(sel.params["rex"][3]) and not sel.selectable[:, 4].any()
    for model, k in zip(sel.models, (1, 2, 2, 3)):                   # AIC = χ² + 2k
        np.testing.assert_array_equal(sel.criterion[sel.models.index(model), :4], sel.fits[model].chi2[:4] + 2 * k)
    frame = sel.to_dataframe()
    assert list(frame["model"]) == list(sel.model) and "AIC_m4" in frame.columns


def test_global_scope(selection):
    data, sel = selection
    glob = mfjax.select(data, models=["m0", "m1", "m2", "m3", "m4"], criterion="BIC", scope="global", **KW)
    # one model for all residues with data: m4 (Σχ² ~ 0 + 12·ln 24); the empty residue is not selectable
    assert list(glob.model) == ["m4"] * 4 + [""]
    chi2 = sum(glob.fits["m4"].chi2[:4])
    np.testing.assert_allclose(glob.criterion[4, 0], chi2 + 12 * np.log(24), rtol=1e-14)
    np.testing.assert_allclose(glob.criterion[0, 0], sum(glob.fits["m0"].chi2[:4]), rtol=1e-14)   # m0: k = 0


def test_pruning_keeps_the_choices():
    # Rex Grid points and the model that select chose for each without pruning, over m0–m9 with AIC
    # (mfjax before pruning existed): _rg_points
    data, expected = _rg_points()
    names = [f"m{i}" for i in range(10)]
    sel = mfjax.select(data, models=names, criterion="AIC", grid_inc=11, **KW)
    assert list(sel.model) == expected
    # m6–m8 (k = 4, 5: AIC ≥ 8, 10) cannot beat the best model here (AIC < 8): never fitted
    for m in ("m6", "m7", "m8"):
        assert sel.pruned[names.index(m)].all() and np.all(sel.fits[m].status == mfjax.Status.SKIPPED_CANNOT_WIN)
        assert np.all(np.isnan(sel.fits[m].chi2)) and np.all(sel.fits[m].iterations == 0)
    # every pruned entry's lower bound (AIC at χ² = 0: 2k) is above the winner's AIC
    k = np.array([mfjax.models.get_model(m).n_params for m in names])
    winner = sel.criterion[sel.index, np.arange(len(expected))]
    assert np.all((2 * k[:, None] > winner[None, :])[sel.pruned])
    # without pruning (the models that were fitted somewhere): the same choices, χ² and criteria
    kept = [m for m in names if m not in ("m6", "m7", "m8")]
    full = mfjax.select(data, models=kept, criterion="AIC", grid_inc=11, prune=False, **KW)
    assert list(full.model) == list(sel.model) and not full.pruned.any()
    np.testing.assert_array_equal(full.chi2, sel.chi2)
    rows = [names.index(m) for m in kept]
    fitted = ~sel.pruned[rows]
    np.testing.assert_array_equal(full.criterion[fitted], sel.criterion[rows][fitted])


def _rg_points():
    """Seven Rex Grid points (S2, τe ps, Rex s⁻¹ at 600 MHz) and the model AIC picks over m0–m9."""
    points = [(0.97, 8192.0, 0.0, "m0"), (0.388, 0.1, 0.0, "m1"), (0.001, 0.5, 0.0, "m2"), (0.388, 0.1, 0.223, "m3"),
              (0.001, 0.1, 0.149, "m4"), (0.931, 2048.0, 0.0, "m5"), (0.97, 2048.0, 0.739, "m9")]
    truth = {"s2": np.array([p[0] for p in points]), "te": np.array([p[1] for p in points]) * 1e-12,
             "rex": np.array([p[2] for p in points])}
    values = mfjax.back_calc(EXP, "m4", truth, diffusion=TM, r=KW["r"], csa=KW["csa"])
    errors = 0.02 * values
    errors[:, 2], errors[:, 5] = 0.04, 0.05
    return RelaxationData(EXP, values, errors), [p[3] for p in points]


def test_batched_selection_is_bitwise_per_model():
    from mfjax.fit import fit_batch
    data, expected = _rg_points()
    names = [f"m{i}" for i in range(10)]
    options = dict(grid_inc=11, **KW)
    alone = {m: fit_batch([(data, m, options)])[0] for m in ("m1", "m2", "m3", "m4", "m5", "m9")}
    for mode in ("k", "width"):
        sel = mfjax.select(data, models=names, criterion="AIC", batched=mode, **options)
        assert list(sel.model) == expected, mode
        # each (model, residue) fit is bitwise the one the model gets alone in the same program
        for m, ref in alone.items():
            fitted = sel.fits[m].status != mfjax.Status.SKIPPED_CANNOT_WIN
            assert fitted.any()
            np.testing.assert_array_equal(sel.fits[m].chi2[fitted], ref.chi2[fitted])
            np.testing.assert_array_equal(sel.fits[m].iterations[fitted], ref.iterations[fitted])
            for p in ref.params:
                np.testing.assert_array_equal(sel.fits[m].params[p][fitted], ref.params[p][fitted])
        # "width" fits m1–m5 and m9 in one call on every residue that m0 leaves open; "k" prunes between k
        m0_aic = sel.criterion[0]                      # m0: k = 0, always fitted
        if mode == "width":                            # m5 pruned only where m0 already has AIC < 6 = 2k
            np.testing.assert_array_equal(sel.pruned[names.index("m5")], m0_aic < 6)
        else:                                          # also where m1–m3, m9 (k ≤ 2) reached AIC < 6
            assert sel.pruned[names.index("m5")].sum() == 5 > (m0_aic < 6).sum()
    with pytest.raises(ValueError, match="unknown fit options"):
        fit_batch([(data, "m1", {"grid_incs": 5})])
    # with a grid small enough for the direct search in both, fit_batch is fit through the shared programs
    small = dict(grid_inc=5, **KW)
    for m in ("m2", "m4"):
        ref = mfjax.fit(data, m, shared_programs=True, **small)
        got = fit_batch([(data, m, small), (data, "m1", small)])[0]
        np.testing.assert_array_equal(got.chi2, ref.chi2)
        np.testing.assert_array_equal(got.params["s2"], ref.params["s2"])


def test_every_nan_criterion_has_a_status():
    data, _ = _rg_points()
    mask = np.ones(data.values.shape, bool)
    mask[:3, 3:] = False                     # residues 0–2: 500 MHz data removed, n = 3 points
    data = RelaxationData(EXP, data.values, data.errors, mask=mask)
    # AICc: n = 3 ≤ k + 1 for m4 (k = 3) and m2 (k = 2): undefined; m1 (k = 1): χ² + 2 + 4/(3 − 2)
    full = mfjax.select(data, models=["m1", "m2", "m4"], criterion="AICc", prune=False, **KW)
    undefined = mfjax.Status.CRITERION_UNDEFINED
    assert np.all(full.status[1:, :3] == undefined) and not np.any(full.status[:, 3:] == undefined)
    np.testing.assert_array_equal(full.criterion[0, :3], full.fits["m1"].chi2[:3] + 2 + 4)
    np.testing.assert_array_equal(full.criterion[2, 3:], full.fits["m4"].chi2[3:] + 6 + 24 / 2)
    assert np.array_equal(np.isnan(full.criterion), full.status == undefined)
    # with pruning the undefined ones are not fitted at all; every NaN criterion still has its code
    sel = mfjax.select(data, models=["m1", "m2", "m4"], criterion="AICc", **KW)
    assert list(sel.model) == list(full.model)
    assert np.all(sel.status[1:, :3] == mfjax.Status.SKIPPED_CANNOT_WIN) and np.all(sel.pruned[1:, :3])
    assert np.all(np.isin(sel.status[np.isnan(sel.criterion)], [mfjax.Status.SKIPPED_CANNOT_WIN, undefined]))
    frame = sel.to_dataframe()
    assert list(frame["status_m4"][:3]) == ["SKIPPED_CANNOT_WIN"] * 3
