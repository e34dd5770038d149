"""Model-free models: parameter names and order, units, scaling, grid bounds, linear constraints
A·x ≥ b and the deconvolution of the order parameters, all as relax does them.

Units (SI, as everywhere in mfjax's public API): s2, s2f, s2s dimensionless; te, tf, ts, local_tm in
seconds; rex in s^-1 at the experiment's reference field (``Experiment.rex_field_mhz``).
The optimiser works in scaled coordinates x_scaled = x_SI / scale (``SCALES``): time constants in ps.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, NamedTuple

import numpy as np


class Parameter(NamedTuple):
    """What mfjax knows about one model-free parameter (SI units)."""

    unit: str                              # display unit: "s", "s^-1" or "" (dimensionless)
    scale: float                           # x_scaled = x_SI / scale (relax's scaling matrix)
    relax_bounds: tuple[float, float]      # relax's default grid-search bounds
    paper_bounds: tuple[float, float]      # bounds of d'Auvergne & Gooley (2008), Methods
    description: str


# Times are written as relax writes them (12.0 * 1e-9 != 12e-9 in binary), so that the scaled grid
# (bound / scale) matches relax's to the last bit.
_TM_GRID = (1.0 * 1e-9, 12.0 * 1e-9)
_TAU_RELAX = (0.0, 500.0 * 1e-12)
_TAU_PAPER = (0.0, 10.0 * 1e-9)
PARAMETERS: dict[str, Parameter] = {
    "local_tm": Parameter("s", 1e-12, _TM_GRID, _TM_GRID, "local rotational correlation time"),
    "s2": Parameter("", 1.0, (0.0, 1.0), (0.0, 1.0), "generalised order parameter"),
    "s2f": Parameter("", 1.0, (0.0, 1.0), (0.0, 1.0), "order parameter of the fast motion"),
    "s2s": Parameter("", 1.0, (0.0, 1.0), (0.0, 1.0), "order parameter of the slow motion"),
    "te": Parameter("s", 1e-12, _TAU_RELAX, _TAU_PAPER, "effective internal correlation time"),
    "tf": Parameter("s", 1e-12, _TAU_RELAX, _TAU_PAPER, "fast internal correlation time"),
    "ts": Parameter("s", 1e-12, _TAU_RELAX, _TAU_PAPER, "slow internal correlation time"),
    "rex": Parameter("s^-1", 1.0, (0.0, 5.0), (0.0, 20.0), "chemical exchange at the reference field"),
}

SCALES: dict[str, float] = {name: p.scale for name, p in PARAMETERS.items()}
UNITS: dict[str, str] = {name: p.unit for name, p in PARAMETERS.items()}

# Spectral-density form, keyed by the set of model-free parameters (params minus local_tm and rex).
FORMS: dict[frozenset, str] = {
    frozenset(): "none",
    frozenset({"s2"}): "s2",
    frozenset({"s2", "te"}): "s2_te",
    frozenset({"s2f", "s2", "ts"}): "s2f_s2_ts",
    frozenset({"s2f", "tf", "s2", "ts"}): "s2f_tf_s2_ts",
    frozenset({"s2f", "s2s", "ts"}): "s2f_s2s_ts",
    frozenset({"s2f", "tf", "s2s", "ts"}): "s2f_tf_s2s_ts",
}

_UPPER_LOCAL_TM = 200.0 * 1e-9    # s, relax's upper limit on local tm (and on the global tm), relax's literal


@dataclass(frozen=True)
class Model:
    """A model-free model: a name and its parameter vector in relax's order (e.g. m4: s2, te, rex)."""

    name: str
    params: tuple[str, ...]

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"model name must be a non-empty string, got {self.name!r}")
        if isinstance(self.params, str):
            raise ValueError(f"model {self.name!r}: params must be a sequence of names, not the string {self.params!r}")
        params = tuple(self.params)
        object.__setattr__(self, "params", params)
        unknown = [p for p in params if p not in PARAMETERS]
        if unknown:
            raise ValueError(f"model {self.name!r}: unknown parameter(s) {unknown}; valid: {list(PARAMETERS)}")
        repeated = sorted({p for p in params if params.count(p) > 1})
        if repeated:
            raise ValueError(f"model {self.name!r}: parameter(s) {repeated} given more than once")
        if "local_tm" in params and params[0] != "local_tm":
            raise ValueError(f"model {self.name!r}: local_tm must be the first parameter, as in relax's tm models")
        self.form  # validates the combination of parameters

    @property
    def local_tm(self) -> bool:
        """True when the model fits its own rotational correlation time (tm0–tm9)."""
        return "local_tm" in self.params

    @property
    def form(self) -> str:
        """Key of the spectral-density form (see ``FORMS``)."""
        key = frozenset(self.params) - {"local_tm", "rex"}
        if key not in FORMS:
            valid = [sorted(k) for k in FORMS]
            raise ValueError(f"model {self.name!r}: no spectral density for the parameters {sorted(key)}; "
                             f"valid model-free parameter sets: {valid} (plus optional local_tm and rex)")
        return FORMS[key]

    @property
    def n_params(self) -> int:
        return len(self.params)

    @property
    def units(self) -> tuple[str, ...]:
        """Display units of the parameters, in vector order ("s", "s^-1" or "")."""
        return tuple(UNITS[p] for p in self.params)


