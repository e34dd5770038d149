"""Line-search state machines against plain-Python ports of minfx's line_search/backtrack.py and more_thuente.py (docs/algorithms.md),
on a zoo of 1-D restrictions φ(α) = f(x + α p)."""
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mfjax.solvers.batch import minimise
from mfjax.solvers.constraints import MethodOfMultipliers, Unconstrained
from mfjax.solvers.descent import Descent
from mfjax.solvers.settings import LineSearchConstants
from mfjax.solvers.linesearch import (
    A_MIN, ERR_ASCENT, ERR_CUBIC_SQRT, ERR_NONE, MoreThuente, MTState, backtrack_init, backtrack_update,
    direction_is_descent, more_thuente_init, more_thuente_update,
)
from mfjax.status import Status


# ----------------------------------------------------------------------------- plain-Python references

def ref_backtrack(phi, f0, slope, a_init, c=1e-4, rho=0.5):
    a = a_init
    for i in range(501):
        if phi(a) <= f0 + c * a * slope:
            return a, i + 1
        a = rho * a
    return a_init * rho**10, 501


def _r_cubic(a, b, fa, fb, ga, gb, ext=False):
    beta1 = ga + gb - 3 * (fa - fb) / (a - b)
    arg = beta1**2 - ga * gb
    beta2 = math.sqrt(max(0.0, arg)) if ext else math.sqrt(arg)   # math.sqrt raises ValueError if arg < 0
    if not a < b:
        beta2 = -beta2
    denom = gb - ga + 2 * beta2
    return (-1e99 if denom == 0 else b - (b - a) * (gb + beta2 - beta1) / denom), beta1, beta2


def _r_quad(a, b, fa, fb, ga):
    denom = fa - fb - (a - b) * ga
    return 1e99 if denom == 0 else a + 0.5 * ga / denom


def _r_secant(a, b, ga, gb):
    denom = ga - gb
    return 1e99 if denom == 0 else (b * ga - a * gb) / denom


