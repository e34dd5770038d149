"""Model-free spectral densities J(ω) in relax's numerically stabilised forms (relax
``lib/spectral_densities/model_free.py``; Lipari & Szabo 1982, Clore et al. 1990).

J(ω) = 0.4 · Σ_i (c_i·τ_i) · X_i(ω), summed over the diffusion components i (weights c_i, correlation
times τ_i in s), with X_i built from

    fact_ti(ω)   = 1 / (1 + ω²·τ_i²)
    fact_t(ω)    = ((t + τ_i)·t) · (1 / ((t + τ_i)² + ω²·(t·τ_i)²))    for an internal time t ∈ {te, tf, ts}

fact_t equals τ'/(1 + (ωτ')²)/τ_i with 1/τ' = 1/τ_i + 1/t, but never divides by t: it is 0 at t = 0
(d'Auvergne & Gooley 2008). The operations are grouped exactly as written (and the component sum is
numpy's), which is relax's order: with it χ² equals relax's to the last bit when XLA does not contract
a*b + c into fused multiply-adds (see tests/test_objective.py::test_bit_exact_without_fma).
J is in s (rad⁻¹), ω in rad s⁻¹.
"""
from __future__ import annotations

from typing import Callable, Mapping

import jax.numpy as jnp

from .summation import numpy_sum

#: Model-free parameters of each form key (see ``mfjax.models.FORMS``).
FORM_PARAMS: dict[str, tuple[str, ...]] = {
    "none": (),
    "s2": ("s2",),
    "s2_te": ("s2", "te"),
    "s2f_s2_ts": ("s2f", "s2", "ts"),
    "s2f_tf_s2_ts": ("s2f", "tf", "s2", "ts"),
    "s2f_s2s_ts": ("s2f", "s2s", "ts"),
    "s2f_tf_s2s_ts": ("s2f", "tf", "s2s", "ts"),
}


def fact_ti(omega, tau):
    """1 / (1 + ω²τ²): the overall-tumbling factor (dimensionless)."""
    return 1.0 / (1.0 + omega ** 2 * tau ** 2)


def fact_t(omega, t, tau):
    """(t + τ)·t / ((t + τ)² + ω²(tτ)²): the internal-motion factor (dimensionless), 0 at t = 0.

    The denominator is 0 only when t = τ = 0 (a local τm of 0 with no internal motion); the factor is
    then taken as 0, its limit times τ, with a safe denominator so that derivatives stay finite.
    """
    t_tau = t + tau
    den = t_tau ** 2 + omega ** 2 * (t * tau) ** 2
    zero = den == 0.0
    return jnp.where(zero, 0.0, (t_tau * t) * (1.0 / jnp.where(zero, 1.0, den)))


# Each form: (prefactor or None, X(fti, ft)) where fti is fact_ti of the component and ft(name) the
# fact_t of internal time ``name``; J = 0.4·Σ(cτ·X), or (0.4·prefactor)·Σ(cτ·X) when a prefactor is given.
_Bracket = Callable[[Mapping, object, Callable], object]
_FORMS: dict[str, tuple[str | None, _Bracket]] = {
    "none": (None, lambda p, fti, ft: fti),
    "s2": ("s2", lambda p, fti, ft: fti),
    "s2_te": (None, lambda p, fti, ft: p["s2"] * fti + (1.0 - p["s2"]) * ft("te")),
    "s2f_s2_ts": (None, lambda p, fti, ft: p["s2"] * fti + (p["s2f"] - p["s2"]) * ft("ts")),
    "s2f_tf_s2_ts": (None, lambda p, fti, ft: p["s2"] * fti + (1.0 - p["s2f"]) * ft("tf")
                     + (p["s2f"] - p["s2"]) * ft("ts")),
    "s2f_s2s_ts": ("s2f", lambda p, fti, ft: p["s2s"] * fti + (1.0 - p["s2s"]) * ft("ts")),
    "s2f_tf_s2s_ts": (None, lambda p, fti, ft: p["s2f"] * p["s2s"] * fti + (1.0 - p["s2f"]) * ft("tf")
                      + p["s2f"] * (1.0 - p["s2s"]) * ft("ts")),
}


def spectral_density(form: str, params: Mapping, omega, weights, taus):
    """J(ω) in s for one residue.

    form: a key of ``FORM_PARAMS``; params: {name: scalar} with at least that form's parameters
    (order parameters dimensionless, te/tf/ts in s; extra entries are ignored); omega: angular
    frequencies in rad s⁻¹, any shape; weights, taus: the k diffusion components (k,), τ in s.
    Returns J with the shape of ``omega``.
    """
    if form not in _FORMS:
        raise ValueError(f"unknown spectral-density form {form!r}; valid: {', '.join(_FORMS)}")
    prefactor, bracket = _FORMS[form]
    omega = jnp.asarray(omega)
    terms = []
    for i in range(weights.shape[0]):      # k = 1, 3 or 5 components, summed in relax's (numpy's) order
        tau = taus[i]
        terms.append((weights[i] * tau) * bracket(params, fact_ti(omega, tau),
                                                  lambda name: fact_t(omega, params[name], tau)))
    total = numpy_sum(terms)
    if prefactor is None:
        return 0.4 * total
    return (0.4 * params[prefactor]) * total
