#!/usr/bin/env python
"""Does AIC pick m4 wherever m4 alone fits the noise-free Rex Grid exactly? (issue 10, "Done when").

The Rex Grid (d'Auvergne & Gooley 2008; 2,640 noise-free m4 points, ``paper_grids.rex_grid``) is fitted
with every model m0–m9 on every point (``mfjax.select(prune=False)``, AIC, the paper's 11-increment
grid, the sphere of τm = 10 ns). "Fits exactly": χ² < EXACT (1e-20; m4 at its truth has χ² = 0, the
exact fits end at round-off, 1e-22 and below, and the next χ² of an inexact model is orders above).
Every point where AIC does not choose m4 is put in one class:

(a) a simpler model (fewer parameters than m4's 3) also fits exactly: its AIC 2k < 6 wins. Where
    this is expected from the truth alone: Rex = 0 (m2 with the true S2, τe has χ² = 0 by the forward
    model, so AIC ≤ 4 < 6).
(b) no simpler model fits exactly, but one comes within 2·(3 − k) of χ² = 0: χ²_simple + 2k < χ²_m4 + 6.
    With noise-free data and finite errors this is AIC's correct behaviour, not a failure: the data do
    not show the missing parameter by more than the penalty.
(c) m4 does not fit exactly (a local minimum, e.g. RG point 151): the point is fitted again with
    ``starts`` (multi-start inside ``select``, every model on it), and the new choice and χ² are reported.

Writes experiments/results/select_rg.json (counts, the (b) and (c) points with their numbers, the
version and the device).

    python experiments/select_rg.py [--starts 8]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import paper_grids  # noqa: E402
from bench_fit import device_info, jsonable, log, versions  # noqa: E402

import mfjax  # noqa: E402
from mfjax.models import get_model  # noqa: E402

KW = dict(diffusion=paper_grids.DIFFUSION, r=paper_grids.R_NH, csa=paper_grids.CSA, grid_inc=11, grid_bounds="paper")
MODELS = [f"m{i}" for i in range(10)]
EXACT = 1e-20
OUT = Path(__file__).resolve().parent / "results" / "select_rg.json"


def point(truth, i):
    return dict(index=int(i), s2=float(truth["s2"][i]), te_ps=float(truth["te"][i] * 1e12), rex=float(truth["rex"][i]))


def classify(sel, truth, data):
    """Per point: the exact models, the choice, the class (m4, a, b, c) with the numbers behind it."""
    k = np.array([get_model(m).n_params for m in MODELS])
    chi2 = np.stack([sel.fits[m].chi2 for m in MODELS])
    exact = chi2 < EXACT
    j4 = MODELS.index("m4")
    at_truth = mfjax.chi2(data, "m4", truth, **{key: KW[key] for key in ("diffusion", "r", "csa")})
    rex0_m2 = mfjax.chi2(data, "m2", {"s2": truth["s2"], "te": truth["te"]}, diffusion=KW["diffusion"],
                         r=KW["r"], csa=KW["csa"])
    classes, details = [], {"b": [], "c": []}
    for i in range(chi2.shape[1]):
        simpler = np.flatnonzero(k < 3)
        if sel.model[i] == "m4":
            classes.append("m4")
        elif not exact[j4, i]:
            classes.append("c")
            details["c"].append(dict(point(truth, i), chi2_m4=float(chi2[j4, i]), choice=str(sel.model[i])))
        elif exact[simpler, i].any():
            classes.append("a")
        else:
            classes.append("b")
            j = sel.index[i]
            details["b"].append(dict(point(truth, i), choice=str(sel.model[i]), chi2_choice=float(chi2[j, i]),
                                     aic_choice=float(sel.criterion[j, i]), aic_m4=float(sel.criterion[j4, i])))
    classes = np.array(classes)
    m4_alone = exact[j4] & ~exact[np.flatnonzero((k <= 3) & (np.arange(len(MODELS)) != j4))].any(axis=0)
    rex0 = truth["rex"] == 0
    return dict(
        exact_threshold=EXACT,
        m4_chi2_at_truth_max=float(np.max(at_truth)),
        m2_chi2_at_truth_on_rex0_max=float(np.max(rex0_m2[rex0])),
        points=int(chi2.shape[1]), rex0_points=int(rex0.sum()),
        exact_per_model={m: int(exact[j].sum()) for j, m in enumerate(MODELS)},
        chosen={m: int((sel.model == m).sum()) for m in MODELS + [""]},
        classes={c: int((classes == c).sum()) for c in ("m4", "a", "b", "c")},
        class_a_rex0=int(((classes == "a") & rex0).sum()), class_a_rex_positive=int(((classes == "a") & ~rex0).sum()),
        class_a_exact_simpler={m: int(((classes == "a") & exact[j]).sum()) for j, m in enumerate(MODELS) if k[j] < 3},
        m4_alone_exact=int(m4_alone.sum()), m4_alone_exact_not_chosen=int((m4_alone & (sel.model != "m4")).sum()),
        m4_alone_exact_not_chosen_classes={c: int((m4_alone & (classes == c)).sum()) for c in ("a", "b", "c")},
        b_points=details["b"], c_points=details["c"],
        b_margin_max=max((d["aic_m4"] - d["aic_choice"] for d in details["b"]), default=None),
        b_margin_min=min((d["aic_m4"] - d["aic_choice"] for d in details["b"]), default=None),
    ), classes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=8, help="starts per model for the class (c) points")
    args = parser.parse_args()
    _, truth, data = paper_grids.rex_grid()
    out = dict(versions=versions(), device=device_info(), load_before=os.getloadavg())
    t0 = time.perf_counter()
    sel = mfjax.select(data, models=MODELS, criterion="AIC", prune=False, **KW)
    out["select_prune_false_s"] = time.perf_counter() - t0
    log(f"select (prune=False): {out['select_prune_false_s']:.1f} s")
    pruned = mfjax.select(data, models=MODELS, criterion="AIC", **KW)
    out["same_choice_with_prune"] = bool(np.array_equal(pruned.model, sel.model))
    summary, classes = classify(sel, truth, data)
    out.update(summary)
    c_idx = np.flatnonzero(classes == "c")
    if c_idx.size:
        t0 = time.perf_counter()
        multi = mfjax.select(data.subset(c_idx), models=MODELS, criterion="AIC", starts=args.starts,
                             start_kind="grid", prune=False, **KW)
        flags = multi.fits["m4"].multiple_minima
        out["c_multistart"] = dict(starts=args.starts, seconds=time.perf_counter() - t0, points=[
            dict(point(truth, i), choice=str(multi.model[j]), chi2_m4=float(multi.fits["m4"].chi2[j]),
                 chi2={m: float(multi.fits[m].chi2[j]) for m in MODELS},
                 multiple_minima_m4=None if flags is None else bool(flags[j]))
            for j, i in enumerate(c_idx)])
    out["load_after"] = os.getloadavg()
    text = json.dumps(jsonable(out), indent=1)
    OUT.write_text(text + "\n")
    print(json.dumps(jsonable({k: v for k, v in out.items() if k not in ("b_points",)}), indent=1))


if __name__ == "__main__":
    main()
