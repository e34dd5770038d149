"""Physical sanity of inputs: refuse values no NMR relaxation experiment can have, before anything runs,
and name the likely unit mistake ("fields_mhz=6e+08 looks like Hz: give MHz").

Ranges (SI units as everywhere in mfjax; chosen wide enough for every published model-free analysis):

======== =========================================== ===============================================
check    what                                         accepted
======== =========================================== ===============================================
field    proton frequency of a measurement (MHz)      40 – 1300 MHz (0.94 – 30.5 T)
r        X–H bond length (m)                          0.8 – 1.3 Å (NH 1.02 Å, CH 1.09–1.12 Å)
csa      chemical shift anisotropy (dimensionless)    0 < |csa| ≤ 1000 ppm (15N: −160 to −172 ppm)
tm       global rotational correlation time (s)       0.1 ns – 1 µs (the local_tm parameter: 0 – 1 µs)
tensor   diffusion-tensor eigenvalues Dx, Dy, Dz      all > 0 (from tm, Da, Dr as in relax)
s2       s2, s2f, s2s                                 0 – 1
tau      internal correlation times te, tf, ts (s)    0 – 1 µs
rex      chemical exchange (s⁻¹ at the Rex field)     0 ≤ Rex < 1000 s⁻¹
======== =========================================== ===============================================

They are checked at the entry points: ``Experiment`` (fields), ``back_calc``/``chi2``/``fit`` (r, csa,
tensor, parameters, start values x0 and grid bounds). For an exotic case switch a check off explicitly::

    with mfjax.sanity.allow("csa"):          # only inside the block
        mfjax.fit(data, "m2", diffusion=mfjax.Sphere(10e-9), csa=0.0)
    mfjax.sanity.allow("field")              # from now on (undo with mfjax.sanity.reset())
"""
from __future__ import annotations

import contextlib

import numpy as np

# name -> (lower, upper, lower inclusive, upper inclusive) in SI (fields in MHz)
RANGES = {
    "field": (40.0, 1300.0),
    "r": (0.8e-10, 1.3e-10),
    "csa": (0.0, 1000e-6),          # on |csa|; 0 itself refused
    "tm": (0.1e-9, 1e-6),
    "local_tm": (0.0, 1e-6),        # a parameter: 0 is on relax's constraint 0 ≤ local_tm
    "s2": (0.0, 1.0),
    "tau": (0.0, 1e-6),
    "rex": (0.0, 1000.0),           # upper bound exclusive
}
CHECKS = ("field", "r", "csa", "tm", "tensor", "s2", "tau", "rex")
PARAMETER_CHECKS = {"s2": "s2", "s2f": "s2", "s2s": "s2", "te": "tau", "tf": "tau", "ts": "tau",
                    "local_tm": "local_tm", "rex": "rex"}
# Round-off allowed beyond a parameter's constraint bound: a constrained optimiser (the Method of
# Multipliers) may end a hair outside (e.g. Rex = -7e-27), and such fitted values must still be usable
# as start values or for a back-calculation. Far below any unit mistake.
SLACK = {"s2": 1e-9, "tau": 1e-18, "local_tm": 1e-18, "rex": 1e-9}
_SWITCH = {"local_tm": "tm"}        # the local tm parameter is switched off with "tm"

_allowed: set[str] = set()

# (factor to SI, what the value then looks like, the SI unit to ask for, an example in SI)
_FIELD_HINTS = ((1e-6, "Hz", "give the proton frequency in MHz, e.g. 600"),
                (1e-3, "kHz", "give the proton frequency in MHz, e.g. 600"),
                (1e3, "GHz", "give the proton frequency in MHz, e.g. 600"),
                (42.577478, "tesla", "give the proton frequency in MHz (14.1 T is 600 MHz)"))
_R_HINTS = ((1e-10, "Å", "give metres (1.02e-10)"), (1e-9, "nm", "give metres (1.02e-10)"),
            (1e-12, "pm", "give metres (1.02e-10)"))
_CSA_HINTS = ((1e-6, "ppm", "give it dimensionless, e.g. -160e-6"),)
_NS, _PS, _US = ((1e-9, "ns", "give seconds (10 ns is 10e-9)"), (1e-12, "ps", "give seconds (50 ps is 50e-12)"),
                 (1e-6, "µs", "give seconds (1 µs is 1e-6)"))
_TM_HINTS = (_NS, _PS, _US)          # rotational correlation times are usually quoted in ns
_TAU_HINTS = (_PS, _NS, _US)         # internal ones in ps


