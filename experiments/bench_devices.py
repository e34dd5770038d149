#!/usr/bin/env python
"""The cost of running the one-device program on each device (mfjax.solvers.batch: several devices
each run the same program on their share of the slots, for bitwise independence of the number of
devices) against one shard_mapped program: the first call (programs compiled, compile seconds) and
the warm time of ``minimise`` on a fixed batch of Rosenbrock problems (those of
tests/test_batch_independence.py, x0 ≤ 0.9 as the one constraint), on 1 or 2 CPU devices.

Compare two checkouts by their PYTHONPATH, alternating (A, B, A, B), under the shared lock:

    for r in 1 2; do for code in /path/to/before $PWD; do
      PYTHONPATH=$code python experiments/bench_devices.py --devices 2 --solver newton_cg:none
    done; done

Prints ONE JSON line: versions, device, load average, the code's path, compilations and their
seconds in the first call, its wall time, and the warm minimum (wall and process CPU) over the repeats.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import numpy as np

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


def rosenbrock(x, a):
    return a[1] * ((a[0] - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--solver", default="newton_cg:none", help="algorithm:constraints")
    parser.add_argument("--max-iter", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    jax.config.update("jax_num_cpu_devices", args.devices)
    jax.config.update("jax_enable_x64", True)
    from mfjax.solvers import registry
    from mfjax.solvers.batch import minimise

    compiled = [0, 0.0]

    def listener(event, seconds, **_):
        if event == COMPILE_EVENT:
            compiled[0] += 1
            compiled[1] += seconds

    jax.monitoring.register_event_duration_secs_listener(listener)
    rng = np.random.default_rng(7)
    x0 = rng.uniform(-2.0, 2.0, (args.n, 2))
    a = np.stack([rng.uniform(-1.2, 1.2, args.n), rng.uniform(0.5, 3.0, args.n)], axis=1)
    name, constraints = args.solver.split(":")
    solver = registry.build(name, constraints=constraints)

    def run():
        return minimise(rosenbrock, x0, a, np.array([[-1.0, 0.0]]), np.array([-0.9]), solver=solver,
                        max_iter=args.max_iter, n_devices=args.devices)

    load_before = os.getloadavg()
    t0 = time.perf_counter()
    res = run()
    first = time.perf_counter() - t0
    warm = []
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        run()
        warm.append((time.perf_counter() - t0, time.process_time() - c0))
    print(json.dumps(dict(jax=jax.__version__, python=platform.python_version(), device=str(jax.devices()[0]),
                          code=os.environ.get("PYTHONPATH", ""), devices=args.devices, n=args.n, solver=args.solver,
                          first_call_s=round(first, 3), compilations=compiled[0], compile_s=round(compiled[1], 2),
                          warm_wall_min_s=round(min(w for w, _ in warm), 4),
                          warm_cpu_min_s=round(min(c for _, c in warm), 4),
                          iterations=int(res.iterations.sum()), load_before=load_before,
                          load_after=os.getloadavg())))


if __name__ == "__main__":
    main()