def ref_more_thuente(phi_dphi, a_init, phi0, dphi0, mu, eta):
    """§4.5 pseudocode. Returns (alpha, count, status) with status 'ok', 'ascent' or 'sqrt'."""
    if dphi0 > 0:
        return None, 0, "ascent"
    a_min, a_tol, d = 1e-25, 1e-10, 0.66
    a_max = 4 * max(1.0, a_init)
    lim = [0.0, 5 * a_init]
    width = a_max - a_min
    width2 = 2 * width
    a = a_init
    fa, ga = phi_dphi(a)
    count = 1
    lo, hi = (0.0, phi0, dphi0), (0.0, phi0, dphi0)
    bracketed, mod = False, True
    while True:
        curv = mu * dphi0
        suff = phi0 + a * curv
        if mod and fa <= suff and ga >= 0:
            mod = False
        if fa <= suff and abs(ga) <= eta * abs(dphi0):
            return a, count, "ok"
        if a == a_min and (fa > suff or ga >= curv):
            return a, count, "ok"
        if a == a_max and (fa <= suff and ga <= curv):
            return a, count, "ok"
        if bracketed:
            if a <= lim[0] or a >= lim[1]:
                return a, count, "ok"
            if lim[1] - lim[0] <= a_tol * lim[1]:
                return a, count, "ok"
        if mod and fa <= lo[1] and fa > suff:
            ft, fl, fu = fa - curv * a, lo[1] - curv * lo[0], hi[1] - curv * hi[0]
            gt, gl, gu = ga - curv, lo[2] - curv, hi[2] - curv
        else:
            ft, fl, fu, gt, gl, gu = fa, lo[1], hi[1], ga, lo[2], hi[2]
        at, al, au = a, lo[0], hi[0]
        try:
            if ft > fl:
                bracketed = True
                ac = _r_cubic(al, at, fl, ft, gl, gt)[0]
                aq = _r_quad(al, at, fl, ft, gl)
                new = ac if abs(ac - al) < abs(aq - al) else (aq + ac) / 2
            elif gt * gl < 0:
                bracketed = True
                ac = _r_cubic(al, at, fl, ft, gl, gt)[0]
                asec = _r_secant(al, at, gl, gt)
                new = ac if abs(ac - at) >= abs(asec - at) else asec
            elif abs(gt) <= abs(gl):
                ac, _, beta2 = _r_cubic(al, at, fl, ft, gl, gt, ext=True)
                if not (ac > at and beta2 != 0):
                    ac = lim[1] if at > al else lim[0]
                asec = _r_secant(al, at, gl, gt)
                if bracketed:
                    new = ac if abs(ac - at) < abs(asec - at) else asec
                    new = min(at + d * (au - at), new) if at > al else max(at + d * (au - at), new)
                else:
                    new = ac if abs(ac - at) > abs(asec - at) else asec
                    new = max(lim[0], min(lim[1], new))
            else:
                if bracketed:
                    new = _r_cubic(au, at, fu, ft, gu, gt)[0]
                else:
                    new = lim[1] if at > al else lim[0]
        except ValueError:
            return a, count, "sqrt"
        old_lo = lo
        if ft > fl:
            hi = (at, fa, ga)
        elif gt * (al - at) > 0:
            lo = (at, fa, ga)
        else:
            hi = old_lo
            lo = (at, fa, ga)
        if bracketed:
            size = abs(lo[0] - hi[0])
            if size >= d * width2:
                new = (lo[0] + hi[0]) / 2
            width2 = width
            width = size
            lim = [min(lo[0], hi[0]), max(lo[0], hi[0])]
        else:
            lim = [new + 1.1 * (new - lo[0]), new + 4.0 * (new - lo[0])]
        if bracketed and (new <= lim[0] or new >= lim[1] or lim[1] - lim[0] <= a_tol * lim[1]):
            new = old_lo[0]
        new = min(max(new, a_min), a_max)
        a = new
        fa, ga = phi_dphi(a)
        count += 1


# ----------------------------------------------------------------------------- the zoo

def rosen(x):
    return 100.0 * (x[1] - x[0] ** 2) ** 2 + (1.0 - x[0]) ** 2


FUNCS = [
    lambda x: 0.5 * (3.0 * x[0] ** 2 + x[0] * x[1] + 0.2 * x[1] ** 2) - x[0] + 2.0 * x[1],   # quadratic
    rosen,
    lambda x: 1.0 - jnp.exp(-((x[0] - 1.0) ** 2) / 0.5) + 0.0 * x[1],                       # flat tails
    lambda x: (x[0] - 2.0) ** 4 + 0.0 * x[1],                                               # flat bottom
    lambda x: jnp.exp(x[0]) - 2.0 * x[0] + (x[1] - 0.5) ** 2,                                # exp
    lambda x: x[0] - jnp.log(x[0]) + 0.0 * x[1],                                            # log
    lambda x: jnp.log1p(jnp.exp(-x[0])) + 0.0 * x[1],                                       # no minimum (a_max)
    lambda x: 50.0 * x[0] ** 2 + 0.01 * x[1] ** 2,                                          # ill-conditioned
    # Kinks: no point satisfies the curvature condition, the interval collapses onto the kink
    # (exercises the fallback to the old lower end and the round-off termination).
    lambda x: jnp.abs(x[0] - 1.0) + 0.01 * x[0] ** 2 + 0.0 * x[1],
    lambda x: 3.0 * jnp.abs(x[0] - 0.3) - 0.5 * x[0] + 0.0 * x[1],
    lambda x: jnp.maximum(x[0] - 2.0, 0.2 * (2.0 - x[0])) + 0.0 * x[1],
]
KINKS = {8: 1.0, 9: 0.3, 10: 2.0}


