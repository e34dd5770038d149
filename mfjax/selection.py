"""Model selection and model elimination as relax does them (relax ``lib/model_selection.py``,
``pipe_control/model_selection.py``, ``specific_analyses/model_free/api.py`` ``eliminate``;
d'Auvergne & Gooley 2003, J Biomol NMR 25:25–39; Akaike 1973; Hurvich & Tsai 1989; Schwarz 1978).

    AIC  = χ² + 2k
    AICc = χ² + 2k + 2k(k+1)/(n − k − 1)      (undefined when n ≤ k + 1: the model is not selectable)
    BIC  = χ² + k·ln(n)

k: the number of fitted parameters of the residue's model (local τm included, a fixed diffusion tensor
not); n: the residue's number of data points. Global selection sums χ², k and n over the residues.
The lowest value wins by a strict < (ties go to the first model listed).

Elimination (relax's defaults): a fit is eliminated when local τm ≥ 50 ns, or when any of τe, τf, τs
≥ 1.5·τm (τm the local τm of tm models, else the fixed tensor's τm); comparisons ≥ on SI values.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mfjax.fit import FitResult, fit, fit_batch
from mfjax.models import PARAMETERS, deconvolve, get_model
from mfjax.objective import shared_size
from mfjax._x64 import x64
from mfjax.status import Status, status_names

CRITERIA = ("AIC", "AICc", "BIC")
LOCAL_TM_LIMIT = 50e-9     # s, relax's c1
TAU_RATIO_LIMIT = 1.5      # relax's c2
_UNUSABLE = (Status.SKIPPED_NO_DATA, Status.SKIPPED_TOO_FEW_DATA, Status.NOT_FINITE, Status.SKIPPED_CANNOT_WIN)


def information_criterion(chi2, k, n, name="AIC"):
    """AIC, AICc or BIC of χ² with k parameters and n data points (broadcast arrays); AICc is NaN
    where n ≤ k + 1 (not selectable), BIC is NaN where n < 1."""
    chi2, k, n = (np.asarray(a, np.float64) for a in (chi2, k, n))
    if name == "AIC":
        return chi2 + 2.0 * k
    if name == "AICc":
        ok = n > k + 1
        return np.where(ok, chi2 + 2.0 * k + 2.0 * k * (k + 1.0) / np.where(ok, n - k - 1.0, 1.0), np.nan)
    if name == "BIC":
        return np.where(n >= 1, chi2 + k * np.log(np.where(n >= 1, n, 1.0)), np.nan)
    raise ValueError(f"unknown criterion {name!r}; use one of {CRITERIA}")


def eliminated(model, params, tm=None, local_tm_limit=LOCAL_TM_LIMIT, tau_ratio=TAU_RATIO_LIMIT):
    """(n,) bool: relax's elimination rules on SI ``params`` (dict name -> (n,) or (..., n)).

    tm: the fixed tensor's τm in s (models without local_tm); ignored for tm0–tm9."""
    model = get_model(model)
    shape = np.shape(next(iter(params.values()))) if params else ()
    out = np.zeros(shape, bool)
    if model.local_tm:
        tau_m = np.asarray(params["local_tm"], np.float64)
        out |= tau_m >= local_tm_limit
    else:
        tau_m = None if tm is None else float(tm)
    for name in ("te", "tf", "ts"):
        if name in model.params and tau_m is not None:
            out |= np.asarray(params[name], np.float64) >= tau_ratio * tau_m
    return out


