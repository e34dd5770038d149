"""BMRB NMR-STAR 3.1 relaxation saveframes in, order parameters out (through pynmrstar)."""
import sys

import numpy as np
import pytest

pytest.importorskip("pynmrstar")

from mfjax.data import Experiment, RelaxationData  # noqa: E402
from mfjax.io import read_nmrstar, read_nmrstar_order_parameters, read_relax, write_nmrstar  # noqa: E402


def t1_frame(n, field, units, rows, category="heteronucl_T1_relaxation", prefix="Heteronucl_T1_list", loop="T1",
             value="Val", error="Val_err", units_tag="T1_val_units"):
    body = "\n".join(f"   {i + 1} {num} {name} {atom} N 15 {v} {e}" for i, (num, name, atom, v, e) in enumerate(rows))
    return f"""
save_{category}_{n}
   _{prefix}.Sf_category {category}
   _{prefix}.Sf_framecode {category}_{n}
   _{prefix}.ID {n}
   _{prefix}.Spectrometer_frequency_1H {field}
   _{prefix}.{units_tag} {units}

   loop_
      _{loop}.ID
      _{loop}.Comp_index_ID
      _{loop}.Comp_ID
      _{loop}.Atom_ID
      _{loop}.Atom_type
      _{loop}.Atom_isotope_number
      _{loop}.{value}
      _{loop}.{error}

{body}
   stop_
save_
"""


def noe_frame(n, field, rows):
    body = "\n".join(f"   {i + 1} {num} {name} {atom} N 15 {v} {e}" for i, (num, name, atom, v, e) in enumerate(rows))
    return f"""
save_heteronucl_NOEs_{n}
   _Heteronucl_NOE_list.Sf_category heteronucl_NOEs
   _Heteronucl_NOE_list.Sf_framecode heteronucl_NOEs_{n}
   _Heteronucl_NOE_list.ID {n}
   _Heteronucl_NOE_list.Spectrometer_frequency_1H {field}

   loop_
      _Heteronucl_NOE.ID
      _Heteronucl_NOE.Comp_index_ID_1
      _Heteronucl_NOE.Comp_ID_1
      _Heteronucl_NOE.Atom_ID_1
      _Heteronucl_NOE.Atom_type_1
      _Heteronucl_NOE.Atom_isotope_number_1
      _Heteronucl_NOE.Val
      _Heteronucl_NOE.Val_err

{body}
   stop_
save_
"""


def auto_frame(n, field, kind, rows):
    body = "\n".join(f"   {i + 1} {num} {name} {atom} N 15 {v} {e}" for i, (num, name, atom, v, e) in enumerate(rows))
    return f"""
save_auto_relaxation_{n}
   _Auto_relaxation_list.Sf_category auto_relaxation
   _Auto_relaxation_list.Sf_framecode auto_relaxation_{n}
   _Auto_relaxation_list.ID {n}
   _Auto_relaxation_list.Spectrometer_frequency_1H {field}
   _Auto_relaxation_list.Common_relaxation_type_name {kind}
   _Auto_relaxation_list.Relaxation_val_units s-1

   loop_
      _Auto_relaxation.ID
      _Auto_relaxation.Comp_index_ID
      _Auto_relaxation.Comp_ID
      _Auto_relaxation.Atom_ID
      _Auto_relaxation.Atom_type
      _Auto_relaxation.Atom_isotope_number
      _Auto_relaxation.Auto_relaxation_val
      _Auto_relaxation.Auto_relaxation_val_err

{body}
   stop_
save_
"""


R1 = [(2, "ALA", "N", "1.3874977659397683", "0.027749955318795365"), (3, "GLY", "N", ".", "."),
      (5, "TRP", "N", "1.5", "0.03"), (5, "TRP", "NE1", "9.9", "0.1")]        # side-chain row: ignored
R2 = [(2, "ALA", "N", "14.239506503694924", "0.28479013007389847"), (5, "TRP", "N", "10.25", "0.2")]
NOE = [(2, "ALA", "N", "0.80408892327499626", "0.04"), (3, "GLY", "N", ".", ".")]


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text("data_test\n" + text)
    return str(path)


def relax_files(tmp_path):
    """The same rows as relax 4-column files (one per measurement)."""
    out = []
    for name, kind, rows in (("r1", "R1", R1), ("r2", "R2", R2), ("noe", "NOE", NOE)):
        lines = [f"{num} {res} {v} {e}" if v != "." else f"{num} {res}" for num, res, atom, v, e in rows if atom == "N"]
        (tmp_path / name).write_text("\n".join(lines) + "\n")
        out.append((str(tmp_path / name), kind, 600.0))
    return out


def test_rates_as_given_equal_the_relax_files(tmp_path):
    star = write(tmp_path, "a.str", t1_frame(1, "600.0", "s-1", R1)
                 + t1_frame(1, "600.0", "s-1", R2, category="heteronucl_T2_relaxation", prefix="Heteronucl_T2_list",
                            loop="T2", value="T2_val", error="T2_val_err", units_tag="T2_val_units")
                 + noe_frame(1, "600.0", NOE))
    data = read_nmrstar(star)
    relax = read_relax(relax_files(tmp_path))
    assert data.residues == ("2 ALA", "3 GLY", "5 TRP") and data.experiment == relax.experiment
    assert data.residues == relax.residues
    np.testing.assert_array_equal(data.mask, relax.mask)
    np.testing.assert_array_equal(data.values[data.mask], relax.values[relax.mask])
    np.testing.assert_array_equal(data.errors[data.mask], relax.errors[relax.mask])
    # relax's own depositions use NMR-STAR 3.2 auto_relaxation saveframes: same data
    auto = write(tmp_path, "b.str", auto_frame(1, "600.0", "R1", R1) + auto_frame(2, "600.0", "R2", R2)
                 + noe_frame(1, "600.0", NOE) + auto_frame(3, "600.0", "R1rho", R2))     # R1rho: skipped
    other = read_nmrstar(auto)
    assert other.experiment == data.experiment and other.residues == data.residues
    np.testing.assert_array_equal(other.values[other.mask], data.values[data.mask])


