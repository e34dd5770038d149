"""Rotational diffusion tensors, their parameterisations and spectral-density components (Woessner 1962;
relax's lib/diffusion/weights.py, correlation_time.py and direction_cosine.py; data_store/diff_tensor.py).

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
import numpy as np

_HUGE = 1e99   # relax's stand-in for an infinite correlation time (or 1/tm at tm = 0)


def _pytree(cls):
    cls = dataclasses.dataclass(frozen=True)(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    return jax.tree_util.register_dataclass(cls, data_fields=fields, meta_fields=[])


@_pytree
class Sphere:
    """Isotropic tumbling: tm (s), the global rotational correlation time; Diso = 1/(6 tm)."""

    tm: float

    @classmethod
    def from_diso(cls, diso) -> "Sphere":
        """From Diso (s⁻¹ > 0)."""
        return cls(1.0 / (6.0 * _positive("Diso", diso)))

    @classmethod
    def from_tensor(cls, tensor, rtol=1e-6) -> "Sphere":
        """From a 3×3 symmetric tensor (s⁻¹) with three equal eigenvalues (within ``rtol``)."""
        values, _ = _eigen(tensor)
        if values[2] - values[0] > rtol * abs(values[2]):
            raise ValueError(f"the tensor's eigenvalues {values.tolist()} differ: not a sphere")
        return cls.from_diso(values.mean())

    diso = property(lambda self: _diso(self.tm), doc="Diso = 1/(6 tm) (s⁻¹).")
    dx = dy = dz = diso
    eigenvalues = property(lambda self: (self.diso,) * 3, doc="(Dx, Dy, Dz) (s⁻¹), all Diso.")

    def rotation(self):
        """The identity (any frame diagonalises an isotropic tensor)."""
        return np.eye(3)

    def tensor(self):
        """The full tensor Diso·I (3, 3) (s⁻¹)."""
        return float(self.diso) * np.eye(3)

    def validate(self) -> "Sphere":
        """Raise ValueError unless every field is a finite scalar and tm > 0; return self."""
        return _validate(self)


@_pytree
class Spheroid:
    """Axially symmetric tensor: tm (s), Da = Dpar − Dper (s⁻¹), unique axis at polar angle theta and
    azimuth phi (rad). Dpar = Diso + 2Da/3, Dper = Diso − Da/3; Da > 0 prolate, Da < 0 oblate.
    Other parameterisations: ``from_diso``, ``from_dratio``, ``from_dpar_dper``, ``from_tensor``."""

    tm: float
    da: float
    theta: float
    phi: float

    @classmethod
    def from_diso(cls, diso, da, theta, phi) -> "Spheroid":
        """From Diso (s⁻¹), Da (s⁻¹) and the unique axis (rad): relax's param_types 1."""
        return cls(1.0 / (6.0 * _positive("Diso", diso)), float(da), float(theta), float(phi)).validate()

    @classmethod
    def from_dpar_dper(cls, dpar, dper, theta, phi) -> "Spheroid":
        """From Dpar, Dper (s⁻¹ > 0) and the unique axis (rad): relax's param_types 3."""
        dpar, dper = _positive("Dpar", dpar), _positive("Dper", dper)
        return cls.from_diso((dpar + 2.0 * dper) / 3.0, dpar - dper, theta, phi)

    @classmethod
    def from_dratio(cls, tm, dratio, theta, phi) -> "Spheroid":
        """From tm (s), Dratio = Dpar/Dper (> 0) and the unique axis (rad): relax's param_types 2."""
        dratio = _positive("Dratio", dratio)
        dper = 3.0 * _diso(_positive("tm", tm)) / (dratio + 2.0)
        return cls.from_dpar_dper(dratio * dper, dper, theta, phi)

    @classmethod
    def from_tensor(cls, tensor, rtol=1e-6) -> "Spheroid":
        """From a 3×3 symmetric tensor (s⁻¹) with two equal eigenvalues (within ``rtol``); the third
        eigenvalue's eigenvector is the unique axis. Angles are folded (``fold_spheroid_angles``)."""
        values, vectors = _eigen(tensor)
        low, high = values[1] - values[0], values[2] - values[1]
        unique, pair = (2, (0, 1)) if low <= high else (0, (1, 2))
        if abs(values[pair[1]] - values[pair[0]]) > rtol * abs(values[2]):
            raise ValueError(f"the tensor's eigenvalues {values.tolist()} are all different: not a spheroid")
        axis = vectors[:, unique]
        theta, phi = np.arccos(np.clip(axis[2], -1.0, 1.0)), np.arctan2(axis[1], axis[0])
        theta, phi = fold_spheroid_angles(theta, phi)
        return cls.from_dpar_dper(values[unique], values[list(pair)].mean(), theta, phi)

    diso = property(lambda self: _diso(self.tm), doc="Diso = 1/(6 tm) (s⁻¹).")
    dpar = property(lambda self: self.diso + 2.0 * self.da / 3.0, doc="Dpar = Diso + 2Da/3 (s⁻¹).")
    dper = property(lambda self: self.diso - self.da / 3.0, doc="Dper = Diso − Da/3 (s⁻¹).")
    dratio = property(lambda self: self.dpar / self.dper, doc="Dratio = Dpar/Dper.")
    dx = dy = dper
    dz = property(lambda self: self.dpar, doc="Dpar, the eigenvalue along the unique axis (s⁻¹).")
    eigenvalues = property(lambda self: (self.dper, self.dper, self.dpar), doc="(Dper, Dper, Dpar) (s⁻¹).")

    def rotation(self):
        """Rotation (3, 3) whose columns are the principal axes, the unique axis last (z):
        columns (cosθ cosφ, cosθ sinφ, −sinθ), (−sinφ, cosφ, 0), (sinθ cosφ, sinθ sinφ, cosθ)."""
        st, ct, sp, cp = np.sin(self.theta), np.cos(self.theta), np.sin(self.phi), np.cos(self.phi)
        return np.array([[ct * cp, -sp, st * cp], [ct * sp, cp, st * sp], [-st, 0.0, ct]])

    def tensor(self):
        """The full tensor Dper·I + Da·n nᵀ (3, 3) (s⁻¹), n the unique axis."""
        n = spheroid_axis(float(self.theta), float(self.phi), xp=np)
        return float(self.dper) * np.eye(3) + float(self.da) * np.outer(n, n)

    def validate(self) -> "Spheroid":
        """Raise ValueError unless every field is a finite scalar and Dpar, Dper > 0; return self."""
        return _validate(self)


