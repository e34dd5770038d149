"""A whole model-free analysis in one call: the diffusion tensor, a model per residue and Monte Carlo
errors — a short form of the d'Auvergne protocol (d'Auvergne & Gooley 2008, J Biomol NMR 40:121–133)
built from :func:`mfjax.fit_tensor`, :func:`mfjax.select` and :func:`mfjax.monte_carlo`.

1. The tensor (its class is the start's) is fitted with every residue in model m2 {S2, τe}, the
   simplest model with internal motion, from the start tensor.
2. With that tensor fixed, every candidate model is fitted to every residue and one is chosen per
   residue (AIC by default, relax's elimination rules).
3. The tensor is fitted again with each residue in its chosen model; steps 2–3 repeat until the chosen
   models no longer change (at most ``rounds`` times), then the models are selected once more at the
   final tensor.
4. Monte Carlo errors for every residue's chosen model (``n_sims`` replicas, refitted from the fit).

Residues with fewer than 3 data points are not fitted (NaN, as :func:`mfjax.fit` reports them).
Residues for which no model is selectable (every fit eliminated) keep model "" and NaN parameters
and are left out of the tensor fit.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mfjax.constants import N15_CSA, NH_BOND_LENGTH
from mfjax.data import RelaxationData
from mfjax.fit import MIN_POINTS, FitResult, fit
from mfjax.montecarlo import monte_carlo
from mfjax.selection import select
from mfjax.tensor import fit_tensor

ALL_MODELS = tuple(f"m{i}" for i in range(10))


@dataclass
class Analysis:
    """What :func:`analyse` found. ``result``: one FitResult of the chosen models (NaN where not
    fitted); ``models``: (n,) chosen model names ("" where none); ``errors``: name -> (n,) Monte Carlo
    standard deviations (SI); ``diffusion``: the final tensor; ``tensor_fit``: the last
    :class:`~mfjax.tensor.TensorFitResult`; ``selection``: the final :class:`~mfjax.selection.Selection`
    (on the fitted residues); ``history``: per round, the tensor and the number of changed models."""

    result: FitResult
    models: np.ndarray
    errors: dict
    diffusion: object
    tensor_fit: object
    selection: object
    history: list = field(default_factory=list)


def _subset_vectors(vectors, rows):
    return None if vectors is None else np.asarray(vectors, np.float64)[rows]


def analyse(data: RelaxationData, diffusion, vectors=None, models=ALL_MODELS, criterion="AIC", rounds=3,
            n_sims=100, seed=0, r=NH_BOND_LENGTH, csa=N15_CSA, starts=1, polish=False, report=None) -> Analysis:
    """Run the analysis described in the module docstring.

    data: RelaxationData; diffusion: the start tensor (Sphere, Spheroid or Ellipsoid: the class fitted);
    vectors: (n, 3) XH unit vectors (rows of residues without data may be NaN); models: the candidates;
    criterion: "AIC", "AICc" or "BIC"; rounds: at most this many tensor/selection rounds; n_sims: Monte
    Carlo replicas per residue (0: no errors); r (m), csa: scalars; starts, polish: ``mfjax.fit``'s options
    for the model-free fits of the selection (the Monte Carlo replicas are polished too; they start from
    the chosen fit); report: called with one line of text per step (e.g. ``print``).
    """
    say = report or (lambda text: None)
    n = data.n_residues
    rows = np.flatnonzero(np.asarray(data.n_points) >= MIN_POINTS)
    if rows.size == 0:
        raise ValueError("no residue has the 3 data points a fit needs")
    sub, vec = data.subset(rows), _subset_vectors(vectors, rows)
    physics = dict(vectors=vec, r=r, csa=csa)
    minimise = dict(starts=starts, polish=polish)

    say(f"tensor: {type(diffusion).__name__} with every residue in m2 ({len(rows)} residues)")
    tfit = fit_tensor(sub, model="m2", diffusion=diffusion, **physics)
    say(f"  {tfit.diffusion}  chi2 {float(tfit.chi2):.6g}")
    history, chosen = [dict(round=0, diffusion=tfit.diffusion, chi2=float(tfit.chi2), changed=None)], None
    for k in range(1, int(rounds) + 1):
        sel = select(sub, models=models, criterion=criterion, diffusion=tfit.diffusion, **physics, **minimise)
        new = np.asarray(sel.model)
        changed = None if chosen is None else int(np.sum(new != chosen))
        counts = {m: int(np.sum(new == m)) for m in dict.fromkeys(new)}
        say(f"round {k}: {criterion} chose {counts}" + ("" if changed is None else f", {changed} changed"))
        if changed == 0:
            break
        chosen = new
        usable = np.flatnonzero(chosen != "")
        tfit = fit_tensor(sub.subset(usable), model=[str(m) for m in chosen[usable]], diffusion=tfit.diffusion,
                          vectors=None if vec is None else vec[usable], r=r, csa=csa)
        say(f"  tensor {tfit.diffusion}  chi2 {float(tfit.chi2):.6g}")
        history.append(dict(round=k, diffusion=tfit.diffusion, chi2=float(tfit.chi2), changed=changed))
    if changed != 0:   # the last tensor was fitted after the last selection: select at it
        sel = select(sub, models=models, criterion=criterion, diffusion=tfit.diffusion, **physics, **minimise)
        chosen = np.asarray(sel.model)

    merged = sel.merged()
    errors = {}
    if n_sims:
        for m in dict.fromkeys(chosen):
            if not m:
                continue
            idx = np.flatnonzero(chosen == m)
            say(f"Monte Carlo: {n_sims} replicas of {len(idx)} residue(s) in {m}")
            part = sub.subset(idx)
            start = {p: sel.fits[m].params[p][idx] for p in sel.fits[m].params if p in _fitted(m)}
            refit = fit(part, m, diffusion=tfit.diffusion, x0=start, vectors=None if vec is None else vec[idx],
                        r=r, csa=csa, polish=polish)
            mc = monte_carlo(part, refit, n_sims=n_sims, seed=seed)
            for name, sd in mc.errors.items():
                errors.setdefault(name, np.full(len(rows), np.nan))[idx] = sd

    result = _expand(merged, data, rows, tfit.diffusion)
    models_all = np.full(n, "", dtype=object)
    models_all[rows] = chosen
    errors_all = {name: _put(n, rows, v) for name, v in errors.items()}
    return Analysis(result=result, models=models_all, errors=errors_all, diffusion=tfit.diffusion, tensor_fit=tfit,
                    selection=sel, history=history)


def _fitted(model):
    from mfjax.models import get_model
    return get_model(model).params


def _put(n, rows, values, fill=np.nan):
    values = np.asarray(values)
    out = np.full((n,) + values.shape[1:], fill, dtype=np.result_type(values, type(fill)))
    out[rows] = values
    return out


def _expand(merged: FitResult, data: RelaxationData, rows, diffusion) -> FitResult:
    """``merged`` (the fitted residues) back on every residue of ``data``; the others not fitted."""
    from mfjax.status import Status
    n = data.n_residues
    n_points = np.asarray(data.n_points)
    status = np.where(n_points == 0, Status.SKIPPED_NO_DATA, Status.SKIPPED_TOO_FEW_DATA).astype(np.int32)
    status[rows] = merged.status
    counts = {name: _put(n, rows, getattr(merged, name), 0) for name in
              ("iterations", "f_count", "g_count", "h_count", "grid_count")}
    return FitResult(model=merged.model, residues=tuple(data.residues),
                     params={k: _put(n, rows, v) for k, v in merged.params.items()},
                     chi2=_put(n, rows, merged.chi2), status=status, n_points=n_points,
                     settings=dict(merged.settings, diffusion=diffusion), **counts)
