"""Line searches as pure accept/reject state machines (minfx's backtracking and More–Thuente).

No loops inside: the caller evaluates φ(α) = f(x + α p) (and φ'(α) = ∇f(x + α p)·p for
More–Thuente) at the trial step ``state.alpha`` and calls ``*_update``, which returns
``(new_state, done)``.  When ``done`` is True, ``new_state.alpha`` is the accepted step.  All
branches are ``jnp.where``, so one outer ``jax.lax.while_loop`` can run one trial per
iteration under ``jax.vmap``.  Updating a state that is already done returns it unchanged
(counts included), so a vmapped loop may keep calling ``*_update`` on finished elements.

The parts :class:`Backtracking`, :class:`MoreThuente` and :class:`NoLineSearch` wrap these state
machines behind one protocol for :class:`mfjax.solvers.descent.Descent`:

- ``start(a0, phi0, dphi0, mu, eta) -> ls``: a fresh search along p (``ls.alpha`` is the first
  trial step, ``ls.done`` True if nothing is to be evaluated, e.g. an ascent direction for MT);
- ``update(ls, phi0, dphi0, phi_t, dphi_t) -> (ls, Outcome)``: consume φ and φ' at ``ls.alpha``.

A part with ``decides_on_f = True`` (backtracking) reads ``phi_t`` only: its trials need f alone
(cheap trials, :mod:`mfjax.solvers.descent`).

``mu`` and ``eta`` (sufficient decrease and curvature) come from the direction part (minfx sets
them per algorithm); a line search given its own ``mu``/``eta`` uses those instead.

Sources: Nocedal & Wright (1999), Procedure 3.1 (backtracking); Moré & Thuente (1994), ACM TOMS 20,
286–307, as implemented in minfx 1.0.13 ``line_search/backtrack.py``, ``line_search/more_thuente.py``
and ``line_search/interpolate.py`` (with its quirks, see docs/algorithms.md).
"""
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax.numpy as jnp

# More–Thuente constants (minfx).
A_MIN = 1e-25
A_TOL = 1e-10
BISECT = 0.66                  # bisection threshold and safeguard fraction d
XTRAP_LOWER, XTRAP_UPPER = 1.1, 4.0

# More–Thuente error codes (state.error).
ERR_NONE = 0
ERR_ASCENT = 1                 # φ'(0) > 0: minfx raises NameError → "fatal minimisation error"
ERR_CUBIC_SQRT = 2             # math.sqrt of a negative number in the cubic interpolant (minfx: ValueError)


def _f(x):
    return jnp.asarray(x, dtype=float)


def direction_is_descent(g, p):
    """True where g·p < 0."""
    return jnp.dot(g, p) < 0


# --------------------------------------------------------------------------- backtracking

class Backtrack(NamedTuple):
    alpha: jnp.ndarray         # trial step (the accepted step once done)
    a_init: jnp.ndarray        # first trial step
    n_evals: jnp.ndarray       # int32, function evaluations so far
    done: jnp.ndarray          # bool
    failed: jnp.ndarray        # bool, True if every evaluation was rejected (alpha = a_init·ρ¹⁰)


def backtrack_init(a_init):
    """Backtracking state; the first trial step is ``a_init``."""
    a_init = _f(a_init)
    false = jnp.zeros(a_init.shape, bool)
    return Backtrack(a_init, a_init, jnp.zeros(a_init.shape, jnp.int32), false, false)


def backtrack_update(state, f0, slope, f_a, c=1e-4, rho=0.5, max_evals=501):
    """Consume f(x + α p) at α = state.alpha; f0 = f(x), slope = ∇f(x)·p.

    Accepts when f_a ≤ f0 + c·α·slope.  After ``max_evals`` rejections the step is
    a_init·ρ¹⁰ (no extra evaluation), ``failed`` is set.
    """
    s = state
    n = s.n_evals + 1
    accept = f_a <= f0 + c * s.alpha * slope
    exhausted = ~accept & (n >= max_evals)
    alpha = jnp.where(accept, s.alpha, jnp.where(exhausted, s.a_init * rho**10, rho * s.alpha))
    live = ~s.done
    new = Backtrack(
        alpha=jnp.where(live, alpha, s.alpha),
        a_init=s.a_init,
        n_evals=jnp.where(live, n, s.n_evals),
        done=s.done | accept | exhausted,
        failed=s.failed | (live & exhausted),
    )
    return new, new.done


# --------------------------------------------------------------------------- interpolants (minfx interpolate.py)