@dataclass
class Selection:
    """The result of :func:`select` (numpy arrays, n residues, models in the order given)."""

    models: tuple[str, ...]
    residues: tuple[str, ...]
    model: np.ndarray          # (n,) chosen model names ("" where no model is selectable)
    criterion_name: str
    criterion: np.ndarray      # (n_models, n) criterion values (NaN: not fitted or undefined, see ``status``)
    selectable: np.ndarray     # (n_models, n) bool: usable fit, not eliminated, criterion defined
    eliminated: np.ndarray     # (n_models, n) bool: removed by relax's elimination rules
    fits: dict                 # model name -> FitResult
    params: dict               # the winner's parameters, name -> (n,) (NaN where the winner lacks it)
    chi2: np.ndarray           # (n,) the winner's χ²
    index: np.ndarray          # (n,) index of the winner in ``models`` (−1: none)
    pruned: np.ndarray | None = None   # (n_models, n) bool: not fitted, the model could not win (``prune``)
    status: np.ndarray | None = None   # (n_models, n) Status codes: each fit's, CRITERION_UNDEFINED where its
                                       # criterion is NaN for another reason: every NaN criterion has a code

    def columns(self) -> dict:
        cols = {"residue": list(self.residues), "model": list(self.model), "chi2": self.chi2}
        cols.update(self.params)
        for j, name in enumerate(self.models):
            cols[f"{self.criterion_name}_{name}"] = self.criterion[j]
            if self.status is not None:     # why a criterion is NaN (SKIPPED_CANNOT_WIN, CRITERION_UNDEFINED, ...)
                cols[f"status_{name}"] = status_names(self.status[j])
        return cols

    def merged(self) -> FitResult:
        """One :class:`FitResult` of the chosen models (model "selection (AIC)" etc.): the winner's
        parameters, χ², counts and status per residue; NaN χ² where no model was selectable (its
        counts and status are the first model's)."""
        first = self.fits[self.models[0]]
        chosen = [str(m) for m in self.model]
        picks = {name: np.array([getattr(self.fits[m] if m else first, name)[i] for i, m in enumerate(chosen)])
                 for name in ("chi2", "iterations", "f_count", "g_count", "h_count", "status", "grid_count")}
        picks["chi2"] = np.where(np.array(chosen) == "", np.nan, picks["chi2"]).astype(np.float64)
        return FitResult(model=f"selection ({self.criterion_name})", residues=self.residues,
                         params={k: np.asarray(v, np.float64) for k, v in self.params.items()},
                         n_points=first.n_points, settings=dict(first.settings, models=list(self.models),
                                                               criterion=self.criterion_name), **picks)

    def to_dataframe(self):
        """One row per residue: chosen model, its χ² and parameters, every model's criterion."""
        try:
            import pandas as pd
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("to_dataframe needs pandas: pip install 'mfjax[table]'") from err
        return pd.DataFrame(self.columns())


def choose(values, selectable):
    """Index (n,) of the lowest value per column by strict < over rows in order (ties: first row),
    −1 where no row is selectable."""
    best = np.full(values.shape[1], -1)
    best_value = np.full(values.shape[1], 1e300)
    for j in range(values.shape[0]):
        better = selectable[j] & (values[j] < best_value)
        best = np.where(better, j, best)
        best_value = np.where(better, values[j], best_value)
    return best


def lower_bound(k, n, name="AIC"):
    """The lowest value the criterion can take with k parameters and n points: its value at χ² = 0."""
    return information_criterion(0.0, k, n, name)


def _subset_options(fit_options, rows, n):
    """fit options with the per-residue arrays (r, csa, vectors) cut to ``rows``."""
    out = dict(fit_options)
    for key in ("r", "csa", "vectors"):
        value = out.get(key)
        if value is not None and np.ndim(value) >= 1 and np.shape(value)[0] == n:
            out[key] = np.asarray(value)[rows]
    return out


def _fit_rows(data, names, rows, fit_options, batched) -> dict:
    """{name: FitResult} of each model of ``names`` fitted on the residues ``rows[name]`` only: with
    ``batched`` all of them through ``fit_batch`` of :mod:`mfjax.fit` (one engine call per shared program),
    else one ``fit`` after another. The other residues are SKIPPED_CANNOT_WIN with NaN parameters and
    χ² and zero counts."""
    n = data.n_residues
    jobs = [(name, rows[name]) for name in names if len(rows[name])]

    def part(r, options):
        """(data, options) of the residues r."""
        return (data, options) if len(r) == n else (data.subset(r), _subset_options(options, r, n))

    if batched:
        options = {k: v for k, v in fit_options.items() if k not in ("n_devices", "progress")}
        done = fit_batch([(sub, name, opts) for name, r in jobs for sub, opts in [part(r, options)]],
                         n_devices=fit_options.get("n_devices"), progress=fit_options.get("progress"))
    else:
        done = [fit(sub, name, **opts) for name, r in jobs for sub, opts in [part(r, fit_options)]]
    out = {name: _expand(data, name, rows[name], None, fit_options) for name in names}
    out.update({name: _expand(data, name, r, res, fit_options) for (name, r), res in zip(jobs, done)})
    return out


