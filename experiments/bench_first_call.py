#!/usr/bin/env python
"""First calls: what a new Python process pays to fit model-free models, and what it compiles.

Every case runs in a FRESH child process (a new interpreter, nothing traced or compiled yet):

- ``ten_cold``: the ten models m0–m5, m9, tm0–tm2 fitted one after the other (``mfjax.fit_models``, shared
  programs) to a synthetic 135-residue, two-field (600 + 800 MHz) 15N data set with a fixed prolate
  spheroid (per-residue XH vectors), with the persistent compilation cache OFF (``MFJAX_NO_CACHE=1``);
- ``ten_separate``: the same with plain ``mfjax.fit`` per model (each model its own programs), cache off;
- ``ten_fill`` / ``ten_warm``: the same with the cache on in an empty temporary folder (fills it), then
  again in a new process with that folder filled;
- after the ten, the ten again on the first 100 residues (``again_n100``: programs compiled, 0 expected);
- ``counts``: m4 (plain ``fit``) fitted to the first 50, 100, 135 residues, then m2 to 50 and 100 (cache off): programs compiled by
  each call (``/jax/core/compile/backend_compile_duration`` events, one per program built or loaded), and
  the time spent tracing (jaxpr) and lowering (MLIR) — the part the persistent cache cannot skip.

The data set (values, errors, vectors) is made once in this parent process with ``mfjax.back_calc``
(models m1–m5 per residue, Gaussian noise, seed 2008) and handed to the children as an .npz file.

    PYTHONPATH=$PWD python experiments/bench_first_call.py              # all cases
    PYTHONPATH=$PWD python experiments/bench_first_call.py --cases counts

stdout carries one JSON document (versions, device, per case wall times, per-model times, compile
counts and trace/lower/compile seconds); progress goes to stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = ("m0", "m1", "m2", "m3", "m4", "m5", "m9", "tm0", "tm1", "tm2")
N_RESIDUES = 135
FIELDS = (600.0, 800.0)
TENSOR = dict(tm=8e-9, dratio=1.3, theta=1.0, phi=0.5)
R, CSA = 1.02e-10, -172e-6
EVENTS = {"/jax/core/compile/backend_compile_duration": "compile",
          "/jax/core/compile/jaxpr_trace_duration": "trace",
          "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
          "/jax/compilation_cache/cache_retrieval_time_sec": "cache_load"}


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


def spheroid():
    import mfjax
    diso = 1.0 / (6.0 * TENSOR["tm"])
    rho = TENSOR["dratio"]
    return mfjax.Spheroid(tm=TENSOR["tm"], da=3.0 * diso * (rho - 1.0) / (rho + 2.0),
                          theta=TENSOR["theta"], phi=TENSOR["phi"])


def experiment():
    import mfjax
    return mfjax.Experiment(kinds=["R1", "R2", "NOE"] * len(FIELDS), fields_mhz=[f for f in FIELDS for _ in range(3)])


def make_data(path: Path, n: int = N_RESIDUES, seed: int = 2008):
    """Synthetic data (n residues, models m1–m5 in turn) written to ``path`` (.npz)."""
    import numpy as np
    import mfjax
    rng = np.random.default_rng(seed)
    k = np.arange(n) + 0.5
    z = 1.0 - 2.0 * k / n
    phi = np.pi * (1.0 + 5 ** 0.5) * k
    vectors = np.stack([np.sqrt(1 - z ** 2) * np.cos(phi), np.sqrt(1 - z ** 2) * np.sin(phi), z], axis=1)
    vectors = vectors[rng.permutation(n)]
    exp = experiment()
    values = np.zeros((n, exp.n_measurements))
    truth = {"m1": dict(s2=0.85), "m2": dict(s2=0.7, te=80e-12), "m3": dict(s2=0.88, rex=2.0),
             "m4": dict(s2=0.85, te=50e-12, rex=2.5), "m5": dict(s2f=0.85, s2=0.6, ts=1.5e-9)}
    for j, (model, p) in enumerate(truth.items()):
        rows = np.arange(j, n, len(truth))
        p = {name: v * rng.uniform(0.95, 1.05, rows.size) for name, v in p.items()}
        values[rows] = mfjax.back_calc(exp, model, p, diffusion=spheroid(), r=R, csa=CSA, vectors=vectors[rows])
    errors = np.where(np.array(exp.kinds) == "NOE", 0.03, 0.02 * values)
    values = values + errors * rng.normal(size=values.shape)
    np.savez(path, values=values, errors=errors, vectors=vectors)


# ---------------------------------------------------------------------------------------------------
# Children

def _listen():
    import jax.monitoring
    tally = {name: [0, 0.0] for name in EVENTS.values()}

    programs = []

    def on_duration(event, seconds, fun_name=None, **_):
        if event in EVENTS:
            tally[EVENTS[event]][0] += 1
            tally[EVENTS[event]][1] += seconds
            if seconds >= 0.005:     # the per-program breakdown: every step that took 5 ms or more
                programs.append(f"{EVENTS[event]} {fun_name} {seconds:.3f}")

    jax.monitoring.register_event_duration_secs_listener(on_duration)
    hits = [0]
    jax.monitoring.register_event_listener(lambda event, **_: hits.__setitem__(0, hits[0] + (event == "/jax/compilation_cache/cache_hits")))
    return tally, hits, programs


def _snapshot(tally, hits, programs=()):
    return ({name: {"count": c, "seconds": round(s, 3)} for name, (c, s) in tally.items()}
            | {"cache_hits": hits[0], "programs": list(programs)})


def _diff(after, before):
    out = {name: {"count": after[name]["count"] - before[name]["count"],
                  "seconds": round(after[name]["seconds"] - before[name]["seconds"], 3)} for name in EVENTS.values()}
    out["cache_hits"] = after["cache_hits"] - before["cache_hits"]
    out["programs"] = after["programs"][len(before["programs"]):]
    return out


def child(case: str, data_path: str):
    t_start = time.perf_counter()
    import numpy as np
    import mfjax
    tally, hits, programs = _listen()
    t_import = time.perf_counter() - t_start
    data = np.load(data_path)
    exp = experiment()
    out = {"import_s": round(t_import, 3)}

    def fit(model, n, shared=False):
        d = mfjax.RelaxationData(exp, data["values"][:n], data["errors"][:n])
        diffusion = None if model.startswith("tm") else spheroid()
        before = _snapshot(tally, hits, programs)
        t0, c0 = time.perf_counter(), time.process_time()
        if shared:     # as mfjax.fit_models(d, MODELS, diffusion=spheroid(), ...) runs each model
            res = mfjax.fit_models(d, [model], diffusion=diffusion, r=R, csa=CSA, vectors=data["vectors"][:n])[model]
        else:
            res = mfjax.fit(d, model, diffusion=diffusion, r=R, csa=CSA,
                            vectors=None if diffusion is None else data["vectors"][:n])
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        return res, {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), **_diff(_snapshot(tally, hits, programs), before),
                     "chi2_sum": float(np.sum(res.chi2)), "iterations_sum": int(np.sum(res.iterations))}

    if case in ("ten", "ten_separate"):
        t0, c0 = time.perf_counter(), time.process_time()
        out["models"] = {model: fit(model, N_RESIDUES, case == "ten")[1] for model in MODELS}
        out["total_s"] = round(time.perf_counter() - t0, 3)
        out["total_cpu_s"] = round(time.process_time() - c0, 3)
        # then the ten again on the first 100 residues: another residue count within the padded sizes
        before = _snapshot(tally, hits)
        t0 = time.perf_counter()
        for model in MODELS:
            fit(model, 100, case == "ten")
        again = _diff(_snapshot(tally, hits), before)
        out["again_n100"] = {"wall_s": round(time.perf_counter() - t0, 3), "compiled": again["compile"]["count"],
                             "cache_hits": again["cache_hits"]}
    elif case == "counts":
        out["fits"] = {f"m4_n{n}": fit("m4", n)[1] for n in (50, 100, 135)}
        out["fits"].update({f"m2_n{n}": fit("m2", n)[1] for n in (50, 100)})
    out["totals"] = _snapshot(tally, hits)
    del out["totals"]["programs"]
    print(json.dumps(out))


def run_child(case: str, data_path: Path, cache: str | None) -> dict:
    env = dict(os.environ)
    env.pop("MFJAX_CACHE_DIR", None)
    env.pop("MFJAX_NO_CACHE", None)
    if cache is None:
        env["MFJAX_NO_CACHE"] = "1"
    else:
        env["MFJAX_CACHE_DIR"] = cache
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", case, "--data", str(data_path)],
                          capture_output=True, text=True, env=env)
    if proc.returncode:
        raise RuntimeError(f"child {case} failed:\n{proc.stderr[-4000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_s"] = round(time.perf_counter() - t0, 3)
    return result


def versions() -> dict:
    import jax
    import jaxlib
    import numpy
    import mfjax
    return {"python": platform.python_version(), "jax": jax.__version__, "jaxlib": jaxlib.__version__,
            "numpy": numpy.__version__, "mfjax": mfjax.__version__, "platform": platform.platform(),
            "device": str(jax.devices()[0]), "cpu_count": os.cpu_count(),
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="ten_cold,ten_fill,ten_warm,counts")
    parser.add_argument("--child")
    parser.add_argument("--data")
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.data)
    doc = {"versions": versions(), "n_residues": N_RESIDUES, "models": MODELS, "cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        data_path = Path(tmp) / "data.npz"
        make_data(data_path)
        cache = str(Path(tmp) / "cache")
        for case in args.cases.split(","):
            log(f"case {case} ...")
            kind = {"counts": "counts", "ten_separate": "ten_separate"}.get(case, "ten")
            doc["cases"][case] = run_child(kind, data_path, None if case in ("ten_cold", "counts", "ten_separate") else cache)
            log(f"  {case}: {doc['cases'][case].get('total_s', '')} s in fits, "
                f"{doc['cases'][case]['process_s']} s process")
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
