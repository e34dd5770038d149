"""``mfjax.fit``: model-free parameters of every residue, as relax finds them — a grid search,
then Newton (GMW) with a line search inside the Method of Multipliers — for all residues at once."""
from __future__ import annotations

import html
import inspect
from dataclasses import dataclass, field
from typing import Mapping

import jax
import numpy as np

from mfjax import corners, linear_grid, models, multistart, sanity
from mfjax import polish as polish_stage
from mfjax._x64 import x64
from mfjax.constants import N15_CSA, NH_BOND_LENGTH
from mfjax.data import RelaxationData
from mfjax.objective import residue_problem, shared_size
from mfjax.solvers import batch, grid, presets, registry
from mfjax.status import Status, status_names

MIN_POINTS = 3   # relax deselects residues with fewer data points (overfit_deselect)


@dataclass
class FitResult:
    """Per-residue results of :func:`fit` (numpy arrays of shape (n,), SI units).

    ``params`` holds the fitted parameters plus the derived order parameter (S2s for m5–m8).
    ``iterations``, ``f_count``, ``g_count``, ``h_count`` count the minimisation as minfx does
    (the grid search's evaluations are in ``grid_count``). ``status`` holds :class:`Status` codes.
    """

    model: str
    residues: tuple[str, ...]
    params: dict[str, np.ndarray]
    chi2: np.ndarray
    iterations: np.ndarray
    f_count: np.ndarray
    g_count: np.ndarray
    h_count: np.ndarray
    status: np.ndarray
    grid_count: np.ndarray
    n_points: np.ndarray
    settings: dict = field(default_factory=dict)
    multiple_minima: np.ndarray | None = None   #: (n,) bool: distinct minima among the starts (``starts`` > 1)
    #: ``polish=True``: name -> (n,) array: ``status`` (Status of the polish run), ``iterations``,
    #: ``f_count``, ``g_count`` (its own counts, not in the fields above), ``chi2_before``, ``improved``
    polish: dict | None = None

    @property
    def status_names(self) -> list[str]:
        return status_names(self.status)

    def columns(self) -> dict[str, np.ndarray | list]:
        """The table as columns: residue, model, parameters (SI), chi2, counts and status."""
        cols: dict[str, np.ndarray | list] = {"residue": list(self.residues), "model": [self.model] * len(self.residues)}
        cols.update(self.params)
        cols.update(chi2=self.chi2, n_points=self.n_points, iterations=self.iterations, f_count=self.f_count,
                    g_count=self.g_count, h_count=self.h_count, status=self.status_names)
        return cols

    def to_dataframe(self):
        """One row per residue (needs pandas: ``pip install mfjax[table]``)."""
        try:
            import pandas as pd
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("to_dataframe needs pandas: pip install 'mfjax[table]'") from err
        return pd.DataFrame(self.columns())

    def summary(self) -> str:
        """Residues per status, then the median of every parameter (SI) and of χ² over the fitted residues."""
        names = self.status_names
        lines = [f"model {self.model}: {len(names)} residues"]
        lines += [f"  {name:<22} {names.count(name)}" for name in sorted(set(names))]
        fitted = np.isfinite(np.asarray(self.chi2, dtype=np.float64))
        for name, values in [*self.params.items(), ("chi2", self.chi2)]:
            v = np.asarray(values, dtype=np.float64)[fitted]
            unit = models.UNITS.get(name, "")
            lines.append(f"  median {name:<9} {np.median(v) if v.size else np.nan:.6g} {unit}".rstrip())
        return "\n".join(lines)

    def _repr_html_(self):
        return f"<pre>{html.escape(self.summary())}</pre>"

    def __repr__(self):
        counts = {name: self.status_names.count(name) for name in sorted(set(self.status_names))}
        return f"FitResult(model={self.model!r}, residues={len(self.residues)}, status={counts})"