def _expand(data, name, rows, part, fit_options) -> FitResult:
    """The FitResult ``part`` of model ``name`` on the residues ``rows`` (None: none fitted) on all residues."""
    n = data.n_residues
    if part is not None and len(rows) == n:
        return part

    def full(values, fill, dtype):
        out = np.full(n, fill, dtype)
        if part is not None:
            out[rows] = values
        return out

    model = get_model(name)
    params = {p: full(part.params[p] if part else None, np.nan, np.float64)
              for p in (part.params if part else _names(model))}
    counts = {c: full(getattr(part, c) if part else None, 0, np.int64)
              for c in ("iterations", "f_count", "g_count", "h_count", "grid_count")}
    settings = dict(part.settings) if part else dict(fit_options)
    flags = None if part is None or part.multiple_minima is None else full(part.multiple_minima, False, bool)
    polish = None if part is None or part.polish is None else {
        k: full(v, *{"status": (int(Status.SKIPPED_CANNOT_WIN), np.int32), "chi2_before": (np.nan, np.float64),
                     "improved": (False, bool)}.get(k, (0, np.int64))) for k, v in part.polish.items()}
    return FitResult(model=model.name, residues=tuple(data.residues), params=params,
                     chi2=full(part.chi2 if part else None, np.nan, np.float64),
                     status=full(part.status if part else None, int(Status.SKIPPED_CANNOT_WIN), np.int32),
                     n_points=np.asarray(data.n_points), settings=settings, multiple_minima=flags, polish=polish,
                     **counts)


def _names(model):
    """The parameter names a FitResult of ``model`` holds (fitted ones plus the derived order parameter)."""
    return tuple(deconvolve(model, {p: np.zeros(1) for p in model.params}))


