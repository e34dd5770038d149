"""Degenerate corners of the model-free spectral densities: where an order parameter reaches the
value at which the term of an internal correlation time vanishes, the χ² no longer depends on that
time, so the time is undefined there (its row and column of the Hessian are zero).

In Lipari & Szabo's J(ω) (models m2/m4) the τe term carries (1 − S2): τe is undefined at S2 = 1.
In Clore et al.'s extended form (m5–m8) the τf term carries (1 − S2f) and the τs term
(S2f − S2) = S2f (1 − S2s): τf is undefined at S2f = 1, τs at S2 = S2f (S2s = 1). See d'Auvergne &
Gooley (2008) on the minima that optimisers find on these boundaries.

:func:`candidates` finds the residues whose fitted order parameters sit at such a corner;
``mfjax.fit`` then checks that the χ² indeed does not depend on the time there and reports
:attr:`~mfjax.status.Status.DEGENERATE_CORNER` instead of CONVERGED.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from mfjax.models import Model, get_model

# spectral-density form -> ((time, order parameter, the value it reaches (a number or another order
# parameter)), ...): the time is undefined where the order parameter equals that value.
UNDEFINED_TIMES = {
    "s2_te": (("te", "s2", 1.0),),
    "s2f_s2_ts": (("ts", "s2", "s2f"),),
    "s2f_tf_s2_ts": (("tf", "s2f", 1.0), ("ts", "s2", "s2f")),
    "s2f_s2s_ts": (("ts", "s2s", 1.0),),
    "s2f_tf_s2s_ts": (("tf", "s2f", 1.0), ("ts", "s2s", 1.0)),
}
CORNER_TOL = 1e-6       # |order parameter − corner value| below which a fit is checked
TIME_PROBES = (0.0, 10.0 * 1e-9)   # s: times at which the χ² is compared with the fitted one
CHI2_RTOL = 1e-6        # relative χ² change (over the probes) below which the time is undefined


def candidates(model: str | Model, params: Mapping[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """[(time parameter, (n,) bool mask of the residues at its corner), ...] for fitted SI ``params``."""
    model = get_model(model)
    out = []
    for time, order, value in UNDEFINED_TIMES.get(model.form, ()):
        if time not in model.params:
            continue
        target = params[value] if isinstance(value, str) else value
        out.append((time, np.abs(np.asarray(params[order]) - target) <= CORNER_TOL))
    return out


def insensitive(chi2: np.ndarray, probed: np.ndarray) -> np.ndarray:
    """True where the χ² at every probe (probed: (k, n)) equals the fitted χ² (n,) within CHI2_RTOL."""
    return np.all(np.abs(probed - chi2) <= CHI2_RTOL * np.maximum(np.abs(chi2), 1.0), axis=0)
