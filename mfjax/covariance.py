"""Parameter errors from the curvature of χ² at the minimum, and what the data do not determine.

Near a minimum χ²(x) ≈ χ²_min + ½ δᵀHδ, and for Gaussian errors the covariance of the fitted
parameters is 2·H⁻¹ (Press et al., Numerical Recipes §15.5, with H = ∇²χ² = 2·JᵀWJ at a zero-residual
minimum; here H is the exact Hessian by autodiff). It is formed in relax's scaled coordinates (times in
ps, order parameters and Rex as they are) and converted to SI: Σ_SI = S·Σ·S, S = diag(scales).

Identifiability: the eigen-decomposition H = V·diag(λ)·Vᵀ of the scaled Hessian. A direction v is
*undetermined* when λ ≤ RCOND·λ_max (RCOND = 1e-8, i.e. a condition number of 1e8 or more; also
λ ≤ 0). It is reported as the combination of parameters it moves, e.g. "0.71·s2f − 0.70·ts"
(components ≥ 0.01 in size, the largest made positive; scaled coordinates). The covariance is then the
pseudo-inverse over the determined directions only, and a parameter with a component of
≥ UNDETERMINED_WEIGHT in an undetermined direction gets an infinite error. At a minimum on a
constraint (S2 = 1, τe = 0, Rex = 0, ...) the curvature is that of the unconstrained χ²: the errors
ignore the bound (Monte Carlo does not).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from mfjax import models
from mfjax._padding import padded_size
from mfjax._x64 import x64
from mfjax.objective import residue_problem
from mfjax.status import Status

RCOND = 1e-8
UNDETERMINED_WEIGHT = 0.1
_SHOWN = 0.01
_SKIPPED = (Status.SKIPPED_NO_DATA, Status.SKIPPED_TOO_FEW_DATA)


@dataclass
class CovarianceResult:
    """``errors``: name -> (n,) SDs in SI (inf: undetermined, NaN: skipped residue); ``covariance``
    (n, p, p) SI in the model's parameter order ``params``; ``undetermined``: per residue a list of
    the undetermined combinations (strings); ``eigenvalues`` (n, p) and ``eigenvectors`` (n, p, p)
    (columns) of the scaled Hessian; ``condition`` (n,) λ_max/λ_min (inf when λ_min ≤ 0)."""

    model: str
    residues: tuple[str, ...]
    params: tuple[str, ...]
    errors: dict
    covariance: np.ndarray
    undetermined: list
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    condition: np.ndarray


@functools.lru_cache(maxsize=None)
def _hessian(fun):
    return jax.jit(jax.vmap(jax.hessian(fun), in_axes=(0, 0)))


def combination(vector, names) -> str:
    """A direction as text, e.g. "0.71·s2f − 0.70·ts" (components ≥ 0.01, largest positive)."""
    vector = np.asarray(vector, np.float64)
    vector = vector * np.sign(vector[np.argmax(np.abs(vector))])
    terms = [(c, name) for c, name in zip(vector, names) if abs(c) >= _SHOWN]
    text = "".join(f"{' − ' if c < 0 else ' + '}{abs(c):.2f}·{name}" for c, name in terms)
    return text[3:] if text.startswith(" + ") else "−" + text[3:]


@x64
def covariance_errors(data, fit_result) -> CovarianceResult:
    """Errors of ``fit_result`` (a :class:`mfjax.FitResult` of ``data``) from 2·H⁻¹ at its minimum,
    with the identifiability report of the module doc."""
    if tuple(fit_result.residues) != tuple(data.residues):
        raise ValueError("fit_result does not belong to data: its residues differ")
    model = models.get_model(fit_result.model)
    s = fit_result.settings
    problem = residue_problem(data, model, diffusion=s.get("diffusion"), r=s.get("r"), csa=s.get("csa"),
                              vectors=s.get("vectors"))
    n, p = data.n_residues, model.n_params
    scales = np.asarray(problem.scales)
    x = np.stack([np.asarray(fit_result.params[q], np.float64) for q in model.params], axis=1) / scales \
        if p else np.zeros((n, 0))
    skipped = np.isin(fit_result.status, _SKIPPED)
    x = np.where(skipped[:, None] | ~np.isfinite(x), 0.0, x)         # skipped residues have NaN parameters
    size = padded_size(n, 8)
    pad = lambda a: np.concatenate([a, np.repeat(a[-1:], size - n, axis=0)]) if size > n else a
    H = np.asarray(_hessian(problem.fun)(jnp.asarray(pad(x)), jax.tree.map(pad, problem.args)))[:n]
    H = 0.5 * (H + np.swapaxes(H, 1, 2))
    lam, vec = np.linalg.eigh(H) if p else (np.zeros((n, 0)), np.zeros((n, 0, 0)))
    lam_max = lam.max(axis=1, initial=0.0) if p else np.zeros(n)
    bad = ~(lam > RCOND * lam_max[:, None]) | ~np.isfinite(lam)
    inv = np.where(bad, 0.0, 1.0 / np.where(bad, 1.0, lam))
    cov_scaled = 2.0 * np.einsum("nik,nk,njk->nij", vec, inv, vec)
    cov = cov_scaled * scales[None, :, None] * scales[None, None, :]
    infinite = np.any(bad[:, None, :] & (np.abs(vec) >= UNDETERMINED_WEIGHT), axis=2)      # (n, p)
    sd = np.sqrt(np.clip(np.diagonal(cov, axis1=1, axis2=2), 0.0, None))
    sd = np.where(infinite, np.inf, sd)
    sd[skipped] = np.nan
    cov[skipped] = np.nan
    undetermined = [[] if skipped[i] else [combination(vec[i, :, k], model.params) for k in range(p) if bad[i, k]]
                    for i in range(n)]
    with np.errstate(divide="ignore"):
        condition = np.where(lam[:, 0] > 0, lam_max / np.where(lam[:, 0] > 0, lam[:, 0], 1.0), np.inf) if p \
            else np.ones(n)
    return CovarianceResult(model=model.name, residues=tuple(data.residues), params=model.params,
                            errors={q: sd[:, j] for j, q in enumerate(model.params)}, covariance=cov,
                            undetermined=undetermined, eigenvalues=lam, eigenvectors=vec, condition=condition)
