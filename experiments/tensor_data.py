"""Synthetic data sets for the diffusion-tensor studies (not a package module: imported by the scripts).

- ``fibonacci_vectors(n)``: n unit vectors spread uniformly (golden-angle spiral), like relax's 30
  vectors from ``vect_dist_spherical_angles``;
- ``helix_vectors(lengths)``: NH vectors of α-helices whose axes sample orientation space (each NH at
  ``tilt`` from its helix axis, turning 100° per residue);
- ``synthetic(...)``: back-calculated R1/R2/NOE and their errors as ``RelaxationData``;
- ``environment()``: versions, device and cores for the JSON outputs.
"""
from __future__ import annotations

import os
import platform

import jax
import numpy as np

import mfjax


def fibonacci_vectors(n: int) -> np.ndarray:
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = np.pi * (1 + 5 ** 0.5) * i
    return np.stack([np.sqrt(1 - z * z) * np.cos(phi), np.sqrt(1 - z * z) * np.sin(phi), z], 1)


def helix_vectors(lengths, tilt_deg: float = 18.0, seed: int = 0) -> np.ndarray:
    """NH unit vectors of len(lengths) helices with axes on a Fibonacci hemisphere (random start phase)."""
    rng = np.random.default_rng(seed)
    axes = fibonacci_vectors(2 * len(lengths))[: len(lengths)]
    out = []
    tilt = np.radians(tilt_deg)
    for axis, length in zip(axes, lengths):
        u = np.cross(axis, [0.0, 0.0, 1.0] if abs(axis[2]) < 0.9 else [1.0, 0.0, 0.0])
        u /= np.linalg.norm(u)
        v = np.cross(axis, u)
        turn = rng.uniform(0, 2 * np.pi) + np.radians(100.0) * np.arange(length)
        vec = np.cos(tilt) * axis + np.sin(tilt) * (np.cos(turn)[:, None] * u + np.sin(turn)[:, None] * v)
        out.append(vec / np.linalg.norm(vec, axis=1, keepdims=True))
    return np.concatenate(out)


def synthetic(experiment, model, params, tensor, vectors, r=1.02e-10, csa=-172e-6, rel_error=0.05,
              noe_error=0.04, rng=None, noise=False):
    """Back-calculated data; errors rel_error·R for R1/R2 (a number, or (lo, hi) drawn per point) and
    noe_error for the NOE; Gaussian noise of those sizes if ``noise``."""
    values = mfjax.back_calc(experiment, model, params, tensor, r=r, csa=csa, vectors=vectors)
    rng = rng if rng is not None else np.random.default_rng(0)
    rel = rng.uniform(*rel_error, values.shape) if isinstance(rel_error, tuple) else rel_error
    errors = np.where(np.array(experiment.kinds) == "NOE", noe_error, rel * values)
    if noise:
        values = values + errors * rng.standard_normal(values.shape)
    return mfjax.RelaxationData(experiment, values, errors)


def tensor_dict(tensor) -> dict:
    out = {f: float(getattr(tensor, f)) for f in tensor.__dataclass_fields__}
    out.update(dx=float(tensor.dx), dy=float(tensor.dy), dz=float(tensor.dz), diso=float(tensor.diso))
    return out


def environment() -> dict:
    import importlib.metadata as md
    return {"python": platform.python_version(), "jax": jax.__version__, "jaxlib": md.version("jaxlib"),
            "numpy": np.__version__, "mfjax": mfjax.__version__, "platform": platform.platform(),
            "device": str(jax.devices()[0]), "cpu_count": os.cpu_count()}
