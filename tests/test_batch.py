"""The batched engine (mfjax.solvers.batch) with a fake solver whose every number is known: problem i
finishes after k_i steps (its args), so slots, queue and refill, the tail, chunking, the devices and
progress reports can be checked exactly, with no optimisation algorithm involved."""
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
import pytest

from mfjax.solvers.batch import default_sizes, minimise
from mfjax.status import Status


class CountState(NamedTuple):
    x: Any
    f: Any
    iters: Any
    f_count: Any
    g_count: Any
    h_count: Any
    status: Any
    steps: Any


@dataclass(frozen=True)
class Countdown:
    """Fake solver: every step adds 1 to x (and x·k to f); after k = args[0] steps it converges, or it
    stops at max_iter steps. Counts: iters = steps, f = 2·steps + 1, g = 3·steps, h = steps // 2. A step
    taken on a finished problem would show up as an extra 1 in x."""

    def init(self, fun, prob):
        zero = jnp.zeros((), jnp.int32)
        return CountState(prob.x0, fun(prob.x0, prob.args), zero, zero + 1, zero, zero,
                          jnp.asarray(Status.RUNNING, jnp.int32), zero)

    def step(self, fun, prob, s):
        steps = s.steps + 1
        k = prob.args[0].astype(jnp.int32)
        status = jnp.where(steps >= k, Status.CONVERGED,
                           jnp.where(steps >= prob.max_iter, Status.MAX_ITERATIONS, Status.RUNNING))
        x = s.x + 1.0
        return CountState(x, fun(x, prob.args), steps, 2 * steps + 1, 3 * steps, steps // 2,
                          status.astype(jnp.int32), steps)


def f_of(x, a):
    return jnp.sum(x) * a[0]


def expected(x0, k, max_iter=10_000_000):
    steps = np.minimum(k, max_iter)
    x = x0 + steps[:, None]
    status = np.where(k <= max_iter, Status.CONVERGED, Status.MAX_ITERATIONS)
    return x, x.sum(axis=1) * k, steps, 2 * steps + 1, 3 * steps, steps // 2, status


def check(res, x0, k, max_iter=10_000_000):
    x, f, steps, fc, gc, hc, status = expected(x0, k, np.asarray(max_iter))
    np.testing.assert_array_equal(res.x, x)
    np.testing.assert_array_equal(res.f, f)
    np.testing.assert_array_equal(res.iterations, steps)
    np.testing.assert_array_equal(res.f_count, fc)
    np.testing.assert_array_equal(res.g_count, gc)
    np.testing.assert_array_equal(res.h_count, hc)
    np.testing.assert_array_equal(res.status, status)


def problems(n, seed=0, k_max=60):
    rng = np.random.default_rng(seed)
    x0 = rng.integers(-50, 50, (n, 2)).astype(float)     # integers: x0 + k is exact
    k = rng.integers(1, k_max, n)
    return x0, k


def test_problems_finishing_at_different_steps_in_the_bulk_and_the_tail():
    x0, k = problems(150)
    k[7] = 400                                     # a straggler left for the tail
    res = minimise(f_of, x0, k[:, None].astype(float), solver=Countdown(), batch_size=8, tail_size=2,
                   queue_size=5, chunk=7)
    check(res, x0, k)
    assert res.iterations.dtype == np.int64 and res.status.dtype == np.int32 and res.x.shape == (150, 2)


def test_default_sizes_and_a_lone_problem():
    # fixed widths per device whatever the number of problems (bitwise batch independence)
    assert default_sizes(1, 1, "cpu") == default_sizes(5000, 1, "cpu") == (64, 8)
    assert default_sizes(1000, 2, "cpu") == (128, 16)
    assert default_sizes(10 ** 6, 1, "gpu") == (16384, 16384)
    x0, k = problems(1, seed=4)
    check(minimise(f_of, x0, k[:, None].astype(float), solver=Countdown()), x0, k)
    x0, k = problems(300, seed=7)            # more than 64: slots refilled from the queue
    check(minimise(f_of, x0, k[:, None].astype(float), solver=Countdown(), chunk=11), x0, k)


def test_max_iter_per_problem():
    x0, k = problems(20, seed=1)
    max_iter = np.where(np.arange(20) % 3 == 0, 5, 1000)
    res = minimise(f_of, x0, k[:, None].astype(float), solver=Countdown(), max_iter=max_iter, batch_size=4)
    check(res, x0, k, max_iter)
    assert np.sum(res.status == Status.MAX_ITERATIONS) == np.sum(k > max_iter) > 0


@pytest.mark.parametrize("sizes", [dict(), dict(batch_size=4, tail_size=2, queue_size=3, chunk=1),
                                   dict(batch_size=2, tail_size=2, queue_size=1, chunk=3),
                                   dict(batch_size=16, tail_size=4, chunk=100_000)])
def test_sizes_queues_and_chunks_change_nothing(sizes):
    x0, k = problems(37, seed=2)
    check(minimise(f_of, x0, k[:, None].astype(float), solver=Countdown(), **sizes), x0, k)


def test_progress_counts_every_problem_once_per_host_visit():
    x0, k = problems(40, seed=3)
    seen = []
    res = minimise(f_of, x0, k[:, None].astype(float), solver=Countdown(), batch_size=4, tail_size=2, queue_size=3,
                   chunk=5, progress=lambda done, n: seen.append((done, n)))
    check(res, x0, k)
    done = [d for d, _ in seen]
    # 40 problems, 3 handed per visit: at least 14 visits; the count never goes down and ends at N.
    assert len(seen) >= 14 and done[-1] == 40 and np.all(np.diff(done) >= 0) and {n for _, n in seen} == {40}


def test_empty_batch_and_bad_sizes():
    res = minimise(f_of, np.zeros((0, 2)), np.zeros((0, 1)), solver=Countdown())
    assert res.x.shape == (0, 2) and res.iterations.shape == (0,)
    with pytest.raises(ValueError, match="at least 2 slots per device"):
        minimise(f_of, np.zeros((3, 2)), np.ones((3, 1)), solver=Countdown(), batch_size=4, tail_size=1)