# relax's model_map (``specific_analyses/model_free/model.py model_map``); tmN = "local_tm" prepended to mN.
_BASE = {
    "m0": (),
    "m1": ("s2",),
    "m2": ("s2", "te"),
    "m3": ("s2", "rex"),
    "m4": ("s2", "te", "rex"),
    "m5": ("s2f", "s2", "ts"),
    "m6": ("s2f", "tf", "s2", "ts"),
    "m7": ("s2f", "s2", "ts", "rex"),
    "m8": ("s2f", "tf", "s2", "ts", "rex"),
    "m9": ("rex",),
}
MODELS: dict[str, Model] = {name: Model(name, params) for name, params in _BASE.items()}
MODELS.update({f"t{name}": Model(f"t{name}", ("local_tm",) + params) for name, params in _BASE.items()})
_BUILTIN = frozenset(MODELS)


def get_model(model: str | Model) -> Model:
    """The registered model of that name, any case ("M4" is "m4"; a ``Model`` is returned as it is)."""
    if isinstance(model, Model):
        return model
    if isinstance(model, str):
        if model in MODELS:
            return MODELS[model]
        matches = [name for name in MODELS if name.lower() == model.strip().lower()]
        if len(matches) == 1:
            return MODELS[matches[0]]
    raise ValueError(f"unknown model {model!r}; valid models: {', '.join(MODELS)}")


def register_model(name: str, params) -> Model:
    """Register a custom model (e.g. ``register_model("m5b", ("s2f", "s2s", "ts"))``) and return it.

    The parameters must be known names (``PARAMETERS``) forming a spectral-density form (``FORMS``).
    Built-in models cannot be replaced; re-registering a custom name with the same parameters is a no-op.
    """
    model = Model(name, params)
    if name in MODELS and MODELS[name] != model:
        what = "built-in" if name in _BUILTIN else "already registered"
        raise ValueError(f"model {name!r} is {what} with parameters {MODELS[name].params}")
    MODELS[name] = model
    return model


def units(model: str | Model) -> tuple[str, ...]:
    """Display units of the model's parameters in vector order ("s", "s^-1" or "")."""
    return get_model(model).units


def scaling(model: str | Model) -> np.ndarray:
    """Scale factors (n,) with x_scaled = x_SI / scale: 1e-12 for times (ps), 1 otherwise."""
    return np.array([SCALES[p] for p in get_model(model).params], dtype=np.float64)