@_pytree
class Ellipsoid:
    """Fully anisotropic tensor: tm (s), Da (s⁻¹), Dr (dimensionless), z-y-z Euler angles alpha, beta,
    gamma (rad). Dx = Diso − Da(1+3Dr)/3, Dy = Diso − Da(1−3Dr)/3, Dz = Diso + 2Da/3.
    Other parameterisations: ``from_diso``, ``from_eigenvalues``, ``from_tensor``."""

    tm: float
    da: float
    dr: float
    alpha: float
    beta: float
    gamma: float

    @classmethod
    def from_diso(cls, diso, da, dr, alpha, beta, gamma) -> "Ellipsoid":
        """From Diso, Da (s⁻¹), Dr and the Euler angles (rad): relax's param_types 1."""
        return cls(1.0 / (6.0 * _positive("Diso", diso)), float(da), float(dr), float(alpha), float(beta),
                   float(gamma)).validate()

    @classmethod
    def from_eigenvalues(cls, dx, dy, dz, alpha, beta, gamma) -> "Ellipsoid":
        """From Dx, Dy, Dz (s⁻¹ > 0) and the Euler angles (rad): relax's param_types 2.
        Da = Dz − (Dx + Dy)/2, Dr = (Dy − Dx)/(2 Da) (0 when Da = 0)."""
        dx, dy, dz = _positive("Dx", dx), _positive("Dy", dy), _positive("Dz", dz)
        da = dz - (dx + dy) / 2.0
        dr = (dy - dx) / (2.0 * da) if da != 0.0 else 0.0
        return cls.from_diso((dx + dy + dz) / 3.0, da, dr, alpha, beta, gamma)

    @classmethod
    def from_tensor(cls, tensor) -> "Ellipsoid":
        """From a 3×3 symmetric tensor (s⁻¹) by eigendecomposition: eigenvalues sorted Dx ≤ Dy ≤ Dz
        (so Da ≥ 0 and 0 ≤ Dr ≤ 1, relax's ellipsoid restriction), Euler angles folded."""
        values, vectors = _eigen(tensor)
        alpha, beta, gamma = euler_angles(vectors.T)
        alpha, beta, gamma = fold_ellipsoid_angles(alpha, beta, gamma)
        return cls.from_eigenvalues(*values, alpha, beta, gamma)

    diso = property(lambda self: _diso(self.tm), doc="Diso = 1/(6 tm) (s⁻¹).")
    dx = property(lambda self: self.diso - self.da * (1.0 + 3.0 * self.dr) / 3.0, doc="Dx (s⁻¹).")
    dy = property(lambda self: self.diso - self.da * (1.0 - 3.0 * self.dr) / 3.0, doc="Dy (s⁻¹).")
    dz = property(lambda self: self.diso + 2.0 * self.da / 3.0, doc="Dz (s⁻¹).")
    eigenvalues = property(lambda self: (self.dx, self.dy, self.dz), doc="(Dx, Dy, Dz) (s⁻¹).")

    def rotation(self):
        """Rotation (3, 3) whose columns are the principal axes x, y, z (``ellipsoid_axes`` transposed)."""
        return ellipsoid_axes(float(self.alpha), float(self.beta), float(self.gamma), xp=np).T

    def tensor(self):
        """The full tensor R·diag(Dx, Dy, Dz)·Rᵀ (3, 3) (s⁻¹)."""
        rot = self.rotation()
        return rot @ np.diag([float(v) for v in self.eigenvalues]) @ rot.T

    def validate(self) -> "Ellipsoid":
        """Raise ValueError unless every field is a finite scalar and Dx, Dy, Dz > 0; return self."""
        return _validate(self)


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


