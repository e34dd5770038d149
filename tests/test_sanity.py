"""Physical sanity of inputs (mfjax.sanity): each unit mistake of issue 12 is refused before any fit runs,
with the likely unit named, and the explicit override lets an exotic value through."""
import numpy as np
import pytest

import mfjax
from mfjax import sanity
from mfjax.data import Experiment, RelaxationData
from mfjax.diffusion import Ellipsoid, Sphere, Spheroid
from mfjax.fit import fit
from mfjax.objective import back_calc, chi2

EXP = Experiment(["R1", "R2", "NOE"], [600.0, 600.0, 600.0])
DATA = RelaxationData(EXP, [[1.2, 10.0, 0.8]], [[0.02, 0.2, 0.03]], residues=["2 ALA"])
TM = Sphere(tm=10e-9)
CSA = -160e-6
M2 = {"s2": [0.9], "te": [50e-12]}


@pytest.fixture(autouse=True)
def _checks_on():
    sanity.reset()
    yield
    sanity.reset()


def test_fields_in_hz_are_refused_naming_the_unit():
    with pytest.raises(ValueError, match=r"fields_mhz=6e\+08 looks like Hz: give the proton frequency in MHz"):
        Experiment(["R1", "R2"], [600e6, 600e6])
    with pytest.raises(ValueError, match="looks like tesla.*14.1 T is 600 MHz"):
        Experiment(["R1"], [14.1])
    with pytest.raises(ValueError, match="is not physical"):
        Experiment(["R1"], [5000.0])


def test_bond_length_zero_and_in_angstrom_are_refused():
    with pytest.raises(ValueError, match=r"r=0 is not physical: r must lie in \[8e-11, 1.3e-10\] m"):
        fit(DATA, "m2", diffusion=TM, r=0.0, csa=CSA)
    with pytest.raises(ValueError, match=r"r=1.02 looks like Å: give metres \(1.02e-10\)"):
        back_calc(EXP, "m2", M2, diffusion=TM, r=1.02, csa=CSA)
    with pytest.raises(ValueError, match="at index 1"):    # per-residue r names the row
        back_calc(EXP, "m2", {"s2": [0.9] * 2, "te": [5e-11] * 2}, diffusion=TM, r=[1.02e-10, 1.02], csa=CSA)


def test_csa_in_ppm_and_zero_are_refused():
    with pytest.raises(ValueError, match=r"csa=-160 looks like ppm: give it dimensionless, e.g. -160e-6"):
        fit(DATA, "m2", diffusion=TM, csa=-160.0)
    with pytest.raises(ValueError, match=r"\|csa\| must be > 0"):
        chi2(DATA, "m2", M2, diffusion=TM, csa=0.0)


def test_tm_in_ns_is_refused():
    with pytest.raises(ValueError, match=r"Sphere\(tm\)=10 looks like ns: give seconds"):
        fit(DATA, "m2", diffusion=Sphere(tm=10.0), csa=CSA)
    with pytest.raises(ValueError, match="parameter local_tm=8 looks like ns"):
        back_calc(EXP, "tm1", {"local_tm": [8.0], "s2": [0.9]}, csa=CSA)


def test_start_value_te_in_ps_is_refused():
    with pytest.raises(ValueError, match=r"x0 te=50 looks like ps: give seconds \(50 ps is 50e-12\)"):
        fit(DATA, "m2", diffusion=TM, csa=CSA, x0={"s2": [1.0], "te": [50]})
    with pytest.raises(ValueError, match=r"x0 s2=1.5 is not physical: x0 s2 must lie in \[0, 1\]"):
        fit(DATA, "m2", diffusion=TM, csa=CSA, x0={"s2": [1.5], "te": [50e-12]})
    with pytest.raises(ValueError, match="grid bound te=500 looks like ps"):
        fit(DATA, "m2", diffusion=TM, csa=CSA, grid_bounds={"te": (0.0, 500.0)})
    with pytest.raises(ValueError, match="rex=-1 is not physical"):
        back_calc(EXP, "m3", {"s2": [0.9], "rex": [-1.0]}, diffusion=TM, csa=CSA)


