"""Part ``map_space`` of the paper's study: χ² maps at 100 points per dimension (10⁶ points, one batched
evaluation each, in chunks) of the spaces of the paper's Figs 2, 3 and 5, drawn as three orthogonal
slices through the truth (or the global minimum) with the paper's isosurface levels as contours and
the optimisers' end points marked.

- fig2_m4: model m4 {S2, τe, Rex} of the RG point S2 0.970, τe 2048 ps, Rex 0.149 s⁻¹ (paper levels
  1, 0.5, 0.3, 0.05).
- fig3_m5: model m5 {S2f, S2, τs} of the DMG point S2f 0.952, S2s 0.582, τs 32 ps (levels 50, 20, 5, 0.5).
- fig5_tm2: model tm2 {τm, S2, τe} fitted to noise-free tm5 data (τm 7 ns, S2f 0.9, S2s 0.8, τs 0.8 ns,
  τf = 0, CSA −170 ppm, r 1.02 Å), R1, R2, NOE at 600 MHz only, σ 5 % of R1 and R2, σ(NOE) 0.04
  (d'Auvergne & Gooley 2008); levels 30, 22, 17, 5 (the paper's, for its 500 + 600 MHz figure) and the
  two minima found by relax's optimiser from two starts.
"""
from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import study_rg_dmg as rg  # noqa: E402
import study_failures as fl  # noqa: E402

from mfjax import models  # noqa: E402
from mfjax.data import Experiment, RelaxationData  # noqa: E402
from mfjax.objective import back_calc, residue_problem  # noqa: E402

CHUNK = 100_000
# name -> axes {parameter: (lo, hi) SI} in the model's parameter order, levels
SPACES = {
    "fig2_m4": dict(model="m4", axes={"s2": (0.90, 1.0), "te": (0.0, 12e-9), "rex": (0.0, 0.6)},
                    levels=(0.05, 0.3, 0.5, 1.0)),
    "fig3_m5": dict(model="m5", axes={"s2f": (0.5, 1.0), "s2": (0.45, 0.65), "ts": (0.0, 400e-12)},
                    levels=(0.5, 5.0, 20.0, 50.0)),
    "fig5_tm2": dict(model="tm2", axes={"local_tm": (6.0e-9, 7.6e-9), "s2": (0.70, 0.85), "te": (0.0, 1.2e-9)},
                     levels=(5.0, 17.0, 22.0, 30.0)),
}
TM5_TRUTH = dict(local_tm=7e-9, s2f=0.9, s2=0.9 * 0.8, ts=0.8e-9)
TM2_STARTS = {"broad": dict(local_tm=7.1e-9, s2=0.75, te=0.9e-9), "narrow": dict(local_tm=6.5e-9, s2=0.79, te=0.1e-9)}


def double_minimum_data() -> RelaxationData:
    """Noise-free tm5 data at 600 MHz (R1, R2, NOE) with the errors of d'Auvergne & Gooley 2008."""
    exp = Experiment(["R1", "R2", "NOE"], [600.0] * 3)
    values = back_calc(exp, "tm5", {k: np.array([v]) for k, v in TM5_TRUTH.items()}, r=1.02 * 1e-10,
                       csa=-170 * 1e-6)
    errors = np.array([[0.05 * values[0, 0], 0.05 * values[0, 1], 0.04]])
    return RelaxationData(exp, values, errors, residues=("orekhov",))


def space_problem(name):
    """(model, problem) of one residue for a space of ``SPACES``."""
    spec = SPACES[name]
    if name == "fig5_tm2":
        data = double_minimum_data()
        with jax.enable_x64(True):
            problem = residue_problem(data, "tm2", r=1.02 * 1e-10, csa=-170 * 1e-6)
        return spec["model"], data, problem
    grid, point = fl.FIG2 if name == "fig2_m4" else fl.FIG3
    model, _, data, _ = rg.load_grid(grid, [fl.grid_index(grid, point)])
    return model, data, rg._problem(data, model)