def _hess_dir(k, x):
    from mfjax.solvers.gmw import gmw_direction
    f = FUNCS[k]
    return gmw_direction(jax.hessian(f)(x), jax.grad(f)(x))


def _make_cases():
    cases = []   # (func index, x0, p, a_init, has_minimum)
    sd = lambda k, x: -jax.grad(FUNCS[k])(x)
    specs = [
        (0, [0.0, 0.0], "sd", 1.0), (0, [1.0, -2.0], "newton", 1.0), (0, [2.0, 1.0], "sd", 0.01),
        (1, [-1.2, 1.0], "sd", 1.0), (1, [-1.2, 1.0], "newton", 1.0), (1, [-1.2, 1.0], "sd", 1e-3),
        (2, [-0.2, 0.0], "sd", 1.0), (2, [-0.2, 0.0], "sd", 20.0), (3, [0.0, 0.0], "sd", 1.0),
        (3, [0.0, 0.0], "sd", 1e-4), (4, [3.0, 2.0], "sd", 1.0), (4, [-3.0, 2.0], "sd", 1.0),
        (5, [3.0, 0.0], "sd", 1.0), (5, [0.3, 0.0], "newton", 1.0), (6, [0.0, 0.0], "sd", 1.0),
        (7, [1.0, 1.0], "sd", 1.0), (7, [1.0, 1.0], "newton", 2.0),
        (8, [0.0, 0.0], "e1", 1.0), (8, [0.0, 0.0], "e1", 0.1), (9, [0.0, 0.0], "e1", 7.0),
        (9, [0.0, 0.0], "e1", 1.0), (10, [0.0, 0.0], "e1", 1.0), (10, [0.0, 0.0], "e1", 0.1),
    ]
    for k, x0, kind, a0 in specs:
        x0 = jnp.array(x0)
        p = {"sd": sd, "newton": _hess_dir, "e1": lambda k, x: jnp.array([1.0, 0.0])}[kind](k, x0)
        cases.append((k, np.asarray(x0), np.asarray(p), a0, k != 6))
    return cases


@jax.jit
def _phi(k, x0, p, a):
    f = lambda x: jax.lax.switch(k, FUNCS, x)
    val, grad = jax.value_and_grad(f)(x0 + a * p)
    return val, grad @ p


_bt_update = jax.jit(backtrack_update)
_mt_update = jax.jit(more_thuente_update)
with jax.enable_x64(True):
    CASES = _make_cases()


def _py_phi(k, x0, p):
    """φ and φ' as numpy float64 scalars, as minfx sees them (IEEE division by zero, no exception)."""
    return lambda a: tuple(np.float64(v) for v in _phi(k, x0, p, a))


def drive_backtrack(k, x0, p, a0):
    phi = _py_phi(k, x0, p)
    f0, slope = phi(0.0)
    st = backtrack_init(a0)
    done = False
    while not done:
        st, done = _bt_update(st, f0, slope, phi(float(st.alpha))[0])
    return st


def drive_mt(k, x0, p, a0, mu, eta):
    phi = _py_phi(k, x0, p)
    f0, d0 = phi(0.0)
    st = more_thuente_init(a0, f0, d0, mu, eta)
    done = bool(st.done)
    while not done:
        st, done = _mt_update(st, *phi(float(st.alpha)))
    return st


# ----------------------------------------------------------------------------- tests

@pytest.mark.parametrize("case", range(len(CASES)))
def test_backtrack_matches_reference(case):
    k, x0, p, a0, _ = CASES[case]
    phi = _py_phi(k, x0, p)
    f0, slope = phi(0.0)
    assert slope < 0
    st = drive_backtrack(k, x0, p, a0)
    a_ref, n_ref = ref_backtrack(lambda a: phi(a)[0], f0, slope, a0)
    assert float(st.alpha) == a_ref
    assert int(st.n_evals) == n_ref
    assert not bool(st.failed)
    assert phi(float(st.alpha))[0] <= f0 + 1e-4 * float(st.alpha) * slope


