"""XH bond vectors from PDB files (read_pdb_vectors, vectors_for)."""
import bz2
import gzip

import numpy as np
import pytest

from mfjax.data import Experiment, RelaxationData
from mfjax.io import read_pdb_vectors, vectors_for


def atom(serial, name, resname, resnum, xyz, record="ATOM", chain="A", alt=" "):
    """One record at the PDB format's fixed columns."""
    padded = f" {name:<3}" if len(name) < 4 else name
    x, y, z = xyz
    return (f"{record:<6}{serial:>5} {padded}{alt}{resname:>3} {chain}{resnum:>4}    "
            f"{x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00           {name[0]}\n")


# Three residues whose bonds are exact in 3 decimals: unit vectors (0, 0, 1), (0.6, 0.8, 0), (-1, 0, 0).
RESIDUES = [("ALA", 2, (1.0, 2.0, 3.0), (1.0, 2.0, 4.02)),
            ("GLY", 3, (0.0, 0.0, 0.0), (0.6, 0.8, 0.0)),
            ("LYS", 5, (5.0, 5.0, 5.0), (4.0, 5.0, 5.0))]
EXPECTED = np.array([[0, 0, 1], [0.6, 0.8, 0], [-1, 0, 0]], float)


def model_text(residues, h_name="H"):
    lines, serial = [], 1
    for resname, resnum, n, h in residues:
        lines.append(atom(serial, "N", resname, resnum, n))
        lines.append(atom(serial + 1, "CA", resname, resnum, (9.0, 9.0, 9.0)))
        lines.append(atom(serial + 2, h_name, resname, resnum, h))
        serial += 3
    return "".join(lines)


def write(tmp_path, name, text):
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    elif name.endswith(".bz2"):
        path.write_bytes(bz2.compress(text.encode()))
    else:
        path.write_text(text)
    return str(path)


@pytest.mark.parametrize("name", ["p.pdb", "p.pdb.gz", "p.pdb.bz2"])
def test_single_model_unit_vectors_and_labels(tmp_path, name):
    path = write(tmp_path, name, "HEADER    TEST\n" + model_text(RESIDUES) + "END\n")
    labels, vecs = read_pdb_vectors(path)
    assert labels == ("2 ALA", "3 GLY", "5 LYS")
    np.testing.assert_allclose(vecs, EXPECTED, rtol=0, atol=1e-15)


def test_hn_alias_hetatm_and_ch_atoms(tmp_path):
    text = model_text(RESIDUES[:2], h_name="HN") + atom(20, "C1", "MAN", 7, (0, 0, 0), record="HETATM") \
        + atom(21, "H1", "MAN", 7, (0, 0, -1.09), record="HETATM")
    path = write(tmp_path, "hn.pdb", text)
    labels, vecs = read_pdb_vectors(path)
    assert labels == ("2 ALA", "3 GLY")
    np.testing.assert_allclose(vecs, EXPECTED[:2], atol=1e-15)
    with pytest.raises(ValueError, match="no ATOM/HETATM records of CB or HB"):
        read_pdb_vectors(path, atoms=("CB", "HB"))
    labels, vecs = read_pdb_vectors(path, atoms=("C1", "H1"))
    assert labels == ("7 MAN",) and np.allclose(vecs, [[0, 0, -1]], atol=1e-15)
    with pytest.raises(ValueError, match="no residue has both a N and a HA atom"):
        read_pdb_vectors(path, atoms=("N", "HA"))


def test_models_averaged_and_renormalised_or_picked(tmp_path):
    second = [("ALA", 2, (1.0, 2.0, 3.0), (2.02, 2.0, 3.0)), *RESIDUES[1:]]     # ALA along x in model 2
    text = "MODEL        1\n" + model_text(RESIDUES) + "ENDMDL\nMODEL        2\n" + model_text(second) + "ENDMDL\nEND\n"
    path = write(tmp_path, "nmr.pdb", text)
    labels, mean = read_pdb_vectors(path)
    expected = EXPECTED.copy()
    expected[0] = np.array([1.0, 0.0, 1.0]) / np.sqrt(2.0)        # mean of z and x, renormalised
    np.testing.assert_allclose(mean, expected, atol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(mean, axis=1), 1.0, rtol=1e-15)
    _, two = read_pdb_vectors(path, model=2)
    np.testing.assert_allclose(two[0], [1, 0, 0], atol=1e-15)
    _, one = read_pdb_vectors(path, model=1)
    np.testing.assert_allclose(one, EXPECTED, atol=1e-15)
    with pytest.raises(ValueError, match=r"nmr\.pdb: no MODEL 3; models in the file: \[1, 2\]"):
        read_pdb_vectors(path, model=3)


