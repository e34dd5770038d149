"""Modelfree4 mfdata / mfmodel / mfpar (layouts of relax's pipe_control.palmer writers)."""
import numpy as np
import pytest

from mfjax.data import Experiment, RelaxationData
from mfjax.io import (read_mfdata, read_mfmodel, read_mfpar, read_relax, write_mfdata, write_mfmodel,
                      write_mfpar)

# relax's create_mfdata format: '%-7s%-10.3f%20.15f%20.15f %-3i'
MFDATA = """
spin     2_ALA
R1     600.000      1.387497765939768   0.027749955318795   1
R2     600.000     14.239506503694924   0.284790130073898   1
NOE    600.000      0.804088923274996   0.040000000000000   1
R1     500.000      1.783656862812491   0.035673137256498   1
R2     500.000     13.406842810339350   0.268136856206787   1
NOE    500.000      0.000000000000000   0.000000000000000   0

spin     3_GLY
R1     600.000      0.000000000000000   0.000000000000000   0
R2     600.000      0.000000000000000   0.000000000000000   0
NOE    600.000      0.000000000000000   0.000000000000000   0
R1     500.000      0.000000000000000   0.000000000000000   0
R2     500.000      0.000000000000000   0.000000000000000   0
NOE    500.000      0.000000000000000   0.000000000000000   0
"""
RELAX_FILES = {  # the same numbers in relax's 4-column form, one file per measurement
    ("R1", 600.0): ("1.387497765939768", "0.027749955318795"), ("R2", 600.0): ("14.239506503694924", "0.284790130073898"),
    ("NOE", 600.0): ("0.804088923274996", "0.040000000000000"), ("R1", 500.0): ("1.783656862812491", "0.035673137256498"),
    ("R2", 500.0): ("13.406842810339350", "0.268136856206787"),
}


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_mfdata_gives_the_same_data_as_relax_files(tmp_path):
    data = read_mfdata(write(tmp_path, "mfdata", MFDATA))
    files = []
    for (kind, field), (value, error) in RELAX_FILES.items():
        text = f"#Num Name Value Error\n2 ALA {value} {error}\n3 GLY None None\n"
        files.append((write(tmp_path, f"{kind}.{field:g}", text), kind, field))
    relax = read_relax(files)
    assert data.residues == relax.residues == ("2 ALA", "3 GLY") and data.experiment == relax.experiment
    assert data.experiment.kinds == ("R1", "R2", "NOE", "R1", "R2")           # NOE 500 flagged 0 everywhere: dropped
    np.testing.assert_array_equal(data.mask, relax.mask)
    np.testing.assert_array_equal(data.values[data.mask], relax.values[relax.mask])
    np.testing.assert_array_equal(data.errors[data.mask], relax.errors[relax.mask])
    assert data.values[0, 1] == 14.239506503694924 and data.skipped == ("3 GLY",)


@pytest.mark.parametrize("kinds, fields", [(["R1", "R2", "NOE", "R1", "R2", "NOE"], [600.13, 600.13, 600.13, 800, 800, 800]),
                                           (["NOE", "R1", "R2"], [500, 600, 800])])
def test_mfdata_round_trip(tmp_path, kinds, fields):
    rng = np.random.default_rng(3)
    n = 4
    mask = rng.random((n, len(kinds))) > 0.2
    mask[1] = False
    data = RelaxationData(Experiment(kinds, fields, rex_field_mhz=fields[1]), rng.uniform(0.1, 20, (n, len(kinds))),
                          rng.uniform(1e-3, 1, (n, len(kinds))), mask, ["1 MET", "2 GLN", "10 ILE", "-3 HIS"])
    path = str(tmp_path / "mfdata")
    write_mfdata(path, data)
    back = read_mfdata(path, rex_field_mhz=fields[1])
    assert back.residues == data.residues and back.experiment == data.experiment
    np.testing.assert_array_equal(back.mask, data.mask)
    np.testing.assert_array_equal(back.values[mask], data.values[mask])
    np.testing.assert_array_equal(back.errors[mask], data.errors[mask])


