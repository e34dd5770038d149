"""relax column-file reader and the bundled examples (relax's test-suite data)."""
import os

import numpy as np
import pytest

from mfjax.examples import EXAMPLES, example_files, load_example
from mfjax.io import read_relax

HEADER = "#Num Name  Value                         Error\n"

# The literals of the bundled files, in relax's order R1 600, R2 600, NOE 600, R1 500, R2 500, NOE 500.
FIG2_VALUES = [1.3874977659397683, 14.239506503694924, 0.80408892327499626,
               1.7836568628249123, 13.40684281033935, 0.78105687098694854]
FIG2_ERRORS = [0.027749955318795365, 0.28479013007389847, 0.040000000000000001,
               0.035673137256498247, 0.26813685620678701, 0.050000000000000003]
FIG3_VALUES = [0.81917851780661155, 8.0576984880921643, 0.44567716401753776,
               1.0416808692689896, 7.6074906036469407, 0.50742419934460781]
FIG3_ERRORS = [0.016383570356132231, 0.16115396976184329, 0.040000000000000001,
               0.020833617385379793, 0.15214981207293882, 0.050000000000000003]


def test_example_files_in_relax_order():
    files = example_files("S2_0.970_te_2048_Rex_0.149")
    names = [(os.path.basename(path), kind, field) for path, kind, field in files]
    assert names == [("r1.600.out", "R1", 600.0), ("r2.600.out", "R2", 600.0), ("noe.600.out", "NOE", 600.0),
                     ("r1.500.out", "R1", 500.0), ("r2.500.out", "R2", 500.0), ("noe.500.out", "NOE", 500.0)]
    assert all(os.path.isfile(path) for path, _, _ in files)
    for name in EXAMPLES:
        readme = os.path.join(os.path.dirname(example_files(name)[0][0]), "README")
        assert "GNU General Public License" in open(readme).read()
    with pytest.raises(ValueError, match="unknown example 'nope'; available: S2_0.970"):
        example_files("nope")


def test_fig2_example_exact_values_and_skipped_glycine():
    data = load_example("S2_0.970_te_2048_Rex_0.149")
    assert data.residues == ("1 GLY", "2 ALA")
    assert data.skipped == ("1 GLY",)
    assert not data.mask[0].any() and data.mask[1].all()
    np.testing.assert_array_equal(data.n_points, [0, 6])
    assert data.values[1].tolist() == FIG2_VALUES          # bit for bit
    assert data.errors[1].tolist() == FIG2_ERRORS
    e = data.experiment
    assert e.kinds == ("R1", "R2", "NOE", "R1", "R2", "NOE") and e.nucleus == "15N"
    assert e.rex_field_mhz == 600.0                       # ν₁: the first file's field
    np.testing.assert_array_equal(e.unique_fields_mhz, [600.0, 500.0])
    np.testing.assert_array_equal(e.field_index, [0, 0, 0, 1, 1, 1])


def test_fig3_example_exact_values():
    data = load_example("S2f_0.952_S2s_0.582_ts_32")
    assert data.residues == ("1 ALA",) and data.skipped == ()
    assert data.values[0].tolist() == FIG3_VALUES
    assert data.errors[0].tolist() == FIG3_ERRORS


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_union_of_residues_in_order_of_first_appearance(tmp_path):
    a = write(tmp_path, "a.out", HEADER + "\n5 LYS 1.5 0.03\n3 GLY\n")
    b = write(tmp_path, "b.out", "# comment\n  \n3 GLY None None\n7 TRP 0.7 0.05\n5 LYS 0.8 0.04\n")
    data = read_relax([(a, "r1", 800), (b, "noe", 600.0)], nucleus="13C", rex_field_mhz=600)
    assert data.residues == ("5 LYS", "3 GLY", "7 TRP")
    np.testing.assert_array_equal(data.mask, [[True, True], [False, False], [False, True]])
    assert data.values[0].tolist() == [1.5, 0.8] and data.errors[2, 1] == 0.05
    assert data.skipped == ("3 GLY",)
    assert data.experiment.kinds == ("R1", "NOE") and data.experiment.rex_field_mhz == 600.0
    assert data.experiment.nucleus == "13C"


