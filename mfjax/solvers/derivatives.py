"""f, ∇f and ∇²f of one problem by forward-mode autodiff, as the algorithms ask for them."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from mfjax.solvers.base import Eval


def value_grad_hess(fun, x, args):
    """f, ∇f, ∇²f of one problem by forward-mode autodiff (fastest for a handful of parameters).

    A ``fun`` marked ``fun.scalar_parameters = True`` only indexes x (x[i]); it then receives x as a
    tuple of scalars and each derivative is a jvp along one of them, so terms that do not depend on
    x_i carry no tangent (JAX's symbolic zeros) and only the n(n+1)/2 distinct second derivatives are
    formed (XLA merges the repeated primal and first-order work). Otherwise: forward over forward on
    the vector x.
    """
    if getattr(fun, "scalar_parameters", False):
        return _value_grad_hess_scalars(fun, x, args)
    basis = jnp.eye(x.shape[0], dtype=x.dtype)

    def grad_and_aux(z):
        values, grad = jax.vmap(lambda t: jax.jvp(lambda y: fun(y, args), (z,), (t,)))(basis)
        return grad, (values[0], grad)

    hess, (value, grad) = jax.jacfwd(grad_and_aux, has_aux=True)(x)
    return value, grad, hess


def _value_grad_hess_scalars(fun, x, args):
    n = x.shape[0]
    xs = tuple(x[i] for i in range(n))

    def along(i, f):
        """∂f/∂x_i as a function of the scalars."""
        def d(ys):
            return jax.jvp(lambda t: f(ys[:i] + (t,) + ys[i + 1:]), (ys[i],), (jnp.ones_like(ys[i]),))[1]
        return d

    f = lambda ys: fun(ys, args)
    first = [along(i, f) for i in range(n)]
    second = {(i, j): along(j, first[i])(xs) for i in range(n) for j in range(i, n)}
    grad = jnp.stack([d(xs) for d in first]) if n else jnp.zeros((0,), x.dtype)
    hess = jnp.stack([jnp.stack([second[min(i, j), max(i, j)] for j in range(n)]) for i in range(n)]) \
        if n else jnp.zeros((0, 0), x.dtype)
    return f(xs), grad, hess


def value_grad(fun, x, args):
    """f and ∇f of one problem by forward-mode autodiff (one jvp per parameter), for the
    first-order algorithms."""
    n = x.shape[0]
    if getattr(fun, "scalar_parameters", False):
        xs = tuple(x[i] for i in range(n))
        f = lambda ys: fun(ys, args)
        tangents = [jax.jvp(lambda t, i=i: f(xs[:i] + (t,) + xs[i + 1:]), (xs[i],), (jnp.ones_like(xs[i]),))[1]
                    for i in range(n)]
        return f(xs), (jnp.stack(tangents) if n else jnp.zeros((0,), x.dtype))
    basis = jnp.eye(n, dtype=x.dtype)
    values, grad = jax.vmap(lambda t: jax.jvp(lambda y: fun(y, args), (x,), (t,)))(basis)
    return (values[0] if n else fun(x, args)), grad


def value(fun, x, args):
    """f of one problem (for the derivative-free algorithms)."""
    if getattr(fun, "scalar_parameters", False):
        return fun(tuple(x[i] for i in range(x.shape[0])), args)
    return fun(x, args)


def evaluate(fun, x, args, order):
    """:class:`~mfjax.solvers.base.Eval` of ``fun`` at x with derivatives up to ``order`` (0, 1, 2)."""
    if order >= 2:
        return Eval(*value_grad_hess(fun, x, args))
    if order == 1:
        return Eval(*value_grad(fun, x, args))
    return Eval(value(fun, x, args))