@pytest.mark.parametrize("line, message", [
    ("R1     600.000   1.38   0.02", "expected '<R1|R2|NOE> <field MHz> <value> <error> <flag>', got 4 columns"),
    ("R1     600.000   1.38   abc  1", "error 'abc' is not a number"),
    ("T1     600.000   1.38   0.02  1", "unknown data type 'T1'; Modelfree4 data are R1, R2, NOE"),
    ("R1     600.000   1.38   0.0   1", "error 0.0 must be > 0"),
    ("R1     600.000   1.38   0.02  2", "flag '2' must be 0 (ignore) or 1 (use)"),
    ("R1     6e2x      1.38   0.02  1", "field '6e2x' is not a number"),
    ("R2     600.000   1.38   0.02  1", "R2 at 600 MHz is given again for spin 2 ALA"),
    ("spin   2_ALA", "spin 2_ALA is listed again (first on line 1)"),
])
def test_mfdata_bad_lines(tmp_path, line, message):
    path = write(tmp_path, "mfdata", "spin 2_ALA\nR2 600.0 10.0 0.1 1\n" + line + "\n")
    with pytest.raises(ValueError) as info:
        read_mfdata(path)
    assert str(info.value).startswith(f"{path}, line 3") and message in str(info.value)
    assert "\n" not in str(info.value)


def test_mfdata_other_bad_files(tmp_path):
    with pytest.raises(ValueError, match=r"line 1: 'R1 600 1 0.1 1' comes before the first 'spin' line"):
        read_mfdata(write(tmp_path, "a", "R1 600 1 0.1 1\n"))
    with pytest.raises(ValueError, match=r"b: no 'spin' lines"):
        read_mfdata(write(tmp_path, "b", "# nothing\n"))
    with pytest.raises(ValueError, match=r"mfdata_missing: no such file"):
        read_mfdata(tmp_path / "mfdata_missing")
    twice = RelaxationData(Experiment(["R1", "R1"], [600, 600]), [[1.0, 1.1]], [[0.1, 0.1]], residues=["1 ALA"])
    with pytest.raises(ValueError, match="repeat a \\(kind, field\\) pair"):
        write_mfdata(tmp_path / "c", twice)


# relax's create_mfmodel layout: '%-3s%-6s%-6.1f' + free '%-4i' + constraint '%-2i' + '%11.3f%12.3f %-4s'
RELAX_M5 = """
spin     :9@N
M1 tloc  0.0   0   2        0.000      20.000 20
M1 Theta 0.0   0   2        0.000      90.000 20
M1 Sf2   1.0   1   2        0.000       1.000 20
M1 Ss2   1.0   1   2        0.000       1.000 20
M1 te    0.0   1   2        0.000   10000.000 20
M1 rex   0.0   0   -1       0.000      20.000 20
"""


def test_mfmodel_relax_layout_and_round_trip(tmp_path):
    assert read_mfmodel(write(tmp_path, "relax_mfmodel", RELAX_M5)) == {"9": "m5"}
    models = ["m0", "m1", "m2", "m3", "m4", "m5", "m7", "m9", "tm0", "tm4", "tm5", "tm9"]
    residues = [f"{i + 1} ALA" for i in range(len(models))]
    path = str(tmp_path / "mfmodel")
    write_mfmodel(path, residues, models)
    assert read_mfmodel(path) == dict(zip(residues, models))
    write_mfmodel(path, residues[:2], "m4")
    assert read_mfmodel(path) == {"1 ALA": "m4", "2 ALA": "m4"}
    with pytest.raises(ValueError, match="residue 1 ALA: model 'm6' has no Modelfree4 form"):
        write_mfmodel(path, ["1 ALA"], ["m6"])


def test_mfmodel_bad_files(tmp_path):
    theta = RELAX_M5.replace("M1 Theta 0.0   0", "M1 Theta 0.0   1")
    with pytest.raises(ValueError, match=r"spin 9 \(line 2\): free parameters \['Sf2', 'Ss2', 'Theta', 'te'\] match no mfjax model"):
        read_mfmodel(write(tmp_path, "a", theta))
    with pytest.raises(ValueError, match=r"a, line 3: .*unknown parameter 'tau'"):
        read_mfmodel(write(tmp_path, "a", "spin 1_A\nM1 Sf2 1.0 1 2 0 1 20\nM1 tau 1.0 1 2 0 1 20\n"))
    with pytest.raises(ValueError, match=r"a, line 2: .*free flag 'yes' must be 0 or 1"):
        read_mfmodel(write(tmp_path, "a", "spin 1_A\nM1 Sf2 1.0 yes 2 0 1 20\n"))


