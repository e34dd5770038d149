"""Diffusion tensors: weights and correlation times, reductions between tensors, and the ellipsoid
against Woessner's five-exponential form written independently in numpy."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import _numpy_reference as ref
from mfjax.diffusion import (Ellipsoid, Sphere, Spheroid, components, ellipsoid_axes, local_tm_components,
                             spheroid_axis)
from mfjax.spectral import spectral_density

OMEGA = np.array([0.0, -382258392.75555956, 4152169577.063311, 3769911184.3077517, 3387652791.552192])

# jit once per module: components of a batch of vectors for one tensor
batched = jax.jit(jax.vmap(components, in_axes=(None, 0)))


def _unit_vectors(n, seed):
    v = np.random.default_rng(seed).standard_normal((n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _j_none(weights, taus):
    return np.asarray(spectral_density("none", {}, OMEGA, jnp.asarray(weights), jnp.asarray(taus)))


def test_sphere():
    w, t = components(Sphere(10e-9))
    np.testing.assert_array_equal(w, [1.0])
    np.testing.assert_array_equal(t, [10e-9])
    w, t = local_tm_components(jnp.float64(7e-9))
    np.testing.assert_array_equal(t, [7e-9])


@pytest.mark.parametrize("tensor", [Spheroid(10e-9, 4e6, 0.7, 2.1), Spheroid(8e-9, -3e6, 2.5, -0.4),
                                    Ellipsoid(10e-9, 3.4e6, 0.23, 1.0, 2.0, 0.5),
                                    Ellipsoid(6e-9, 1e7, 1.0, -2.0, 0.3, 4.0)])
def test_weights_sum_to_one(tensor):
    w, t = batched(tensor, _unit_vectors(50, 1))
    np.testing.assert_allclose(np.asarray(w).sum(axis=1), 1.0, rtol=0, atol=5e-15)
    assert (np.asarray(w) >= -1e-15).all() and (np.asarray(t) > 0).all()


def test_zero_anisotropy_is_the_sphere():
    vectors = _unit_vectors(10, 2)
    j_sphere = _j_none(*components(Sphere(9e-9)))
    for tensor in (Spheroid(9e-9, 0.0, 0.4, 1.3), Ellipsoid(9e-9, 0.0, 0.5, 0.3, 1.2, 2.2)):
        w, t = batched(tensor, vectors)
        np.testing.assert_allclose(np.asarray(t), 9e-9, rtol=1e-15)
        for wi, ti in zip(np.asarray(w), np.asarray(t)):
            np.testing.assert_allclose(_j_none(wi, ti), j_sphere, rtol=2e-15)


@pytest.mark.parametrize("da", [5e6, -4e6])
def test_spheroid_is_ellipsoid_with_dr_zero(da):
    theta, phi = 0.9, 2.4
    # the ellipsoid's z axis (−sinβ cosγ, sinβ sinγ, cosβ) equals the spheroid axis for β = θ, γ = π − φ
    spheroid, ellipsoid = Spheroid(10e-9, da, theta, phi), Ellipsoid(10e-9, da, 0.0, 0.77, theta, math.pi - phi)
    np.testing.assert_allclose(ellipsoid_axes(0.77, theta, math.pi - phi)[2], spheroid_axis(theta, phi), atol=1e-15)
    vectors = _unit_vectors(20, 3)
    ws, ts = batched(spheroid, vectors)
    we, te = batched(ellipsoid, vectors)
    for i in range(len(vectors)):
        np.testing.assert_allclose(_j_none(we[i], te[i]), _j_none(ws[i], ts[i]), rtol=1e-13)


def test_axes_are_the_zyz_rotation():
    axes = np.asarray(ellipsoid_axes(0.3, 1.1, 2.0))
    np.testing.assert_allclose(axes, ref.rotation_zyz(0.3, 1.1, 2.0), atol=1e-15)
    np.testing.assert_allclose(spheroid_axis(0.3, 1.1), [math.sin(0.3) * math.cos(1.1),
                                                         math.sin(0.3) * math.sin(1.1), math.cos(0.3)], atol=1e-16)


# Cordier et al. 1998 cytochrome c2 tensor (d'Auvergne & Gooley 2008, Discussion) and relax's diffusion test tensor
@pytest.mark.parametrize("dxyz,angles", [((1.405e7, 1.566e7, 1.829e7), (1.0, 2.0, 0.5)),
                                         ((1e7, 2e7, 3e7), (0.4, 1.3, 2.9))])
def test_ellipsoid_against_woessner(dxyz, angles):
    dx, dy, dz = dxyz
    diso = (dx + dy + dz) / 3
    da = dz - (dx + dy) / 2
    tensor = Ellipsoid(1 / (6 * diso), da, (dy - dx) / (2 * da), *angles)
    axes = ref.rotation_zyz(*angles)
    vectors = _unit_vectors(6, 4)
    w, t = batched(tensor, vectors)
    for i, v in enumerate(vectors):
        comps = ref.woessner(dx, dy, dz, axes, v)
        want = np.array([ref.spectral_density(om, {}, comps) for om in OMEGA])
        np.testing.assert_allclose(_j_none(w[i], t[i]), want, rtol=1e-13)
        # the same pairs of (weight, τ), in relax's order: Woessner's 4th/5th are relax's 4th/0th
        order = [4, 0, 1, 2, 3]
        np.testing.assert_allclose(np.asarray(t[i]), [comps[k][1] for k in order], rtol=1e-13)
        np.testing.assert_allclose(np.asarray(w[i]), [comps[k][0] for k in order], rtol=1e-12, atol=1e-14)


def test_guards_give_1e99():
    # 1/tm − 2Da = 0 exactly: that correlation time is 1e99 (relax); tm = 0: 1/tm is 1e99
    tm = 1e-8
    w, t = components(Spheroid(tm, 0.5 / tm, 0.3, 0.2), jnp.array([0.0, 0.0, 1.0]))
    assert float(t[0]) == 1e99 and np.isfinite(np.asarray(t)).all()
    w, t = components(Spheroid(0.0, 1e7, 0.3, 0.2), jnp.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(np.asarray(t), 1 / (1e99 + np.array([-2e7, -1e7, 2e7])), rtol=1e-15)
    g = jax.grad(lambda tm_: jnp.sum(components(Spheroid(tm_, 0.5 / tm, 0.3, 0.2), jnp.array([0.0, 0.6, 0.8]))[1]))
    assert np.isfinite(float(g(jnp.float64(tm))))


def test_pytree_and_refusal():
    tensor = Ellipsoid(1e-8, 1e6, 0.2, 0.1, 0.2, 0.3)
    assert len(jax.tree_util.tree_leaves(tensor)) == 6
    doubled = jax.tree_util.tree_map(lambda x: 2 * x, Sphere(1e-8))
    assert isinstance(doubled, Sphere) and doubled.tm == 2e-8
    # d J(ω=0)/d tm through the tensor, by autodiff, against the analytic 0.4 for the sphere
    dj = jax.grad(lambda s: _j0(s))(Sphere(jnp.float64(1e-8)))
    np.testing.assert_allclose(dj.tm, 0.4, rtol=1e-15)
    with pytest.raises(ValueError, match="Spheroid diffusion tensor needs the XH bond vector"):
        components(Spheroid(1e-8, 1e6, 0.1, 0.2))
    with pytest.raises(AttributeError):
        tensor.tm = 2e-8                  # frozen


def _j0(sphere):
    w, t = components(sphere)
    return spectral_density("none", {}, jnp.zeros(1), w, t)[0]


# ---------------------------------------------------------------------------------------------------
# Parameterisations, full tensors and angle folding

from mfjax.diffusion import euler_angles, fold, fold_ellipsoid_angles, fold_spheroid_angles  # noqa: E402


def _rel(a, b):
    return abs(float(a) - float(b)) / abs(float(b))


@pytest.mark.parametrize("dxyz", [(1e7, 2e7, 3e7), (1.405e7, 1.566e7, 1.829e7), (2e7, 2e7, 3e7), (3e7, 2e7, 1e7)])
def test_ellipsoid_parameterisations_round_trip(dxyz):
    e = Ellipsoid.from_eigenvalues(*dxyz, 1.0, 2.0, 0.5)
    for got, want in zip(e.eigenvalues, dxyz):
        assert _rel(got, want) < 1e-12
    # {Diso, Da, Dr} by hand (relax's definitions) and back through from_diso
    diso = sum(dxyz) / 3
    da = dxyz[2] - (dxyz[0] + dxyz[1]) / 2
    assert _rel(e.diso, diso) < 1e-12 and _rel(e.da, da) < 1e-12
    assert abs(e.dr - (dxyz[1] - dxyz[0]) / (2 * da)) < 1e-12
    again = Ellipsoid.from_diso(e.diso, e.da, e.dr, e.alpha, e.beta, e.gamma)
    assert _rel(again.tm, e.tm) < 1e-12 and _rel(again.tm, 1 / (6 * diso)) < 1e-12
    # the full tensor: eigenvalues Dx, Dy, Dz, and its eigendecomposition gives the tensor back
    np.testing.assert_allclose(np.linalg.eigvalsh(e.tensor()), sorted(dxyz), rtol=1e-12)
    rot = e.rotation()
    np.testing.assert_allclose(rot.T @ rot, np.eye(3), atol=1e-14)
    assert abs(np.linalg.det(rot) - 1) < 1e-14
    back = Ellipsoid.from_tensor(e.tensor())
    np.testing.assert_allclose(back.tensor(), e.tensor(), rtol=0, atol=1e-12 * max(dxyz))
    np.testing.assert_allclose(back.eigenvalues, sorted(dxyz), rtol=1e-12)
    assert back.da >= 0 and 0 <= back.dr <= 1


def test_spheroid_parameterisations_round_trip():
    for dpar, dper in [(3e7, 2e7), (2e7, 3e7)]:
        s = Spheroid.from_dpar_dper(dpar, dper, 0.7, 2.1)
        assert _rel(s.dpar, dpar) < 1e-12 and _rel(s.dper, dper) < 1e-12
        assert _rel(s.da, dpar - dper) < 1e-12 and _rel(s.dratio, dpar / dper) < 1e-12
        assert _rel(s.diso, (dpar + 2 * dper) / 3) < 1e-12
        for other in (Spheroid.from_diso(s.diso, s.da, s.theta, s.phi), Spheroid.from_dratio(s.tm, s.dratio, 0.7, 2.1)):
            assert _rel(other.tm, s.tm) < 1e-12 and _rel(other.da, s.da) < 1e-12
        np.testing.assert_allclose(np.linalg.eigvalsh(s.tensor()), sorted([dper, dper, dpar]), rtol=1e-12)
        np.testing.assert_allclose(s.rotation()[:, 2], np.asarray(spheroid_axis(0.7, 2.1)), atol=1e-15)
        np.testing.assert_allclose(s.rotation().T @ s.rotation(), np.eye(3), atol=1e-15)
        back = Spheroid.from_tensor(s.tensor())
        np.testing.assert_allclose([back.tm, back.da, back.theta, back.phi], [s.tm, s.da, 0.7, 2.1], rtol=1e-12)
        # a spheroid is the ellipsoid with two equal eigenvalues: same full tensor
        e = Ellipsoid.from_tensor(s.tensor())
        np.testing.assert_allclose(e.tensor(), s.tensor(), atol=1e-12 * 3e7)
    sphere = Sphere.from_diso(2e7)
    assert _rel(sphere.tm, 1 / 1.2e8) < 1e-12 and _rel(Sphere.from_tensor(sphere.tensor()).tm, sphere.tm) < 1e-12
    np.testing.assert_allclose(sphere.eigenvalues, [2e7] * 3, rtol=1e-12)


def test_euler_angles_invert_the_axes():
    rng = np.random.default_rng(3)
    for a, b, g in [*rng.uniform(0, [2 * np.pi, np.pi, 2 * np.pi], (20, 3)), (0.3, 0.0, 0.0), (0.3, np.pi, 0.0)]:
        np.testing.assert_allclose(np.asarray(ellipsoid_axes(*euler_angles(ellipsoid_axes(a, b, g)))),
                                   np.asarray(ellipsoid_axes(a, b, g)), atol=1e-12)


def test_unphysical_tensors_are_refused():
    with pytest.raises(ValueError, match="eigenvalue Dx"):
        Ellipsoid(1e-8, 5e7, 0.0, 0.0, 0.0, 0.0).validate()          # Dx = Diso − Da/3 < 0
    with pytest.raises(ValueError, match="Dx must be a finite number > 0"):
        Ellipsoid.from_eigenvalues(-1e7, 2e7, 3e7, 0, 0, 0)
    with pytest.raises(ValueError, match="eigenvalue Dper"):
        Spheroid.from_diso(1e7, 4e7, 0.0, 0.0)
    with pytest.raises(ValueError, match="tm must be > 0"):
        Sphere(-1e-9).validate()
    with pytest.raises(ValueError, match="eigenvalue"):
        Ellipsoid.from_tensor(np.diag([-1e7, 2e7, 3e7]))
    with pytest.raises(ValueError, match="all different: not a spheroid"):
        Spheroid.from_tensor(np.diag([1e7, 2e7, 3e7]))
    with pytest.raises(ValueError, match="symmetric"):
        Ellipsoid.from_tensor([[1e7, 1e6, 0], [0, 2e7, 0], [0, 0, 3e7]])
    # the pytree constructor itself accepts tracers (no checks), so vmap over tensors works
    tms = jax.vmap(lambda tm: Sphere(tm).diso)(jnp.array([1e-8, 2e-8]))
    np.testing.assert_allclose(tms, [1 / 6e-8, 1 / 12e-8], rtol=1e-15)


def test_folding_keeps_the_weights_and_lands_in_range():
    vectors = _unit_vectors(40, 11)
    rng = np.random.default_rng(5)
    for _ in range(12):
        t, p = rng.uniform(-7, 13, 2)
        s = Spheroid(1e-8, -3e6, t, p)
        f = fold(s)
        assert 0 <= f.theta <= np.pi and 0 <= f.phi < np.pi
        np.testing.assert_allclose(batched(f, vectors)[0], batched(s, vectors)[0], rtol=0, atol=1e-12)
        a, b, g = rng.uniform(-7, 13, 3)
        e = Ellipsoid(1e-8, 3e6, 0.3, a, b, g)
        f = fold(e)
        assert 0 <= f.alpha <= np.pi and 0 <= f.beta <= np.pi and 0 <= f.gamma < np.pi
        np.testing.assert_allclose(batched(f, vectors)[0], batched(e, vectors)[0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(f.tensor(), e.tensor(), rtol=0, atol=1e-12 * 1e8)
    # each rule on its own (relax's fold_angles): γ ≥ π → (π − α, π − β, γ − π)
    np.testing.assert_allclose(fold_ellipsoid_angles(1.0, 2.0, 0.5 + np.pi), (np.pi - 1, np.pi - 2, 0.5), atol=1e-15)
    np.testing.assert_allclose(fold_ellipsoid_angles(1.0 + np.pi, 2.0, 0.5), (1.0, 2.0, 0.5), atol=1e-15)
    np.testing.assert_allclose(fold_spheroid_angles(0.4, 0.3 + np.pi), (np.pi - 0.4, 0.3), atol=1e-15)
    np.testing.assert_allclose(fold_spheroid_angles(2 * np.pi - 0.4, 0.3), (np.pi - 0.4, 0.3), atol=1e-12)   # same axis, reversed


def test_conversions_are_float64_outside_x64():
    # host-side conversions use numpy: exact to 1e-12 even when JAX itself runs in float32
    with jax.enable_x64(False):
        s = Spheroid.from_tensor(Ellipsoid.from_eigenvalues(2e7, 2e7, 3e7, 1.0, 2.0, 0.5).tensor())
        e = Ellipsoid.from_tensor(Ellipsoid.from_eigenvalues(1e7, 2e7, 3e7, 1.0, 2.0, 0.5).tensor())
    assert abs(s.theta - 2.0) < 1e-12 and abs(s.dper - 2e7) < 1e-12 * 2e7 and abs(s.dpar - 3e7) < 1e-12 * 3e7
    np.testing.assert_allclose([e.alpha, e.beta, e.gamma], [1.0, 2.0, 0.5], atol=1e-12)
    np.testing.assert_allclose(e.eigenvalues, [1e7, 2e7, 3e7], rtol=1e-12)