def _start_points(x0, model, n):
    """User start values (dict of (n,) arrays in SI) as an (n, p) SI array."""
    missing = [p for p in model.params if p not in x0]
    unknown = [p for p in x0 if p not in model.params]
    if missing or unknown:
        raise ValueError(f"x0 for model {model.name!r} needs exactly {list(model.params)}; "
                         f"missing {missing}, unknown {unknown}")
    cols = [np.broadcast_to(np.asarray(x0[p], np.float64), (n,)) for p in model.params]
    start = np.stack(cols, axis=1) if cols else np.zeros((n, 0))
    bad = ~np.isfinite(start)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"x0[{model.params[j]!r}] is not finite for residue {i}")
    sanity.parameters({p: start[:, j] for j, p in enumerate(model.params)}, what="x0")
    return start


def _constraint_rows(size: int) -> int:
    """The most rows of relax's A·x ≥ b among the registered models padded to ``size`` parameters."""
    return max((models.linear_constraints(m, tm=1e-8)[0].shape[0] for m in models.MODELS.values()
                if shared_size(m.n_params) == size), default=0)


def _pad_constraints(A, b, rows: int, size: int):
    """A·x ≥ b with zero columns up to ``size`` parameters and slack rows (0·x ≥ −1) appended up to
    ``rows``: the same shapes for every model padded to ``size``. A slack row never binds: its multiplier
    starts and stays 0 and every term it adds to the augmented Lagrangian, its gradient and Hessian is
    an exact zero (and no grid point fails it)."""
    A = np.concatenate([A, np.zeros((A.shape[0], size - A.shape[1]))], axis=1)
    extra = rows - A.shape[0]
    if extra <= 0:
        return A, b
    return np.concatenate([A, np.zeros((extra, A.shape[1]))]), np.concatenate([b, np.full(extra, -1.0)])


# Algorithms that leave a padding entry of the shared programs at 0 (its gradient, Hessian row and column
# are exact zeros): Newton with GMW gives it a zero step. Others would not (an unmodified Hessian is
# singular there; simplex, coordinate descent and annealing move it): they share per parameter count.
_PADDING_SAFE = {("newton", "gmw")}


def _pad_columns(a, size: int, value=0.0):
    """(n, p) or (p,) ``a`` with columns of ``value`` appended up to ``size``."""
    a = np.asarray(a)
    return np.concatenate([a, np.full(a.shape[:-1] + (size - a.shape[-1],), value, a.dtype)], axis=-1)


def _grid_inc(grid_inc, model):
    if isinstance(grid_inc, Mapping):
        return np.array([int(grid_inc.get(p, 11)) for p in model.params])
    return np.full(model.n_params, int(grid_inc))


def _mark_degenerate_corners(model, problem, x, chi2, status):
    """CONVERGED → DEGENERATE_CORNER (in place) where the fit sits on a corner of ``mfjax.corners`` and the
    χ² does not change when the undefined time is moved to each of ``corners.TIME_PROBES``."""
    scales = np.asarray(problem.scales)
    params = models.deconvolve(model, {p: x[:, j] * scales[j] for j, p in enumerate(model.params)})
    for time, at_corner in corners.candidates(model, params):
        idx = np.flatnonzero(at_corner & (status == Status.CONVERGED))
        if idx.size == 0:
            continue
        j = model.params.index(time)
        args = jax.tree.map(lambda a: np.asarray(a)[idx], problem.args)
        probed = []
        for t in corners.TIME_PROBES:
            moved = x[idx].copy()
            moved[:, j] = t / scales[j]
            probed.append(batch.evaluate(problem.fun, moved, args))
        status[idx[corners.insensitive(chi2[idx], np.stack(probed))]] = Status.DEGENERATE_CORNER


