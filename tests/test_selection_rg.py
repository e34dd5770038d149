"""mfjax.select over m0–m9 (AIC) on noise-free Rex Grid points (d'Auvergne & Gooley 2008), each choice
derived independently: m4's χ² at the truth from the forward model (0: AIC 6), and the lowest χ² of
every simpler model (k ≤ 2: m0, m1, m2, m3, m9) found by a dense scan of the forward model's χ² and a
scipy Nelder–Mead polish inside the bounds — no mfjax solver involved. Classes (experiments/select_rg.py):
(a) a simpler model also fits exactly (Rex = 0: m2 at the true S2, τe has χ² = 0), so AIC ≤ 4 < 6;
(b) no simpler model fits exactly but one has χ² + 2k < 6; m4: every simpler model has χ² + 2k > 6."""
import numpy as np
import pytest
from scipy.optimize import minimize

import mfjax
from mfjax.data import Experiment, RelaxationData
from mfjax.diffusion import Sphere

TM = Sphere(tm=10e-9)
PHYS = dict(diffusion=TM, r=1.02e-10, csa=-160e-6)
EXP = Experiment(["R1", "R2", "NOE"] * 2, [600.0] * 3 + [500.0] * 3)
MODELS = [f"m{i}" for i in range(10)]
# Rex Grid points: S2, τe (ps), Rex (s⁻¹ at 600 MHz), class
POINTS = [(0.582, 32.0, 0.0, "a"), (0.931, 1.0, 0.0, "a"), (0.776, 2048.0, 0.0, "a"),
          (0.97, 2.0, 1.644, "b"), (0.388, 0.5, 0.332, "b"), (0.698, 512.0, 5.46, "m4")]
SIMPLER = {"m0": (), "m1": ("s2",), "m9": ("rex",), "m2": ("s2", "te"), "m3": ("s2", "rex")}
K = {"m0": 0, "m1": 1, "m9": 1, "m2": 2, "m3": 2, "m4": 3}
BOUNDS = {"s2": (0.0, 1.0), "te": (0.0, 10e-9), "rex": (0.0, 40.0)}   # SI; the minima lie inside


def _data():
    truth = {"s2": np.array([p[0] for p in POINTS]), "te": np.array([p[1] for p in POINTS]) * 1e-12,
             "rex": np.array([p[2] for p in POINTS])}
    values = mfjax.back_calc(EXP, "m4", truth, **PHYS)
    errors = 0.02 * values
    errors[:, 2], errors[:, 5] = 0.04, 0.05
    return truth, RelaxationData(EXP, values, errors)


def _lowest_chi2(data, i, model):
    """The lowest χ² of ``model`` on point i: a dense scan (forward model, one batched call) and a
    Nelder–Mead polish of the best scan point, both inside the bounds."""
    names = SIMPLER[model]
    one = data.subset([i])
    if not names:
        return float(mfjax.chi2(one, model, {}, **PHYS)[0])
    axes = [np.linspace(*BOUNDS[p], 400 if len(names) == 1 else 120) for p in names]
    if "te" in names:                     # τe spans decades: a log axis
        axes[names.index("te")] = np.concatenate([[0.0], np.logspace(-14, -8, 119)])
    grid = [a.ravel() for a in np.meshgrid(*axes, indexing="ij")]
    size = grid[0].size
    rows = RelaxationData(EXP, np.repeat(one.values, size, 0), np.repeat(one.errors, size, 0))
    f = mfjax.chi2(rows, model, dict(zip(names, grid)), **PHYS)
    best = np.argmin(f)
    scale = np.array([1e-9 if p == "te" else 1.0 for p in names])
    lo, hi = (np.array([BOUNDS[p][j] for p in names]) / scale for j in (0, 1))

    def fun(x):
        x = np.clip(x, lo, hi)
        return float(mfjax.chi2(one, model, {p: np.array([v]) for p, v in zip(names, x * scale)}, **PHYS)[0])

    res = minimize(fun, np.array([g[best] for g in grid]) / scale, method="Nelder-Mead",
                   options=dict(xatol=1e-10, fatol=1e-12, maxiter=600))
    return min(float(f[best]), float(res.fun))


@pytest.fixture(scope="module")
def case():
    truth, data = _data()
    sel = mfjax.select(data, models=MODELS, criterion="AIC", diffusion=TM, r=PHYS["r"], csa=PHYS["csa"],
                       grid_inc=11, grid_bounds="paper")
    return truth, data, sel


def test_choices_from_the_forward_model(case):
    truth, data, sel = case
    at_truth = mfjax.chi2(data, "m4", truth, **PHYS)
    assert np.all(at_truth < 1e-25)                               # m4 fits every point exactly: AIC 6
    for i, (s2, te, rex, kind) in enumerate(POINTS):
        lowest = {m: _lowest_chi2(data, i, m) for m in SIMPLER}
        aic = {m: lowest[m] + 2 * K[m] for m in SIMPLER}
        aic["m4"] = 6.0
        # the expected choice: the lowest AIC, ties to the first of m0..m9 (m5–m8 have AIC ≥ 6 and come after m4)
        expected = min(MODELS[:5] + ["m9"], key=lambda m: (aic[m], MODELS.index(m)))
        if kind == "a":           # Rex = 0: m2 at the truth fits exactly (forward model), AIC ≤ 4
            m2_truth = mfjax.chi2(data.subset([i]), "m2", {"s2": np.array([s2]), "te": np.array([te * 1e-12])}, **PHYS)
            assert m2_truth[0] < 1e-25 and K[expected] <= 2
        elif kind == "b":         # no simpler model fits exactly, but one comes within the penalty
            assert min(lowest.values()) > 1e-6 and K[expected] < 3
        else:                     # every simpler model is more than its penalty away
            assert expected == "m4" and min(aic[m] for m in SIMPLER) > 6.5
        assert sel.model[i] == expected, (POINTS[i], aic, sel.model[i])
        if expected != "m0":      # the fitted minimum is the scan's (to its resolution) or lower
            assert sel.fits[expected].chi2[i] <= lowest.get(expected, 0.0) * (1 + 1e-6) + 1e-20
        print(POINTS[i], {m: round(v, 4) for m, v in aic.items()})
