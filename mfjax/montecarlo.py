"""Monte Carlo errors of model-free parameters as relax computes them (relax ``pipe_control/error_analysis.py``,
``monte_carlo.create_data``/``initial_values``/``error_analysis``; d'Auvergne & Gooley 2008), batched.

Each replica r of each residue: data = back-calculation from the fitted parameters (method "back_calc",
relax's default) or the measured data (method "direct"), plus Gaussian noise of SD σ (the measured errors,
distribution "measured", or a given ``sigma``, distribution "fixed"); then a refit with the fit's own
settings, from the fitted parameters (start "fit", relax's ``monte_carlo.initial_values``) or from a grid
search (start "grid"). The χ² weights stay the measured errors. Every replica × residue is one problem of
one batched ``mfjax.fit`` call per chunk (replicas stacked along the residue axis).

Noise is reproducible: replica r's standard normals come from ``jax.random.fold_in(PRNGKey(seed), r)``,
drawn for the whole (n_residues, n_measurements) data set, so they do not depend on the chunking.
The error of a parameter is the sample SD (n − 1) over the selected replicas (NaN when fewer than two).
With ``eliminate=True`` a replica is deselected when it fails (status other than CONVERGED,
NO_PARAMETERS or DEGENERATE_CORNER)
or relax's elimination rules remove it (:func:`mfjax.selection.eliminated`).

Chunks of replicas are saved to ``resume_dir`` as they finish (npz written to a temporary name, then
renamed, with a manifest of the seed and a hash of the inputs): an interrupted run loses at most the
chunk in flight and, called again with the same arguments, resumes to bitwise the same numbers.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import jax
import numpy as np

from mfjax import models, sanity, selection
from mfjax._x64 import x64
from mfjax.data import RelaxationData
from mfjax.fit import fit
from mfjax.objective import back_calc
from mfjax.status import Status

METHODS = ("back_calc", "direct")
DISTRIBUTIONS = ("measured", "fixed")
STARTS = ("fit", "grid")
PROBLEMS_PER_CHUNK = 1 << 17     # default chunk: about this many replica × residue fits
_NOISE_BLOCK = 8                 # replicas per noise draw (fixed shape: the same bits whatever the chunk)
_SKIPPED = (Status.SKIPPED_NO_DATA, Status.SKIPPED_TOO_FEW_DATA)
_GOOD = (Status.CONVERGED, Status.NO_PARAMETERS, Status.DEGENERATE_CORNER)   # the others count as failed
_FIT_SETTINGS = ("diffusion", "r", "csa", "vectors", "grid_inc", "grid_bounds", "algorithm", "line_search",
                 "hessian_mod", "constraints", "func_tol", "grad_tol", "max_iter", "polish")


@dataclass
class MonteCarloResult:
    """Per-parameter SDs ``errors`` (name -> (n,), SI; NaN for skipped residues), the replicas' fitted
    ``samples`` (name -> (n_sims, n)), their ``chi2`` and ``status`` (n_sims, n), ``selected``
    (n_sims, n) bool (the replicas the SDs use), ``n_eliminated`` (n,) and ``n_failed`` (n,) (replicas
    with a status other than CONVERGED, NO_PARAMETERS or DEGENERATE_CORNER; removed only with
    ``eliminate=True``), and
    ``n_fits_run``: replica × residue fits this call ran (the rest came from ``resume_dir``)."""

    model: str
    residues: tuple[str, ...]
    errors: dict
    samples: dict
    chi2: np.ndarray
    status: np.ndarray
    selected: np.ndarray
    n_eliminated: np.ndarray
    n_failed: np.ndarray
    n_fits_run: int
    settings: dict = field(default_factory=dict)

    def to_dataframe(self):
        """One row per residue: the SD of every parameter and the elimination counts."""
        import pandas as pd
        cols = {"residue": list(self.residues)}
        cols.update({f"sd_{k}": v for k, v in self.errors.items()})
        cols.update(n_selected=self.selected.sum(0), n_eliminated=self.n_eliminated, n_failed=self.n_failed)
        return pd.DataFrame(cols)


@functools.lru_cache(maxsize=None)
def _normals(shape):
    """jit: standard normals (_NOISE_BLOCK, *shape) for replicas ``index`` (_NOISE_BLOCK,) of ``seed``."""

    def one(key, r):
        return jax.random.normal(jax.random.fold_in(key, r), shape, dtype=np.float64)

    return jax.jit(jax.vmap(one, in_axes=(None, 0)))


@x64
def replica_noise(seed: int, replicas, shape) -> np.ndarray:
    """Standard normals (len(replicas), *shape) of the given replica indices; each replica's draw
    depends only on (seed, replica index)."""
    replicas = np.asarray(replicas, np.int64)
    key = jax.random.PRNGKey(seed)
    out = np.empty((len(replicas),) + tuple(shape))
    for lo in range(0, len(replicas), _NOISE_BLOCK):
        block = replicas[lo:lo + _NOISE_BLOCK]
        padded = np.concatenate([block, np.repeat(block[-1:], _NOISE_BLOCK - len(block))]).astype(np.uint32)
        out[lo:lo + len(block)] = np.asarray(_normals(tuple(shape))(key, padded))[:len(block)]
    return out


def _per_residue(value, rows, k):
    """A scalar, or an (n, ...) per-residue array restricted to ``rows`` and tiled k times."""
    if value is None or np.ndim(value) == 0:
        return value
    return np.tile(np.asarray(value)[rows], (k,) + (1,) * (np.ndim(value) - 1))


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(np.ascontiguousarray(part).tobytes())
            h.update(str(part.shape).encode())
        else:
            h.update(repr(part).encode())
    return h.hexdigest()


def _write_atomic(path: Path, write):
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


# The fitted parameters are fed back (back-calculation, start values): the Method of Multipliers may leave
# them a hair outside a bound (e.g. Rex = −7e−27), which the physical-range checks would refuse.
_FITTED = ("s2", "tau", "rex", "tm")


@x64
def monte_carlo(data: RelaxationData, fit_result, n_sims=500, seed=0, start="fit", method="back_calc",
                distribution="measured", sigma=None, eliminate=False, chunk_size=None, resume_dir=None,
                progress=None) -> MonteCarloResult:
    """Monte Carlo errors of ``fit_result`` (a :class:`mfjax.FitResult` of ``data``): see the module doc.

    n_sims: replicas (relax's default 500); seed: int; start "fit" | "grid"; method "back_calc" |
    "direct"; distribution "measured" | "fixed" (with ``sigma``: scalar, (m,) or (n, m), units of the
    data); eliminate: deselect failed and eliminated replicas; chunk_size: replicas per batched fit
    (default: about 131,072 fits per chunk); resume_dir: folder for finished chunks (created);
    progress: called with (replicas done, n_sims) after each chunk, or True for a tqdm bar (needs tqdm).
    """
    n_sims, seed = int(n_sims), int(seed)
    if n_sims < 1:
        raise ValueError(f"n_sims must be >= 1, got {n_sims}")
    if start not in STARTS or method not in METHODS or distribution not in DISTRIBUTIONS:
        raise ValueError(f"start must be one of {STARTS}, method one of {METHODS}, distribution one of "
                         f"{DISTRIBUTIONS}; got {start!r}, {method!r}, {distribution!r}")
    if tuple(fit_result.residues) != tuple(data.residues):
        raise ValueError("fit_result does not belong to data: its residues differ")
    exp, n, m = data.experiment, data.n_residues, data.experiment.n_measurements
    if distribution == "fixed":
        if sigma is None:
            raise ValueError("distribution='fixed' needs sigma (scalar, (m,) or (n, m), units of the data)")
        noise_sd = np.broadcast_to(np.asarray(sigma, np.float64), (n, m))
        if not np.all(np.isfinite(noise_sd) & (noise_sd >= 0)):
            raise ValueError("sigma must be finite and >= 0")
    else:
        noise_sd = np.asarray(data.errors)
    model = models.get_model(fit_result.model)
    settings = {k: fit_result.settings[k] for k in _FIT_SETTINGS if k in fit_result.settings}
    rows = np.flatnonzero(~np.isin(fit_result.status, _SKIPPED))
    n_a = len(rows)
    chunk = int(chunk_size) if chunk_size else max(1, PROBLEMS_PER_CHUNK // max(n_a, 1))
    fitted = {p: np.asarray(fit_result.params[p], np.float64) for p in model.params}
    if method == "back_calc":
        with sanity.allow(*_FITTED):
            base = back_calc(exp, model, {p: v[rows] for p, v in fitted.items()}, settings.get("diffusion"),
                             _sub(settings.get("r"), rows), _sub(settings.get("csa"), rows),
                             _sub(settings.get("vectors"), rows)) if n_a else np.zeros((0, m))
    else:
        base = np.asarray(data.values)[rows]
    names = list(fit_result.params)

    store = None
    if resume_dir is not None:
        digest = _digest(model.name, n_sims, seed, start, method, distribution, chunk, np.asarray(noise_sd),
                         np.asarray(data.values), np.asarray(data.errors), np.asarray(data.mask),
                         *[fitted[p] for p in model.params], repr(sorted(settings.items(), key=str)))
        store = _Store(Path(resume_dir), dict(seed=seed, n_sims=n_sims, chunk_size=chunk, model=model.name,
                                               method=method, start=start, distribution=distribution,
                                               digest=digest))

    samples = {p: np.full((n_sims, n), np.nan) for p in names}
    chi2 = np.full((n_sims, n), np.nan)
    status = np.tile(np.where(np.isin(fit_result.status, _SKIPPED), fit_result.status, Status.RUNNING),
                     (n_sims, 1)).astype(np.int32)
    if progress is True:
        progress = _tqdm_progress(n_sims)
    n_fits_run = 0
    for lo in range(0, n_sims, chunk):
        hi = min(lo + chunk, n_sims)
        saved = store.load(lo, hi) if store else None
        if saved is None and n_a:
            saved = _run_chunk(data, model, fit_result, settings, rows, base, noise_sd, seed, lo, hi, start,
                               names)
            n_fits_run += (hi - lo) * n_a
            if store:
                store.save(lo, hi, saved)
        if saved is not None:
            for p in names:
                samples[p][lo:hi, rows] = saved[p]
            chi2[lo:hi, rows] = saved["chi2"]
            status[lo:hi, rows] = saved["status"]
        if progress is not None:
            progress(hi, n_sims)

    active = ~np.isin(status, _SKIPPED)
    failed = active & ~np.isin(status, _GOOD)
    tm = None if model.local_tm or settings.get("diffusion") is None else float(settings["diffusion"].tm)
    elim = active & selection.eliminated(model, {p: samples[p] for p in model.params}, tm) if model.n_params \
        else np.zeros_like(active)
    selected = active & ~((failed | elim) if eliminate else False)
    errors = {p: _sd(samples[p], selected) for p in names}
    return MonteCarloResult(model=model.name, residues=tuple(data.residues), errors=errors, samples=samples,
                            chi2=chi2, status=status, selected=selected,
                            n_eliminated=(elim & ~failed).sum(0) if eliminate else np.zeros(n, np.int64),
                            n_failed=failed.sum(0), n_fits_run=n_fits_run,
                            settings=dict(n_sims=n_sims, seed=seed, start=start, method=method,
                                          distribution=distribution, eliminate=eliminate, chunk_size=chunk))


def _tqdm_progress(total):
    try:
        from tqdm.auto import tqdm
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("progress=True needs tqdm (pip install tqdm); or pass a callable") from err
    bar = tqdm(total=total, unit="replica")

    def update(done, _total):
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


def _sub(value, rows):
    return value if value is None or np.ndim(value) == 0 else np.asarray(value)[rows]


def _run_chunk(data, model, fit_result, settings, rows, base, noise_sd, seed, lo, hi, start, names):
    """Fit replicas lo..hi−1 of the active residues ``rows`` as one batch."""
    k, n_a = hi - lo, len(rows)
    z = replica_noise(seed, np.arange(lo, hi), (data.n_residues, data.experiment.n_measurements))[:, rows]
    values = (base[None] + noise_sd[rows][None] * z).reshape(k * n_a, -1)
    mask = np.tile(np.asarray(data.mask)[rows], (k, 1))
    errors = np.tile(np.asarray(data.errors)[rows], (k, 1))
    labels = [f"{r}:{i}" for r in range(lo, hi) for i in rows]
    stacked = RelaxationData(data.experiment, np.where(mask, values, 0.0), np.where(mask, errors, 1.0), mask, labels)
    kw = dict(settings)
    for key in ("r", "csa", "vectors"):
        if key in kw:
            kw[key] = _per_residue(kw[key], rows, k)
    if start == "fit":
        kw["x0"] = {p: np.tile(np.asarray(fit_result.params[p])[rows], k) for p in model.params}
    with sanity.allow(*_FITTED):
        res = fit(stacked, model, **kw)
    out = {p: res.params[p].reshape(k, n_a) for p in names}
    out["chi2"] = res.chi2.reshape(k, n_a)
    out["status"] = res.status.reshape(k, n_a)
    return out


def _sd(values, selected):
    """Sample SD (n − 1) over the selected replicas per residue; NaN with fewer than two."""
    count = selected.sum(0)
    x = np.where(selected, values, 0.0)
    mean = x.sum(0) / np.maximum(count, 1)
    var = (np.where(selected, values - mean, 0.0) ** 2).sum(0) / np.maximum(count - 1, 1)
    return np.where(count >= 2, np.sqrt(var), np.nan)


class _Store:
    """Finished chunks in a folder: manifest.json (seed, settings, digest) and chunk_<lo>_<hi>.npz."""

    def __init__(self, folder: Path, manifest: dict):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        path = folder / "manifest.json"
        if path.exists():
            old = json.loads(path.read_text())
            if old != manifest:
                diff = {k: (old.get(k), v) for k, v in manifest.items() if old.get(k) != v}
                raise ValueError(f"resume_dir {folder} holds a different Monte Carlo run (differs in {diff}); "
                                 "use another folder or the same arguments")
        else:
            _write_atomic(path, lambda h: h.write(json.dumps(manifest, indent=1).encode()))

    def _path(self, lo, hi):
        return self.folder / f"chunk_{lo:07d}_{hi:07d}.npz"

    def load(self, lo, hi):
        path = self._path(lo, hi)
        if not path.exists():
            return None
        with np.load(path) as z:
            return {k: z[k] for k in z.files}

    def save(self, lo, hi, arrays):
        _write_atomic(self._path(lo, hi), lambda h: np.savez(h, **arrays))
