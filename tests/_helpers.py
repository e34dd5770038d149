"""Shared helpers of the objective tests: batched χ²/∇χ²/∇²χ² with one compilation per function, and
random model-free parameters inside relax's constraints."""
import jax
import jax.numpy as jnp
import numpy as np

BATCH = 128            # every batch of points is padded to this size: one compilation per (fun, args)
_compiled = {}


def derivatives(fun, x, args, hessian=jax.hessian):
    """(χ², ∇χ², ∇²χ²) at the rows of x for one residue's args: jit(vmap(fun, grad, hessian)).

    The model-by-model tests pass hessian=forward (forward-over-forward), which XLA compiles about
    three times faster than jax.hessian (forward-over-reverse) for these small functions."""
    if (fun, hessian) not in _compiled:
        both = lambda x, a: (fun(x, a), jax.grad(fun)(x, a), hessian(fun)(x, a))
        _compiled[fun, hessian] = jax.jit(jax.vmap(both, in_axes=(0, None)))
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    assert n <= BATCH
    padded = np.concatenate([x, np.repeat(x[-1:], BATCH - n, axis=0)])
    return [np.asarray(a)[:n] for a in _compiled[fun, hessian](jnp.asarray(padded), args)]


def forward(fun):
    return jax.jacfwd(jax.jacfwd(fun))


def one(args, i=0):
    return jax.tree_util.tree_map(lambda a: a[i], args)


def random_params(model, n, rng):
    """SI parameters inside relax's constraints (S2 ≤ S2f, tf ≤ ts, times > 0)."""
    out = {}
    s2f = rng.uniform(0.4, 1.0, n)
    for name in model.params:
        if name == "local_tm":
            out[name] = rng.uniform(3e-9, 20e-9, n)
        elif name == "s2f":
            out[name] = s2f
        elif name == "s2":
            out[name] = s2f * rng.uniform(0.05, 1.0, n) if "s2f" in model.params else rng.uniform(0.05, 1.0, n)
        elif name == "s2s":
            out[name] = rng.uniform(0.05, 1.0, n)
        elif name == "tf":
            out[name] = rng.uniform(1e-12, 40e-12, n)
        elif name in ("te", "ts"):
            out[name] = 10 ** rng.uniform(-11.3, -8.5, n)
        elif name == "rex":
            out[name] = rng.uniform(0.0, 10.0, n)
    return out
