"""The ``mfjax`` command line: a whole model-free analysis from relax column files.

    mfjax demo                                        the bundled Fig. 2 data set: read, back-calculate, fit
    mfjax fit --model m4 --tm 10e-9 --csa -160e-6 --data r1.600.out R1 600 ... --out results/
    mfjax fit --model m0 m1 m2 m3 m4 ...              model selection (AIC) over several models
    mfjax mc  --model m4 --tm 10e-9 --n-sims 500 ...  Monte Carlo errors
    mfjax tensor --shape spheroid --pdb 1abc.pdb ...  the diffusion tensor with the model-free parameters
    mfjax simulate --params results.csv --measure R1 600 ... --out synthetic/   relax files from parameters
    mfjax map --residue 2 --x te 0 5e-9 --y s2 0.9 1 ...   the χ² map of one residue (PNG, npy, CSV)

Input: relax column files (``--data FILE KIND FIELD``) and flags, or a small TOML file (``--config``) whose
keys are the long option names (``tm = 10e-9``, ``model = ["m2", "m4"]``, ``[[data]] file/kind/field``;
file paths relative to the TOML file); flags win over the file. ``--out DIR`` gets results.csv,
results.json and figures; it is written into a temporary folder next to DIR and renamed at the end, so a
failed or interrupted run leaves DIR as it was. Bad input: one line ``mfjax: error: FILE:LINE: what``,
exit code 2; Ctrl-C: exit 130; a closed pipe (``| head``): silent.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import sys
import tempfile
import tomllib
from pathlib import Path

import numpy as np

from mfjax import __version__, examples, sanity
from mfjax.constants import N15_CSA, NH_BOND_LENGTH
from mfjax.data import Experiment, RelaxationData
from mfjax.diffusion import Ellipsoid, Sphere, Spheroid
from mfjax.fit import FitResult, fit
from mfjax.io import read_relax
from mfjax.io import results as results_io
from mfjax.io._files import umask
from mfjax.models import PARAMETERS, get_model
from mfjax.objective import back_calc
from mfjax.status import Status

DEMO = "S2_0.970_te_2048_Rex_0.149"
DEMO_TRUTH = {"s2": 0.970, "te": 2048e-12, "rex": 0.149}   # relax's generator: tm 10 ns, r 1.02 Å, CSA -160 ppm
DEMO_CSA = -160 * 1e-6      # the CSA the bundled data were generated with (relax's default is -172 ppm)

EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_PIPE = 2, 130, 141


class InputError(ValueError):
    """Bad input found by the command line itself (reported as one line, exit code 2)."""


# ---------------------------------------------------------------------------------------------------
# Parser

class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults in --help, except where there is none to show."""

    def _get_help_string(self, action):
        if action.default in (None, False, [], argparse.SUPPRESS) or "%(default)" in (action.help or ""):
            return action.help
        if isinstance(action.default, float):
            return f"{action.help} (default: %(default).6g)"
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse that takes ``--csa -160e-6`` (a negative number in exponent form is a value, not an option)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _add_data_options(p, data_required=True):
    g = p.add_argument_group("input")
    g.add_argument("--data", nargs=3, action="append", metavar=("FILE", "KIND", "FIELD_MHZ"),
                   help="a relax column file (4 or 7 columns), its rate (R1, R2 or NOE) and the proton field in "
                        "MHz; repeat in measurement order (the first field is the Rex reference)"
                   + ("" if data_required else "; optional"))
    g.add_argument("--config", metavar="TOML", help="settings file; keys are the long option names, e.g. "
                   "tm = 10e-9, model = [\"m2\", \"m4\"], [[data]] file/kind/field")
    g.add_argument("--nucleus", default="15N", choices=["15N", "13C"], help="heteronucleus")
    g.add_argument("--rex-field", type=float, metavar="MHZ",
                   help="field at which Rex is reported (one of the data's fields; default: the first)")


def _add_physics_options(p):
    g = p.add_argument_group("physics (SI units)")
    g.add_argument("--tm", type=float, metavar="S", help="global rotational correlation time in s, e.g. 10e-9; "
                   "required for models m0-m9 (the tm0-tm9 models fit a local tm instead)")
    g.add_argument("--r", type=float, default=NH_BOND_LENGTH, metavar="M", help="X-H bond length in m")
    g.add_argument("--csa", type=float, default=N15_CSA, metavar="CSA",
                   help="chemical shift anisotropy, dimensionless (relax's 15N default, -172 ppm; the bundled "
                        "example data need -160e-6)")
    g.add_argument("--allow", nargs="+", default=[], choices=[*sanity.CHECKS, "all"], metavar="CHECK",
                   help=f"switch physical-sanity checks off for exotic inputs ({', '.join(sanity.CHECKS)}, all)")


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_fit_options(p, grid=True):
    g = p.add_argument_group("minimisation")
    if grid:
        g.add_argument("--grid-inc", type=int, default=11, metavar="N", help="grid-search increments per parameter")
        g.add_argument("--grid-bounds", default="relax", choices=["relax", "paper"],
                       help="grid bounds: relax's defaults or d'Auvergne & Gooley 2008's wider ones")
    g.add_argument("--starts", type=_positive_int, default=1, metavar="K",
                   help="starts per residue (the grid's K best local minima; the lowest chi2 is kept)")
    g.add_argument("--polish", action="store_true",
                   help="polish every fit by Gauss-Newton in valley coordinates (chi2 never rises; "
                   "docs/polish.md), for flat valleys such as S2f/S2/ts")