def test_backtrack_known_numbers_and_failure():
    # φ(α) = (α − 0.1)², φ(0) = 0.01, φ'(0) = −0.2: α = 1, 0.5, 0.25 rejected, 0.125 accepted.
    st = backtrack_init(1.0)
    for _ in range(10):
        a = float(st.alpha)
        st, done = _bt_update(st, 0.01, -0.2, (a - 0.1) ** 2)
        if done:
            break
    assert float(st.alpha) == 0.125 and int(st.n_evals) == 4
    # Never accepted: 501 evaluations, then a_init·0.5¹⁰, flagged; further updates change nothing.
    st = backtrack_init(2.0)
    for _ in range(501):
        st, done = _bt_update(st, 0.0, -1.0, 1.0)
    assert bool(done) and bool(st.failed)
    assert float(st.alpha) == 2.0 * 0.5**10 and int(st.n_evals) == 501
    st2, _ = _bt_update(st, 0.0, -1.0, -5.0)
    assert float(st2.alpha) == float(st.alpha) and int(st2.n_evals) == 501


@pytest.mark.parametrize("mu,eta", [(1e-4, 0.9), (1e-4, 0.1)])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_more_thuente_matches_reference_and_wolfe(case, mu, eta):
    k, x0, p, a0, has_min = CASES[case]
    phi = _py_phi(k, x0, p)
    f0, d0 = phi(0.0)
    st = drive_mt(k, x0, p, a0, mu, eta)
    a_ref, n_ref, status = ref_more_thuente(phi, a0, f0, d0, mu, eta)
    assert status == "ok" and int(st.error) == ERR_NONE
    np.testing.assert_allclose(float(st.alpha), a_ref, rtol=1e-14)
    assert int(st.f_count) == int(st.g_count) == n_ref
    alpha = float(st.alpha)
    fa, ga = phi(alpha)
    assert fa <= f0 + mu * alpha * d0                   # sufficient decrease
    wolfe = abs(ga) <= eta * abs(d0)                    # strong Wolfe curvature condition
    if k in KINKS and not wolfe:                        # no Wolfe point: stops on the kink's bracket
        assert abs(alpha - KINKS[k]) < 1e-9 and int(st.f_count) > 10
        return
    assert wolfe or (alpha == 4 * max(1.0, a0) and ga <= mu * d0)   # or: at a_max, still descending


def test_more_thuente_known_step_on_quadratic():
    # φ(α) = (α − 1)², φ'(0) = −2: the first trial α = 1 is exact; with a_init = 0.25 the
    # extrapolation goes to 0.25 + 4·0.25 … and then interpolates back to the minimiser exactly.
    q = lambda a: ((a - 1.0) ** 2, 2.0 * (a - 1.0))
    st = more_thuente_init(1.0, 1.0, -2.0, 1e-4, 0.1)
    st, done = _mt_update(st, *q(1.0))
    assert bool(done) and float(st.alpha) == 1.0 and int(st.f_count) == 1
    st = more_thuente_init(0.25, 1.0, -2.0, 1e-4, 0.1)
    while not bool(st.done):
        st, _ = _mt_update(st, *q(float(st.alpha)))
    a_ref, n_ref, _ = ref_more_thuente(q, 0.25, 1.0, -2.0, 1e-4, 0.1)
    assert float(st.alpha) == a_ref and int(st.f_count) == n_ref
    assert abs(float(st.alpha) - 1.0) <= 0.1


