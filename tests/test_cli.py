"""The command line (mfjax.cli): the demo, fit/simulate/map on relax files, the output folder written
atomically, one-line errors with exit code 2, TOML settings, and mc/tensor/selection (skipped until the
functions they call are merged). In-process through cli.main(argv); one subprocess test (closed pipe)."""
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mfjax
from mfjax import cli, examples
from mfjax.io import read_relax, read_results_csv, read_results_json

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FIG2 = examples.example_files("S2_0.970_te_2048_Rex_0.149")
DATA_ARGS = [a for path, kind, field in FIG2 for a in ("--data", path, kind, f"{field:g}")]


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch):
    monkeypatch.setenv("MFJAX_NO_CACHE", "1")       # leave the user's compilation cache alone


def _run(argv, capsys):
    """(exit code, stdout, stderr) of cli.main(argv); argparse's usage errors count as exit 2."""
    try:
        code = cli.main(argv)
    except SystemExit as exit_info:
        code = exit_info.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_demo_back_calculates_and_fits_the_fig2_point():
    out = io.StringIO()
    assert cli.demo(out) == 0
    text = out.getvalue()
    assert "--csa -160e-6" in text                     # says which CSA the bundled data need
    diffs = [float(m) for m in re.findall(r"MHz\s+\S+\s+\S+\s+(\S+)\n", text)]
    assert len(diffs) == 6 and max(diffs) <= 1e-14          # relax's own files, to 1e-14 relative
    header = next(line for line in text.splitlines() if line.strip().startswith("res_num")).split()
    rows = {tuple(line.split()[:2]): dict(zip(header, line.split())) for line in text.splitlines()
            if re.match(r"\s+\d+\s+[A-Z]{3}\s", line)}
    fitted = rows[("2", "ALA")]
    np.testing.assert_allclose([float(fitted[c]) for c in ("s2", "te_s", "rex_s-1")], [0.97, 2048e-12, 0.149],
                               rtol=1e-7)
    assert float(fitted["chi2"]) < 1e-20 and fitted["status"] == "CONVERGED"
    skipped = rows[("1", "GLY")]
    assert skipped["status"] == "SKIPPED_NO_DATA" and skipped["s2"] == "nan" and skipped["chi2"] == "nan"
    assert skipped["n_points"] == "0" and skipped["iterations"] == "0"


def test_fit_writes_readable_table_and_output_folder(tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    out = tmp_path / "run"
    # "M4": model names in any case; "--csa -160e-6" without '=' (a negative number in exponent form)
    code, text, err = _run(["fit", "--model", "M4", "--tm", "10e-9", "--csa", "-160e-6", "--grid-bounds", "paper",
                            *DATA_ARGS, "--out", str(out)], capsys)
    assert code == 0, err
    table = pd.read_csv(io.StringIO(text), sep=r"\s+")
    assert table["res_num"].tolist() == [1, 2] and table["res_name"].tolist() == ["GLY", "ALA"]
    assert np.isnan(table["s2"][0]) and table["status"][0] == "SKIPPED_NO_DATA"
    np.testing.assert_allclose(table[["s2", "te_s", "rex_s-1"]].to_numpy()[1], [0.97, 2048e-12, 0.149], rtol=1e-7)
    assert sorted(p.name for p in out.iterdir()) == ["parameters.png", "results.csv", "results.json"]
    assert (out / "parameters.png").read_bytes()[:8] == PNG_MAGIC
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]        # no temporary folder left
    csv, js = read_results_csv(out / "results.csv"), read_results_json(out / "results.json")
    for read in (csv, js):
        assert read.result.model == "m4" and read.result.settings["csa"] == -160e-6
        assert read.result.settings["diffusion"] == mfjax.Sphere(10e-9)
        np.testing.assert_allclose(read.result.params["te"][1], 2048e-12, rtol=1e-7)
    np.testing.assert_array_equal(csv.result.params["s2"], js.result.params["s2"])
    np.testing.assert_allclose(csv.result.params["s2"][1], table["s2"][1], rtol=1e-9)    # table: 10 digits


def test_fit_command_reads_relax_files(capsys):
    args = ["fit", "--model", "m5", "--csa=-160e-6", "--tm", "10e-9", "--grid-bounds", "paper"]
    for path, kind, field in examples.example_files("S2f_0.952_S2s_0.582_ts_32"):
        args += ["--data", path, kind, str(field)]
    code, text, err = _run(args, capsys)
    assert code == 0, err
    header, row = text.splitlines()[0].split(), text.splitlines()[-1].split()
    values = dict(zip(header, row))
    np.testing.assert_allclose([float(values[c]) for c in ("s2f", "s2", "ts_s", "s2s")],
                               [0.952, 0.952 * 0.582, 32e-12, 0.582], rtol=1e-7)