def linear_constraints(model: str | Model, tm: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """relax's linear constraints A·x_scaled ≥ b (relax ``specific_analyses/model_free/parameters.py linear_constraints``), rows in relax's order.

    Per parameter, in vector order: local_tm 0 ≤ τm ≤ 200 ns; s2, s2f, s2s 0 ≤ · ≤ 1, then for s2
    S2 ≤ S2f and S2 ≤ S2s where those are parameters; te, tf, ts ≥ 0, then tf ≤ ts (on ts), then
    te, ts ≤ 2τm (not tf); rex ≥ 0.  The 2τm limit uses the global ``tm`` (seconds; required when the model
    has te or ts and no local_tm): −x_te ≥ −2·tm/1e-12, or the local τm (parameter 0): 2·x_0 − x_te ≥ 0.
    Returns float64 A (rows, n) and b (rows,).
    """
    model = get_model(model)
    params = model.params
    n = model.n_params
    needs_tm = not model.local_tm and ("te" in params or "ts" in params)
    if needs_tm:
        if tm is None:
            raise ValueError(f"model {model.name!r}: the te/ts ≤ 2·tm constraint needs the global tm "
                             "(seconds); pass tm=...")
        try:
            tm = float(tm)
        except (TypeError, ValueError):
            raise ValueError(f"model {model.name!r}: tm must be a time in seconds, got {tm!r}") from None
        if not (np.isfinite(tm) and tm > 0):
            raise ValueError(f"model {model.name!r}: tm must be a positive finite time in seconds, got {tm!r}")

    rows: list[tuple[dict[int, float], float]] = []   # ({column: coefficient}, b)
    for i, p in enumerate(params):
        s = SCALES[p]
        if p == "local_tm":
            rows += [({i: 1.0}, 0.0 / s), ({i: -1.0}, -_UPPER_LOCAL_TM / s)]
        elif p in ("s2", "s2f", "s2s"):
            rows += [({i: 1.0}, 0.0 / s), ({i: -1.0}, -1.0 / s)]
            if p == "s2":
                rows += [({k: 1.0, i: -1.0}, 0.0) for k, q in enumerate(params) if q in ("s2f", "s2s")]
        elif p in ("te", "tf", "ts"):
            rows.append(({i: 1.0}, 0.0 / s))
            if p == "ts" and "tf" in params:
                rows.append(({i: 1.0, params.index("tf"): -1.0}, 0.0 / s))
            if p != "tf":
                if model.local_tm:
                    rows.append(({0: 2.0, i: -1.0}, 0.0))
                else:
                    rows.append(({i: -1.0}, -2.0 * tm / s))
        elif p == "rex":
            rows.append(({i: 1.0}, 0.0 / s))

    A = np.zeros((len(rows), n), dtype=np.float64)
    b = np.zeros(len(rows), dtype=np.float64)
    for r, (coefficients, bound) in enumerate(rows):
        for column, value in coefficients.items():
            A[r, column] = value
        b[r] = bound
    return A, b


def grid_bounds(model: str | Model, bounds: str | Mapping[str, tuple[float, float]] = "relax",
                rex_field_mhz: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Grid-search bounds (lower (n,), upper (n,)) in SI units.

    ``bounds``: "relax" (relax's defaults: te/tf/ts 0–500 ps, rex 0–5 s^-1, local_tm 1–12 ns, order
    parameters 0–1), "paper" (d'Auvergne & Gooley 2008: te/tf/ts 0–10 ns, rex 0–20 s^-1; local_tm as relax),
    or a dict {name: (lower, upper)} in SI that overrides relax's defaults for those parameters.
    Rex is in s^-1 at the reference field, so its bounds do not depend on ``rex_field_mhz`` (accepted for
    symmetry with relax, which converts 5 s^-1 at ν₁ into ρex; checked to be positive if given).
    """
    model = get_model(model)
    if rex_field_mhz is not None and not (np.isfinite(rex_field_mhz) and rex_field_mhz > 0):
        raise ValueError(f"rex_field_mhz must be a positive field in MHz, got {rex_field_mhz!r}")
    if isinstance(bounds, str):
        if bounds not in ("relax", "paper"):
            raise ValueError(f"unknown grid bounds {bounds!r}; use 'relax', 'paper' or a dict name -> (lower, upper)")
        table = {p: getattr(PARAMETERS[p], f"{bounds}_bounds") for p in PARAMETERS}
    else:
        table = {p: PARAMETERS[p].relax_bounds for p in PARAMETERS}
        for name, pair in dict(bounds).items():
            if name not in PARAMETERS:
                raise ValueError(f"grid bounds: unknown parameter {name!r}; valid: {list(PARAMETERS)}")
            try:
                lower, upper = (float(v) for v in pair)
            except (TypeError, ValueError):
                raise ValueError(f"grid bounds for {name!r} must be a pair (lower, upper) in SI, got {pair!r}") from None
            if not (np.isfinite(lower) and np.isfinite(upper) and lower <= upper):
                raise ValueError(f"grid bounds for {name!r} must be finite with lower <= upper, got {pair!r}")
            table[name] = (lower, upper)
    lower = np.array([table[p][0] for p in model.params], dtype=np.float64)
    upper = np.array([table[p][1] for p in model.params], dtype=np.float64)
    return lower, upper


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num/den, 1e99 where den == 0 (relax's convention)."""
    zero = den == 0
    return np.where(zero, 1e99, num / np.where(zero, 1.0, den))


def deconvolve(model: str | Model, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fill in the order parameter that the model does not fit (relax ``specific_analyses/model_free/parameters.py disassemble_param_vector``).

    s2 and s2f fitted: s2s = s2/s2f (1e99 where s2f = 0); s2f and s2s fitted: s2 = s2f·s2s;
    s2 and s2s fitted: s2f = s2/s2s (1e99 where s2s = 0). Returns a new dict (float64 arrays) with the
    input's entries plus the derived one; models with fewer than two of the three are returned unchanged.
    """
    model = get_model(model)
    out = {name: np.asarray(value, dtype=np.float64) for name, value in params.items()}
    fitted = set(model.params)
    missing = [p for p in model.params if p in ("s2", "s2f", "s2s") and p not in out]
    if missing:
        raise ValueError(f"model {model.name!r}: deconvolve needs the parameter(s) {missing}")
    if {"s2", "s2f"} <= fitted:
        out["s2s"] = _ratio(out["s2"], out["s2f"])
    elif {"s2f", "s2s"} <= fitted:
        out["s2"] = out["s2f"] * out["s2s"]
    elif {"s2", "s2s"} <= fitted:
        out["s2f"] = _ratio(out["s2"], out["s2s"])
    return out