def test_more_thuente_ascent_is_an_error():
    st = more_thuente_init(1.0, 3.0, 0.5, 1e-4, 0.9)
    assert bool(st.done) and int(st.error) == ERR_ASCENT and int(st.f_count) == 0
    st2, done = _mt_update(st, 1.0, 1.0)
    assert bool(done) and int(st2.f_count) == 0 and float(st2.alpha) == 1.0
    assert ref_more_thuente(None, 1.0, 3.0, 0.5, 1e-4, 0.9)[2] == "ascent"
    assert not bool(direction_is_descent(jnp.array([1.0, 2.0]), jnp.array([0.5, 0.1])))
    assert bool(direction_is_descent(jnp.array([1.0, 2.0]), jnp.array([0.5, -0.3])))


def test_more_thuente_cubic_sqrt_error():
    # Bracketed, case 4 (ft ≤ fl, same-sign slopes, |gt| > |gl|): the cubic through the hi end and
    # the trial has β1 = 0 and β1² − gu·gt = −2 < 0, where minfx's math.sqrt raises ValueError.
    st = more_thuente_init(0.5, 0.0, -1.0, 1e-4, 0.1)
    st = st._replace(lo_a=jnp.array(0.0), lo_f=jnp.array(0.0), lo_g=jnp.array(-1.0),
                     hi_a=jnp.array(1.0), hi_f=jnp.array(-0.6), hi_g=jnp.array(-1.0),
                     lim_lo=jnp.array(0.0), lim_hi=jnp.array(1.0), bracketed=jnp.array(True),
                     mod=jnp.array(False))
    with pytest.raises(ValueError):
        _r_cubic(1.0, 0.5, -0.6, -0.1, -1.0, -2.0)
    st2, done = _mt_update(st, -0.1, -2.0)
    assert bool(done) and int(st2.error) == ERR_CUBIC_SQRT and int(st2.f_count) == 1


def test_interpolants_quirks():
    from mfjax.solvers import linesearch as ls
    def arrays(f):
        return lambda *a, **k: f(*map(jnp.asarray, a), **k)

    _cubic, _quad, _secant = arrays(ls._cubic), arrays(ls._quad), arrays(ls._secant)
    # quad lacks (b − a)²: a + 0.5·ga/(fa − fb − (a − b)·ga)
    assert float(_quad(0.0, 2.0, 1.0, 3.0, -1.0)) == 0.0 + 0.5 * -1.0 / (1.0 - 3.0 - (0.0 - 2.0) * -1.0)
    assert float(_quad(0.0, 1.0, 0.0, 1.0, 1.0)) == 1e99
    assert float(_secant(0.0, 1.0, -1.0, 1.0)) == 0.5
    assert float(_secant(0.0, 1.0, 1.0, 1.0)) == 1e99
    for args in [(0.0, 1.0, 1.0, 0.5, -2.0, 1.0), (1.0, 0.2, 0.3, 0.7, 2.0, -0.5), (0.0, 2.0, 0.0, 1.0, -1.0, 3.0)]:
        np.testing.assert_allclose(float(_cubic(*args)[0]), _r_cubic(*args)[0], rtol=1e-15)
        np.testing.assert_allclose(float(_cubic(*args, extrapolate=True)[0]), _r_cubic(*args, ext=True)[0], rtol=1e-15)


