"""An independent, plain-numpy model-free back-calculation for the tests (textbook forms, Python loops).

Deliberately a different route from mfjax: the unstabilised Lipari–Szabo/Clore spectral density with
1/τ' = 1/τ + 1/t, the textbook relaxation equations with d² = (μ0 ħ γH γX / 4π r³)² and
c² = (ωX Δσ)²/3, Rex scaled as (ν/ν_ref)², the NOE from its own R1, and Woessner's five-exponential
ellipsoid with L² = (DxDy + DxDz + DyDz)/3. Constants are single literals (not relax's products), so
agreement is at the 1e-15–1e-13 level, not bit for bit.
"""
import math

import numpy as np

HBAR = 6.62606876e-34 / (2 * math.pi)
MU0 = 4e-7 * math.pi
GAMMA = {"1H": 2.67522212e8, "15N": -2.7126e7, "13C": 6.728e7}


def lorentzian(omega, tau):
    return tau / (1.0 + (omega * tau) ** 2)


def effective_time(tau, t):
    """τ' with 1/τ' = 1/τ + 1/t (0 when t = 0: the motion is absent)."""
    if t == 0.0:
        return 0.0
    return 1.0 / (1.0 / tau + 1.0 / t)


def order_parameters(p):
    """(S2, S2f, tf, ts) of any model-free parameter set (absent: S2 = S2f = 1, times 0)."""
    s2f = p.get("s2f", 1.0)
    s2 = p["s2"] if "s2" in p else s2f * p.get("s2s", 1.0)
    ts = p.get("ts", p.get("te", 0.0))       # the original model's te is an ext-model ts with S2f = 1
    return s2, s2f, p.get("tf", 0.0), ts


def spectral_density(omega, p, comps):
    """J(ω) = 0.4 Σ_k c_k [S2 L(τk) + (1 − S2f) L(τf') + (S2f − S2) L(τs')], comps: [(c_k, τ_k)]."""
    s2, s2f, tf, ts = order_parameters(p)
    total = 0.0
    for c, tau in comps:
        value = s2 * lorentzian(omega, tau)
        value += (1.0 - s2f) * lorentzian(omega, effective_time(tau, tf))
        value += (s2f - s2) * lorentzian(omega, effective_time(tau, ts))
        total += c * value
    return 0.4 * total


def rates(kinds, fields_mhz, p, comps, r, csa, nucleus="15N", rex_field_mhz=None):
    """Back-calculated R1/R2/NOE of one residue, one value per measurement."""
    gh, gx = GAMMA["1H"], GAMMA[nucleus]
    d2 = (MU0 * HBAR * gh * gx / (4 * math.pi * r ** 3)) ** 2
    rex_field = fields_mhz[0] if rex_field_mhz is None else rex_field_mhz
    out = []
    for kind, field in zip(kinds, fields_mhz):
        wh = 2 * math.pi * field * 1e6
        wx = wh * gx / gh                          # signed
        J = lambda w: spectral_density(w, p, comps)
        c2 = (wx * csa) ** 2 / 3.0
        r1 = d2 / 4 * (J(wh - wx) + 3 * J(wx) + 6 * J(wh + wx)) + c2 * J(wx)
        if kind == "R1":
            out.append(r1)
        elif kind == "R2":
            rex = p.get("rex", 0.0) * (field / rex_field) ** 2
            out.append(d2 / 8 * (4 * J(0.0) + J(wh - wx) + 3 * J(wx) + 6 * J(wh) + 6 * J(wh + wx))
                       + c2 / 6 * (4 * J(0.0) + 3 * J(wx)) + rex)
        else:
            sigma = d2 / 4 * (6 * J(wh + wx) - J(wh - wx))
            out.append(1.0 + gh / gx * sigma / r1)
    return np.array(out)


def rotation_zyz(alpha, beta, gamma):
    """Rz(α)·Ry(β)·Rz(γ); its rows are the ellipsoid's principal axes x, y, z (relax's convention)."""
    def rz(t):
        return np.array([[math.cos(t), -math.sin(t), 0], [math.sin(t), math.cos(t), 0], [0, 0, 1]])

    def ry(t):
        return np.array([[math.cos(t), 0, math.sin(t)], [0, 1, 0], [-math.sin(t), 0, math.cos(t)]])
    return rz(alpha) @ ry(beta) @ rz(gamma)


def woessner(dx, dy, dz, axes, vector):
    """Woessner's five (weight, τ) pairs for principal values Dx, Dy, Dz (s⁻¹), axes (rows), unit vector."""
    l, m, n = (float(np.dot(vector, axis)) for axis in axes)
    D = (dx + dy + dz) / 3
    L2 = (dx * dy + dx * dz + dy * dz) / 3
    root = math.sqrt(D * D - L2)
    deltas = [(di - D) / root for di in (dx, dy, dz)] if root > 0 else [0.0, 0.0, 0.0]
    d = (3 * (l ** 4 + m ** 4 + n ** 4) - 1) / 4
    e = (deltas[0] * (3 * l ** 4 + 6 * m ** 2 * n ** 2 - 1) + deltas[1] * (3 * m ** 4 + 6 * l ** 2 * n ** 2 - 1)
         + deltas[2] * (3 * n ** 4 + 6 * l ** 2 * m ** 2 - 1)) / 12
    return [
        (3 * m * m * n * n, 1 / (4 * dx + dy + dz)),
        (3 * l * l * n * n, 1 / (dx + 4 * dy + dz)),
        (3 * l * l * m * m, 1 / (dx + dy + 4 * dz)),
        (d - e, 1 / (6 * D + 6 * root)),
        (d + e, 1 / (6 * D - 6 * root)),
    ]