def test_first_alternate_location_only(tmp_path):
    text = model_text(RESIDUES[:1]) + atom(9, "H", "ALA", 2, (1.0, 2.0, 2.0), alt="B")
    text = text.replace("  H ALA A   2", "  HAALA A   2", 1)
    labels, vecs = read_pdb_vectors(write(tmp_path, "alt.pdb", text))
    np.testing.assert_allclose(vecs, EXPECTED[:1], atol=1e-15)


@pytest.mark.parametrize("bad, message", [
    (lambda t: t.replace("   4.020", "   4.0x0"), r"line 3: residue number .* or coordinates .* are not numbers"),
    (lambda t: t.replace(t.splitlines()[2] + "\n", t.splitlines()[2][:40] + "\n"), "line 3: ATOM record is 38 characters long, its coordinates need columns 31–54"),
    (lambda t: t.replace("   4.020", "   3.000"), r"line 3: residue 2 ALA: the N and H/HN atoms are at the same place"),
    (lambda t: t + atom(30, "N", "ALA", 2, (0, 0, 0)), r"line 10: residue 2 ALA \(chain A\) has a second N atom \(first on line 1\)"),
    (lambda t: t + atom(30, "N", "ALA", 9, (0, 0, 0), chain="B") + atom(31, "H", "ALA", 9, (0, 0, 1), chain="B"),
     r"atoms in chains \['A', 'B'\]; choose one with chain="),
    (lambda t: "MODEL\n" + t, r"line 1: MODEL record without a model number"),
])
def test_malformed_files_name_file_line_or_residue(tmp_path, bad, message):
    path = write(tmp_path, "bad.pdb", bad(model_text(RESIDUES)))
    with pytest.raises(ValueError, match=message) as info:
        read_pdb_vectors(path)
    assert str(info.value).startswith(path) and "\n" not in str(info.value)


def test_chain_selection_and_missing_file(tmp_path):
    text = model_text(RESIDUES) + atom(30, "N", "SER", 9, (0, 0, 0), chain="B") + atom(31, "H", "SER", 9, (0, 0, 1), chain="B")
    labels, vecs = read_pdb_vectors(write(tmp_path, "two.pdb", text), chain="B")
    assert labels == ("9 SER",) and np.allclose(vecs, [[0, 0, 1]])
    with pytest.raises(ValueError, match=r"missing\.pdb: no such file"):
        read_pdb_vectors(tmp_path / "missing.pdb")


def test_vectors_for_aligns_by_label_and_reports_missing():
    experiment = Experiment(["R1"], [600])
    labels, vecs = ("2 ALA", "3 GLY", "5 LYS"), EXPECTED
    data = RelaxationData(experiment, [[1.0], [1.0], [np.nan], [1.0]], [[0.1]] * 4,
                          [[True], [True], [False], [True]], ["5 LYS", "2 Ala", "4 PRO", "3 GLY"])
    out = vectors_for(data, labels, vecs)
    np.testing.assert_array_equal(out[[0, 1, 3]], EXPECTED[[2, 0, 1]])
    assert np.isnan(out[2]).all()                        # 4 PRO has no data: NaN is fine
    short = RelaxationData(experiment, [[1.0], [1.0], [1.0]], [[0.1]] * 3, residues=["5 LYS", "7 TRP", "8 ASP"])
    with pytest.raises(ValueError, match=r"no bond vector \(both atoms\) for 2 residue\(s\) with data: '7 TRP', '8 ASP'"):
        vectors_for(short, labels, vecs)
    with pytest.raises(ValueError, match=r"3 labels but vectors have shape \(2, 3\)"):
        vectors_for(data, labels, vecs[:2])


def test_vectors_for_names_differing_from_the_structure():
    """relax matches bond vectors to spins by residue number; by='number' does the same."""
    data = RelaxationData(Experiment(["R1"], [600]), [[1.0], [1.0]], [[0.1], [0.1]], residues=["2 ALA", "3 SER"])
    labels, vecs = ("2 ALA", "3 GLY", "5 LYS"), EXPECTED
    with pytest.raises(ValueError, match=r"^1 residue\(s\) with data have another name in the structure: "
                                         r"'3 SER' is '3 GLY' there \(by='number' matches residue numbers alone\)$"):
        vectors_for(data, labels, vecs)
    np.testing.assert_array_equal(vectors_for(data, labels, vecs, by="number"), EXPECTED[:2])
    with pytest.raises(ValueError, match="by must be 'label' or 'number'"):
        vectors_for(data, labels, vecs, by="name")
