"""The synthetic test grids of d'Auvergne & Gooley (2008): the Rex Grid (RG) and the Double Motion
Grid (DMG), noise-free, as d'Auvergne & Gooley 2008 describes them.

Each grid point is one "residue": R1, R2, NOE at 600 MHz then at 500 MHz (so Rex is given at 600 MHz),
sphere τm = 10 ns, r = 1.02 Å, CSA = −160 ppm, relative errors σ(R1) = 2 % R1, σ(R2) = 2 % R2,
σ(NOE) = 0.04 at 600 MHz and 0.05 at 500 MHz.

    from paper_grids import rex_grid, double_motion_grid
    exp, truth, data = rex_grid()              # 2,640 points, model m4: truth["s2"], ["te"], ["rex"]
    exp, truth, data = double_motion_grid()    # 1,936 points, model m5: truth["s2f"], ["s2s"], ["ts"], ["s2"]

Truth values are SI (te/ts in s, rex in s⁻¹ at 600 MHz). Run this file to check the generator against
relax's own data files for the paper's Fig. 2 and Fig. 3 points.
"""
from __future__ import annotations

import numpy as np

import mfjax.diffusion
from mfjax.data import Experiment, RelaxationData
from mfjax.objective import back_calc

# Axes (d'Auvergne & Gooley 2008). 0.001 stands for an order parameter of 0.
ORDER_AXIS = np.array([0.001, 0.388, 0.582, 0.698, 0.776, 0.831, 0.873, 0.905, 0.931, 0.952, 0.970])
TAU_AXIS_PS = np.array([0.1, 0.5] + [float(2 ** k) for k in range(14)])          # 0.1, 0.5, 1, 2, ..., 8192 ps
REX_AXIS = np.array([0.0, 0.149, 0.223, 0.332, 0.495, 0.739, 1.102, 1.644, 2.453, 3.660, 5.460, 8.145,
                     12.151, 18.127, 27.043])                                    # s^-1 at 600 MHz

TM = 10.0 * 1e-9                 # s, isotropic tumbling, held fixed
R_NH = 1.02 * 1e-10              # m
CSA = -160 * 1e-6                # dimensionless
DIFFUSION = mfjax.diffusion.Sphere(tm=TM)
NOE_ERROR = {600.0: 0.04, 500.0: 0.05}
RELATIVE_RATE_ERROR = 0.02


def experiment() -> Experiment:
    """R1, R2, NOE at 600 MHz, then R1, R2, NOE at 500 MHz (Rex reference field: 600 MHz)."""
    return Experiment(["R1", "R2", "NOE"] * 2, [600.0] * 3 + [500.0] * 3)


def _errors(exp: Experiment, values: np.ndarray) -> np.ndarray:
    """σ = 2 % of R1 and R2; NOE: 0.04 at 600 MHz, 0.05 at 500 MHz."""
    errors = np.empty_like(values)
    for j, (kind, field) in enumerate(zip(exp.kinds, exp.fields_mhz)):
        errors[:, j] = NOE_ERROR[float(field)] if kind == "NOE" else RELATIVE_RATE_ERROR * values[:, j]
    return errors


def _data(exp: Experiment, model: str, params: dict[str, np.ndarray], prefix: str) -> RelaxationData:
    values = back_calc(exp, model, params, diffusion=DIFFUSION, r=R_NH, csa=CSA)
    n = values.shape[0]
    labels = tuple(f"{prefix}{i}" for i in range(n))
    return RelaxationData(exp, values, _errors(exp, values), residues=labels)


def rex_grid():
    """The Rex Grid: 11 S2 × 16 τe × 15 Rex = 2,640 points of model m4 (order: Rex outermost, then τe,
    then S2 innermost). Returns (experiment, truth {"s2", "te", "rex"} (N,) SI arrays, RelaxationData)."""
    rex, te_ps, s2 = (a.ravel() for a in np.meshgrid(REX_AXIS, TAU_AXIS_PS, ORDER_AXIS, indexing="ij"))
    truth = {"s2": s2, "te": te_ps * 1e-12, "rex": rex}
    exp = experiment()
    return exp, truth, _data(exp, "m4", truth, "RG")


def double_motion_grid():
    """The Double Motion Grid: 11 S2s × 16 τs × 11 S2f = 1,936 points of model m5 with τf = 0 and
    S2 = S2f·S2s (order: S2s outermost, then τs, then S2f innermost). Returns (experiment, truth
    {"s2f", "s2s", "ts", "s2"} (N,) SI arrays, RelaxationData)."""
    s2s, ts_ps, s2f = (a.ravel() for a in np.meshgrid(ORDER_AXIS, TAU_AXIS_PS, ORDER_AXIS, indexing="ij"))
    truth = {"s2f": s2f, "s2s": s2s, "ts": ts_ps * 1e-12, "s2": s2f * s2s}
    exp = experiment()
    data = _data(exp, "m5", {k: truth[k] for k in ("s2f", "s2", "ts")}, "DMG")
    return exp, truth, data


# relax's data files for the paper's Fig. 2 and Fig. 3 points (R1, R2, NOE at 600 then at 500 MHz).
FIG2_POINT = dict(s2=0.970, te_ps=2048.0, rex=0.149)
FIG2_VALUES = [1.3874977659397683, 14.239506503694924, 0.80408892327499626,
               1.7836568628249123, 13.40684281033935, 0.78105687098694854]
FIG3_POINT = dict(s2f=0.952, s2s=0.582, ts_ps=32.0)
FIG3_VALUES = [0.81917851780661155, 8.0576984880921643, 0.44567716401753776,
               1.0416808692689896, 7.6074906036469407, 0.50742419934460781]


def _index(truth: dict, **point) -> int:
    keys = {k[:-3] if k.endswith("_ps") else k: (v * 1e-12 if k.endswith("_ps") else v) for k, v in point.items()}
    hit = np.ones_like(next(iter(truth.values())), dtype=bool)
    for name, value in keys.items():
        hit &= np.isclose(truth[name], value, rtol=1e-12, atol=0.0)
    (index,) = np.flatnonzero(hit)
    return int(index)


def check(tol: float = 1e-14) -> dict:
    """Compare the grids' Fig. 2 and Fig. 3 points with relax's files; returns the max relative errors
    and raises AssertionError above ``tol``."""
    out = {}
    for name, grid, point, reference in (("fig2_rg", rex_grid, FIG2_POINT, FIG2_VALUES),
                                         ("fig3_dmg", double_motion_grid, FIG3_POINT, FIG3_VALUES)):
        _, truth, data = grid()
        i = _index(truth, **point)
        ref = np.array(reference)
        rel = np.abs(data.values[i] - ref) / np.abs(ref)
        err_ref = np.where(np.array(data.experiment.kinds) == "NOE", data.errors[i], 0.02 * ref)
        out[name] = dict(index=i, n_points=data.n_residues, max_rel_error=float(rel.max()),
                         max_rel_error_sigma=float((np.abs(data.errors[i] - err_ref) / err_ref).max()))
        assert rel.max() <= tol, (name, rel)
    return out


if __name__ == "__main__":
    import json
    print(json.dumps(check(), indent=1))