@pytest.mark.parametrize("line, message", [
    ("2 ALA 1.5", "expected 'Num Name Value Error' or 'Num Name', got 3 columns"),
    ("2 ALA 1.5 0.03 7", "got 5 columns"),
    ("2", "got 1 columns"),
    ("2 ALA 1.5 big", "value and error must be numbers"),
    ("2 ALA None 0.03", "value and error must be numbers"),
    ("2.0 ALA 1.5 0.03", "residue number '2.0' is not an integer"),
    ("A2 ALA 1.5 0.03", "residue number 'A2' is not an integer"),
    ("2 ALA 1.5 0", "error 0.0 must be finite and > 0"),
    ("2 ALA 1.5 -0.03", "error -0.03 must be finite and > 0"),
    ("2 ALA 1.5 nan", "error nan must be finite"),
    ("2 ALA nan 0.03", "value nan is not finite"),
    ("2 ALA inf 0.03", "value inf is not finite"),
])
def test_malformed_line_names_file_line_and_text(tmp_path, line, message):
    path = write(tmp_path, "bad.out", HEADER + "1 GLY 1.0 0.02\n\n" + line + "\n")
    with pytest.raises(ValueError) as info:
        read_relax([(path, "R1", 600)])
    text = str(info.value)
    assert f"{path}, line 4: {line!r}" in text
    assert message in text


def test_residue_listed_twice_in_one_file(tmp_path):
    path = write(tmp_path, "twice.out", HEADER + "2 ALA 1.0 0.02\n3 GLY\n2 ALA 1.1 0.02\n")
    with pytest.raises(ValueError, match=r"twice\.out, line 4: .*residue 2 is listed again \(first on line 2\)"):
        read_relax([(path, "R1", 600)])


def test_same_number_with_two_names(tmp_path):
    a = write(tmp_path, "a.out", "2 ALA 1.0 0.02\n")
    b = write(tmp_path, "b.out", "2 GLY 10.0 0.2\n")
    with pytest.raises(ValueError, match=r"b\.out: residue 2 is named 'GLY' but 'ALA' in .*a\.out"):
        read_relax([(a, "R1", 600), (b, "R2", 600)])


def test_reader_refuses_bad_file_list_and_empty_files(tmp_path):
    a = write(tmp_path, "a.out", HEADER)
    with pytest.raises(ValueError, match="no residues"):
        read_relax([(a, "R1", 600)])
    with pytest.raises(ValueError, match=r"\(path, kind, field_mhz\)"):
        read_relax([a])
    with pytest.raises(ValueError, match=r"\(path, kind, field_mhz\)"):
        read_relax([(a, "R1")])
    b = write(tmp_path, "b.out", "1 ALA 1.0 0.1\n")
    with pytest.raises(ValueError, match="unknown kind 'T2'"):
        read_relax([(b, "T2", 600)])
    with pytest.raises(ValueError, match="700 MHz is not one of the experiment's fields"):
        read_relax([(b, "R1", 600)], rex_field_mhz=700)


# The 7-column form of relax 3–5 (relax_data.write): mol_name res_num res_name spin_num spin_name value error.
HEADER_7 = "# mol_name    res_num    res_name    spin_num    spin_name    value    error\n"


def test_seven_and_four_column_files_give_identical_data(tmp_path):
    four = [write(tmp_path, "r1.4", HEADER + "1 GLY\n2 ALA 1.3874977659397683 0.027749955318795365\n"
                  "3 LEU 1.5 0.03\n"),
            write(tmp_path, "noe.4", HEADER + "1 GLY None None\n2 ALA 0.80408892327499626 0.04\n3 LEU\n")]
    seven = [write(tmp_path, "r1.7", HEADER_7 + "None 1 GLY None N None None\n"
                   "None 2 ALA None N 1.3874977659397683 0.027749955318795365\nNone 3 LEU None N 1.5 0.03\n"),
             write(tmp_path, "noe.7", HEADER_7 + "None 1 GLY None N None None\nNone 2 ALA None N 0.80408892327499626 0.04\n"
                   "None 3 LEU None N None None\n")]
    a = read_relax([(four[0], "R1", 600), (four[1], "NOE", 600)])
    b = read_relax([(seven[0], "R1", 600), (seven[1], "NOE", 600)])
    mixed = read_relax([(four[0], "R1", 600), (seven[1], "NOE", 600)])     # the form is detected per file
    for other in (b, mixed):
        assert other.residues == a.residues == ("1 GLY", "2 ALA", "3 LEU")
        assert other.experiment == a.experiment
        np.testing.assert_array_equal(other.mask, a.mask)
        np.testing.assert_array_equal(other.values[a.mask], a.values[a.mask])
        np.testing.assert_array_equal(other.errors[a.mask], a.errors[a.mask])
    assert a.values[1, 0] == 1.3874977659397683 and a.mask.tolist() == [[False, False], [True, True], [True, False]]