def _cubic(a, b, fa, fb, ga, gb, extrapolate=False):
    """Minimiser of the cubic through (a, fa, ga), (b, fb, gb).

    Returns (alpha, beta1, beta2, sqrt_of_negative).  Without ``extrapolate`` minfx takes
    math.sqrt of the discriminant (negative → error flag); with it, sqrt(max(0, ·)).
    """
    beta1 = ga + gb - 3 * (fa - fb) / (a - b)
    disc = beta1**2 - ga * gb
    root = jnp.sqrt(jnp.maximum(disc, 0.0))
    beta2 = jnp.where(a < b, root, -root)
    denom = gb - ga + 2 * beta2
    alpha = jnp.where(denom == 0, -1e99, b - (b - a) * (gb + beta2 - beta1) / denom)
    bad = jnp.zeros_like(disc, bool) if extrapolate else disc < 0
    return alpha, beta1, beta2, bad


def _quad(a, b, fa, fb, ga):
    """minfx's quadratic interpolant, WITHOUT the textbook (b − a)² factor (reproduced as written)."""
    denom = fa - fb - (a - b) * ga
    return jnp.where(denom == 0, 1e99, a + 0.5 * ga / denom)


def _secant(a, b, ga, gb):
    denom = ga - gb
    return jnp.where(denom == 0, 1e99, (b * ga - a * gb) / denom)


# --------------------------------------------------------------------------- More–Thuente

class MTState(NamedTuple):
    alpha: jnp.ndarray         # trial step (the accepted step once done)
    phi0: jnp.ndarray          # φ(0) = f(x)
    dphi0: jnp.ndarray         # φ'(0) = ∇f(x)·p
    mu: jnp.ndarray            # sufficient-decrease constant
    eta: jnp.ndarray           # curvature constant
    a_max: jnp.ndarray         # 4·max(1, a_init)
    lo_a: jnp.ndarray          # interval end "lo": step, raw φ, raw φ'
    lo_f: jnp.ndarray
    lo_g: jnp.ndarray
    hi_a: jnp.ndarray          # interval end "hi": step, raw φ, raw φ'
    hi_f: jnp.ndarray
    hi_g: jnp.ndarray
    lim_lo: jnp.ndarray        # current step limits [lim_lo, lim_hi]
    lim_hi: jnp.ndarray
    width: jnp.ndarray
    width2: jnp.ndarray
    bracketed: jnp.ndarray     # bool
    mod: jnp.ndarray           # bool, use the modified function ψ while True
    f_count: jnp.ndarray       # int32, evaluations of f inside the search
    g_count: jnp.ndarray       # int32, evaluations of ∇f inside the search
    done: jnp.ndarray          # bool
    error: jnp.ndarray         # int32, ERR_NONE / ERR_ASCENT / ERR_CUBIC_SQRT (done is then True)


def more_thuente_init(a_init, phi0, dphi0, mu, eta):
    """More–Thuente state; first trial step ``state.alpha = a_init``.

    If φ'(0) > 0 the state is already done with error = ERR_ASCENT and nothing is to be
    evaluated (minfx raises NameError before its first evaluation).
    """
    a_init, phi0, dphi0 = _f(a_init), _f(phi0), _f(dphi0)
    a_max = 4 * jnp.maximum(1.0, a_init)
    width = a_max - A_MIN
    zero = jnp.zeros_like(a_init)
    ascent = dphi0 > 0
    izero = jnp.zeros(a_init.shape, jnp.int32)
    return MTState(
        alpha=a_init, phi0=phi0, dphi0=dphi0, mu=_f(mu) + zero, eta=_f(eta) + zero, a_max=a_max,
        lo_a=zero, lo_f=phi0, lo_g=dphi0, hi_a=zero, hi_f=phi0, hi_g=dphi0,
        lim_lo=zero, lim_hi=5 * a_init, width=width, width2=2 * width,
        bracketed=jnp.zeros(a_init.shape, bool), mod=jnp.ones(a_init.shape, bool),
        f_count=izero, g_count=izero, done=ascent,
        error=jnp.where(ascent, ERR_ASCENT, ERR_NONE).astype(jnp.int32),
    )