def test_times_become_rates_with_propagated_errors(tmp_path):
    rows = [(7, "LYS", "N", "0.8", "0.016")]
    seconds = read_nmrstar(write(tmp_path, "s.str", t1_frame(1, "500.13", "s", rows)))
    millis = read_nmrstar(write(tmp_path, "ms.str", t1_frame(1, "500.13", "ms", [(7, "LYS", "N", "800", "16")])))
    for data in (seconds, millis):
        assert data.experiment.kinds == ("R1",) and data.experiment.fields_mhz.tolist() == [500.13]
        np.testing.assert_allclose(data.values[0, 0], 1.25, rtol=1e-15)                 # 1/0.8 s
        np.testing.assert_allclose(data.errors[0, 0], 0.016 / 0.8 ** 2, rtol=1e-15)     # σT/T² = 0.025
    per_ms = read_nmrstar(write(tmp_path, "perms.str", t1_frame(1, "500", "ms-1", [(7, "LYS", "N", "0.00125", "2.5e-5")])))
    np.testing.assert_allclose(per_ms.values[0, 0], 1.25, rtol=1e-15)


def test_write_then_read_round_trips(tmp_path):
    rng = np.random.default_rng(5)
    experiment = Experiment(["R1", "R2", "NOE", "R1", "R2", "NOE"], [600.13, 600.13, 600.13, 800, 800, 800])
    mask = rng.random((5, 6)) > 0.2
    data = RelaxationData(experiment, rng.uniform(0.1, 20, (5, 6)), rng.uniform(1e-3, 1, (5, 6)), mask,
                          ["1 MET", "2 GLN", "3 ILE", "4 PHE", "5 VAL"])

    class Result:                                  # a FitResult-like object
        residues = data.residues
        params = {"s2": np.array([0.8, 0.85, np.nan, 0.9, 0.7]), "te": np.array([50e-12, np.nan, np.nan, 1e-9, 2e-12]),
                  "rex": np.array([np.nan, 1.5, np.nan, np.nan, 0.25])}
        errors = {"s2": np.array([0.01, 0.02, np.nan, 0.03, 0.04]), "rex": np.array([np.nan, 0.1, np.nan, np.nan, 0.05])}
        chi2 = np.array([1.0, 2.5, np.nan, 0.125, 3.0])
        models = ["m2", "m3", None, "m2", "m4"]

    for name in ("out.str", "out.str.gz"):
        path = str(tmp_path / name)
        write_nmrstar(path, data, Result())
        back = read_nmrstar(path)
        assert back.residues == data.residues and back.experiment == data.experiment
        np.testing.assert_array_equal(back.mask, mask)
        np.testing.assert_array_equal(back.values[mask], data.values[mask])
        np.testing.assert_array_equal(back.errors[mask], data.errors[mask])
        order = read_nmrstar_order_parameters(path)
        assert order["residues"] == list(data.residues) and order["models"] == Result.models
        assert order["rex_field_mhz"] == 600.13
        for key in Result.params:
            np.testing.assert_array_equal(order["params"][key], Result.params[key])
        for key in Result.errors:
            np.testing.assert_array_equal(order["errors"][key], Result.errors[key])
        np.testing.assert_array_equal(order["chi2"], Result.chi2)
        assert "s2f" not in order["params"]


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace(".T1_val_units s-1", ".T1_val_units ."), r"saveframe heteronucl_T1_relaxation_1: no _Heteronucl_T1_list\.T1_val_units"),
    (lambda t: t.replace(".T1_val_units s-1", ".T1_val_units min"), r"row 1 of _T1: units 'min' unknown"),
    (lambda t: t.replace("0.027749955318795365", "big"), r"row 1 of _T1: error 'big' is not a number"),
    (lambda t: t.replace("0.027749955318795365", "0"), r"row 1 of _T1: error 0.0 must be > 0"),
    (lambda t: t.replace("3 GLY N", "2 ALA N"), r"row 2 of _T1: residue 2 is listed again"),
    (lambda t: t.replace("_Heteronucl_T1_list.Spectrometer_frequency_1H 600.0\n", ""), r"no _Heteronucl_T1_list\.Spectrometer_frequency_1H"),
    (lambda t: t.replace("_T1.Val_err", "_T1.Val_error"), r"the _T1 loop lacks the tag\(s\) \['Val_err'\]"),
    (lambda t: t.replace("stop_", ""), r"not a readable NMR-STAR file"),
])
def test_bad_files_one_line_errors(tmp_path, edit, message):
    path = write(tmp_path, "bad.str", edit(t1_frame(1, "600.0", "s-1", R1)))
    with pytest.raises(ValueError, match=message) as info:
        read_nmrstar(path)
    assert str(info.value).startswith(path) and "\n" not in str(info.value)


def test_missing_file_and_missing_library(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"none\.str: no such file"):
        read_nmrstar(tmp_path / "none.str")
    with pytest.raises(ValueError, match="no heteronuclear T1, T2, NOE or auto-relaxation"):
        read_nmrstar(write(tmp_path, "empty.str", "save_x\n   _Entry.Sf_category entry_information\nsave_\n"))
    monkeypatch.setitem(sys.modules, "pynmrstar", None)
    with pytest.raises(ImportError, match=r"pip install 'mfjax\[star\]'"):
        read_nmrstar(tmp_path / "none.str")
