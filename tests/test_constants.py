"""Constants, frequencies, dipolar and CSA constants against the values relax prints
(relax lib/physical_constants.py, lib/periodic_table.py, computed by relax with its literal product forms)."""
import numpy as np
import pytest

from mfjax import constants, relaxation

RTOL = 1e-15   # about 1 ulp: these numbers are relax's own, computed in the same order


def test_constants_are_relax_literal_products():
    # relax lib/physical_constants.py: ħ and μ0 as relax prints them
    np.testing.assert_allclose(constants.H_BAR, 1.0545715964207855e-34, rtol=RTOL, atol=0)
    np.testing.assert_allclose(constants.MU0, 1.2566370614359173e-06, rtol=RTOL, atol=0)
    # the product forms are not the single literals: 1.02*1e-10 != 1.02e-10
    assert constants.NH_BOND_LENGTH != 1.02e-10
    assert constants.NH_BOND_LENGTH == pytest.approx(1.02e-10, rel=1e-15)
    assert constants.N15_CSA == pytest.approx(-172e-6, rel=1e-15)
    assert constants.GAMMA["15N"] < 0 < constants.GAMMA["13C"]
    np.testing.assert_allclose(relaxation.g_ratio("15N"), -9.862206444002064, rtol=RTOL, atol=0)
    for nucleus, value in {"1H": 2.67522212e8, "15N": -2.7126e7, "13C": 6.728e7, "31P": 1.0841e8,
                           "17O": -3.628e7}.items():
        assert constants.gamma(nucleus) == pytest.approx(value, rel=1e-15)
    with pytest.raises(ValueError, match="unknown nucleus '2H'"):
        constants.gamma("2H")


# values computed by relax (target_functions/mf.py frequencies): ν, ωH, ωN (signed), w[2], w[4], c(−172 ppm), c(−160 ppm), 1/(2πν)²
TABLE = [
    (400, 2513274122.8718343, -254838928.50370637, 2768113051.3755407, 2258435194.368128,
     640423382.1878177, 554179238.2371597, 1.583143494411528e-19),
    (500, 3141592653.589793, -318548660.629633, 3460141314.219426, 2823043992.9601603,
     1000661534.6684654, 865905059.7455623, 1.0132118364233778e-19),
    (600, 3769911184.3077517, -382258392.75555956, 4152169577.063311, 3387652791.552192,
     1440952609.9225898, 1246903286.0336094, 7.03619330849568e-20),
    (800, 5026548245.743669, -509677857.00741273, 5536226102.751081, 4516870388.736256,
     2561693528.751271, 2216716952.948639, 3.95785873602882e-20),
]


@pytest.mark.parametrize("row", TABLE, ids=[str(r[0]) for r in TABLE])
def test_frequency_table(row):
    nu, wh, wn, w2, w4, c172, c160, inv = row
    w = relaxation.frequencies([float(nu)], "15N")[0]
    np.testing.assert_allclose(w, [0.0, wn, w2, wh, w4], rtol=RTOL, atol=0)
    assert w[2] > w[3] > w[4]     # signed ωN: the "ωH − ωX" slot is ωH + |ωN| (relax target_functions/mf.py)
    np.testing.assert_allclose(relaxation.csa_constant(-172 * 1e-6, [float(nu)])[0], c172, rtol=RTOL, atol=0)
    np.testing.assert_allclose(relaxation.csa_constant(-160 * 1e-6, [float(nu)])[0], c160, rtol=RTOL, atol=0)
    np.testing.assert_allclose(relaxation.rex_scale(float(nu)), inv, rtol=RTOL, atol=0)
    np.testing.assert_allclose(relaxation.rex_factor([float(nu)])[0], wh ** 2, rtol=RTOL, atol=0)


def test_csa_constant_shapes():
    c = relaxation.csa_constant(np.array([-160 * 1e-6, -172 * 1e-6]), [600.0, 500.0])
    np.testing.assert_allclose(c, [[1246903286.0336094, 865905059.7455623],
                                   [1440952609.9225898, 1000661534.6684654]], rtol=RTOL, atol=0)


def test_dipolar_constants():
    np.testing.assert_allclose(relaxation.dipolar_constant(1.02 * 1e-10, "15N"), 1300116668.5297222,
                               rtol=RTOL, atol=0)
    np.testing.assert_allclose(relaxation.dipolar_constant(1.20 * 1e-10, "13C"), 3016451391.987342,
                               rtol=RTOL, atol=0)
    d = relaxation.dipolar_constant(np.array([0.0, 1.02 * 1e-10]))
    np.testing.assert_array_equal(d, [1e99, relaxation.dipolar_constant(1.02 * 1e-10)])   # relax: r = 0 -> 1e99


def test_carbon_frequencies_keep_positive_sign():
    w = relaxation.frequencies([600.0], "13C")[0]
    wh = 2 * np.pi * 600e6
    np.testing.assert_allclose(w[1], wh * 6.728 / 26.7522212, rtol=1e-14)
    assert w[2] < w[3] < w[4]