def more_thuente_update(state, phi_a, dphi_a):
    """Consume φ(α), φ'(α) at α = state.alpha; return (state with the next trial alpha, done).

    minfx's quirks are kept (docs/algorithms.md, "Moré–Thuente"): the quadratic lacks the (b−a)²
    factor, the selection may use ψ(α) = φ(α) − μφ'(0)α while the interval stores raw φ,
    bisection at 0.66·width2, extrapolation limits 1.1/4.0, fallback to the OLD lower end.
    """
    s = state
    a = s.alpha
    curv = s.mu * s.dphi0
    suff = s.phi0 + a * curv
    decrease = phi_a <= suff
    mod = s.mod & ~(decrease & (dphi_a >= 0))

    # Termination tests.
    stop = (
        (decrease & (jnp.abs(dphi_a) <= s.eta * jnp.abs(s.dphi0)))
        | ((a == A_MIN) & (~decrease | (dphi_a >= curv)))
        | ((a == s.a_max) & (decrease & (dphi_a <= curv)))
        | (s.bracketed & ((a <= s.lim_lo) | (a >= s.lim_hi)))
        | (s.bracketed & (s.lim_hi - s.lim_lo <= A_TOL * s.lim_hi))
    )

    # Values for the selection: ψ or φ.
    psi = mod & (phi_a <= s.lo_f) & (phi_a > suff)
    ft = jnp.where(psi, phi_a - curv * a, phi_a)
    fl = jnp.where(psi, s.lo_f - curv * s.lo_a, s.lo_f)
    fu = jnp.where(psi, s.hi_f - curv * s.hi_a, s.hi_f)
    gt = jnp.where(psi, dphi_a - curv, dphi_a)
    gl = jnp.where(psi, s.lo_g - curv, s.lo_g)
    gu = jnp.where(psi, s.hi_g - curv, s.hi_g)
    at, al, au = a, s.lo_a, s.hi_a
    br = s.bracketed

    # Trial selection.
    case1 = ft > fl
    case2 = ~case1 & (gt * gl < 0)
    case3 = ~case1 & ~case2 & (jnp.abs(gt) <= jnp.abs(gl))
    case4 = ~case1 & ~case2 & ~case3
    ac, _, _, bad_c = _cubic(al, at, fl, ft, gl, gt)
    aq = _quad(al, at, fl, ft, gl)
    asec = _secant(al, at, gl, gt)
    new1 = jnp.where(jnp.abs(ac - al) < jnp.abs(aq - al), ac, (aq + ac) / 2)
    new2 = jnp.where(jnp.abs(ac - at) >= jnp.abs(asec - at), ac, asec)
    lim_end = jnp.where(at > al, s.lim_hi, s.lim_lo)
    ace, _, beta2, _ = _cubic(al, at, fl, ft, gl, gt, extrapolate=True)
    ace = jnp.where((ace > at) & (beta2 != 0), ace, lim_end)
    safe = at + BISECT * (au - at)
    new3b = jnp.where(jnp.abs(ace - at) < jnp.abs(asec - at), ace, asec)
    new3b = jnp.where(at > al, jnp.minimum(safe, new3b), jnp.maximum(safe, new3b))
    new3u = jnp.where(jnp.abs(ace - at) > jnp.abs(asec - at), ace, asec)
    new3u = jnp.maximum(s.lim_lo, jnp.minimum(s.lim_hi, new3u))
    new3 = jnp.where(br, new3b, new3u)
    acu, _, _, bad_u = _cubic(au, at, fu, ft, gu, gt)
    new4 = jnp.where(br, acu, lim_end)
    new = jnp.where(case1, new1, jnp.where(case2, new2, jnp.where(case3, new3, new4)))
    sqrt_error = ((case1 | case2) & bad_c) | (case4 & br & bad_u)
    br = br | case1 | case2

    # Interval update: tests on the selection values, stored values raw.
    to_hi = case1
    to_lo = ~to_hi & (gt * (al - at) > 0)
    swap = ~to_hi & ~to_lo
    lo_a = jnp.where(to_hi, s.lo_a, at)
    lo_f = jnp.where(to_hi, s.lo_f, phi_a)
    lo_g = jnp.where(to_hi, s.lo_g, dphi_a)
    hi_a = jnp.where(to_hi, at, jnp.where(swap, s.lo_a, s.hi_a))
    hi_f = jnp.where(to_hi, phi_a, jnp.where(swap, s.lo_f, s.hi_f))
    hi_g = jnp.where(to_hi, dphi_a, jnp.where(swap, s.lo_g, s.hi_g))

    # Bisection, widths and limits.
    size = jnp.abs(lo_a - hi_a)
    new = jnp.where(br & (size >= BISECT * s.width2), (lo_a + hi_a) / 2, new)
    width2 = jnp.where(br, s.width, s.width2)
    width = jnp.where(br, size, s.width)
    lim_lo = jnp.where(br, jnp.minimum(lo_a, hi_a), new + XTRAP_LOWER * (new - lo_a))
    lim_hi = jnp.where(br, jnp.maximum(lo_a, hi_a), new + XTRAP_UPPER * (new - lo_a))
    fallback = br & ((new <= lim_lo) | (new >= lim_hi) | (lim_hi - lim_lo <= A_TOL * lim_hi))
    new = jnp.where(fallback, s.lo_a, new)
    new = jnp.minimum(jnp.maximum(new, A_MIN), s.a_max)

    live = ~s.done
    step = live & ~stop & ~sqrt_error      # elements that move on to a new trial step
    done = s.done | stop | sqrt_error

    def pick(updated, old):
        return jnp.where(step, updated, old)

    new_state = MTState(
        alpha=pick(new, s.alpha), phi0=s.phi0, dphi0=s.dphi0, mu=s.mu, eta=s.eta, a_max=s.a_max,
        lo_a=pick(lo_a, s.lo_a), lo_f=pick(lo_f, s.lo_f), lo_g=pick(lo_g, s.lo_g),
        hi_a=pick(hi_a, s.hi_a), hi_f=pick(hi_f, s.hi_f), hi_g=pick(hi_g, s.hi_g),
        lim_lo=pick(lim_lo, s.lim_lo), lim_hi=pick(lim_hi, s.lim_hi),
        width=pick(width, s.width), width2=pick(width2, s.width2),
        bracketed=pick(br, s.bracketed), mod=pick(mod, s.mod),
        f_count=s.f_count + live, g_count=s.g_count + live, done=done,
        error=jnp.where(live & ~stop & sqrt_error, ERR_CUBIC_SQRT, s.error).astype(jnp.int32),
    )
    return new_state, done