def test_negative_diffusion_eigenvalues_are_refused():
    # tm 10 ns: Diso = 1/(6 tm) = 1.667e7 s^-1; Dper = Diso - Da/3 < 0 for Da > 5e7 s^-1
    vectors = [[0.0, 0.0, 1.0]]
    with pytest.raises(ValueError, match=r"Dper = -1\.66667e\+06 s\^-1"):
        fit(DATA, "m2", diffusion=Spheroid(tm=10e-9, da=5.5e7, theta=0.0, phi=0.0), csa=CSA, vectors=vectors)
    # ellipsoid: Dx = Diso - Da(1+3Dr)/3 = 1.667e7 - 4e7*1.6/3 = -4.67e6 < 0
    with pytest.raises(ValueError, match=r"Dx = -4\.66667e\+06 s\^-1"):
        back_calc(EXP, "m1", {"s2": [0.9]}, diffusion=Ellipsoid(10e-9, 4e7, 0.2, 0.0, 0.0, 0.0), csa=CSA,
                  vectors=vectors)
    # a physical spheroid (Dper > 0) passes
    out = back_calc(EXP, "m1", {"s2": [0.9]}, diffusion=Spheroid(10e-9, 2e7, 0.0, 0.0), csa=CSA, vectors=vectors)
    assert np.isfinite(out).all()


def test_override_lets_exotic_values_through_and_is_scoped():
    # with CSA switched off (csa = 0) R1 is purely dipolar: R1 ∝ d² ∝ r⁻⁶, so doubling r divides it by 64
    with sanity.allow("csa", "r"):
        near = back_calc(EXP, "m1", {"s2": [0.9]}, diffusion=TM, r=1.02e-10, csa=0.0)[0, 0]
        far = back_calc(EXP, "m1", {"s2": [0.9]}, diffusion=TM, r=2.04e-10, csa=0.0)[0, 0]
        assert sanity.allowed() == {"csa", "r"}
    np.testing.assert_allclose(near / far, 64.0, rtol=1e-12)
    with pytest.raises(ValueError, match="csa"):                  # on again after the block
        back_calc(EXP, "m1", {"s2": [0.9]}, diffusion=TM, csa=0.0)
    mfjax.sanity.allow("field")                                    # a plain call: until reset()
    assert Experiment(["R1"], [1500.0]).fields_mhz[0] == 1500.0
    sanity.reset()
    with pytest.raises(ValueError, match="fields_mhz"):
        Experiment(["R1"], [1500.0])
    with sanity.allow("tensor"):
        sanity.tensor(Spheroid(tm=10e-9, da=5.5e7, theta=0.0, phi=0.0))   # no error
    with pytest.raises(ValueError, match="unknown sanity check"):
        sanity.allow("units")


def test_usual_values_pass():
    Experiment(["R1", "R2", "NOE"] * 2, [600.0] * 3 + [500.0] * 3)
    sanity.bond_length(1.02e-10)
    sanity.bond_length(1.09e-10)
    sanity.csa(-172e-6)
    sanity.tensor(Sphere(10e-9))
    sanity.parameters({"s2": [0.97], "te": [2048e-12], "rex": [0.149], "local_tm": [0.0, 200e-9]})


def test_fitted_round_off_beyond_a_bound_is_accepted_but_not_more():
    # a constrained fit can end a hair outside its bound (the Method of Multipliers): still usable
    sanity.parameters({"s2": [1.0 + 2e-16, -1e-17], "te": [-1e-25], "rex": [-7e-27]})
    with pytest.raises(ValueError, match="rex"):
        sanity.parameters({"rex": [-1e-3]})
    with pytest.raises(ValueError, match="s2"):
        sanity.parameters({"s2": [1.001]})