def _add_output_options(p, out_required=False):
    g = p.add_argument_group("output")
    g.add_argument("--out", metavar="DIR", required=out_required,
                   help="output folder (results.csv, results.json, figures), replaced as a whole at the end")
    g.add_argument("--progress", action="store_true", help="progress bar on stderr (default: only on a terminal)")


def _add_tensor_options(p, shape):
    g = p.add_argument_group("tensor (the start of its fit) and bond vectors")
    g.add_argument("--shape", default=shape, choices=["sphere", "spheroid", "ellipsoid"], help="tensor")
    g.add_argument("--da", type=float, default=0.0, metavar="S-1", help="start Da in s^-1 (spheroid, ellipsoid)")
    g.add_argument("--dr", type=float, default=0.0, help="start Dr (ellipsoid)")
    g.add_argument("--angles", type=float, nargs="+", default=[0.0, 0.0, 0.0], metavar="RAD",
                   help="start angles in rad: theta phi (spheroid) or alpha beta gamma (ellipsoid)")
    g.add_argument("--pdb", metavar="FILE", help="PDB file giving the XH bond vectors (needed for a spheroid "
                   "or an ellipsoid)")
    g.add_argument("--atoms", nargs=2, default=["N", "H"], metavar=("HEAVY", "PROTON"), help="atoms of the bond")


