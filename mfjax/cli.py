"""The ``mfjax`` command line.

    mfjax demo                         the bundled Fig. 2 data set: read, back-calculate, fit
    mfjax fit --model m4 --tm 10e-9 --data r1.600.out R1 600 --data r2.600.out R2 600 ...
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from mfjax import examples
from mfjax.constants import N15_CSA, NH_BOND_LENGTH
from mfjax.diffusion import Sphere
from mfjax.fit import fit
from mfjax.io import read_relax
from mfjax.objective import back_calc

DEMO = "S2_0.970_te_2048_Rex_0.149"
DEMO_TRUTH = {"s2": 0.970, "te": 2048e-12, "rex": 0.149}   # relax's generator: tm 10 ns, r 1.02 Å, CSA -160 ppm


_SOLVER_COUNTS = ("iterations", "f_count", "g_count", "h_count")


def _print_table(result, out):
    """One row per residue; the parameters and solver counts of residues that were not fitted
    (SKIPPED_*: only a placeholder evaluation keeps the batch shape) show as '-'."""
    cols = result.columns()
    names = [c for c in cols if c != "model"]
    out.write("  ".join(f"{c:>14}" for c in names) + "\n")
    for i in range(len(result.residues)):
        skipped = cols["status"][i].startswith("SKIPPED")
        cells = []
        for c in names:
            v = cols[c][i]
            if skipped and (c in result.params or c in _SOLVER_COUNTS):
                cells.append(f"{'-':>14}")
            else:
                cells.append(f"{v:>14.8g}" if isinstance(v, (float, np.floating)) else f"{str(v):>14}")
        out.write("  ".join(cells) + "\n")


def demo(out=None) -> int:
    """Read the bundled relax files of the paper's Fig. 2 point, back-calculate its rates at the
    true parameters, and fit model m4 (grid search + Newton–GMW–backtracking + Method of Multipliers)."""
    out = out or sys.stdout
    data = examples.load_example(DEMO)
    exp = data.experiment
    out.write(f"mfjax demo: {DEMO} (relax test-suite data, d'Auvergne & Gooley 2008 Fig. 2)\n")
    out.write(f"  read {len(data.residues)} residues; skipped (no data): {list(data.skipped)}\n")
    row = data.residues.index("2 ALA")
    diffusion, csa = Sphere(tm=10e-9), -160 * 1e-6
    calc = back_calc(exp, "m4", {k: np.array([v]) for k, v in DEMO_TRUTH.items()}, diffusion=diffusion,
                     r=NH_BOND_LENGTH, csa=csa)[0]
    out.write(f"\n  back-calculated at S2 = 0.970, te = 2048 ps, Rex = 0.149 s^-1 (600 MHz):\n")
    out.write(f"  {'data':>10} {'measured':>22} {'back-calculated':>22} {'rel. diff':>10}\n")
    for j, label in enumerate(exp.labels):
        meas = data.values[row, j]
        out.write(f"  {label:>10} {meas:>22.17g} {calc[j]:>22.17g} {abs(calc[j] / meas - 1):>10.1e}\n")
    result = fit(data, "m4", diffusion=diffusion, csa=csa, grid_bounds="paper")
    out.write("\n  fit of model m4, 11-increment grid over the paper's bounds, then Newton–GMW–backtracking "
              "inside the Method of Multipliers:\n")
    _print_table(result, out)
    return 0


def _fit_command(args, out=None) -> int:
    out = out or sys.stdout
    files = [(path, kind, float(field)) for path, kind, field in args.data]
    data = read_relax(files, nucleus=args.nucleus)
    if data.skipped:
        out.write(f"skipped (no data): {list(data.skipped)}\n")
    diffusion = None if args.model.startswith("tm") else Sphere(tm=args.tm)
    result = fit(data, args.model, diffusion=diffusion, r=args.r, csa=args.csa, grid_inc=args.grid_inc,
                 grid_bounds=args.grid_bounds)
    _print_table(result, out)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="mfjax", description="Model-free analysis of NMR relaxation data.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run on the bundled Fig. 2 data set")
    f = sub.add_parser("fit", help="fit one model to relax column files (isotropic tumbling or local tm)")
    f.add_argument("--data", nargs=3, action="append", required=True, metavar=("FILE", "KIND", "FIELD_MHZ"),
                   help="a relax column file, its rate (R1, R2, NOE) and field; repeat in measurement order")
    f.add_argument("--model", default="m4")
    f.add_argument("--tm", type=float, default=10e-9, help="global tm in s (sphere); ignored for tm models")
    f.add_argument("--r", type=float, default=NH_BOND_LENGTH, help="bond length in m")
    f.add_argument("--csa", type=float, default=N15_CSA, help="CSA, dimensionless (e.g. -172e-6)")
    f.add_argument("--nucleus", default="15N", choices=["15N", "13C"])
    f.add_argument("--grid-inc", type=int, default=11)
    f.add_argument("--grid-bounds", default="relax", choices=["relax", "paper"])
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            return demo()
        return _fit_command(args)
    except ValueError as err:
        parser.exit(2, f"mfjax: error: {err}\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
