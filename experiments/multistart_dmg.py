#!/usr/bin/env python
"""Multi-start on the paper's Double Motion Grid (d'Auvergne & Gooley 2008; 1,936 points of model m5,
noise-free): fit every point from one grid start (11 increments, the paper's bounds), then refit the
points that did not reach χ² < 1e-20 with ``fit(starts=K)``, and count how many reach it now, how many
are flagged ``multiple_minima``, and the cost (time and iterations).

    python experiments/multistart_dmg.py [--starts 8] [--kind mixed] [--quick 200]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import paper_grids  # noqa: E402
from bench_fit import cpu_info, device_info, jsonable, subset_indices, versions  # noqa: E402

import mfjax  # noqa: E402

KW = dict(diffusion=paper_grids.DIFFUSION, r=paper_grids.R_NH, csa=paper_grids.CSA, grid_inc=11, grid_bounds="paper")
SMALL = 1e-20


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=8)
    parser.add_argument("--kind", default="mixed")
    parser.add_argument("--quick", type=int, default=None, help="only this many points, spread over the grid")
    args = parser.parse_args()
    _, truth, data = paper_grids.double_motion_grid()
    idx = subset_indices(data.n_residues, args.quick)
    data = data.subset(idx)
    t0 = time.perf_counter()
    single = mfjax.fit(data, "m5", **KW)
    t_single = time.perf_counter() - t0
    bad = np.flatnonzero(~(single.chi2 < SMALL))
    out = dict(versions=versions(), device=device_info(), cpu=cpu_info(), points=len(idx), starts=args.starts,
               start_kind=args.kind, single=dict(seconds=t_single, above_1e_20=len(bad),
                                                 iterations=int(single.iterations.sum())))
    if len(bad):
        sub = data.subset(bad)
        t0 = time.perf_counter()
        multi = mfjax.fit(sub, "m5", **KW, starts=args.starts, start_kind=args.kind, seed=0)
        t_multi = time.perf_counter() - t0
        fixed = multi.chi2 < SMALL
        out["multi"] = dict(seconds=t_multi, refitted=len(bad), reach_1e_20=int(fixed.sum()),
                            still_above=int((~fixed).sum()), flagged_multiple_minima=int(multi.multiple_minima.sum()),
                            never_worse=bool(np.all(multi.chi2 <= single.chi2[bad] * (1 + 1e-9) + 1e-30)),
                            worst_chi2_after=float(multi.chi2.max()), worst_chi2_before=float(single.chi2[bad].max()),
                            s2f_of_refitted=sorted({float(v) for v in truth["s2f"][idx][bad]}),
                            remaining=[dict(s2f=float(truth["s2f"][idx][i]), s2s=float(truth["s2s"][idx][i]),
                                            ts_ps=float(truth["ts"][idx][i] * 1e12), chi2=float(c))
                                       for i, c in zip(bad[~fixed], multi.chi2[~fixed])][:20])
    print(json.dumps(jsonable(out), indent=1))


if __name__ == "__main__":
    main()
