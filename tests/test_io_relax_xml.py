"""relax results / saved-state XML files: synthetic files written here in relax's layout (data_store, lib.xml)."""
import bz2
import gzip
import math
import struct

import numpy as np
import pytest

from mfjax.diffusion import Ellipsoid, Sphere, Spheroid
from mfjax.io import read_relax, read_relax_results

TWO_PI_600 = 2.0 * math.pi * 600e6


def ieee(x):
    return list(struct.pack("<d", x))


def elem(name, value, text=None):
    """A relax ≥ 2 element: repr in <value>, plus the IEEE-754 bytes of floats (dicts and lists of floats too)."""
    kind = type(value).__name__ if value is not None else "None"
    out = f'<{name} type="{kind}">\n  <value>{text if text is not None else repr(value)}</value>\n'
    if isinstance(value, float):
        out += f"  <ieee_754_byte_array>{ieee(value)}</ieee_754_byte_array>\n"
    elif isinstance(value, dict) and any(isinstance(v, float) for v in value.values()):
        out += f"  <ieee_754_byte_array>{ {k: ieee(v) for k, v in value.items() if isinstance(v, float)} }</ieee_754_byte_array>\n"
    return out + f"</{name}>\n"


IDS = ["R1_600", "R2_600", "NOE_600", "R1_500"]
TYPES = {"R1_600": "R1", "R2_600": "R2", "NOE_600": "NOE", "R1_500": "R1"}
FRQ = {"R1_600": 600e6, "R2_600": 600e6, "NOE_600": 600e6, "R1_500": 500.13e6}
# residue: (name, data, errors, model, params); None = not measured.
SPINS = {
    2: ("ALA", {"R1_600": 1.3874977659397683, "R2_600": 14.239506503694924, "NOE_600": 0.80408892327499626,
                "R1_500": 1.7836568628249123},
        {"R1_600": 0.027749955318795365, "R2_600": 0.28479013007389847, "NOE_600": 0.04, "R1_500": 0.0356},
        "m4", {"s2": 0.97, "te": 2048e-12, "rex": 0.149 / TWO_PI_600 ** 2}),
    3: ("GLY", {"R1_600": None, "R2_600": None, "NOE_600": None, "R1_500": None}, {}, None, {}),
    5: ("LYS", {"R1_600": 1.5, "R2_600": 10.0, "NOE_600": 0.7, "R1_500": None},
        {"R1_600": 0.03, "R2_600": 0.2, "NOE_600": 0.05}, "m5", {"s2f": 0.952, "s2": 0.952 * 0.582, "s2s": 0.582,
                                                              "ts": 32e-12}),
}
VECTORS = {2: [0.0, 0.0, 1.0], 3: [0.6, 0.8, 0.0], 5: [-1.0, 0.0, 0.0]}


def spin_xml(num, truncated_s2=False):
    name, data, errors, model, params = SPINS[num]
    out = f'<res desc="Residue container" name="{name}" num="{num}">\n<spin desc="Spin container" name="N" num="None">\n'
    out += elem("select", True) + elem("model", model) + elem("isotope", "15N") + elem("csa", -160e-6)
    for p in ("s2", "s2f", "s2s", "local_tm", "te", "tf", "ts", "rex"):
        value = params.get(p)
        text = "0.97000" if (truncated_s2 and p == "s2" and value is not None) else None   # bytes win over text
        out += elem(p, value, text)
        out += elem(p + "_err", None if value is None else value * 0.01)
    out += elem("chi2", 1.5 if model else None)
    out += elem("ri_data", data) + elem("ri_data_err", errors or None)
    out += '</spin>\n<spin desc="Spin container" name="H" num="None">\n' + elem("isotope", "1H") + "</spin>\n</res>\n"
    return out


def tensor_xml(kind, **values):
    return f'<diff_tensor desc="Diffusion tensor" type="{kind}">\n' + "".join(elem(k, v) for k, v in values.items()) + "</diff_tensor>\n"


SPHEROID = dict(tm=9.088885589059907e-09, Da=7132323.857921292, theta=0.9681700724617743, phi=2.478831575631418,
                spheroid_type="prolate")


