"""The command line: the README's main job on the bundled data, and `mfjax fit` on relax files."""
import io
import re

import numpy as np
import pytest

from mfjax import cli, examples


def test_demo_back_calculates_and_fits_the_fig2_point():
    out = io.StringIO()
    assert cli.demo(out) == 0
    text = out.getvalue()
    diffs = [float(m) for m in re.findall(r"MHz\s+\S+\s+\S+\s+(\S+)\n", text)]
    assert len(diffs) == 6 and max(diffs) <= 1e-14          # relax's own files, to 1e-14 relative
    row = next(line for line in text.splitlines() if line.strip().startswith("2 ALA"))
    s2, te, rex, chi2 = (float(v) for v in row.split()[2:6])
    np.testing.assert_allclose([s2, te, rex], [0.97, 2048e-12, 0.149], rtol=1e-7)
    assert chi2 < 1e-20 and row.endswith("CONVERGED")
    skipped = next(line for line in text.splitlines() if line.strip().startswith("1 GLY"))
    cells = skipped.split()          # 1 GLY s2 te rex chi2 n_points iterations f g h status
    assert skipped.endswith("SKIPPED_NO_DATA") and cells[2:5] == ["-", "-", "-"]
    assert cells[6] == "0" and cells[7:11] == ["-"] * 4       # no points; no solver counts shown


def test_fit_command_reads_relax_files(capsys):
    args = ["fit", "--model", "m5", "--csa=-160e-6", "--grid-bounds", "paper"]
    for path, kind, field in examples.example_files("S2f_0.952_S2s_0.582_ts_32"):
        args += ["--data", path, kind, str(field)]
    assert cli.main(args) == 0
    row = capsys.readouterr().out.splitlines()[-1].split()
    s2f, s2, ts, s2s = (float(v) for v in row[2:6])
    np.testing.assert_allclose([s2f, s2, ts, s2s], [0.952, 0.952 * 0.582, 32e-12, 0.582], rtol=1e-7)


def test_fit_command_names_a_malformed_file_and_line(tmp_path, capsys):
    bad = tmp_path / "r1.600.out"
    bad.write_text("#Num Name Value Error\n2 ALA 1.38 oops\n")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["fit", "--data", str(bad), "R1", "600"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "r1.600.out" in err and "line 2" in err