@pytest.mark.parametrize("line, message", [
    ("None 2 ALA None N 1.5", "expected 'mol_name res_num res_name spin_num spin_name value error'"),
    ("2 ALA 1.5 0.03", "got 4 columns"),
    ("None 2 ALA None N 1.5 x", "value and error must be numbers"),
    ("None 2 ALA None N 1.5 0", "error 0.0 must be finite and > 0"),
    ("None 1 GLY None N 1.5 0.03", "residue 1 is listed again (first on line 2)"),
    ("B 2 ALA None N 1.5 0.03", "molecule 'B' after 'None'; mfjax reads one molecule"),
    ("None two ALA None N 1.5 0.03", "residue number 'two' is not an integer"),
])
def test_seven_column_malformed_lines(tmp_path, line, message):
    path = write(tmp_path, "bad7.out", HEADER_7 + "None 1 GLY None N 1.0 0.02\n" + line + "\n")
    with pytest.raises(ValueError) as info:
        read_relax([(path, "R1", 600)])
    assert f"{path}, line 3: {line!r}" in str(info.value) and message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file_is_a_value_error_naming_it(tmp_path):
    with pytest.raises(ValueError, match=r"nope\.out: no such file"):
        read_relax([(str(tmp_path / "nope.out"), "R1", 600)])


@pytest.mark.parametrize("form", [4, 7])
@pytest.mark.parametrize("suffix", ["", ".gz", ".bz2"])
def test_write_then_read_round_trips_exactly(tmp_path, form, suffix):
    from mfjax.data import Experiment, RelaxationData
    from mfjax.io import write_relax
    rng = np.random.default_rng(1)
    values, errors = rng.uniform(0.1, 20, (4, 3)), rng.uniform(1e-3, 1, (4, 3))
    mask = np.array([[1, 1, 1], [0, 0, 0], [1, 0, 1], [1, 1, 0]], bool)
    data = RelaxationData(Experiment(["R1", "R2", "NOE"], [600.13, 600.13, 800]), values, errors, mask,
                          ["3 GLY", "1 ALA", "12 TRP", "4 LYS"])
    files = []
    for j, (kind, field) in enumerate(zip(data.experiment.kinds, data.experiment.fields_mhz)):
        path = str(tmp_path / f"{kind}{suffix}")
        write_relax(path, data, j if j != 1 else (kind, field), form=form)
        files.append((path, kind, field))
    back = read_relax(files)
    assert back.residues == data.residues and back.experiment == data.experiment
    np.testing.assert_array_equal(back.mask, data.mask)
    np.testing.assert_array_equal(back.values[mask], values[mask])     # bit for bit (repr)
    np.testing.assert_array_equal(back.errors[mask], errors[mask])
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".mfjax-")]   # no temporary left


def test_writer_refuses_bad_requests(tmp_path):
    from mfjax.data import Experiment, RelaxationData
    from mfjax.io import write_relax
    data = RelaxationData(Experiment(["R1", "R1"], [600, 600]), [[1.0, 1.1]], [[0.1, 0.1]], residues=["5"])
    with pytest.raises(ValueError, match="2 measurement\\(s\\) R1 at 600 MHz"):
        write_relax(tmp_path / "x", data, ("R1", 600))
    with pytest.raises(ValueError, match="out of range"):
        write_relax(tmp_path / "x", data, 2)
    with pytest.raises(ValueError, match="residue label '5' is not 'number name'"):
        write_relax(tmp_path / "x", data, 0)
    assert not os.path.exists(tmp_path / "x")


def test_one_data_set_through_every_format_gives_identical_data(tmp_path):
    """relax 4- and 7-column files, Modelfree4 mfdata and NMR-STAR, written from one data set and read back."""
    pytest.importorskip("pynmrstar")
    from mfjax.data import Experiment, RelaxationData
    from mfjax.io import read_mfdata, read_nmrstar, write_mfdata, write_nmrstar, write_relax
    experiment = Experiment(["R1", "R2", "NOE", "R1", "R2", "NOE"], [600, 600, 600, 500, 500, 500])
    base = load_example("S2_0.970_te_2048_Rex_0.149")
    values = np.vstack([base.values[1], base.values[1] * 1.1, base.values[1]])
    errors = np.vstack([base.errors[1], base.errors[1], base.errors[1] * 2])
    mask = np.ones((3, 6), bool)
    mask[2, 3:] = False
    data = RelaxationData(experiment, values, errors, mask, ["2 ALA", "4 SER", "7 GLU"])
    read = {}
    for form in (4, 7):
        files = []
        for j, (kind, field) in enumerate(zip(experiment.kinds, experiment.fields_mhz)):
            path = str(tmp_path / f"{kind}.{field:g}.{form}")
            write_relax(path, data, j, form=form)
            files.append((path, kind, field))
        read[form] = read_relax(files)
    write_mfdata(tmp_path / "mfdata", data)
    read["mfdata"] = read_mfdata(tmp_path / "mfdata")
    write_nmrstar(tmp_path / "data.str", data)
    read["star"] = read_nmrstar(tmp_path / "data.str")
    for name, other in read.items():
        assert other.residues == data.residues and other.experiment == data.experiment, name
        np.testing.assert_array_equal(other.mask, mask)
        np.testing.assert_array_equal(other.values[mask], values[mask])
        np.testing.assert_array_equal(other.errors[mask], errors[mask])