def test_fit_command_passes_starts_and_polish_on(tmp_path, capsys):
    args = ["fit", "--model", "m5", "--csa=-160e-6", "--tm", "10e-9", "--grid-bounds", "paper", "--starts", "2",
            "--polish", "--out", str(tmp_path / "run")]
    for path, kind, field in examples.example_files("S2f_0.952_S2s_0.582_ts_32"):
        args += ["--data", path, kind, str(field)]
    code, _, err = _run(args, capsys)
    assert code == 0, err
    result = read_results_json(tmp_path / "run" / "results.json").result
    assert result.settings["starts"] == 2 and result.settings["polish"] is True
    assert result.chi2[-1] < 1e-20
    np.testing.assert_allclose([result.params[c][-1] for c in ("s2f", "s2", "ts")], [0.952, 0.952 * 0.582, 32e-12],
                               rtol=1e-7)
    code, _, err = _run(args + ["--starts", "0"], capsys)
    assert code == 2 and "--starts: must be at least 1, got 0" in err


def test_interrupted_run_leaves_nothing(tmp_path, capsys, monkeypatch):
    def interrupt(done, total):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_progress", lambda args, unit="residues": interrupt)
    fresh = tmp_path / "fresh"
    code, _, err = _run(["fit", "--tm", "10e-9", "--csa", "-160e-6", *DATA_ARGS, "--out", str(fresh)], capsys)
    assert code == 130 and "interrupted" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []                          # neither the folder nor a temporary one
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "results.csv").write_text("earlier run\n")
    code, _, _ = _run(["fit", "--tm", "10e-9", "--csa", "-160e-6", *DATA_ARGS, "--out", str(kept)], capsys)
    assert code == 130 and (kept / "results.csv").read_text() == "earlier run\n"
    assert [p.name for p in tmp_path.iterdir()] == ["kept"] and [p.name for p in kept.iterdir()] == ["results.csv"]


def test_bad_inputs_give_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "r1.600.out"
    bad.write_text("#Num Name Value Error\n2 ALA 1.38 oops\n")
    cases = [
        (["fit", "--tm", "1e-8", "--data", str(bad), "R1", "600"], rf"{re.escape(str(bad))}:2: "),
        (["fit", "--tm", "1e-8", "--data", str(tmp_path / "nope.out"), "R1", "600"],
         rf"{re.escape(str(tmp_path / 'nope.out'))}: no such file"),
        (["fit", "--model", "m4", *DATA_ARGS], r"needs the global rotational correlation time: give --tm"),
        (["fit", "--tm", "10e-9", "--csa", "-160", *DATA_ARGS], r"csa=-160 looks like ppm"),
        (["fit", "--tm", "10", *DATA_ARGS], r"Sphere\(tm\)=10 looks like ns"),
        (["fit", "--tm", "1e-8", "--model", "m42", *DATA_ARGS], r"unknown model 'm42'"),
        (["fit", "--tm", "1e-8"], r"no data: give --data"),
    ]
    for argv, message in cases:
        code, out, err = _run(argv, capsys)
        assert code == 2, (argv, err)
        assert err.startswith("mfjax: error: ") and err.count("\n") == 1 and re.search(message, err), err
        assert "Traceback" not in err and out == ""


def test_sanity_override_from_the_command_line(tmp_path, capsys):
    params = tmp_path / "p.csv"
    params.write_text("res_num,res_name,s2\n5,LYS,0.8\n")
    argv = ["simulate", "--params", str(params), "--model", "m1", "--tm", "10e-9", "--measure", "R1", "1500",
            "--out", str(tmp_path / "sim")]
    code, _, err = _run(argv, capsys)
    assert code == 2 and "fields_mhz=1500 is not physical" in err
    code, out, err = _run(argv + ["--allow", "field"], capsys)
    assert code == 0, err
    assert mfjax.sanity.allowed() == frozenset()                     # only for that run