# --------------------------------------------------------------------------- the parts


class Outcome(NamedTuple):
    """What a line search made of one trial: ``done`` (ls.alpha is the step); ``fallback`` (ls.alpha is
    a step that still has to be evaluated, then taken whatever its value); ``error`` (the search
    broke down); ``f_evals``/``g_evals``: the evaluations the trial counts for (minfx's counting)."""

    done: Any
    fallback: Any
    error: Any
    f_evals: Any
    g_evals: Any


@dataclass(frozen=True)
class Backtracking:
    """minfx's backtracking (``line_search/backtrack.py``; Nocedal & Wright, Procedure 3.1): accept
    α when f(x + αp) ≤ f(x) + c·α·∇f·p, else α ← ρα; after ``max_evals`` rejections take a0·ρ¹⁰."""

    c: float = 1e-4
    rho: float = 0.5
    max_evals: int = 501
    decides_on_f = True      # update() reads phi_t only (dphi_t may be None): trials need f alone

    def start(self, a0, phi0, dphi0, mu, eta):
        return backtrack_init(a0)

    def update(self, ls, phi0, dphi0, phi_t, dphi_t):
        ls, done = backtrack_update(ls, phi0, dphi0, phi_t, self.c, self.rho, self.max_evals)
        return ls, Outcome(done, ls.failed, jnp.asarray(False), 1, 0)


@dataclass(frozen=True)
class MoreThuente:
    """minfx's Moré–Thuente search (strong Wolfe conditions with ``mu``/``eta`` of the direction
    unless given here). ``max_evals``: a safety cap on one search (minfx has none and can loop
    forever, e.g. on NaN), reported as a line-search error."""

    mu: float | None = None
    eta: float | None = None
    max_evals: int = 1000

    def start(self, a0, phi0, dphi0, mu, eta):
        return more_thuente_init(a0, phi0, dphi0, self.mu if self.mu is not None else mu,
                                 self.eta if self.eta is not None else eta)

    def update(self, ls, phi0, dphi0, phi_t, dphi_t):
        ls, done = more_thuente_update(ls, phi_t, dphi_t)
        runaway = ~done & (ls.f_count >= self.max_evals)
        return ls, Outcome(done | runaway, jnp.asarray(False), (ls.error != ERR_NONE) | runaway, 1, 1)


class Fixed(NamedTuple):
    alpha: jnp.ndarray
    done: jnp.ndarray


@dataclass(frozen=True)
class NoLineSearch:
    """minfx's "No line search": the step is a0 (the direction's initial step), taken as it is."""

    def start(self, a0, phi0, dphi0, mu, eta):
        a0 = _f(a0)
        return Fixed(a0, jnp.zeros(a0.shape, bool))

    def update(self, ls, phi0, dphi0, phi_t, dphi_t):
        false = jnp.asarray(False)
        return ls._replace(done=jnp.asarray(True)), Outcome(jnp.asarray(True), false, false, 0, 0)