def pipe_xml(name="final", tensor=tensor_xml("spheroid", **SPHEROID), truncated_s2=False):
    out = f'<pipe desc="The contents of a relax data pipe" name="{name}" type="mf">\n<global desc="Global data">\n'
    out += elem("ri_ids", IDS) + elem("ri_type", TYPES) + elem("spectrometer_frq", FRQ) + "</global>\n"
    out += '<hybrid desc="Data pipe hybridisation information">\n<pipes>[]</pipes>\n</hybrid>\n' + tensor
    out += '<mol desc="Molecule container" name="None" type="None">\n'
    out += "".join(spin_xml(num, truncated_s2) for num in SPINS) + "</mol>\n"
    for num, vector in VECTORS.items():
        out += (f'<interatomic desc="Interatomic data container" spin_id1=":{num}@N" spin_id2=":{num}@H">\n'
                + elem("r", 1.02e-10)
                + f'<vector type="dtype(\'float64\')">\n<value>array({vector!r})</value>\n'
                  f"<ieee_754_byte_array>{[ieee(v) for v in vector]}</ieee_754_byte_array>\n</vector>\n</interatomic>\n")
    return out + "</pipe>\n"


def document(*pipes, current=None):
    head = ('<?xml version="1.0" ?>\n<relax file_version="2" version="5.0.0" '
            'xmlns="http://www.nmr-relax.com">\n')
    if current:
        head += elem("current_pipe", current)
    return head + "".join(pipes) + "</relax>\n"


def write(tmp_path, name, text):
    path = tmp_path / name
    raw = text.encode()
    path.write_bytes(gzip.compress(raw) if name.endswith(".gz") else bz2.compress(raw) if name.endswith(".bz2") else raw)
    return str(path)


@pytest.mark.parametrize("name", ["results.xml", "results.bz2", "results.gz", "results"])
def test_results_file_data_tensor_vectors_models_params(tmp_path, name):
    text = document(pipe_xml())
    path = write(tmp_path, name, text) if name != "results" else write(tmp_path, "results", "")
    if name == "results":                                       # compression recognised without an extension
        (tmp_path / "results").write_bytes(bz2.compress(text.encode()))
    res = read_relax_results(path)
    data = res.data
    assert data.residues == ("2 ALA", "3 GLY", "5 LYS") and data.skipped == ("3 GLY",)
    assert data.experiment.kinds == ("R1", "R2", "NOE", "R1")
    np.testing.assert_array_equal(data.experiment.fields_mhz, [600.0, 600.0, 600.0, 500.13])
    assert data.experiment.rex_field_mhz == 600.0 and data.experiment.nucleus == "15N"
    assert data.values[0].tolist() == [SPINS[2][1][k] for k in IDS]
    np.testing.assert_array_equal(data.mask, [[1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 1, 0]])
    assert res.diffusion == Spheroid(tm=SPHEROID["tm"], da=SPHEROID["Da"], theta=SPHEROID["theta"], phi=SPHEROID["phi"])
    np.testing.assert_array_equal(res.vectors, [VECTORS[2], VECTORS[3], VECTORS[5]])
    np.testing.assert_array_equal(res.r, [1.02e-10] * 3)
    np.testing.assert_array_equal(res.csa, [-160e-6] * 3)
    assert res.models == ("m4", None, "m5") and res.pipe == "final"
    assert res.params["s2"][0] == 0.97 and res.params["te"][0] == 2048e-12
    np.testing.assert_allclose(res.params["rex"][0], 0.149, rtol=1e-15)          # ρex·(2π·600 MHz)² = Rex
    np.testing.assert_allclose(res.errors["rex"][0], 0.00149, rtol=1e-15)
    assert np.isnan(res.params["rex"][[1, 2]]).all() and np.isnan(res.params["s2"][1])
    assert res.params["s2s"][2] == 0.582 and res.params["ts"][2] == 32e-12
    np.testing.assert_array_equal(res.chi2, [1.5, np.nan, 1.5])
    assert res.selected.tolist() == [True, True, True]
    assert any("rho_ex = Rex/(2 pi nu1)^2" in c and "600 MHz" in c for c in res.conversions)
    assert any("Hz -> MHz" in c for c in res.conversions)


