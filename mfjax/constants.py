"""Physical constants and nuclei, written exactly as relax writes them.

Every constant is a product of two literals (``1.02 * 1e-10`` is not the same float as
``1.02e-10``); keeping relax's literal forms makes χ² agree with relax to the last bit
(relax ``lib/physical_constants.py``, ``lib/periodic_table.py``). SI units throughout.
"""
from math import pi

#: Planck constant h in J s (CODATA 1998, as relax).
H_PLANCK = 6.62606876 * 1e-34
#: Reduced Planck constant ħ = h / 2π in J s.
H_BAR = H_PLANCK / (2.0 * pi)
#: Vacuum permeability μ0 in T m / A (N A⁻²).
MU0 = 4.0 * pi * 1e-7
#: Boltzmann constant in J / K (not used by model-free).
K_B = 1.380650424 * 1e-23

#: Gyromagnetic ratios γ in rad s⁻¹ T⁻¹ (signed: 15N and 17O are negative).
GAMMA = {
    "1H": 26.7522212 * 1e7,
    "13C": 6.728 * 1e7,
    "15N": -2.7126 * 1e7,
    "17O": -3.628 * 1e7,
    "31P": 10.841 * 1e7,
}

#: Heteronuclei mfjax handles in relaxation calculations (their dipolar partner is 1H).
HETERONUCLEI = ("15N", "13C")

#: Default 15N chemical shift anisotropy Δσ (dimensionless, -172 ppm).
N15_CSA = -172 * 1e-6
#: Default N–H bond length in m (1.02 Å; the RDC value 1.041 Å is not used for relaxation).
NH_BOND_LENGTH = 1.02 * 1e-10


def gamma(nucleus: str) -> float:
    """Gyromagnetic ratio of ``nucleus`` ("1H", "13C", "15N", "17O", "31P") in rad s⁻¹ T⁻¹."""
    try:
        return GAMMA[nucleus]
    except KeyError:
        raise ValueError(f"unknown nucleus {nucleus!r}; known: {', '.join(GAMMA)}") from None