def test_toml_config_and_flags(tmp_path, capsys):
    config = tmp_path / "run.toml"
    folder = Path(FIG2[0][0]).parent
    config.write_text(f'model = ["M2", "m4"]\ntm = 10e-9\ncsa = -160e-6\n\n[[data]]\nfile = "{folder}/r1.600.out"\n'
                      'kind = "R1"\nfield = 600\n\n[[data]]\nfile = "r2.600.out"\nkind = "R2"\nfield = 600\n')
    args = cli.parse_args(["fit", "--config", str(config)])
    assert args.model == ["M2", "m4"] and args.tm == 10e-9 and args.csa == -160e-6
    assert args.data == [[f"{folder}/r1.600.out", "R1", "600"], [str(tmp_path / "r2.600.out"), "R2", "600"]]
    args = cli.parse_args(["fit", "--config", str(config), "--tm", "5e-9", "--model", "m1", *DATA_ARGS[:4]])
    assert args.tm == 5e-9 and args.model == ["m1"] and args.data == [DATA_ARGS[1:4]]    # flags win
    config.write_text("tm = 10e-9\ncsa_value = 1\n")
    code, _, err = _run(["fit", "--config", str(config)], capsys)
    assert code == 2 and f"{config}:2: unknown setting 'csa_value'" in err
    config.write_text("tm = \n")
    code, _, err = _run(["fit", "--config", str(config)], capsys)
    assert code == 2 and f"{config}:1: " in err


