#!/usr/bin/env python
"""relax's own fit of chosen RG points (model m4, the paper's grid search with 11 increments, then
Newton–GMW–backtracking inside the Method of Multipliers with relax's defaults), side by side with
mfjax, for points whose iteration counts are in question (RG points 99 and 110: S2 0.001, τe 128 /
256 ps, Rex 0). A checking tool: relax is run, never copied.

Two steps, in two environments:

    # 1. with mfjax (writes relax's column files, one line per point, residues numbered 1, 2, ...)
    PYTHONPATH=$PWD python experiments/rg_points_relax.py write /tmp/rgpts --points 99,110
    # 2. with relax (numpy 1.26, scipy 1.13, minfx on PYTHONPATH), from the relax checkout
    cd RELAX && RG_POINTS_DATA=/tmp/rgpts PYTHONPATH=MINFX VENV/bin/python relax PATH/TO/rg_points_relax.py

Step 2 prints one line "RESULT {json}" per point (s2, te in ps, Rex at 600 MHz, χ², iter, f/g/h
counts, warning) and the iterations of each inner run of the Method of Multipliers ("INNER [...]",
from relax's own log at verbosity 3). Results: experiments/results/rg_points_relax.json.
"""
import json
import os
import re
import sys

NAMES = ["r1.600.out", "r2.600.out", "noe.600.out", "r1.500.out", "r2.500.out", "noe.500.out"]


def write(folder, points):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import paper_grids
    _, _, data = paper_grids.rex_grid()
    os.makedirs(folder, exist_ok=True)
    for j, name in enumerate(NAMES):
        with open(os.path.join(folder, name), "w") as fh:
            fh.write("#Num Name Value Error\n")
            for k, p in enumerate(points):
                fh.write(f"{k + 1} GLY {float(data.values[p, j])!r} {float(data.errors[p, j])!r}\n")


def fit_with_relax(ns):
    """Runs inside relax (its user functions are in ``ns``)."""
    import io
    from math import pi
    D = os.environ["RG_POINTS_DATA"]
    ns["pipe"].create('rg', 'mf')
    ns["sequence"].read('noe.500.out', dir=D, res_num_col=1, res_name_col=2)
    for ri_id, ri_type, frq, fname in [('R1_600', 'R1', 600e6, NAMES[0]), ('R2_600', 'R2', 600e6, NAMES[1]),
                                       ('NOE_600', 'NOE', 600e6, NAMES[2]), ('R1_500', 'R1', 500e6, NAMES[3]),
                                       ('R2_500', 'R2', 500e6, NAMES[4]), ('NOE_500', 'NOE', 500e6, NAMES[5])]:
        ns["relax_data"].read(ri_id=ri_id, ri_type=ri_type, frq=frq, file=fname, dir=D,
                              res_num_col=1, res_name_col=2, data_col=3, error_col=4)
    ns["diffusion_tensor"].init(10e-9, fixed=True)
    ns["spin"].name('N')
    ns["spin"].element('N')
    ns["sequence"].attach_protons()
    ns["interatom"].define(spin_id1='@N', spin_id2='@H', direct_bond=True)
    ns["interatom"].set_dist(spin_id1='@N', spin_id2='@H', ave_dist=1.02 * 1e-10)
    ns["value"].set(-160 * 1e-6, 'csa')
    ns["spin"].isotope('15N', spin_id='@N')
    ns["spin"].isotope('1H', spin_id='@H')
    ns["model_free"].select_model(model='m4')
    ns["minimise"].grid_search(lower=[0, 0, 0], upper=[1.0, 10e-9, 20.0 / (2 * pi * 600e6) ** 2], inc=11)
    log, stdout = io.StringIO(), sys.stdout
    sys.stdout = log
    try:
        ns["minimise"].execute('newton', 'gmw', 'back', constraints=True, verbosity=3)
    finally:
        sys.stdout = stdout
    # Each spin's log: inner runs report "Iterations: n" (indented), the spin's total unindented.
    inner, runs = [], []
    for line in log.getvalue().splitlines():
        m = re.match(r"^(\s*)Iterations:\s+(\d+)", line)
        if m and m.group(1):
            inner.append(int(m.group(2)))
        elif m:
            runs.append(inner)
            inner = []
    from pipe_control.mol_res_spin import spin_loop
    for sp, inner in zip(spin_loop('@N'), runs):
        out = {"s2": repr(sp.s2), "te_ps": repr(sp.te / 1e-12), "rex_600": repr(sp.rex * (2.0 * pi * 600e6) ** 2),
               "chi2": repr(sp.chi2), "iter": sp.iter, "f_count": sp.f_count, "g_count": sp.g_count,
               "h_count": sp.h_count, "warning": sp.warning}
        sys.stdout.write("RESULT " + json.dumps(out) + "\nINNER " + json.dumps(inner) + "\n")


if "pipe" in globals() and "minimise" in globals():       # run by relax
    fit_with_relax(globals())
elif __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["write"])
    ap.add_argument("folder")
    ap.add_argument("--points", default="99,110")
    a = ap.parse_args()
    write(a.folder, [int(p) for p in a.points.split(",")])