def test_same_data_as_relax_seven_column_files(tmp_path):
    res = read_relax_results(write(tmp_path, "r.xml", document(pipe_xml())))
    files = []
    for key in IDS:
        lines = ["# mol_name res_num res_name spin_num spin_name value error"]
        for num, (name, data, errors, _, _) in SPINS.items():
            value = data.get(key)
            lines.append(f"None {num} {name} None N {value!r} {errors[key]!r}" if value is not None
                         else f"None {num} {name} None N None None")
        files.append((write(tmp_path, key, "\n".join(lines) + "\n"), TYPES[key], FRQ[key] / 1e6))
    columns = read_relax(files)
    assert columns.residues == res.data.residues and columns.experiment == res.data.experiment
    np.testing.assert_array_equal(columns.mask, res.data.mask)
    np.testing.assert_array_equal(columns.values[columns.mask], res.data.values[res.data.mask])
    np.testing.assert_array_equal(columns.errors[columns.mask], res.data.errors[res.data.mask])


def test_ieee_bytes_win_over_the_printed_value(tmp_path):
    res = read_relax_results(write(tmp_path, "r.xml", document(pipe_xml(truncated_s2=True))))
    assert res.params["s2"][0] == 0.97


def test_state_with_several_pipes(tmp_path):
    sphere = tensor_xml("sphere", tm=8e-9)
    ellipsoid = tensor_xml("ellipsoid", tm=1e-8, Da=2e7, Dr=0.25, alpha=1.0, beta=2.0, gamma=0.5)
    two = write(tmp_path, "state.bz2", document(pipe_xml("sphere", sphere), pipe_xml("ellipsoid", ellipsoid),
                                               current="ellipsoid"))
    assert read_relax_results(two).diffusion == Ellipsoid(tm=1e-8, da=2e7, dr=0.25, alpha=1.0, beta=2.0, gamma=0.5)
    assert read_relax_results(two, pipe="sphere").diffusion == Sphere(tm=8e-9)
    none = write(tmp_path, "none.xml", document(pipe_xml("a", ""), pipe_xml("b", "")))
    with pytest.raises(ValueError, match=r"none\.xml: 2 data pipes \['a', 'b'\]; choose one with pipe="):
        read_relax_results(none)
    assert read_relax_results(none, pipe="b").diffusion is None
    with pytest.raises(ValueError, match=r"no data pipe 'c'; pipes: \['a', 'b'\]"):
        read_relax_results(none, pipe="c")


