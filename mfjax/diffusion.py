"""Rotational diffusion tensors and their spectral-density components (Woessner 1962; relax
``lib/diffusion/weights.py``, ``data_store/diff_tensor.py``).

``components(diffusion, vector)`` gives, for one XH bond, the weights c_i and correlation times τ_i (s)
of the k = 1 (sphere), 3 (spheroid) or 5 (ellipsoid) exponentials, in relax's index order.
Parameters are relax's param_types 0: tm in s, Da in s⁻¹, Dr dimensionless, angles in radians.
The tensors are frozen dataclasses registered as JAX pytrees (every field is a leaf), so they can be
passed through ``jit``/``vmap``/``grad``.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

_HUGE = 1e99   # relax's stand-in for an infinite correlation time (or 1/tm at tm = 0)


def _pytree(cls):
    cls = dataclasses.dataclass(frozen=True)(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    return jax.tree_util.register_dataclass(cls, data_fields=fields, meta_fields=[])


@_pytree
class Sphere:
    """Isotropic tumbling: tm (s), the global rotational correlation time; Diso = 1/(6 tm)."""

    tm: float


@_pytree
class Spheroid:
    """Axially symmetric tensor: tm (s), Da = Dpar − Dper (s⁻¹), unique axis at polar angle theta and
    azimuth phi (rad). Dpar = Diso + 2Da/3, Dper = Diso − Da/3."""

    tm: float
    da: float
    theta: float
    phi: float


@_pytree
class Ellipsoid:
    """Fully anisotropic tensor: tm (s), Da (s⁻¹), Dr (dimensionless), z-y-z Euler angles alpha, beta,
    gamma (rad). Dx = Diso − Da(1+3Dr)/3, Dy = Diso − Da(1−3Dr)/3, Dz = Diso + 2Da/3."""

    tm: float
    da: float
    dr: float
    alpha: float
    beta: float
    gamma: float


Diffusion = Sphere | Spheroid | Ellipsoid


def is_anisotropic(diffusion) -> bool:
    """True for tensors whose components depend on the bond vector (spheroid, ellipsoid)."""
    return isinstance(diffusion, (Spheroid, Ellipsoid))


def n_components(diffusion) -> int:
    """Number of exponentials k: 1 (sphere), 3 (spheroid), 5 (ellipsoid)."""
    return {Sphere: 1, Spheroid: 3, Ellipsoid: 5}[type(diffusion)]


def _inverse(x):
    """1/x, or 1e99 where x == 0 (relax's guard), with a safe denominator for derivatives."""
    zero = x == 0.0
    return jnp.where(zero, _HUGE, 1.0 / jnp.where(zero, 1.0, x))


def spheroid_axis(theta, phi):
    """Unit vector of the spheroid's unique axis: (sinθ cosφ, sinθ sinφ, cosθ)."""
    return jnp.stack([jnp.sin(theta) * jnp.cos(phi), jnp.sin(theta) * jnp.sin(phi), jnp.cos(theta)])


def ellipsoid_axes(alpha, beta, gamma):
    """Unit vectors (3, 3) of the ellipsoid's principal axes x, y, z (rows), z-y-z Euler convention."""
    sa, ca = jnp.sin(alpha), jnp.cos(alpha)
    sb, cb = jnp.sin(beta), jnp.cos(beta)
    sg, cg = jnp.sin(gamma), jnp.cos(gamma)
    return jnp.stack([
        jnp.stack([-sa * sg + ca * cb * cg, -sa * cg - ca * cb * sg, ca * sb]),
        jnp.stack([ca * sg + sa * cb * cg, ca * cg - sa * cb * sg, sa * sb]),
        jnp.stack([-sb * cg, sb * sg, cb]),
    ])


def _dot(u, v):
    return u[0] * v[0] + u[1] * v[1] + u[2] * v[2]


def components(diffusion, vector=None):
    """Weights c (k,) and correlation times τ (k,) in s for one bond.

    vector: the XH unit vector (3,), needed for a spheroid or ellipsoid, ignored for a sphere.
    A correlation time whose inverse is exactly 0 is 1e99 s, and 1/tm is 1e99 at tm = 0 (relax).
    """
    if isinstance(diffusion, Sphere):
        tm = jnp.asarray(diffusion.tm)
        return jnp.ones((1,), dtype=tm.dtype), tm[None]
    if not isinstance(diffusion, (Spheroid, Ellipsoid)):
        raise ValueError(f"diffusion must be a Sphere, Spheroid or Ellipsoid, got {type(diffusion).__name__}")
    if vector is None:
        raise ValueError(f"a {type(diffusion).__name__} diffusion tensor needs the XH bond vector")
    vector = jnp.asarray(vector)
    inv_tm = _inverse(jnp.asarray(diffusion.tm))
    da = diffusion.da

    if isinstance(diffusion, Spheroid):
        dz2 = _dot(vector, spheroid_axis(diffusion.theta, diffusion.phi)) ** 2
        weights = jnp.stack([0.25 * (3.0 * dz2 - 1.0) ** 2,
                             3.0 * dz2 * (1.0 - dz2),
                             0.75 * (dz2 - 1.0) ** 2])
        rates = jnp.stack([inv_tm - 2.0 * da, inv_tm - da, inv_tm + 2.0 * da])
        return weights, _inverse(rates)

    dr = diffusion.dr
    axes = ellipsoid_axes(diffusion.alpha, diffusion.beta, diffusion.gamma)
    dx2, dy2, dz2 = (_dot(vector, axes[j]) ** 2 for j in range(3))
    big_r = jnp.sqrt(1.0 + 3.0 * dr ** 2)
    d = 3.0 * (dx2 ** 2 + dy2 ** 2 + dz2 ** 2) - 1.0
    e = (1.0 / big_r) * ((1.0 + 3.0 * dr) * (dx2 ** 2 + 2.0 * dy2 * dz2)
                         + (1.0 - 3.0 * dr) * (dy2 ** 2 + 2.0 * dx2 * dz2)
                         - 2.0 * (dz2 ** 2 + 2.0 * dx2 * dy2))
    weights = jnp.stack([0.25 * (d - e), 3.0 * dy2 * dz2, 3.0 * dx2 * dz2, 3.0 * dx2 * dy2, 0.25 * (d + e)])
    rates = jnp.stack([inv_tm - 2.0 * da * big_r,
                       inv_tm - da * (1.0 + 3.0 * dr),
                       inv_tm - da * (1.0 - 3.0 * dr),
                       inv_tm + 2.0 * da,
                       inv_tm + 2.0 * da * big_r])
    return weights, _inverse(rates)


def local_tm_components(local_tm):
    """Components of the local τm models (tm0–tm9): the sphere with τ = local_tm (s)."""
    return components(Sphere(local_tm))
