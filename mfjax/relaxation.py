"""R1, R2 and the steady-state NOE from J(ω), with relax's constants and operation order
(Abragam 1961; as relax builds them: ``target_functions/mf.py``,
``lib/auto_relaxation/ri_comps.py``, ``lib/auto_relaxation/ri.py``).

Host-side helpers (numpy, computed once per experiment / residue as relax does in its set-up):
``frequencies`` (the five signed angular frequencies per field), ``dipolar_constant``, ``csa_constant``,
``rex_factor`` and ``rex_scale``. ``rates`` is the per-residue jax function.
Fields are proton frequencies in MHz; ω in rad s⁻¹; d and c in s⁻²; rates in s⁻¹.
"""
from __future__ import annotations

from math import pi

import jax.numpy as jnp
import numpy as np

from .constants import GAMMA, H_BAR, MU0, gamma

_HUGE = 1e99   # relax's stand-in for an infinite value


def g_ratio(nucleus: str = "15N") -> float:
    """γH / γX (≈ −9.862 for 15N)."""
    return GAMMA["1H"] / gamma(nucleus)


def proton_omega(fields_mhz) -> np.ndarray:
    """ωH = 2π ν in rad s⁻¹ for proton frequencies ν given in MHz."""
    return 2.0 * pi * (np.asarray(fields_mhz, dtype=np.float64) * 1e6)


def frequencies(fields_mhz, nucleus: str = "15N") -> np.ndarray:
    """The five frequencies per field (nf, 5), rad s⁻¹: [0, ωX, ωH − ωX, ωH, ωH + ωX].

    ωX = ωH / (γH/γX) keeps its sign (negative for 15N), so for 15N the third entry is ωH + |ωN| and
    the fifth ωH − |ωN| (relax's convention: ωX keeps the sign of γX, ``target_functions/mf.py Mf.__init__``).
    """
    omega_h = proton_omega(fields_mhz)
    omega_x = omega_h / g_ratio(nucleus)
    return np.stack([np.zeros_like(omega_h), omega_x, omega_h - omega_x, omega_h, omega_h + omega_x], axis=-1)


def dipolar_constant(r, nucleus: str = "15N"):
    """d = 0.25 · ((μ0/4π) ħ γH γX)² · r⁻⁶ in s⁻² for bond length r in m (1e99 at r = 0, as relax)."""
    d_fixed = ((MU0 / (4.0 * pi)) * H_BAR * GAMMA["1H"] * gamma(nucleus)) ** 2
    r = np.asarray(r, dtype=np.float64)
    zero = r == 0.0
    return np.where(zero, _HUGE, 0.25 * d_fixed * np.where(zero, 1.0, r) ** -6.0)


def csa_constant(csa, fields_mhz, nucleus: str = "15N") -> np.ndarray:
    """c = (ωX²/3) · Δσ² in s⁻², shape (..., nf) for csa (dimensionless, shape (...)) and nf fields."""
    c_fixed = frequencies(fields_mhz, nucleus)[:, 1] ** 2 / 3.0
    return c_fixed * np.asarray(csa, dtype=np.float64)[..., None] ** 2


def rex_factor(fields_mhz) -> np.ndarray:
    """(2π ν)² in rad² s⁻² per field: R2 gains ρex·(2πν)²."""
    return proton_omega(fields_mhz) ** 2


def rex_scale(rex_field_mhz) -> float:
    """1/(2π ν₁)² in s² at the Rex reference field: ρex = Rex(ν₁) · rex_scale (ρex in s)."""
    return float(1.0 / proton_omega(rex_field_mhz) ** 2)


def rates(jw, d, c, rho_ex, omega_h_sq, ratio):
    """R1, R2 (s⁻¹) and NOE per field for one residue.

    jw: J at the five frequencies of ``frequencies`` (nf, 5), s; d: dipolar constant (s⁻²); c: CSA
    constants (nf,); rho_ex: ρex = Rex(ν₁)/(2πν₁)² in s (0 without exchange); omega_h_sq: (2πν)² (nf,);
    ratio: γH/γX. Returns three (nf,) arrays.

        R1   = d (J[2] + 3J[1] + 6J[4]) + c J[1]
        R2   = (d/2)(4J[0] + J[2] + 3J[1] + 6J[3] + 6J[4]) + (c/6)(4J[0] + 3J[1]) + ρex (2πν)²
        σNOE = d (6J[4] − J[2]);   NOE = 1 + (γH/γX)(σNOE / R1)

    Where R1 = 0 (possible at S2 = 0, te = 0) the NOE is 1 if σNOE = 0 too, else 1e99 (relax); the
    division uses a safe denominator so that derivatives stay finite.
    """
    j0, j1, j2, j3, j4 = (jw[:, k] for k in range(5))
    r1 = d * (j2 + 3.0 * j1 + 6.0 * j4) + c * j1
    r2 = (d / 2.0) * (4.0 * j0 + j2 + 3.0 * j1 + 6.0 * j3 + 6.0 * j4) + (c / 6.0) * (4.0 * j0 + 3.0 * j1) \
        + rho_ex * omega_h_sq
    sigma = d * (6.0 * j4 - j2)
    r1_zero = r1 == 0.0
    noe = jnp.where(r1_zero, jnp.where(sigma == 0.0, 1.0, _HUGE),
                    1.0 + ratio * (sigma / jnp.where(r1_zero, 1.0, r1)))
    return r1, r2, noe