def spheroid_axis(theta, phi, xp=jnp):
    """Unit vector of the spheroid's unique axis: (sinθ cosφ, sinθ sinφ, cosθ). xp: jax.numpy or numpy
    (numpy for host-side float64 work outside ``jax.enable_x64``)."""
    return xp.stack([xp.sin(theta) * xp.cos(phi), xp.sin(theta) * xp.sin(phi), xp.cos(theta)])


def ellipsoid_axes(alpha, beta, gamma, xp=jnp):
    """Unit vectors (3, 3) of the ellipsoid's principal axes x, y, z (rows), z-y-z Euler convention.
    xp: jax.numpy or numpy."""
    sa, ca = xp.sin(alpha), xp.cos(alpha)
    sb, cb = xp.sin(beta), xp.cos(beta)
    sg, cg = xp.sin(gamma), xp.cos(gamma)
    return xp.stack([
        xp.stack([-sa * sg + ca * cb * cg, -sa * cg - ca * cb * sg, ca * sb]),
        xp.stack([ca * sg + sa * cb * cg, ca * cg - sa * cb * sg, sa * sb]),
        xp.stack([-sb * cg, sb * sg, cb]),
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


# ---------------------------------------------------------------------------------------------------
# Conversions, validation and angle folding (host side, numpy)

def _diso(tm):
    return 1.0 / (6.0 * tm)


def _positive(name, value) -> float:
    value = float(value)
    if not (np.isfinite(value) and value > 0.0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return value


def _validate(tensor):
    """Finite scalar fields, tm > 0 and every eigenvalue of the tensor > 0 (a physical tensor)."""
    name = type(tensor).__name__
    for field in dataclasses.fields(tensor):
        value = np.asarray(getattr(tensor, field.name), dtype=np.float64)
        if value.shape != () or not np.isfinite(value):
            raise ValueError(f"{name}.{field.name} must be a finite scalar, got {value}")
    if not float(tensor.tm) > 0.0:
        raise ValueError(f"{name}.tm must be > 0 s, got {float(tensor.tm)!r}")
    labels = {Sphere: ("Diso",) * 3, Spheroid: ("Dper", "Dper", "Dpar"), Ellipsoid: ("Dx", "Dy", "Dz")}[type(tensor)]
    for label, value in zip(labels, tensor.eigenvalues):
        if not float(value) > 0.0:
            raise ValueError(f"unphysical {name} {tensor}: eigenvalue {label} = {float(value)!r} s⁻¹ is not > 0")
    return tensor


def _eigen(tensor):
    """Ascending eigenvalues and eigenvectors (columns, right-handed) of a symmetric 3×3 tensor (s⁻¹)."""
    d = np.array(tensor, dtype=np.float64)
    if d.shape != (3, 3) or not np.isfinite(d).all():
        raise ValueError(f"a diffusion tensor must be a finite 3×3 array, got shape {d.shape}")
    if not np.allclose(d, d.T, rtol=1e-12, atol=1e-12 * np.abs(d).max()):
        raise ValueError("a diffusion tensor must be symmetric")
    values, vectors = np.linalg.eigh(0.5 * (d + d.T))
    if not values[0] > 0.0:
        raise ValueError(f"unphysical diffusion tensor: eigenvalue {values[0]!r} s⁻¹ is not > 0")
    if np.linalg.det(vectors) < 0:
        vectors[:, 0] = -vectors[:, 0]
    return values, vectors


def euler_angles(axes):
    """z-y-z Euler angles (α, β, γ) (rad) of the principal axes (rows x, y, z, a rotation matrix) in the
    convention of ``ellipsoid_axes``: z = (−sinβ cosγ, sinβ sinγ, cosβ), x_z = cosα sinβ, y_z = sinα sinβ.
    At sinβ = 0 (gimbal lock) γ = 0 is chosen."""
    axes = np.asarray(axes, dtype=np.float64)
    beta = float(np.arccos(np.clip(axes[2, 2], -1.0, 1.0)))
    if np.hypot(axes[0, 2], axes[1, 2]) > 1e-12:
        alpha = float(np.arctan2(axes[1, 2], axes[0, 2]))
        gamma = float(np.arctan2(axes[2, 1], -axes[2, 0]))
    else:   # β = 0: x = (cos α, −sin α, 0); β = π: x = (−cos α, −sin α, 0)  (γ = 0)
        gamma = 0.0
        alpha = float(np.arctan2(-axes[0, 1], axes[0, 0])) if axes[2, 2] > 0 else \
            float(np.arctan2(-axes[0, 1], -axes[0, 0]))
    return alpha, beta, gamma


def wrap_angle(angle):
    """The angle (rad) wrapped into [0, 2π)."""
    return np.mod(np.asarray(angle, dtype=np.float64), 2.0 * np.pi)


def fold_spheroid_angles(theta, phi):
    """Fold the unique axis so each spheroid is reported once: θ ∈ [0, π], φ ∈ [0, π).

    relax's ``fold_spherical_angles`` (wrap into [0, 2π]; if φ ≥ π: θ → π − θ, φ → φ − π; wrap again) after
    first mapping θ > π to (2π − θ, φ + π) — the same axis. Each step reverses or keeps n, so the weights
    (which depend on (n·XH)²) are unchanged."""
    theta, phi = wrap_angle(theta), wrap_angle(phi)
    flip = theta > np.pi
    theta, phi = np.where(flip, 2.0 * np.pi - theta, theta), wrap_angle(np.where(flip, phi + np.pi, phi))
    flip = phi >= np.pi
    theta, phi = np.where(flip, np.pi - theta, theta), np.where(flip, phi - np.pi, phi)
    return float(theta), float(phi)


def fold_ellipsoid_angles(alpha, beta, gamma):
    """Fold the Euler angles so each ellipsoid is reported once: α, β ∈ [0, π], γ ∈ [0, π).

    relax's ``fold_angles`` rules after wrapping into [0, 2π): α ≥ π → α − π (x, y reversed); β ≥ π →
    (π − α, β − π) (y, z reversed); γ ≥ π → (π − α, π − β, γ − π) (x, z reversed). Reversing two principal
    axes leaves the weights, which depend on squared direction cosines, unchanged."""
    alpha, beta, gamma = wrap_angle(alpha), wrap_angle(beta), wrap_angle(gamma)
    if alpha >= np.pi:
        alpha = alpha - np.pi
    if beta >= np.pi:
        alpha, beta = np.pi - alpha, beta - np.pi
    if gamma >= np.pi:
        alpha, beta, gamma = np.pi - alpha, np.pi - beta, gamma - np.pi
    return float(alpha), float(beta), float(gamma)


def fold(tensor):
    """The same tensor with its angles folded (``fold_spheroid_angles`` / ``fold_ellipsoid_angles``)."""
    if isinstance(tensor, Spheroid):
        return Spheroid(float(tensor.tm), float(tensor.da), *fold_spheroid_angles(tensor.theta, tensor.phi))
    if isinstance(tensor, Ellipsoid):
        return Ellipsoid(float(tensor.tm), float(tensor.da), float(tensor.dr),
                         *fold_ellipsoid_angles(tensor.alpha, tensor.beta, tensor.gamma))
    return Sphere(float(tensor.tm))