def test_vmap_while_loop_matches_python_loop():
    # The zoo plus one ascent direction (MT: error at init; backtracking ends on round-off).
    cases = CASES + [(0, np.zeros(2), np.array([-1.0, 2.0]), 1.0, True)]
    ks = jnp.array([c[0] for c in cases])
    x0s = jnp.array(np.stack([c[1] for c in cases]))
    ps = jnp.array(np.stack([c[2] for c in cases]))
    a0s = jnp.array([c[3] for c in cases])

    def one(k, x0, p, a0):
        f0, d0 = _phi(k, x0, p, 0.0)
        mt = more_thuente_init(a0, f0, d0, 1e-4, 0.9)
        bt = backtrack_init(a0)

        def body(carry):
            mt, bt = carry
            fm, gm = _phi(k, x0, p, mt.alpha)
            mt, _ = more_thuente_update(mt, fm, gm)
            fb, _ = _phi(k, x0, p, bt.alpha)
            bt, _ = backtrack_update(bt, f0, d0, fb)
            return mt, bt

        return jax.lax.while_loop(lambda c: ~(c[0].done & c[1].done), body, (mt, bt))

    mt, bt = jax.jit(jax.vmap(one))(ks, x0s, ps, a0s)
    for i, (k, x0, p, a0, _) in enumerate(cases):
        ref_mt = drive_mt(k, x0, p, a0, 1e-4, 0.9)
        ref_bt = drive_backtrack(k, x0, p, a0)
        np.testing.assert_allclose(float(mt.alpha[i]), float(ref_mt.alpha), rtol=1e-12)
        assert int(mt.f_count[i]) == int(ref_mt.f_count)
        assert int(mt.error[i]) == int(ref_mt.error)
        np.testing.assert_allclose(float(bt.alpha[i]), float(ref_bt.alpha), rtol=1e-12)
        assert int(bt.n_evals[i]) == int(ref_bt.n_evals)
    np.testing.assert_array_equal(np.asarray(mt.error), [ERR_NONE] * len(CASES) + [ERR_ASCENT])
    assert int(mt.f_count[-1]) == 0 and int(bt.n_evals[-1]) > 1
    # every step the searches end with lies in minfx's bracket [a_min, a_max] = [1e-25, 4·max(1, a0)]
    alphas = np.asarray(mt.alpha)[:-1]
    assert isinstance(mt, MTState) and np.all(alphas >= A_MIN) and np.all(alphas <= 4 * np.maximum(1.0, np.asarray(a0s)[:-1]))


# --------------------------------------------------------------------------- an ascent direction inside a run

@dataclass(frozen=True)
class _AscentOnce:
    """A direction part: p = −∇f/2 (α = 1 halves x on f = x²/2), except the second direction of the
    fit, p = +∇f (an ascent direction)."""

    ls: LineSearchConstants = LineSearchConstants(1.0, 1e-4, 0.9)
    needs_hessian = False

    def init(self, x0):
        return jnp.zeros((), jnp.int32)

    def next(self, dstate, restart, x_old, x_new, g_old, F_new, alpha):
        p = jnp.where(dstate == 1, F_new.g, -0.5 * F_new.g)
        return p, jnp.asarray(1.0), dstate + 1, jnp.asarray(Status.RUNNING, jnp.int32)


def _half_square(x, args):
    return 0.5 * jnp.sum(x * x)


def test_ascent_direction_ends_the_run_as_minfx_fatal_error():
    # minfx base_classes.py Min.minimise: more_thuente() raises NameError for an ascent direction;
    # the run returns the current iterate x1 = 0.5 with iter = k + 1 = 2 and the counts of the set-up
    # (1 f, 1 ∇f) and of iteration 0 (one MT trial + the evaluation after it): f = g = 3.
    inner = Descent(_AscentOnce(), MoreThuente())
    args = {"dummy": np.zeros((1, 1))}
    res = minimise(_half_square, np.array([[1.0]]), args, solver=Unconstrained(inner))
    assert int(res.status[0]) == Status.LINE_SEARCH_ERROR
    assert float(res.x[0, 0]) == 0.5 and float(res.f[0]) == 0.125
    assert (int(res.iterations[0]), int(res.f_count[0]), int(res.g_count[0])) == (2, 3, 3)
    # minfx method_of_multipliers.py keeps an inner run's warning aside and carries on from its
    # end point (here x ≥ −100 is never active, L = f): the fit then converges to 0.
    res = minimise(_half_square, np.array([[1.0]]), args, np.array([[1.0]]), np.array([-100.0]),
                   solver=MethodOfMultipliers(inner))
    assert int(res.status[0]) == Status.CONVERGED
    assert abs(float(res.x[0, 0])) < 1e-12 and int(res.iterations[0]) > 2