@x64
def fit(data: RelaxationData, model="m4", diffusion=None, r=NH_BOND_LENGTH, csa=N15_CSA, vectors=None, x0=None,
        grid_inc=11, grid_bounds="relax", algorithm="newton", line_search="backtrack", hessian_mod="gmw",
        constraints=True, func_tol=1e-25, grad_tol=None, max_iter=10_000_000, preset=None, n_devices=None,
        progress=None, shared_programs=False, starts=1, start_kind="grid", seed=0,
        linear_grid_search=True, polish=False) -> FitResult:
    """Fit one model-free model to every residue of ``data``.

    model: "m0"–"m9", "tm0"–"tm9" or a registered custom model. diffusion: a fixed tensor
    (``Sphere``/``Spheroid``/``Ellipsoid``; None for tm models). r (m), csa (dimensionless):
    scalars or (n,) arrays. vectors: (n, 3) unit XH vectors for anisotropic tensors.
    x0: start values, dict name -> (n,) SI arrays; None: grid search with ``grid_inc`` increments
    (int or dict per parameter) over ``grid_bounds`` ("relax", "paper" or dict name -> (lo, hi) SI).
    algorithm, line_search, hessian_mod, constraints: names of the solver parts (the lists in
    ``mfjax.solvers.registry`` and the README's "Algorithm zoo"; constraints True/"mom": the Method of
    Multipliers on relax's A·x ≥ b, False/"none": unconstrained, "modelfree4", "dasha"). algorithm
    "projected_newton" (opt-in): the projected Newton of :mod:`mfjax.solvers.projected_newton`, which
    treats A·x ≥ b itself (constraints True/"own"; False/"none" drops them; docs/constrained_newton.md).
    func_tol, grad_tol, max_iter: minfx's termination settings. preset: "relax",
    "modelfree4" or "dasha" (``mfjax.solvers.presets``) sets func_tol, grad_tol, max_iter and
    constraints at once. shared_programs: fit through the generic χ² (``objective.generic_chi2``)
    with the parameter vector padded to ``objective.shared_size`` (3 for m1–m5, m9, tm0–tm3, tm9): all
    these models run the same compiled programs, so that another such model compiles nothing (only a
    grid search for a new pattern of increments); the same minima, the arithmetic equal to round-off
    (not bit for bit), each step slower, and every residue through the engine's tail width (one
    solver program instead of two; README, "First calls and the compilation cache"); with starts > 1
    or an algorithm other than Newton with GMW the generic χ² is not padded (one set of programs per
    parameter count). :func:`fit_models` uses it. Residues with no data, fewer than 3
    points or fewer points than parameters are not fitted (relax's overfit_deselect): they are
    marked SKIPPED_NO_DATA / SKIPPED_TOO_FEW_DATA, with NaN parameters and χ² and zero counts.
    Inputs are checked for physical sense first
    (:mod:`mfjax.sanity`). starts > 1: several starts per residue (``start_kind`` "grid": the best
    distinct grid points; "random": random in the grid bounds with ``seed``; "mixed": half each; a
    given x0 is the first start), minimised as one batch; the lowest χ² is kept and
    ``multiple_minima`` flags residues where converged starts found distinct minima (rule in
    :mod:`mfjax.multistart`). linear_grid_search: evaluate the grid search through the linearity of
    χ²'s rates in the order parameters and Rex (:mod:`mfjax.linear_grid`; models with a fixed tensor,
    grids of at least ``linear_grid.MIN_POINTS`` points; not with shared_programs, whose point is one set
    of compiled programs per number of parameters):
    the same grid point as the direct search (near-ties re-evaluated with the model's χ²), m8's 161,051
    points about 30 times faster; False: the direct search of :mod:`mfjax.solvers.grid`. polish: after
    the fit (and the choice among the starts), a Gauss–Newton with SVD steps in valley coordinates
    (:mod:`mfjax.polish`, docs/polish.md) takes flat-valley fits from χ² 1e-13 to 1e-28; A·x ≥ b kept,
    the better of the fit and the polish kept; its status and counts are in ``FitResult.polish``.
    Returns a :class:`FitResult`.
    """
    job = _setup(data, model, diffusion=diffusion, r=r, csa=csa, vectors=vectors, x0=x0, grid_inc=grid_inc,
                 grid_bounds=grid_bounds, algorithm=algorithm, line_search=line_search, hessian_mod=hessian_mod,
                 constraints=constraints, func_tol=func_tol, grad_tol=grad_tol, max_iter=max_iter, preset=preset,
                 shared_programs=shared_programs, starts=starts, start_kind=start_kind, seed=seed,
                 linear_grid_search=linear_grid_search, polish=polish)
    model, problem = job.model, job.problem
    if not job.single:
        x, chi2, counts, status, grid_count, multiple_minima = _multistart(
            problem, model, x0, job.starts, start_kind, seed, grid_inc, grid_bounds, job.A, job.b, job.solver,
            job.options["max_iter"], n_devices, progress)
        return _finish(job, x, chi2, counts, status, grid_count, multiple_minima, n_devices)
    start, grid_count = _single_start(job, linear=linear_grid_search and not shared_programs)
    if model.n_params:
        res = batch.minimise(problem.fun, start, problem.args, job.A, job.b, solver=job.solver,
                             max_iter=job.options["max_iter"], n_devices=n_devices, progress=progress,
                             one_width=shared_programs)
        return _finish(job, res.x, res.f, res[2:6], res.status.copy(), grid_count, n_devices=n_devices)
    n = job.data.n_residues
    size = -(-n // 256) * 256         # a fixed shape for any residue count (rows repeated)
    pick = np.minimum(np.arange(size), n - 1)
    chi2 = np.asarray(batch.evaluate(problem.fun, np.zeros((size, 0)),
                                     {k: np.asarray(v)[pick] for k, v in problem.args.items()}))[:n]
    counts = (np.zeros(n, np.int64), np.ones(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64))
    return _finish(job, start, chi2, counts, np.full(n, Status.NO_PARAMETERS, np.int32), grid_count)


@dataclass
class _Job:
    """One model's fit of :func:`fit`, set up: the problem and what the end of the fit needs."""

    model: models.Model
    data: RelaxationData        # the data with the residues not fitted masked out
    problem: object             # objective.Problem
    A: np.ndarray
    b: np.ndarray
    solver: object
    skipped: np.ndarray         # (n,) bool: not fitted (too few points)
    n_points: np.ndarray
    single: bool                # one start per residue
    starts: int
    options: dict               # fit's keyword arguments (the FitResult's settings)


def _setup(data, model, **o) -> _Job:
    """Validates fit's arguments ``o`` and builds the residues' problem, constraints and solver."""
    if o["preset"] is not None:
        chosen = presets.get_preset(o["preset"])
        o.update(func_tol=chosen.func_tol, grad_tol=chosen.grad_tol, max_iter=chosen.max_iter,
                 constraints=chosen.constraints)
    solver = registry.build(o["algorithm"], o["line_search"], o["hessian_mod"], o["constraints"],
                            func_tol=o["func_tol"], grad_tol=o["grad_tol"])      # validates the settings up front
    starts = int(o["starts"])
    if starts < 1 or o["start_kind"] not in multistart.START_KINDS:
        raise ValueError(f"starts must be >= 1 and start_kind one of {multistart.START_KINDS}, "
                         f"got {starts} and {o['start_kind']!r}")
    model = models.get_model(model)
    grid_bounds = o["grid_bounds"]
    if not isinstance(grid_bounds, str) and isinstance(grid_bounds, Mapping):
        sanity.parameters({k: np.ravel(v) for k, v in grid_bounds.items()}, what="grid bound")
    if not isinstance(data, RelaxationData):
        raise ValueError(f"data must be an mfjax RelaxationData, got {type(data).__name__}")
    n_points = np.asarray(data.n_points)
    skipped = n_points < max(MIN_POINTS, model.n_params)
    if skipped.any():     # not fitted: their data are hidden from the solver, which then stops at once
        data = RelaxationData(data.experiment, data.values, data.errors, data.mask & ~skipped[:, None], data.residues)
    single = starts == 1 or not model.n_params
    pad = single and (o["algorithm"], o["hessian_mod"]) in _PADDING_SAFE
    diffusion = o["diffusion"]
    problem = residue_problem(data, model, diffusion=diffusion, r=o["r"], csa=o["csa"], vectors=o["vectors"],
                              generic=o["shared_programs"], pad=pad)
    size = np.asarray(problem.scales).shape[0]   # the parameter vector's length (padded beyond n_params if shared)
    tm = None if model.local_tm or diffusion is None else float(diffusion.tm)
    A, b = models.linear_constraints(model, tm=tm)
    if o["shared_programs"]:
        A, b = _pad_constraints(A, b, _constraint_rows(shared_size(model.n_params)), size)
    return _Job(model, data, problem, A, b, solver, skipped, n_points, single, starts, o)


def _single_start(job: _Job, linear: bool, any_size: bool = False):
    """The (n, size) scaled start of every residue (x0, or the grid search's best point; padding entries
    0) and the grid points evaluated (n,). linear: through :mod:`mfjax.linear_grid` where it covers the model
    (its grid search runs on the model's own χ², so the same point as ``fit``'s default) and, unless
    ``any_size``, where the grid is large enough for it to pay."""
    model, problem, o = job.model, job.problem, job.options
    n, scales = job.data.n_residues, np.asarray(job.problem.scales)
    size = scales.shape[0]
    grid_count = np.zeros(n, np.int64)
    if o["x0"] is not None:
        return _pad_columns(_start_points(o["x0"], model, n), size) / scales, grid_count
    if not model.n_params:
        return np.zeros((n, 0)), grid_count
    inc = _grid_inc(o["grid_inc"], model)
    Ac, bc = (job.A, job.b) if job.solver.constrained else (None, None)
    if linear and linear_grid.covers(model, o["diffusion"], None if any_size else int(np.prod(inc))):
        own = problem if not o["shared_programs"] else residue_problem(
            job.data, model, diffusion=o["diffusion"], r=o["r"], csa=o["csa"], vectors=o["vectors"])
        lower, upper = (bound / np.asarray(own.scales) for bound in models.grid_bounds(model, o["grid_bounds"]))
        A, b = models.linear_constraints(model, tm=float(o["diffusion"].tm)) if Ac is not None else (None, None)
        start, _, grid_count = linear_grid.grid_search(own, model, job.data.experiment, lower, upper, inc, A, b)
        return _pad_columns(np.asarray(start), size), grid_count
    lower, upper = (_pad_columns(bound, size) for bound in models.grid_bounds(model, o["grid_bounds"]))
    start, _, grid_count = grid.grid_search(problem.fun, problem.args, lower / scales, upper / scales,
                                            _pad_columns(inc, size, 1), Ac, bc)
    return np.asarray(start), grid_count


def _finish(job: _Job, x, chi2, counts, status, grid_count, multiple_minima=None, n_devices=None) -> FitResult:
    """The FitResult of a set-up fit from the solver's scaled end points ``x`` (n, size), χ², counts
    (iterations, f, g, h) and status: polished if asked, corners marked, residues not fitted blanked,
    SI parameters."""
    model, problem, skipped, n_points = job.model, job.problem, job.skipped, job.n_points
    x, status = np.asarray(x), np.asarray(status, np.int32).copy()
    scales = np.asarray(problem.scales)
    polished = None
    if job.options["polish"] and model.n_params:
        Ap, bp = (job.A, job.b) if job.solver.constrained else (None, None)
        done = polish_stage.polish(problem.fun, problem.args, model, x, chi2, Ap, bp, n_devices=n_devices)
        x, chi2 = done.x, done.chi2
        polished = {k: np.where(skipped, 0, getattr(done, k)) for k in ("iterations", "f_count", "g_count")}
        polished.update(status=done.status, chi2_before=np.where(skipped, np.nan, done.chi2_before),
                        improved=done.improved & ~skipped)
    _mark_degenerate_corners(model, problem, x, chi2, status)
    status[skipped] = Status.SKIPPED_TOO_FEW_DATA
    status[n_points == 0] = Status.SKIPPED_NO_DATA
    if polished is not None:
        polished["status"] = np.where(skipped, status, polished["status"]).astype(np.int32)
    params = models.deconvolve(model, {p: x[:, j] * scales[j] for j, p in enumerate(model.params)})
    params = {k: np.where(skipped, np.nan, v) for k, v in params.items()}
    chi2 = np.where(skipped, np.nan, np.asarray(chi2))
    counts = [np.where(skipped, 0, np.asarray(c)) for c in counts]
    grid_count = np.where(skipped, 0, grid_count)
    settings = {k: job.options[k] for k in _SETTINGS}
    settings["x0_given"] = job.options["x0"] is not None
    if multiple_minima is None:
        multiple_minima = np.zeros(len(status), bool)
    return FitResult(model=model.name, residues=tuple(job.data.residues), params=params, chi2=np.asarray(chi2),
                     iterations=np.asarray(counts[0]), f_count=np.asarray(counts[1]), g_count=np.asarray(counts[2]),
                     h_count=np.asarray(counts[3]), status=status, grid_count=np.asarray(grid_count),
                     n_points=n_points, settings=settings, multiple_minima=multiple_minima,
                     polish=polished)


_SETTINGS = ("diffusion", "r", "csa", "grid_inc", "grid_bounds", "algorithm", "line_search", "hessian_mod",
             "constraints", "preset", "shared_programs", "func_tol", "grad_tol", "max_iter", "vectors", "starts",
             "start_kind", "seed", "linear_grid_search", "polish")


@x64
def fit_batch(jobs, one_width=False, n_devices=None, progress=None) -> list[FitResult]:
    """Several fits through the shared programs as few engine calls as possible: ``jobs`` is a list of
    (data, model, options) with ``options`` :func:`fit`'s keyword arguments (every job the same solver
    settings; data, r, csa, vectors may differ). Each job is set up as ``fit(data, model,
    shared_programs=True, **options)`` does, except that its grid search goes through
    :mod:`mfjax.linear_grid` where that covers the model, whatever the grid's size (the model's own χ², so the
    point of ``fit``'s default search, direct or linear, rather than the shared programs' one); the
    jobs whose problems share one function and solver (e.g. m1–m5 and m9 padded to 3 parameters, with one
    tensor) are then minimised as ONE batch of (job, residue) problems. The engine's results do not depend
    on the other problems of the batch (:mod:`mfjax.solvers.batch`), so each job's FitResult is bitwise
    the one it gets alone. Jobs with several starts or no parameters run through :func:`fit` on their own.
    one_width: as ``batch.minimise`` (True: the tail's width for every problem, as ``fit_models``)."""
    results, groups = [None] * len(jobs), {}
    for i, (data, model, options) in enumerate(jobs):
        unknown = sorted(set(options) - set(_FIT_DEFAULTS))
        if unknown:
            raise ValueError(f"unknown fit options {unknown} for model {model!r}")
        options = {**_FIT_DEFAULTS, **options, "shared_programs": True}
        if models.get_model(model).n_params == 0 or int(options["starts"]) > 1:
            results[i] = fit(data, model, n_devices=n_devices, **options)
            continue
        job = _setup(data, model, **options)
        start, grid_count = _single_start(job, linear=options["linear_grid_search"], any_size=True)
        groups.setdefault((job.problem.fun, job.solver, start.shape[1]), []).append((i, job, start, grid_count))
    for (fun, solver, size), members in groups.items():
        n = [m[1].data.n_residues for m in members]
        cat = lambda arrays: np.concatenate([np.asarray(a) for a in arrays])
        per = lambda job, a: np.broadcast_to(np.asarray(a, np.float64), (job.data.n_residues,) + np.shape(a))
        res = batch.minimise(fun, cat([m[2] for m in members]),
                             jax.tree.map(lambda *a: cat(a), *[m[1].problem.args for m in members]),
                             cat([per(m[1], m[1].A) for m in members]), cat([per(m[1], m[1].b) for m in members]),
                             solver=solver, max_iter=cat([per(m[1], m[1].options["max_iter"]) for m in members]),
                             n_devices=n_devices, progress=progress, one_width=one_width)
        edges = np.cumsum([0] + n)
        for (i, job, _, grid_count), lo, hi in zip(members, edges[:-1], edges[1:]):
            part = [np.asarray(a)[lo:hi] for a in res]
            results[i] = _finish(job, part[0], part[1], part[2:6], part[6], grid_count, n_devices=n_devices)
    return results


@x64
def fit_models(data: RelaxationData, names=("m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"),
               diffusion=None, **kwargs) -> dict[str, FitResult]:
    """Fit the models ``names`` to every residue (e.g. before model selection): {model name: FitResult}.

    Each model is fitted as :func:`fit` does (same keyword arguments), through the shared programs
    (``shared_programs=True``): models padded to the same parameter count (3: m1–m5, m9, tm0–tm3, tm9; 6:
    m6–m8, tm4–tm8) run the same compiled programs, so a new process compiles one solver program for
    all of them instead of one per model. tm0–tm9 models ignore ``diffusion`` (they fit their own local τm).
    """
    out = {}
    for name in names:
        model = models.get_model(name)
        out[model.name] = fit(data, model, diffusion=None if model.local_tm else diffusion,
                              shared_programs=True, **kwargs)
    return out


_FIT_DEFAULTS = {name: p.default for name, p in inspect.signature(fit).parameters.items()
                 if name not in ("data", "model", "n_devices", "progress")}   # fit's keyword defaults


def _multistart(problem, model, x0, starts, start_kind, seed, grid_inc, grid_bounds, A, b, solver, max_iter,
                n_devices, progress):
    """``starts`` starts per residue minimised as one batch (residue-major), the best kept."""
    start, grid_count = multistart_points(problem, model, x0, starts, start_kind, seed, grid_inc, grid_bounds,
                                          A, b, solver.constrained)
    n, k = start.shape[:2]
    args = {key: np.repeat(np.asarray(value), k, axis=0) for key, value in problem.args.items()}
    res = batch.minimise(problem.fun, start.reshape(n * k, -1), args, A, b, solver=solver, max_iter=max_iter,
                         n_devices=n_devices, progress=progress)
    shaped = lambda a: np.asarray(a).reshape((n, k) + np.shape(a)[1:])
    best, flag = multistart.keep_best(shaped(res.x), shaped(res.f), shaped(res.status))
    pick = lambda a: shaped(a)[np.arange(n), best]
    counts = tuple(pick(c) for c in (res.iterations, res.f_count, res.g_count, res.h_count))
    return pick(res.x), pick(res.f), counts, pick(res.status).copy(), grid_count, flag


@x64
def multistart_points(problem, model, x0, starts, start_kind, seed, grid_inc, grid_bounds, A, b, constrained):
    """The (n, starts, p) scaled start points of ``fit(starts=...)`` (a given x0 first, then the grid's, then
    the random ones) and the grid evaluations per residue (n,)."""
    n, scales = problem.args["values"].shape[0], np.asarray(problem.scales)
    lower, upper = models.grid_bounds(model, grid_bounds)
    lower, upper = lower / scales, upper / scales
    Ac, bc = (A, b) if constrained else (None, None)
    n_random = {"grid": 0, "random": starts, "mixed": starts // 2}[start_kind]
    n_given = 0 if x0 is None else 1
    n_grid = starts - n_random - n_given
    parts = [] if x0 is None else [(_start_points(x0, model, n) / scales)[:, None]]
    grid_count = np.zeros(n, np.int64)
    if n_grid > 0:
        points, _ = multistart.grid_starts(problem.fun, problem.args, lower, upper, _grid_inc(grid_inc, model),
                                           Ac, bc, n_grid)
        parts.append(points)
        grid_count[:] = int(np.prod(_grid_inc(grid_inc, model)))
    if n_random > 0:
        times = np.array([unit == "s" for unit in model.units])
        parts.append(multistart.random_starts(n, lower, upper, Ac, bc, n_random, seed, log_axes=times))
    return np.concatenate(parts, axis=1), grid_count