def test_simulate_writes_relax_files_of_the_back_calculation(tmp_path, capsys):
    params = tmp_path / "params.csv"
    params.write_text("# a comment\nres_num,res_name,model,s2,te_s,rex_s-1\n3,LYS,m2,0.85,5e-11,\n"
                      "4,GLU,m4,0.7,1e-9,1.5\n5,ASP,m2,nan,nan,\n")
    out = tmp_path / "sim"
    code, text, err = _run(["simulate", "--params", str(params), "--tm", "10e-9", "--csa", "-160e-6",
                            "--measure", "R1", "600", "--measure", "R2", "600", "--measure", "NOE", "500",
                            "--out", str(out)], capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["noe.500.out", "r1.600.out", "r2.600.out"]
    data = read_relax([(out / "r1.600.out", "R1", 600), (out / "r2.600.out", "R2", 600),
                       (out / "noe.500.out", "NOE", 500)])
    assert data.residues == ("3 LYS", "4 GLU", "5 ASP") and data.skipped == ("5 ASP",)
    exp = data.experiment
    kw = dict(diffusion=mfjax.Sphere(10e-9), csa=-160e-6)
    expected = np.concatenate([mfjax.back_calc(exp, "m2", {"s2": [0.85], "te": [5e-11]}, **kw),
                               mfjax.back_calc(exp, "m4", {"s2": [0.7], "te": [1e-9], "rex": [1.5]}, **kw)])
    np.testing.assert_array_equal(data.values[:2], expected)                      # exact: repr precision
    np.testing.assert_array_equal(data.errors[:2], np.where([False, False, True], 0.05, 0.02 * np.abs(expected)))
    header = text.splitlines()[0].split()
    assert header == ["res_num", "res_name", "R1_600", "R2_600", "NOE_500"]
    assert text.splitlines()[3].split()[2:] == ["nan"] * 3


def test_map_of_one_residue(tmp_path, capsys):
    out = tmp_path / "map"
    code, text, err = _run(["map", "--residue", "2", "--x", "te", "1.5e-9", "2.5e-9", "--y", "s2", "0.96", "0.98",
                            "--n", "5", "--tm", "10e-9", "--csa", "-160e-6", "--grid-bounds", "paper", *DATA_ARGS,
                            "--out", str(out)], capsys)
    assert code == 0, err
    chi2 = np.load(out / "map.npy")
    assert chi2.shape == (5, 5)
    data = examples.load_example("S2_0.970_te_2048_Rex_0.149").subset([1])
    # the other parameter (rex) sits at its fitted value 0.149; compare two grid points with mfjax.chi2
    for (iy, ix) in ((0, 0), (2, 3)):
        te, s2 = np.linspace(1.5e-9, 2.5e-9, 5)[ix], np.linspace(0.96, 0.98, 5)[iy]
        ref = mfjax.chi2(data, "m4", {"s2": [s2], "te": [te], "rex": [0.149]}, diffusion=mfjax.Sphere(10e-9),
                         csa=-160e-6)[0]
        np.testing.assert_allclose(chi2[iy, ix], ref, rtol=1e-6)
    rows = (out / "map.csv").read_text().splitlines()
    assert rows[0] == "te,s2,chi2" and len(rows) == 26
    assert (out / "map.png").read_bytes()[:8] == PNG_MAGIC
    assert "grid minimum" in text


def test_help_and_version(capsys):
    code, out, _ = _run(["--help"], capsys)
    assert code == 0 and all(c in out for c in ("demo", "fit", "mc", "tensor", "simulate", "map"))
    code, out, _ = _run(["--version"], capsys)
    assert code == 0 and out.startswith(f"mfjax {mfjax.__version__}")
    code, out, _ = _run(["fit", "--help"], capsys)
    assert "(default: -0.000172)" in out and "--rex-field" in out and "(default: 11)" in out


def test_closed_pipe_is_quiet(tmp_path):
    params = tmp_path / "p.csv"
    params.write_text("res_num,res_name,s2\n" + "".join(f"{i},ALA,0.8\n" for i in range(1, 2000)))
    env = dict(os.environ, PYTHONPATH=str(ROOT), MFJAX_NO_CACHE="1", JAX_PLATFORMS="cpu")
    proc = subprocess.Popen([sys.executable, "-m", "mfjax.cli", "simulate", "--params", str(params), "--model", "m1",
                             "--tm", "10e-9", "--measure", "R1", "600", "--out", str(tmp_path / "sim")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.readline()
    proc.stdout.close()                                       # like `| head -1`
    err = proc.stderr.read().decode()
    proc.wait(timeout=300)
    assert "BrokenPipeError" not in err and "Traceback" not in err, err
    assert proc.returncode in (0, cli.EXIT_PIPE)


# ---- commands that call functions merged from other branches -------------------------------------

def _needs(name):
    if not hasattr(mfjax, name):
        pytest.skip(f"mfjax.{name} is not in this build yet")


def test_selection_over_several_models(tmp_path, capsys):
    _needs("select")
    out = tmp_path / "sel"
    code, text, err = _run(["fit", "--model", "m2", "m4", "--tm", "10e-9", "--csa", "-160e-6", "--grid-bounds",
                            "paper", *DATA_ARGS, "--out", str(out)], capsys)
    assert code == 0, err
    sel = mfjax.select(examples.load_example("S2_0.970_te_2048_Rex_0.149"), models=["m2", "m4"], criterion="AIC",
                       diffusion=mfjax.Sphere(10e-9), csa=-160e-6, grid_bounds="paper")
    read = read_results_csv(out / "results.csv")
    assert read.models == [str(m) or "none" for m in sel.model] and read.models[1] in ("m2", "m4")
    chosen = sel.fits[read.models[1]]
    np.testing.assert_array_equal(read.result.params["s2"][1], chosen.params["s2"][1])
    np.testing.assert_array_equal(read.result.chi2[1], chosen.chi2[1])
    assert read.result.status_names[1] == chosen.status_names[1]


def test_mc_errors(tmp_path, capsys):
    _needs("monte_carlo")
    out = tmp_path / "mc"
    code, _, err = _run(["mc", "--n-sims", "4", "--seed", "3", "--tm", "10e-9", "--csa", "-160e-6", "--grid-bounds",
                         "paper", *DATA_ARGS, "--out", str(out)], capsys)
    assert code == 0, err
    data = examples.load_example("S2_0.970_te_2048_Rex_0.149")
    kw = dict(diffusion=mfjax.Sphere(10e-9), csa=-160e-6, grid_bounds="paper")
    mc = mfjax.monte_carlo(data, mfjax.fit(data, "m4", **kw), n_sims=4, seed=3, start="fit")
    read = read_results_json(out / "results.json")
    np.testing.assert_allclose(read.errors["s2"][1], mc.errors["s2"][1], rtol=1e-12)
    assert json.loads((out / "results.json").read_text())["settings"]["n_sims"] == 4


def test_tensor_sphere_recovers_tm(tmp_path, capsys):
    _needs("fit_tensor")
    params = tmp_path / "p.csv"
    params.write_text("res_num,res_name,s2,te_s\n" + "".join(f"{i},ALA,{0.7 + 0.02 * i},{20e-12 * i}\n"
                                                             for i in range(1, 9)))
    sim = tmp_path / "sim"
    assert _run(["simulate", "--params", str(params), "--model", "m2", "--tm", "9e-9", "--measure", "R1", "600",
                 "--measure", "R2", "600", "--measure", "NOE", "600", "--measure", "R1", "500", "--out", str(sim)],
                capsys)[0] == 0
    files = [a for name, kind, field in (("r1.600.out", "R1", "600"), ("r2.600.out", "R2", "600"),
                                         ("noe.600.out", "NOE", "600"), ("r1.500.out", "R1", "500"))
             for a in ("--data", str(sim / name), kind, field)]
    code, text, err = _run(["tensor", "--shape", "sphere", "--tm", "8e-9", "--model", "m2", *files,
                            "--out", str(tmp_path / "t")], capsys)
    assert code == 0, err
    read = read_results_json(tmp_path / "t" / "results.json")
    np.testing.assert_allclose(read.result.settings["diffusion"].tm, 9e-9, rtol=1e-6)