def build_parser() -> argparse.ArgumentParser:
    import jax
    parser = _Parser(prog="mfjax", description="Model-free analysis of NMR relaxation data (relax's algorithms, "
                     "in JAX).", epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--version", action="version", version=f"mfjax {__version__} (jax {jax.__version__}, "
                        f"numpy {np.__version__})")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("demo", help="the bundled Fig. 2 data set: read, back-calculate, fit model m4",
                       description="Read the bundled relax files of d'Auvergne & Gooley (2008) Fig. 2, back-calculate "
                       "their rates and fit model m4 (tm 10 ns, r 1.02 Å, CSA -160 ppm: the values the data were "
                       "generated with).")
    _add_output_options(d)

    f = sub.add_parser("fit", help="fit one model, or select among several (--model m0 m1 ...)",
                       description="Fit a model-free model to every residue; with several --model names, fit "
                       "each and select one per residue (mfjax.select).")
    _add_data_options(f)
    f.add_argument("--model", nargs="+", default=["m4"], metavar="MODEL",
                   help="model name(s), any case: m0-m9, tm0-tm9; several: model selection")
    f.add_argument("--criterion", default="AIC", choices=["AIC", "AICc", "BIC"], help="selection criterion")
    _add_physics_options(f)
    _add_fit_options(f)
    _add_output_options(f)

    m = sub.add_parser("mc", help="fit one model, then Monte Carlo errors",
                       description="Fit one model, then estimate the parameter errors from Monte Carlo "
                       "simulations (mfjax.monte_carlo).")
    _add_data_options(m)
    m.add_argument("--model", default="m4", help="model name (any case)")
    m.add_argument("--n-sims", type=int, default=500, metavar="N", help="Monte Carlo simulations")
    m.add_argument("--seed", type=int, default=0, help="random seed")
    _add_physics_options(m)
    _add_fit_options(m)
    _add_output_options(m)

    t = sub.add_parser("tensor", help="fit the diffusion tensor with the model-free parameters",
                       description="Fit the diffusion tensor together with every residue's model-free "
                       "parameters (mfjax.fit_tensor). A spheroid or ellipsoid needs the XH vectors (--pdb).")
    _add_data_options(t)
    t.add_argument("--model", default="m2", help="model of every residue during the tensor fit")
    _add_tensor_options(t, "sphere")
    _add_physics_options(t)
    _add_output_options(t)

    a = sub.add_parser("analyse", help="a whole analysis: tensor, model selection, Monte Carlo errors",
                       description="A complete model-free analysis (mfjax.analysis): the diffusion tensor with "
                       "every residue in m2, then model selection and the tensor again until the models "
                       "settle, then Monte Carlo errors. Without --data: the bundled synthetic protein "
                       "(56 residues, 600 and 800 MHz, its PDB file). Writes results.csv, results.json, "
                       "tensor.json and parameters.png into --out.")
    _add_data_options(a, data_required=False)
    _add_tensor_options(a, "spheroid")
    a.add_argument("--models", nargs="+", default=[f"m{i}" for i in range(10)], metavar="MODEL",
                   help="candidate models")
    a.add_argument("--criterion", default="AIC", choices=["AIC", "AICc", "BIC"], help="selection criterion")
    a.add_argument("--rounds", type=int, default=3, help="tensor / selection rounds at most")
    a.add_argument("--n-sims", type=int, default=100, metavar="N", help="Monte Carlo simulations (0: none)")
    a.add_argument("--seed", type=int, default=0, help="random seed of the Monte Carlo noise")
    _add_physics_options(a)
    _add_fit_options(a, grid=False)
    a.set_defaults(tm=None)
    _add_output_options(a)
    a.set_defaults(out="mfjax-analysis")

    s = sub.add_parser("simulate", help="back-calculate relaxation data from parameters; writes relax files",
                       description="Back-calculate R1, R2 and NOE from model-free parameters (a results file of "
                       "mfjax, or a CSV with res_num, res_name and parameter columns such as s2, te_s, rex_s-1) "
                       "and write one relax column file per measurement (kind.field.out) into --out.")
    s.add_argument("--params", required=True, metavar="FILE", help="results .csv or .json with the parameters")
    s.add_argument("--measure", nargs=2, action="append", metavar=("KIND", "FIELD_MHZ"),
                   help="a measurement to simulate; repeat (the first field is the Rex reference)")
    s.add_argument("--model", help="model of every residue (default: the file's model column)")
    s.add_argument("--config", metavar="TOML", help="settings file (keys: the long option names)")
    s.add_argument("--nucleus", default="15N", choices=["15N", "13C"], help="heteronucleus")
    s.add_argument("--rex-field", type=float, metavar="MHZ", help="field of Rex (default: the first)")
    s.add_argument("--error", type=float, default=0.02, help="error of R1 and R2, relative")
    s.add_argument("--noe-error", type=float, default=0.05, help="error of the NOE, absolute")
    s.add_argument("--noise", action="store_true", help="add Gaussian noise of that size (else exact data)")
    s.add_argument("--seed", type=int, default=0, help="random seed of the noise")
    _add_physics_options(s)
    _add_output_options(s, out_required=True)

    p = sub.add_parser("map", help="χ² map of one residue over two parameters (PNG, npy, CSV)",
                       description="χ² of one residue over a grid of two parameters, the others fixed at their "
                       "fitted values (or --at NAME=VALUE). Writes map.png, map.npy (ny, nx) and map.csv.")
    _add_data_options(p)
    p.add_argument("--model", default="m4", help="model name (any case)")
    p.add_argument("--residue", required=True, help='residue label ("2 ALA") or number')
    p.add_argument("--x", nargs=3, required=True, metavar=("NAME", "LO", "HI"), help="x parameter and range (SI)")
    p.add_argument("--y", nargs=3, required=True, metavar=("NAME", "LO", "HI"), help="y parameter and range (SI)")
    p.add_argument("--n", type=int, default=41, help="grid points per axis")
    p.add_argument("--at", nargs="+", default=[], metavar="NAME=VALUE", help="fixed values of the other parameters")
    _add_physics_options(p)
    _add_fit_options(p)
    _add_output_options(p)
    return parser


# ---------------------------------------------------------------------------------------------------
# Arguments, configuration, input

def _line_of(text: str, key: str) -> int:
    for k, line in enumerate(text.splitlines(), start=1):
        if re.match(rf"\s*{re.escape(key)}\s*=", line):
            return k
    return 1


def _subparser(parser, command):
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[command]


def parse_args(argv=None):
    """Parse the command line, with a --config TOML's values as defaults (flags win)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "config", None):
        return args
    path = args.config
    try:
        text = Path(path).read_text()
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        where = re.search(r"\(at line (\d+), column \d+\)", str(err))
        line = where.group(1) if where else "1"
        raise InputError(f"{path}:{line}: {str(err).split(' (at line')[0]}") from None
    sub = _subparser(parser, args.command)
    dests = {a.dest: a for a in sub._actions if a.dest not in ("help", "config")}
    base = Path(path).resolve().parent
    defaults, data = {}, None
    for key, value in config.items():
        dest = key.replace("-", "_")
        if dest not in dests:
            raise InputError(f"{path}:{_line_of(text, key)}: unknown setting {key!r}; valid: "
                             f"{', '.join(sorted(k.replace('_', '-') for k in dests))}")
        if dest == "data":
            data = _config_data(path, text, value, base)
        elif dest in ("params", "pdb") and isinstance(value, str):
            defaults[dest] = str(base / value)
        elif dest == "model" and dests[dest].nargs == "+" and isinstance(value, str):
            defaults[dest] = [value]
        else:
            defaults[dest] = value
    sub.set_defaults(**defaults)
    args = parser.parse_args(argv)
    if data is not None and not args.data:
        args.data = data
    return args


def _config_data(path, text, value, base):
    line = _line_of(text, "data") if "[[data]]" not in text else text.splitlines().index("[[data]]") + 1
    entries = []
    for entry in value if isinstance(value, list) else [value]:
        if isinstance(entry, dict) and set(entry) == {"file", "kind", "field"}:
            entry = [entry["file"], entry["kind"], entry["field"]]
        if not (isinstance(entry, list) and len(entry) == 3):
            raise InputError(f"{path}:{line}: each data entry needs file, kind and field, got {entry!r}")
        entries.append([str(base / str(entry[0])), str(entry[1]), str(entry[2])])
    return entries


def _read_data(args) -> RelaxationData:
    if not args.data:
        raise InputError("no data: give --data FILE KIND FIELD_MHZ (one per measurement) or [[data]] in --config")
    files = []
    for path, kind, field in args.data:
        try:
            files.append((path, kind, float(field)))
        except ValueError:
            raise InputError(f"--data {path} {kind} {field}: the field must be a number of MHz") from None
    return read_relax(files, nucleus=args.nucleus, rex_field_mhz=args.rex_field)


def _needs_tm(model) -> bool:
    return not get_model(model).local_tm


def _diffusion(args, models):
    if not any(_needs_tm(m) for m in models):
        return None
    if args.tm is None:
        raise InputError(f"model {', '.join(models)} needs the global rotational correlation time: give --tm "
                         "in seconds (e.g. --tm 10e-9), or use a tm0-tm9 model")
    if any(not _needs_tm(m) for m in models):
        raise InputError("models with a local tm (tm0-tm9) and with the global --tm cannot be mixed in one run")
    return Sphere(tm=args.tm)


def _fit_options(args, diffusion):
    return dict(diffusion=diffusion, r=args.r, csa=args.csa, grid_inc=args.grid_inc, grid_bounds=args.grid_bounds,
                starts=args.starts, polish=args.polish)


# ---------------------------------------------------------------------------------------------------
# Output

def _progress(args, unit="residues"):
    """A progress callback (done, total) on stderr, when asked for or on a terminal; else None."""
    if not (getattr(args, "progress", False) or sys.stderr.isatty()):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    state = {}

    def report(done, total):
        if tqdm is not None:
            bar = state.setdefault("bar", tqdm(total=total, unit=f" {unit}", file=sys.stderr, leave=False))
            bar.update(done - bar.n)
        else:
            sys.stderr.write(f"\rmfjax: {done}/{total} {unit}")
            if done >= total:
                sys.stderr.write("\n")
            sys.stderr.flush()

    return report


@contextlib.contextmanager
def output_dir(path):
    """Yield a temporary folder next to ``path``; at a clean exit it replaces ``path`` as a whole, after an
    error or interruption it is removed and ``path`` is left as it was. ``path`` None: yields None."""
    if path is None:
        yield None
        return
    final = Path(path)
    if final.exists() and not final.is_dir():
        raise InputError(f"--out {path}: exists and is not a folder")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    tmp.chmod(0o777 & ~umask())                # mkdtemp makes it private; the output folder is not
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
        os.replace(final, old / final.name)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.10g}"
    if value is None or value == "":
        return "-"
    return str(value)


def print_table(cols: dict, out):
    """Whitespace-separated columns (``pandas.read_csv(sep=r"\\s+")`` reads them back); NaN as nan."""
    names = list(cols)
    n = len(next(iter(cols.values()))) if cols else 0
    cells = [[_fmt(cols[c][i]) for c in names] for i in range(n)]
    widths = [max([len(c)] + [len(row[j]) for row in cells]) for j, c in enumerate(names)]
    out.write("  ".join(c.rjust(w) for c, w in zip(names, widths)).rstrip() + "\n")
    for row in cells:
        out.write("  ".join(v.rjust(w) for v, w in zip(row, widths)) + "\n")


def _write_results(folder, result, errors=None, models=None, settings=None, figure=True):
    if folder is None:
        return
    results_io.write_results_csv(folder / "results.csv", result, errors=errors, models=models, settings=settings)
    results_io.write_results_json(folder / "results.json", result, errors=errors, models=models, settings=settings)
    if figure:
        try:
            from mfjax import plot
            plot.parameters(result, errors=errors).savefig(folder / "parameters.png", dpi=120)
        except ImportError as err:
            sys.stderr.write(f"mfjax: no figure: {err}\n")


# ---------------------------------------------------------------------------------------------------
# Commands

def demo(out=None, args=None) -> int:
    """Read the bundled relax files of the paper's Fig. 2 point, back-calculate its rates at the
    true parameters, and fit model m4 (grid search + Newton–GMW–backtracking + Method of Multipliers)."""
    out = out or sys.stdout
    data = examples.load_example(DEMO)
    exp = data.experiment
    out.write(f"mfjax demo: {DEMO} (relax test-suite data, d'Auvergne & Gooley 2008 Fig. 2)\n")
    out.write("  generated with tm 10 ns, r 1.02 Å and CSA -160 ppm: fit these data with --csa -160e-6 "
              "(relax's default CSA, -172 ppm, does not fit them)\n")
    out.write(f"  read {len(data.residues)} residues; skipped (no data): {list(data.skipped)}\n")
    row = data.residues.index("2 ALA")
    diffusion = Sphere(tm=10e-9)
    calc = back_calc(exp, "m4", {k: np.array([v]) for k, v in DEMO_TRUTH.items()}, diffusion=diffusion,
                     r=NH_BOND_LENGTH, csa=DEMO_CSA)[0]
    out.write("\n  back-calculated at S2 = 0.970, te = 2048 ps, Rex = 0.149 s^-1 (600 MHz):\n")
    out.write(f"  {'data':>10} {'measured':>22} {'back-calculated':>22} {'rel. diff':>10}\n")
    for j, label in enumerate(exp.labels):
        meas = data.values[row, j]
        out.write(f"  {label:>10} {meas:>22.17g} {calc[j]:>22.17g} {abs(calc[j] / meas - 1):>10.1e}\n")
    with output_dir(getattr(args, "out", None)) as folder:
        result = fit(data, "m4", diffusion=diffusion, csa=DEMO_CSA, grid_bounds="paper",
                     progress=_progress(args) if args is not None else None)
        out.write("\n  fit of model m4, 11-increment grid over the paper's bounds, then Newton–GMW–backtracking "
                  "inside the Method of Multipliers:\n\n")
        print_table(results_io.table(result), out)
        _write_results(folder, result, settings={"command": "mfjax demo"})
    return 0


def _fit_command(args, out) -> int:
    models = [get_model(m).name for m in args.model]
    data = _read_data(args)
    diffusion = _diffusion(args, models)
    options = _fit_options(args, diffusion)
    with output_dir(args.out) as folder:
        if len(models) == 1:
            result = fit(data, models[0], progress=_progress(args), **options)
            chosen = None
        else:
            import mfjax
            if not hasattr(mfjax, "select"):
                raise InputError("model selection needs mfjax.select, which this mfjax does not have")
            sel = mfjax.select(data, models=models, criterion=args.criterion, progress=_progress(args), **options)
            result = sel.merged()
            chosen = [str(m) or "none" for m in sel.model]
        print_table(results_io.table(result, models=chosen), out)
        _write_results(folder, result, models=chosen, settings={"command": "mfjax fit"})
    return 0


def _mc_command(args, out) -> int:
    import mfjax
    if not hasattr(mfjax, "monte_carlo"):
        raise InputError("Monte Carlo errors need mfjax.monte_carlo, which this mfjax does not have")
    model = get_model(args.model).name
    data = _read_data(args)
    options = _fit_options(args, _diffusion(args, [model]))
    with output_dir(args.out) as folder:
        result = fit(data, model, progress=_progress(args), **options)
        mc = mfjax.monte_carlo(data, result, n_sims=args.n_sims, seed=args.seed, start="fit",
                               progress=_progress(args, "simulations"))
        errors = {k: np.asarray(v) for k, v in mc.errors.items() if k in result.params}
        print_table(results_io.table(result, errors=errors), out)
        _write_results(folder, result, errors=errors,
                       settings={"command": "mfjax mc", "n_sims": args.n_sims, "seed": args.seed})
    return 0


def _start_tensor(args):
    if args.tm is None:
        raise InputError("the tensor fit starts from --tm (seconds, e.g. --tm 10e-9)")
    angles = list(args.angles) + [0.0] * 3
    if args.shape == "sphere":
        return Sphere(tm=args.tm)
    if args.shape == "spheroid":
        return Spheroid(tm=args.tm, da=args.da, theta=angles[0], phi=angles[1])
    return Ellipsoid(tm=args.tm, da=args.da, dr=args.dr, alpha=angles[0], beta=angles[1], gamma=angles[2])


def _tensor_command(args, out) -> int:
    import mfjax
    if not hasattr(mfjax, "fit_tensor"):
        raise InputError("the tensor fit needs mfjax.fit_tensor, which this mfjax does not have")
    data = _read_data(args)
    start = _start_tensor(args)
    vectors = None
    if args.pdb is not None:
        labels, vecs = mfjax.io.read_pdb_vectors(args.pdb, atoms=tuple(args.atoms))
        vectors = mfjax.io.vectors_for(data, labels, vecs)
    elif args.shape != "sphere":
        raise InputError(f"a {args.shape} needs the XH bond vectors: give --pdb FILE")
    model = get_model(args.model).name
    with output_dir(args.out) as folder:
        res = mfjax.fit_tensor(data, model=model, diffusion=start, vectors=vectors, r=args.r, csa=args.csa)
        out.write(f"# tensor: {res.diffusion}  chi2 {float(res.chi2):.10g}  status {Status(int(res.status)).name}\n")
        n = data.n_residues
        whole = {name: np.full(n, int(getattr(res, name))) for name in ("iterations", "f_count", "g_count",
                                                                         "h_count", "grid_count")}
        result = FitResult(model=model, residues=tuple(data.residues), params=dict(res.params),
                           chi2=np.asarray(res.chi2_residues, dtype=np.float64),
                           status=np.full(n, int(res.status), np.int32), n_points=np.asarray(data.n_points),
                           settings=dict(res.settings, diffusion=res.diffusion, start=start), **whole)
        print_table(results_io.table(result), out)
        _write_results(folder, result, settings={"command": "mfjax tensor", "counts": "of the whole tensor fit"})
    return 0


EXAMPLE_PROTEIN = "synthetic_protein"
EXAMPLE_START = dict(tm=9e-9, da=3e6, angles=[0.8, 0.7])   # 10–50 % off the truth (tm 8 ns, Da 5.7e6, 1.0, 0.5)


def _analyse_command(args, out) -> int:
    from mfjax import io
    from mfjax.analysis import analyse
    if args.data is None and args.config is None:
        folder = Path(examples.__file__).parent / EXAMPLE_PROTEIN
        args.data = [(str(folder / f"{kind.lower()}.{field}.out"), kind, field) for field in ("600", "800")
                     for kind in ("R1", "R2", "NOE")]
        args.pdb = args.pdb or str(folder / "structure.pdb")
        for key, value in EXAMPLE_START.items():
            if getattr(args, key) in (None, 0.0, [0.0, 0.0, 0.0]):
                setattr(args, key, value)
        out.write(f"mfjax analyse: the bundled synthetic protein ({folder.name}: truth in truth.json)\n")
    if args.tm is None:
        raise InputError("give the start --tm (s) of the tensor")
    data = _read_data(args)
    vectors = None
    if args.pdb is not None:
        labels, vecs = io.read_pdb_vectors(args.pdb, atoms=tuple(args.atoms))
        vectors = io.vectors_for(data, labels, vecs)
    elif args.shape != "sphere":
        raise InputError(f"a {args.shape} needs the XH bond vectors: give --pdb FILE")
    start = _start_tensor(args)
    models = [get_model(m).name for m in args.models]
    with output_dir(args.out) as folder:
        res = analyse(data, start, vectors=vectors, models=models, criterion=args.criterion, rounds=args.rounds,
                      n_sims=args.n_sims, seed=args.seed, r=args.r, csa=args.csa, starts=args.starts,
                      polish=args.polish, report=lambda line: out.write(f"# {line}\n"))
        out.write(f"# tensor: {res.diffusion}\n")
        chosen = [str(m) or "none" for m in res.models]
        print_table(results_io.table(res.result, errors=res.errors, models=chosen), out)
        settings = {"command": "mfjax analyse", "start_tensor": start, "tensor": res.diffusion,
                    "criterion": args.criterion, "n_sims": args.n_sims, "seed": args.seed, "starts": args.starts,
                    "polish": args.polish}
        _write_results(folder, res.result, errors=res.errors, models=chosen, settings=settings)
        if folder is not None:
            tensor = {"class": type(res.diffusion).__name__, **{k: float(v) for k, v in vars(res.diffusion).items()},
                      "eigenvalues_s-1": [float(v) for v in res.diffusion.eigenvalues],
                      "chi2_total": float(res.tensor_fit.chi2), "rounds": len(res.history) - 1}
            (folder / "tensor.json").write_text(__import__("json").dumps(tensor, indent=1) + "\n")
    return 0


def _read_params(path, model_flag):
    """(labels, models per residue, params name -> (n,)) from an mfjax results file or a plain CSV."""
    if str(path).endswith(".json"):
        read = results_io.read_results_json(path)
    else:
        read = _read_params_csv(path)
    models = [model_flag] * len(read.result.residues) if model_flag else list(read.models)
    return list(read.result.residues), [get_model(m).name for m in models], read.result.params


def _read_params_csv(path):
    try:
        return results_io.read_results_csv(path)
    except ValueError as err:
        if "not an mfjax results file" not in str(err):
            raise
    # a plain table: res_num, res_name, [model], parameter columns with units in their names
    import csv
    with open(path, newline="") as handle:
        rows = [(k, row) for k, row in enumerate(csv.reader(handle), start=1) if row and not row[0].startswith("#")]
    if not rows:
        raise InputError(f"{path}:1: no header line")
    (_, header), body = rows[0], rows[1:]
    if "res_num" not in header or "res_name" not in header:
        raise InputError(f"{path}:{rows[0][0]}: the header needs res_num and res_name columns, got {header}")
    known = {results_io.column(p): p for p in PARAMETERS}
    cols = {name: [] for name in header}
    for line, row in body:
        if len(row) != len(header):
            raise InputError(f"{path}:{line}: {len(row)} cells, the header has {len(header)}")
        for name, cell in zip(header, row):
            if name in known:
                cell = cell.strip() or "nan"          # an empty cell: the residue lacks the parameter
                try:
                    float(cell)
                except ValueError:
                    raise InputError(f"{path}:{line}: {name} {cell!r} is not a number") from None
            cols[name].append(cell)
    n = len(body)
    zeros = np.zeros(n, np.int64)
    params = {known[c]: np.array([float(v) for v in cols[c]]) for c in header if c in known}
    labels = tuple(results_io.join_label(num, name) for num, name in zip(cols["res_num"], cols["res_name"]))
    models = cols.get("model", ["?"] * n)
    result = FitResult(model=models[0] if models else "?", residues=labels, params=params, chi2=np.full(n, np.nan),
                       iterations=zeros, f_count=zeros, g_count=zeros, h_count=zeros,
                       status=np.zeros(n, np.int32), grid_count=zeros, n_points=zeros)
    return results_io.Results(result, {}, list(models))


def _write_relax_file(path, data, j):
    import mfjax.io as mio
    if hasattr(mio, "write_relax"):
        mio.write_relax(path, data, j)
        return
    with open(path, "w") as handle:           # relax's 4-column form
        handle.write("#Num Name Value Error\n")
        for i, label in enumerate(data.residues):
            num, name = results_io.parse_label(label)
            value = (repr(float(data.values[i, j])), repr(float(data.errors[i, j]))) if data.mask[i, j] else ("None",) * 2
            handle.write(f"{num} {name or 'X'} {value[0]} {value[1]}\n")


def _simulate_command(args, out) -> int:
    if not args.measure:
        raise InputError("nothing to simulate: give --measure KIND FIELD_MHZ (one per measurement)")
    try:
        fields = [float(field) for _, field in args.measure]
    except ValueError:
        raise InputError("--measure KIND FIELD_MHZ: the field must be a number of MHz") from None
    exp = Experiment([kind for kind, _ in args.measure], fields, nucleus=args.nucleus, rex_field_mhz=args.rex_field)
    labels, models, params = _read_params(args.params, args.model)
    n = len(labels)
    values = np.full((n, exp.n_measurements), np.nan)
    for name in sorted(set(models)):
        model = get_model(name)
        rows = np.array([m == name for m in models])
        missing = [p for p in model.params if p not in params]
        if missing:
            raise InputError(f"{args.params}: model {name} needs the parameter column(s) "
                             f"{[results_io.column(p) for p in missing]}")
        sub = {p: np.asarray(params[p])[rows] for p in model.params}
        ok = np.all([np.isfinite(v) for v in sub.values()], axis=0) if sub else np.ones(rows.sum(), bool)
        if not ok.any():
            continue
        diffusion = _diffusion(args, [name])
        idx = np.flatnonzero(rows)[ok]
        values[idx] = back_calc(exp, model, {p: v[ok] for p, v in sub.items()}, diffusion=diffusion,
                                r=args.r, csa=args.csa)
    noe = np.array([k == "NOE" for k in exp.kinds])
    errors = np.where(noe, args.noe_error, args.error * np.abs(values))
    if args.noise:
        values = values + np.random.default_rng(args.seed).standard_normal(values.shape) * errors
    mask = np.isfinite(values)
    data = RelaxationData(exp, np.where(mask, values, 0.0), np.where(mask, errors, 1.0), mask, labels)
    with output_dir(args.out) as folder:
        cols = {"res_num": [], "res_name": []}
        for label in labels:
            num, name = results_io.parse_label(label)
            cols["res_num"].append(num)
            cols["res_name"].append(name)
        for j, (kind, field) in enumerate(zip(exp.kinds, exp.fields_mhz)):
            filename = f"{kind.lower()}.{field:g}.out"
            _write_relax_file(folder / filename, data, j)
            cols[f"{kind}_{field:g}"] = [float(v) for v in np.where(mask[:, j], values[:, j], np.nan)]
        print_table(cols, out)
    return 0


def _map_command(args, out) -> int:
    model = get_model(args.model)
    data = _read_data(args)
    names = [str(args.residue)] + [label for label in data.residues if label.split(" ")[0] == str(args.residue)]
    label = next((lab for lab in names if lab in data.residues), None)
    if label is None:
        raise InputError(f"--residue {args.residue}: no such residue; the data have {', '.join(data.residues)}")
    i = data.residues.index(label)
    (xname, *xr), (yname, *yr) = args.x, args.y
    for name in (xname, yname):
        if name not in model.params:
            raise InputError(f"model {model.name} has no parameter {name!r}; it has {', '.join(model.params)}")
    try:
        xs, ys = np.linspace(float(xr[0]), float(xr[1]), args.n), np.linspace(float(yr[0]), float(yr[1]), args.n)
        fixed = {k: float(v) for k, v in (item.split("=", 1) for item in args.at)}
    except ValueError:
        raise InputError("--x/--y ranges and --at NAME=VALUE values must be numbers") from None
    diffusion = _diffusion(args, [model.name])
    one = data.subset([i])
    best = None
    res = fit(one, model, **_fit_options(args, diffusion))          # the minimum, marked on the map
    if np.isfinite(res.chi2[0]):
        best = (res.params[xname][0], res.params[yname][0])
        fixed = {**{p: float(res.params[p][0]) for p in model.params}, **fixed}
    missing = [p for p in model.params if p not in fixed and p not in (xname, yname)]
    if missing:
        raise InputError(f"residue {label} could not be fitted: give --at for {', '.join(missing)}")
    X, Y = np.meshgrid(xs, ys)
    grid = {p: np.full(X.size, fixed.get(p, 0.0)) for p in model.params}
    grid[xname], grid[yname] = X.ravel(), Y.ravel()
    calc = back_calc(data.experiment, model, grid, diffusion=diffusion, r=args.r, csa=args.csa)
    mask = one.mask[0]
    chi2 = np.sum(np.where(mask, ((np.where(mask, one.values[0], 0) - calc) / np.where(mask, one.errors[0], 1)) ** 2,
                           0.0), axis=1).reshape(Y.shape)
    k = int(np.argmin(chi2))
    out.write(f"# residue {label}, model {model.name}: grid minimum chi2 {chi2.ravel()[k]:.10g} at "
              f"{xname} = {X.ravel()[k]:.10g}, {yname} = {Y.ravel()[k]:.10g}\n")
    with output_dir(args.out) as folder:
        if folder is not None:
            np.save(folder / "map.npy", chi2)
            with open(folder / "map.csv", "w") as handle:
                handle.write(f"{xname},{yname},chi2\n")
                for xv, yv, cv in zip(X.ravel(), Y.ravel(), chi2.ravel()):
                    handle.write(f"{xv!r},{yv!r},{float(cv)!r}\n")
            try:
                from mfjax import plot
                fig = plot.chi2_map(xs, ys, chi2, xname, yname, best=best, title=f"residue {label}, model {model.name}")
                fig.savefig(folder / "map.png", dpi=120)
            except ImportError as err:
                sys.stderr.write(f"mfjax: no figure: {err}\n")
    return 0


COMMANDS = {"demo": lambda args, out: demo(out, args), "fit": _fit_command, "mc": _mc_command,
            "tensor": _tensor_command, "analyse": _analyse_command, "simulate": _simulate_command,
            "map": _map_command}


def _one_line(err: BaseException) -> str:
    if isinstance(err, FileNotFoundError):
        return f"{err.filename}: no such file"
    if isinstance(err, OSError) and err.filename is not None:
        return f"{err.filename}: {err.strerror}"
    text = " ".join(str(err).split())
    return re.sub(r"^(.+?), line (\d+): ", r"\1:\2: ", text)       # "file, line 3: ..." -> "file:3: ..."


def main(argv=None, out=None) -> int:
    """Run the command line; returns the exit status (argparse's own usage errors exit with 2)."""
    out = out or sys.stdout
    try:
        args = parse_args(argv)
        if os.environ.get("MFJAX_NO_CACHE") != "1":
            from mfjax import enable_compilation_cache
            enable_compilation_cache()
        with sanity.allow(*getattr(args, "allow", [])):
            code = COMMANDS[args.command](args, out)
        out.flush()
        return code
    except (ValueError, OSError) as err:
        if isinstance(err, BrokenPipeError):
            return _broken_pipe()
        sys.stderr.write(f"mfjax: error: {_one_line(err)}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write("\nmfjax: interrupted\n")
        return EXIT_INTERRUPTED


def _broken_pipe() -> int:
    """The reader of stdout went away (``| head``): stop quietly (Python's documented recipe)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return EXIT_PIPE


def run() -> None:  # pragma: no cover - the console script
    """``mfjax``: main(), then exit. After Ctrl-C the process ends at once (os._exit), so that the
    interpreter's teardown cannot race XLA's compiler threads (a segmentation fault otherwise, at times)."""
    code = main()
    if code == EXIT_INTERRUPTED:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