class allow(contextlib.AbstractContextManager):
    """Switch sanity checks off (names from ``CHECKS``, or "all"): at once and, when used as a context
    manager, only until the block ends."""

    def __init__(self, *checks: str):
        names = set(CHECKS) if "all" in checks else set(checks)
        unknown = sorted(names - set(CHECKS))
        if unknown:
            raise ValueError(f"unknown sanity check(s) {unknown}; valid: {', '.join(CHECKS)} or 'all'")
        self._before = set(_allowed)
        _allowed.update(names)

    def __exit__(self, *exc):
        _allowed.clear()
        _allowed.update(self._before)
        return False


def reset():
    """Switch every sanity check back on."""
    _allowed.clear()


def allowed() -> frozenset[str]:
    """The checks currently switched off."""
    return frozenset(_allowed)


def _fmt(x) -> str:
    return f"{float(x):.6g}"


def _in(x, check) -> bool:
    lo, hi = RANGES[check]
    slack = SLACK.get(check, 0.0)
    x = np.abs(x) if check == "csa" else x
    ok = (x >= lo - slack) & (x <= hi + slack)
    if check == "csa":
        ok &= x > 0
    if check == "rex":
        ok &= x < hi
    return bool(np.all(ok))


def _refuse(name, value, check, hints, where="", extra=""):
    lo, hi = RANGES[check]
    unit = {"field": " MHz", "tm": " s", "local_tm": " s", "tau": " s", "r": " m", "rex": " s^-1"}.get(check, "")
    hint = next((f"{name}={_fmt(value)} looks like {what}: {ask}" for factor, what, ask in hints
                 if value != 0 and _in(value * factor, check)), None)
    span = f"|{name}| must be > 0 and ≤ {hi:g}" if check == "csa" else f"{name} must lie in [{lo:g}, {hi:g}]{unit}"
    message = hint or f"{name}={_fmt(value)} is not physical: {span}"
    raise ValueError(f"{message}{where}{extra} (switch this check off with "
                     f"mfjax.sanity.allow({_SWITCH.get(check, check)!r}))")


def check(check: str, name: str, values, hints=(), labels=None, extra=""):
    """Refuse ``values`` (scalar or array) of quantity ``check`` outside its ``RANGES`` entry."""
    if _SWITCH.get(check, check) in _allowed:
        return
    values = np.asarray(values, dtype=np.float64)
    flat = np.atleast_1d(values).ravel()
    for i, v in enumerate(flat):
        if not np.isfinite(v):
            continue                               # finiteness is checked (with its own message) elsewhere
        if not _in(v, check):
            where = ""
            if values.ndim == 1 and values.size > 1:
                where = f" at residue {labels[i]!r}" if labels is not None else f" at index {i}"
            _refuse(name, v, check, hints, where, extra)


def fields(fields_mhz):
    """Proton frequencies in MHz."""
    check("field", "fields_mhz", fields_mhz, _FIELD_HINTS)


def bond_length(r, labels=None):
    """X–H bond length(s) in m."""
    check("r", "r", r, _R_HINTS, labels)


def csa(value, labels=None):
    """Chemical shift anisotropy (dimensionless)."""
    check("csa", "csa", value, _CSA_HINTS, labels)


def parameters(params, labels=None, what="parameter"):
    """Model-free parameters {name: values} in SI (start values, back-calculation inputs, bounds)."""
    for name, values in params.items():
        kind = PARAMETER_CHECKS.get(name)
        if kind is not None:
            hints = {"tau": _TAU_HINTS, "local_tm": _TM_HINTS}.get(kind, ())
            check(kind, f"{what} {name}", values, hints, labels)


def tensor(diffusion):
    """A Sphere/Spheroid/Ellipsoid: tm in range and every eigenvalue of D positive."""
    name = type(diffusion).__name__
    check("tm", f"{name}(tm)", diffusion.tm, _TM_HINTS)
    if "tensor" in _allowed or not hasattr(diffusion, "da"):
        return
    diso, da = 1.0 / (6.0 * float(diffusion.tm)), float(diffusion.da)
    if hasattr(diffusion, "dr"):
        dr = float(diffusion.dr)
        eig = {"Dx": diso - da * (1 + 3 * dr) / 3, "Dy": diso - da * (1 - 3 * dr) / 3, "Dz": diso + 2 * da / 3}
    else:
        eig = {"Dper": diso - da / 3, "Dpar": diso + 2 * da / 3}
    bad = {k: v for k, v in eig.items() if not v > 0}
    if bad:
        listed = ", ".join(f"{k} = {_fmt(v)} s^-1" for k, v in bad.items())
        raise ValueError(f"{name}(tm={_fmt(diffusion.tm)}, da={_fmt(da)}"
                         + (f", dr={_fmt(diffusion.dr)}" if hasattr(diffusion, "dr") else "")
                         + f") has a negative diffusion eigenvalue ({listed}; Diso = {_fmt(diso)} s^-1): "
                         "Da is too large for this tm (Da is in s^-1) (switch this check off with "
                         "mfjax.sanity.allow('tensor'))")