_MAPPERS = {}


def chi2_map(problem, axes_scaled, n=100):
    """χ² on the n^d grid of ``axes_scaled`` (list of (lo, hi)), first axis slowest: array (n,)*d."""
    fun = problem.fun
    if fun not in _MAPPERS:
        _MAPPERS[fun] = jax.jit(jax.vmap(fun, in_axes=(0, None)))
    args = jax.tree.map(lambda a: a[0], problem.args)
    ticks = [np.linspace(lo, hi, n) for lo, hi in axes_scaled]
    mesh = np.stack([m.ravel() for m in np.meshgrid(*ticks, indexing="ij")], axis=1)
    out = np.empty(len(mesh))
    with jax.enable_x64(True):
        for start in range(0, len(mesh), CHUNK):
            block = mesh[start:start + CHUNK]
            pad = CHUNK - len(block)
            padded = np.concatenate([block, np.repeat(block[-1:], pad, axis=0)]) if pad else block
            out[start:start + len(block)] = np.asarray(_MAPPERS[fun](jnp.asarray(padded), args))[:len(block)]
    return ticks, out.reshape((n,) * len(axes_scaled))


def tm2_minima(data) -> dict:
    """relax's optimiser on tm2 from a start near each minimum (d'Auvergne & Gooley 2008)."""
    out = {}
    for label, start in TM2_STARTS.items():
        res = rg.FIT(data, "tm2", r=1.02 * 1e-10, csa=-170 * 1e-6, x0={k: np.array([v]) for k, v in start.items()},
                     **rg.study_configs.RELAX)
        out[label] = dict(local_tm=float(res.params["local_tm"][0]), s2=float(res.params["s2"][0]),
                          te=float(res.params["te"][0]), chi2=float(res.chi2[0]),
                          iterations=int(res.iterations[0]))
    return out


def run(n=100, end_points: dict | None = None) -> tuple[dict, dict]:
    """Returns (doc, maps) with maps[name] = (ticks SI, χ² array, markers {label: SI point})."""
    doc, maps = {}, {}
    for name, spec in SPACES.items():
        model, data, problem = space_problem(name)
        params = models.get_model(model).params
        scales = np.array([models.SCALES[p] for p in params])
        axes = [spec["axes"][p] for p in params]
        import time
        t0 = time.perf_counter()
        ticks, chi2 = chi2_map(problem, [(lo / s, hi / s) for (lo, hi), s in zip(axes, scales)], n)
        seconds = time.perf_counter() - t0
        ticks = [t * s for t, s in zip(ticks, scales)]
        markers = {}
        if name == "fig5_tm2":
            minima = tm2_minima(data)
            markers = {f"tm2 {k} minimum": v for k, v in minima.items()}
            truth = minima["narrow"]
        else:
            grid, point = fl.FIG2 if name == "fig2_m4" else fl.FIG3
            truth = dict(point)
            if name == "fig3_m5":
                truth["s2"] = point["s2f"] * point["s2s"]
            for config, ep in (end_points or {}).get(name, {}).items():
                if isinstance(ep, dict):
                    markers[config] = ep
        k = np.unravel_index(np.argmin(chi2), chi2.shape)
        doc[name] = dict(model=model, n_per_axis=n, n_points=int(chi2.size), seconds=seconds,
                         axes={p: list(a) for p, a in zip(params, axes)}, levels=list(spec["levels"]),
                         map_min_chi2=float(chi2.min()),
                         map_argmin={p: float(ticks[j][k[j]]) for j, p in enumerate(params)},
                         slice_through={p: float(truth[p]) for p in params},
                         markers={lbl: {p: float(v[p]) for p in list(params) + ["chi2"] if p in v}
                                  for lbl, v in markers.items()})
        maps[name] = (ticks, chi2, params, truth, markers, spec["levels"])
    return doc, maps
