"""Precision presets: the termination settings and constraint handling of the three programs that
d'Auvergne & Gooley (2008) compare, for ``mfjax.fit(preset=...)``.

- ``"relax"``: minfx as relax calls it (relax ``MF_minimise_command.optimise``): func_tol 1e-25,
  no gradient test, 10⁷ iterations, Method of Multipliers.
- ``"modelfree4"``: a low-precision stand-in for Modelfree4 (Mandel, Akke & Palmer 1995). Its own
  tolerances are not published; chosen here: |Δχ²| ≤ 1e-6, at most 200 iterations, steps cut flush
  at the bounds with no sliding along them (``constraints="modelfree4"``).
- ``"dasha"``: a low-precision stand-in for Dasha (Orekhov et al. 1995). Its tolerances are not
  published either; chosen here: |Δχ²| ≤ 1e-8, at most 200 iterations, χ² + (distance outside a
  bound)⁶ (``constraints="dasha"``).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    func_tol: float | None
    grad_tol: float | None
    max_iter: int
    constraints: str


PRESETS = {
    "relax": Preset(func_tol=1e-25, grad_tol=None, max_iter=10_000_000, constraints="mom"),
    "modelfree4": Preset(func_tol=1e-6, grad_tol=None, max_iter=200, constraints="modelfree4"),
    "dasha": Preset(func_tol=1e-8, grad_tol=None, max_iter=200, constraints="dasha"),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; available: {tuple(PRESETS)}")
    return PRESETS[name]