def test_relax_1_3_layout(tmp_path):
    """relax 1.3: values as element text, IEEE bytes in an attribute, ri_labels/frq/remap_table, xh_vect, r."""
    rho = 0.9 / (2.0 * math.pi * 599.774e6) ** 2
    text = f"""<?xml version="1.0" ?>
<relax time="Thu Dec  3 19:35:48 2009" version="1.3.4">
  <pipe desc="The contents of a relax data pipe" name="aic" type="mf">
    <global desc="Global data located in the top level of the data pipe">
      <frq>[599774000.0, 499485000.0]</frq>
      <remap_table>[0, 0, 1]</remap_table>
      <ri_labels>['R1', 'NOE', 'R2']</ri_labels>
    </global>
    <mol desc="Molecule container" name="None">
      <res desc="Residue container" name="HIS" num="1">
        <spin desc="Spin container" name="N" num="None">
          <select desc="The spin selection flag">False</select>
          <heteronuc_type desc="The heteronucleus spin type">'15N'</heteronuc_type>
          <model desc="The model">'tm3'</model>
          <xh_vect desc="XH bond vector">array([ 0.,  3.,  4.])</xh_vect>
          <local_tm ieee_754_byte_array="{ieee(2.3002597947112e-09)}">2.3002597947e-09</local_tm>
          <s2>0.8</s2>
          <rex ieee_754_byte_array="{ieee(rho)}">{rho!r}</rex>
          <r desc="Bond length (meters)">1.0200000000000001e-10</r>
          <csa>-0.00017199999999999998</csa>
          <chi2>32.9140910868</chi2>
          <relax_data>[2.4322000000000002, 0.57108000000000001, None]</relax_data>
          <relax_error>[0.1116, 0.0076099999999999996, None]</relax_error>
        </spin>
      </res>
    </mol>
  </pipe>
</relax>
"""
    res = read_relax_results(write(tmp_path, "old.bz2", text))
    data = res.data
    assert data.residues == ("1 HIS",) and data.experiment.kinds == ("R1", "NOE", "R2")
    np.testing.assert_array_equal(data.experiment.fields_mhz, [599.774, 599.774, 499.485])
    assert data.values[0, :2].tolist() == [2.4322000000000002, 0.57108000000000001] and data.mask[0].tolist() == [True, True, False]
    assert res.params["local_tm"][0] == 2.3002597947112e-09 and res.models == ("tm3",)
    np.testing.assert_allclose(res.params["rex"][0], 0.9, rtol=1e-15)
    np.testing.assert_allclose(res.vectors[0], [0.0, 0.6, 0.8], rtol=0, atol=1e-16)
    assert res.r[0] == 1.0200000000000001e-10 and res.csa[0] == -0.00017199999999999998 and res.chi2[0] == 32.9140910868
    assert res.selected.tolist() == [False] and res.diffusion is None


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("</mol>", "</moll>"), r"r\.xml, line \d+: not a relax XML file \(mismatched tag\)"),
    (lambda t: t.replace("<relax ", "<relaxx ").replace("</relax>", "</relaxx>"), "no <relax> root element"),
    (lambda t: t.replace("'R1_500': 0.0356", "'R1_500': 0.0").replace(f"'R1_500': {ieee(0.0356)}", f"'R1_500': {ieee(0.0)}"),
     r"r\.xml, line \d+: relaxation data 'R1_500': error 0.0 must be finite and > 0"),
    (lambda t: t.replace(", 'R1_500': 0.0356", ""), r"r\.xml, line \d+: relaxation data 'R1_500' has a value but no error"),
    (lambda t: t.replace('type="spheroid"', 'type="cylinder"'), r"line \d+: unknown diffusion tensor type 'cylinder'"),
    (lambda t: t.replace("'NOE_600': 'NOE'", "'NOE_600': 'T1rho'"), r"r\.xml: measurement 3: unknown kind 'T1rho'"),
    (lambda t: t.replace("<value>1.5</value>", "<value>1.5.2</value>", 1), r"line \d+: <chi2> holds '1.5.2', not a Python literal"),
    (lambda t: t.replace("<value>1.5</value>", "<value>'big'</value>", 1), r"line \d+: residue 2 ALA: chi2 is 'big', not a number"),
])
def test_bad_files_one_line_error_naming_file_and_line(tmp_path, edit, message):
    path = write(tmp_path, "r.xml", edit(document(pipe_xml())))
    with pytest.raises(ValueError, match=message) as info:
        read_relax_results(path)
    assert "\n" not in str(info.value) and str(info.value).startswith(path)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"absent\.bz2: no such file"):
        read_relax_results(tmp_path / "absent.bz2")


def test_several_heteronuclear_spins_in_a_residue_need_spin_name(tmp_path):
    side_chain = ('<spin desc="Spin container" name="NE1" num="None">\n' + elem("isotope", "15N")
                  + elem("ri_data", {"R1_600": 2.0}) + elem("ri_data_err", {"R1_600": 0.1}) + "</spin>\n</res>\n")
    text = document(pipe_xml()).replace("</spin>\n</res>\n", "</spin>\n" + side_chain, 1)
    path = write(tmp_path, "two_spins.xml", text)
    with pytest.raises(ValueError, match=r"line \d+: residue 2 has spins \['N', 'NE1'\]; choose one with spin_name="):
        read_relax_results(path)
    assert read_relax_results(path, spin_name="N").data.values[0, 0] == SPINS[2][1]["R1_600"]
    side = read_relax_results(path, spin_name="NE1").data
    assert side.residues == ("2 ALA",) and side.values[0, 0] == 2.0 and side.mask.tolist() == [[True, False, False, False]]