@x64
def select(data, models=tuple(f"m{i}" for i in range(10)), criterion="AIC", scope="local", eliminate=True,
           prune=True, batched=False, **fit_options) -> Selection:
    """Fit every model of ``models`` to ``data`` with ``mfjax.fit(**fit_options)`` and pick one per
    residue by ``criterion`` ("AIC", "AICc", "BIC").

    scope "local": per residue; "global": one model for all residues (χ², k, n summed over the
    residues usable under every model). A fit is not selectable when its status is SKIPPED_*, or
    NOT_FINITE, its χ² is not finite, it is eliminated (``eliminate=True``: relax's rules, as the
    d'Auvergne protocol applies them) or the criterion is undefined (AICc with n ≤ k + 1).

    prune (scope "local"): the models are fitted in order of their number of parameters k, and a
    residue is not fitted with a model whose criterion cannot beat the best selectable one so far even
    at χ² = 0 (lower bound 2k for AIC, k·ln n for BIC, AICc's at χ² = 0; a strict >), or whose criterion
    is undefined there (AICc with n ≤ k + 1): the chosen models
    are exactly those of ``prune=False``; the pruned fits have status SKIPPED_CANNOT_WIN, NaN χ² and
    parameters, NaN criterion (``Selection.status`` and ``Selection.pruned`` mark them). prune=False
    fits every model to every residue (every model's χ² and criterion; on the paper's Rex Grid 38 s
    warm against 1–2 s, README "Errors, model selection and multiple minima").

    batched: False (the default): one ``fit`` per model, each through its own compiled programs (the
    fastest warm); "k": the models with the same k as ONE engine call of (model, residue) problems
    through the shared programs (``fit_batch`` of :mod:`mfjax.fit`; pruning as above between the calls:
    compiles one solver program for m1–m5 and m9, the fastest first call); "width": one engine call
    per shared program width (m1–m5 and m9 together, then m6–m8 on the residues where they can still
    win; pruning only between the widths, so more fits). A (model, residue) fit through the shared
    programs is bitwise the same whatever else is in its batch; its round-off differs from the
    model's own programs (the same minima).
    """
    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}; use one of {CRITERIA}")
    if scope not in ("local", "global"):
        raise ValueError(f"scope must be 'local' or 'global', got {scope!r}")
    names = tuple(get_model(m).name for m in models)
    if not names or len(set(names)) != len(names):
        raise ValueError(f"models must be a non-empty list of distinct model names, got {list(models)}")
    diffusion = fit_options.get("diffusion")
    tm = None if diffusion is None else float(diffusion.tm)
    n_points = np.asarray(data.n_points)
    prune = prune and scope == "local"
    if batched not in (False, "k", "width"):
        raise ValueError(f"batched must be False, 'k' or 'width', got {batched!r}")
    fits, best = {}, np.full(data.n_residues, np.inf)       # best: the lowest selectable criterion so far
    order = sorted(names, key=lambda m: get_model(m).n_params)           # stable: the given order per k
    key = {"width": lambda m: shared_size(get_model(m).n_params), "k": lambda m: get_model(m).n_params,
           False: order.index}[batched]
    for step in sorted({key(m) for m in order}):          # batched: one step per shared program's width
        group = [m for m in order if key(m) == step]
        rows = {m: np.flatnonzero(lower_bound(get_model(m).n_params, n_points, criterion) <= best) if prune
                else np.arange(data.n_residues) for m in group}
        fits.update(_fit_rows(data, group, rows, fit_options, batched))
        for m in group if prune else ():
            value, ok = _selectable_values(m, fits[m], n_points, criterion, eliminate, tm)
            best = np.where(ok & (value < best), value, best)
    fits = {name: fits[name] for name in names}
    pruned = np.stack([fits[m].status == Status.SKIPPED_CANNOT_WIN for m in names])
    chi2 = np.stack([fits[m].chi2 for m in names])
    k = np.array([get_model(m).n_params for m in names], np.float64)[:, None] * np.ones_like(chi2)
    usable = np.stack([~np.isin(fits[m].status, _UNUSABLE) for m in names]) & np.isfinite(chi2)
    elim = np.stack([np.broadcast_to(eliminated(m, fits[m].params, tm), usable.shape[1:]) for m in names]) \
        if eliminate else np.zeros_like(usable)
    if scope == "local":
        values = information_criterion(chi2, k, n_points[None, :], criterion)
        selectable = usable & ~elim & np.isfinite(values)
    else:
        common = np.all(usable, axis=0)
        values_g = information_criterion(np.where(common, chi2, 0).sum(1), (k * common).sum(1), n_points[common].sum(), criterion)
        values = np.repeat(values_g[:, None], chi2.shape[1], axis=1)
        selectable = np.repeat((~np.any(elim & common, axis=1) & np.isfinite(values_g))[:, None], chi2.shape[1], 1)
        selectable &= common[None, :]
    status = np.stack([fits[m].status for m in names]).astype(np.int32)
    status = np.where(np.isnan(values) & ~np.isin(status, _UNUSABLE), int(Status.CRITERION_UNDEFINED), status)
    index = choose(values, selectable)
    rows = np.arange(chi2.shape[1])
    chosen = np.array([""] + list(names), dtype=object)[index + 1]
    params = {}
    for p in sorted({p for m in names for p in fits[m].params}, key=list(PARAMETERS).index):
        params[p] = np.full(len(rows), np.nan)
        for j, m in enumerate(names):
            if p in fits[m].params:
                params[p][index == j] = fits[m].params[p][index == j]
    best_chi2 = np.where(index >= 0, chi2[np.maximum(index, 0), rows], np.nan)
    return Selection(models=names, residues=tuple(data.residues), model=chosen, criterion_name=criterion,
                     criterion=values, selectable=selectable, eliminated=elim, fits=fits, params=params,
                     chi2=best_chi2, index=index, pruned=pruned,
                     status=status)


def _selectable_values(name, result, n_points, criterion, eliminate, tm):
    """(criterion values (n,), selectable (n,)) of one model's fit, by the rules of :func:`select`."""
    value = information_criterion(result.chi2, get_model(name).n_params, n_points, criterion)
    ok = ~np.isin(result.status, _UNUSABLE) & np.isfinite(result.chi2) \
        & np.isfinite(value)
    if eliminate:
        ok &= ~np.broadcast_to(eliminated(name, result.params, tm), ok.shape)
    return value, ok

