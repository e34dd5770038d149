#!/usr/bin/env python
"""Does ``fit(starts=K)`` ever end above the best minimum any of its starts finds? On the synthetic
135-residue, two-field (600 + 800 MHz) 15N data set of experiments/bench_first_call.py (fixed prolate
spheroid, per-residue XH vectors, models m1–m5 behind the data, Gaussian noise, seed 2008), for every
model asked: fit with ``starts=K`` (with and without ``polish=True``), then refit from each of its K start
points on its own (``fit(x0=start j)``, a separate run, not the batch) and from the plain single start
(``fit()``), and count the residues where the multi-start χ² exceeds the best of those by more than
1e-9 relative (+1e-12 absolute).

    python experiments/multistart_protein.py [--models m5 m6 m7 m8] [--starts 8] [--kind mixed]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_first_call as protein  # noqa: E402
from bench_fit import cpu_info, device_info, jsonable, versions  # noqa: E402

import mfjax  # noqa: E402
from mfjax import models  # noqa: E402
from mfjax.fit import multistart_points  # noqa: E402
from mfjax.objective import residue_problem  # noqa: E402

RTOL, ATOL = 1e-9, 1e-12


def load():
    path = Path(tempfile.mkdtemp()) / "protein.npz"
    protein.make_data(path)
    d = np.load(path)
    data = mfjax.RelaxationData(protein.experiment(), d["values"], d["errors"],
                                residues=[f"r{i + 1}" for i in range(d["values"].shape[0])])
    return data, d["vectors"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"])
    parser.add_argument("--starts", type=int, default=8)
    parser.add_argument("--kind", default="mixed")
    args = parser.parse_args()
    load_before = list(os.getloadavg())
    data, vectors = load()
    kw = dict(diffusion=protein.spheroid(), r=protein.R, csa=protein.CSA, vectors=vectors)
    out = dict(versions=versions(), device=device_info(), cpu=cpu_info(), load_average_before=load_before,
               residues=data.n_residues, starts=args.starts, start_kind=args.kind, models={})
    for name in args.models:
        model = models.get_model(name)
        t0 = time.perf_counter()
        multi = mfjax.fit(data, name, starts=args.starts, start_kind=args.kind, seed=0, **kw)
        t_multi = time.perf_counter() - t0
        t0 = time.perf_counter()
        multi_p = mfjax.fit(data, name, starts=args.starts, start_kind=args.kind, seed=0, polish=True, **kw)
        t_multi_p = time.perf_counter() - t0
        single = mfjax.fit(data, name, **kw)
        problem = residue_problem(data, model, **kw)
        tm = float(kw["diffusion"].tm)
        A, b = models.linear_constraints(model, tm=tm)
        starts, _ = multistart_points(problem, model, None, args.starts, args.kind, 0, 11, "relax", A, b, True)
        scales = np.asarray(problem.scales)
        each = np.stack([mfjax.fit(data, name, x0={p: starts[:, j, i] * scales[i] for i, p in enumerate(model.params)},
                                   **kw).chi2 for j in range(starts.shape[1])], axis=1)
        best_any = np.nanmin(np.column_stack([each, single.chi2]), axis=1)
        row = {}
        for tag, res in (("multi", multi), ("multi_polish", multi_p)):
            above = res.chi2 > best_any * (1 + RTOL) + ATOL
            row[tag] = dict(above_best_start=int(above.sum()),
                            residues_above=[dict(residue=data.residues[i], chi2=float(res.chi2[i]),
                                                 best_separate=float(best_any[i]),
                                                 which=("single" if single.chi2[i] == best_any[i] else
                                                        f"start {int(np.nanargmin(each[i]))}"))
                                            for i in np.flatnonzero(above)],
                            below_best_start=int((res.chi2 < best_any * (1 - RTOL) - ATOL).sum()),
                            multiple_minima=int(res.multiple_minima.sum()),
                            above_single=int((res.chi2 > single.chi2 * (1 + RTOL) + ATOL).sum()))
        row["multi"]["seconds"], row["multi_polish"]["seconds"] = t_multi, t_multi_p
        row["multi_polish"]["polish_improved"] = int(multi_p.polish["improved"].sum())
        row["multi_polish"]["polish_f_count"] = int(multi_p.polish["f_count"].sum())
        row["multi_polish"]["never_worse_than_multi"] = bool(np.all(multi_p.chi2 <= multi.chi2))
        out["models"][name] = row
        print(name, json.dumps(jsonable(row)), file=sys.stderr, flush=True)
    out["load_average_after"] = list(os.getloadavg())
    print(json.dumps(jsonable(out), indent=1))


if __name__ == "__main__":
    main()