def test_mfpar_relax_layout_and_round_trip(tmp_path):
    # relax's create_mfpar: '%-14s%-6i%-7s%-8.4f%-8.3f%-8.3f' then 'vector    N   H'
    text = "\nspin     2_ALA\nconstants     2     15N    -2.7126 1.020   -160.000\nvector    N   H   \n"
    par = read_mfpar(write(tmp_path, "relax_mfpar", text))
    assert par["residues"] == ["2 ALA"] and par["atoms"] == [("N", "H")] and par["nucleus"] == ["15N"]
    np.testing.assert_allclose(par["r"], [1.02e-10], rtol=1e-15)
    np.testing.assert_allclose(par["csa"], [-160e-6], rtol=1e-15)
    path = str(tmp_path / "mfpar")
    r, csa = np.array([1.02e-10, 1.041e-10]), np.array([-172e-6, -160e-6])
    write_mfpar(path, ["2 ALA", "5 LYS"], r, csa)
    back = read_mfpar(path)
    assert back["residues"] == ["2 ALA", "5 LYS"]
    np.testing.assert_allclose(back["r"], r, rtol=2e-16)          # Å and ppm: exact to repr precision
    np.testing.assert_allclose(back["csa"], csa, rtol=2e-16)
    with pytest.raises(ValueError, match=r"line 3: .*bond length 'x' is not a number"):
        read_mfpar(write(tmp_path, "bad", text.replace("1.020", "x")))
    with pytest.raises(ValueError, match=r"line 2: spin 2 ALA has no 'constants' line"):
        read_mfpar(write(tmp_path, "bad", "\nspin 2_ALA\nvector N H\n"))


def test_mfin_tensor_round_trip_and_units(tmp_path):
    from mfjax.diffusion import Ellipsoid, Sphere, Spheroid
    from mfjax.io import read_mfin, write_mfin
    path = str(tmp_path / "mfin")
    write_mfin(path, Sphere(tm=8.5e-9), [600.13, 800.0])
    tensor, fields = read_mfin(path)
    assert fields == [600.13, 800.0] and isinstance(tensor, Sphere)
    np.testing.assert_allclose(tensor.tm, 8.5e-9, rtol=1e-15)
    # Dratio = D∥/D⊥ with Diso = 1/(6 tm), D∥ = Diso + 2Da/3, D⊥ = Diso − Da/3: tm 10 ns, Da = Diso/2 gives 4/2.5 = 1.6
    diso = 1.0 / 60e-9
    spheroid = Spheroid(tm=10e-9, da=diso / 2, theta=0.5, phi=2.0)
    write_mfin(path, spheroid, [600.0])
    assert "diffusion       axial" in open(path).read()
    dratio = [line for line in open(path) if line.startswith("Dratio")][0].split()[1]
    np.testing.assert_allclose(float(dratio), 1.6, rtol=1e-15)
    back, _ = read_mfin(path)
    for name, expected in (("tm", 10e-9), ("da", diso / 2), ("theta", 0.5), ("phi", 2.0)):
        np.testing.assert_allclose(getattr(back, name), expected, rtol=1e-14)
    # relax's create_mfin layout, axial: theta 90°, phi 180°
    text = "diffusion       axial none\n\nfields          1  600.0\ntm        10.000 1  0    5    15  20\n" \
           "Dratio      1.6 1  0    0     2   5\nTheta        90 1  0    0   180  10\nPhi         180 1  0    0   360  10\n"
    relax_style, _ = read_mfin(write(tmp_path, "relax_mfin", text))
    np.testing.assert_allclose([relax_style.theta, relax_style.phi], [np.pi / 2, np.pi], rtol=1e-15)
    np.testing.assert_allclose(relax_style.da, diso / 2, rtol=1e-14)
    with pytest.raises(ValueError, match="Modelfree4 handles sphere and spheroid tensors, not Ellipsoid"):
        write_mfin(path, Ellipsoid(1e-8, 1e6, 0.5, 0, 0, 0), [600])
    with pytest.raises(ValueError, match=r"bad, line 5: .*Dratio 'x' is not a number"):
        read_mfin(write(tmp_path, "bad", text.replace("Dratio      1.6", "Dratio      x")))
