"""J(ω) of every form against the textbook (unstabilised) Lipari–Szabo / Clore forms in plain numpy,
the stabilised factor's limits, and finite derivatives where internal times vanish."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import _numpy_reference as ref
from mfjax.spectral import FORM_PARAMS, fact_t, fact_ti, spectral_density

OMEGA = np.array([0.0, -382258392.75555956, 4152169577.063311, 3769911184.3077517, 3387652791.552192,
                  -318548660.629633, 3460141314.219426])


def _random_params(form, rng):
    s2f = rng.uniform(0.3, 1.0)
    values = {"s2": rng.uniform(0.0, s2f), "s2f": s2f, "s2s": rng.uniform(0.0, 1.0),
              "te": 10 ** rng.uniform(-12, -8), "tf": 10 ** rng.uniform(-13, -11), "ts": 10 ** rng.uniform(-11, -8)}
    if form == "s2":                       # models with S2 only: no internal motion at all
        return {"s2": values["s2"]}
    return {name: values[name] for name in FORM_PARAMS[form]}


def _random_components(k, rng):
    weights = rng.dirichlet(np.ones(k))
    taus = 10 ** rng.uniform(-9.5, -7.5, k)
    return weights, taus


@pytest.mark.parametrize("form", list(FORM_PARAMS))
@pytest.mark.parametrize("k", [1, 3, 5])
def test_forms_match_textbook(form, k):
    rng = np.random.default_rng([list(FORM_PARAMS).index(form), k])
    for _ in range(4):
        p = _random_params(form, rng)
        weights, taus = _random_components(k, rng)
        got = np.asarray(spectral_density(form, {n: jnp.float64(v) for n, v in p.items()}, OMEGA,
                                          jnp.asarray(weights), jnp.asarray(taus)))
        want = np.array([ref.spectral_density(w, p, list(zip(weights, taus))) for w in OMEGA])
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)


def test_s2s_forms_equal_s2_forms():
    """S2f·S2s parameterisation equals the S2 one with S2 = S2f·S2s (up to rounding)."""
    weights, taus = jnp.array([0.2, 0.5, 0.3]), jnp.array([8e-9, 1e-8, 1.3e-8])
    p = {"s2f": 0.952, "s2s": 0.582, "tf": 20e-12, "ts": 32e-12}
    q = dict(p, s2=0.952 * 0.582)
    for with_tf, without_tf in [("s2f_tf_s2s_ts", "s2f_tf_s2_ts"), ("s2f_s2s_ts", "s2f_s2_ts")]:
        np.testing.assert_allclose(spectral_density(with_tf, p, OMEGA, weights, taus),
                                   spectral_density(without_tf, q, OMEGA, weights, taus), rtol=2e-15)


def test_stabilised_factor():
    tau, omega = 1e-8, 3.7e9
    assert float(fact_t(omega, 0.0, tau)) == 0.0                      # no division by t = 0
    t = 50e-12
    tprime = 1 / (1 / tau + 1 / t)
    np.testing.assert_allclose(float(fact_t(omega, t, tau)), tprime / (1 + (omega * tprime) ** 2) / tau, rtol=1e-14)
    np.testing.assert_allclose(float(fact_ti(omega, tau)), 1 / (1 + (omega * tau) ** 2), rtol=1e-15)
    # t = τ = 0 (local τm of 0 without internal motion): 0, with finite first and second derivatives
    f = lambda x: fact_t(omega, x[0], x[1])
    assert float(f(jnp.zeros(2))) == 0.0
    assert np.isfinite(np.asarray(jax.grad(f)(jnp.zeros(2)))).all()
    assert np.isfinite(np.asarray(jax.hessian(f)(jnp.zeros(2)))).all()


def test_limits():
    weights, taus = jnp.array([1.0]), jnp.array([1e-8])
    j_none = spectral_density("none", {}, OMEGA, weights, taus)
    np.testing.assert_allclose(j_none, 0.4 * 1e-8 / (1 + (OMEGA * 1e-8) ** 2), rtol=1e-15)
    # S2 = 1 removes the internal motion; te = 0 leaves S2·J_none
    np.testing.assert_array_equal(spectral_density("s2_te", {"s2": 1.0, "te": 3e-11}, OMEGA, weights, taus), j_none)
    np.testing.assert_allclose(spectral_density("s2_te", {"s2": 0.8, "te": 0.0}, OMEGA, weights, taus),
                               spectral_density("s2", {"s2": 0.8}, OMEGA, weights, taus), rtol=1e-15)
    # S2 = 0, te = 0: J = 0 exactly (R1 = 0, the NOE special case of relax)
    np.testing.assert_array_equal(spectral_density("s2_te", {"s2": 0.0, "te": 0.0}, OMEGA, weights, taus), 0.0)
    with pytest.raises(ValueError, match="unknown spectral-density form 's2_tx'"):
        spectral_density("s2_tx", {}, OMEGA, weights, taus)
