"""Back-calculated relaxation data and χ² of one residue, batched with ``vmap`` (χ² as relax's
``target_functions/mf.py``; d'Auvergne & Gooley 2008).

Public: ``back_calc`` and ``chi2`` (SI parameters, numpy in and out). For the optimisers:
``residue_problem`` returns the one-residue χ² in scaled coordinates (x_SI = x_scaled · scale) with
its per-residue arguments; ``jax.grad`` / ``jax.hessian`` of it give relax's scaled gradient and Hessian.

χ² = Σ_j ((1/σ_j)·(R_j − R_j(θ)))², summed in measurement order as numpy does (relax's operation order);
unmeasured points (mask False) contribute exactly 0.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import relaxation, sanity
from ._x64 import x64
from .constants import N15_CSA, NH_BOND_LENGTH
from .data import Experiment, RelaxationData
from .diffusion import Ellipsoid, Sphere, Spheroid, components, is_anisotropic, local_tm_components
from .models import MODELS, SCALES, Model, get_model, scaling
from .spectral import FORM_SLOTS, GENERIC_FIXED, GENERIC_SLOTS, generic_spectral_density, spectral_density
from .spectral.summation import numpy_sum

_KIND_CODES = {"R1": 0, "R2": 1, "NOE": 2}
_UNIT_TOLERANCE = 1e-6


class Problem(NamedTuple):
    """One-residue χ² for the optimisers.

    fun(x_scaled (n,), args_one) -> scalar χ²; pure, jit/vmap/grad/hessian-able, the same Python object
    for the same model and experiment structure. args: dict of arrays with leading axis n_residues
    (values, errors, mask, d, c, and weights/taus for a fixed diffusion tensor). scales: (n,) with
    x_SI = x_scaled · scales.
    """

    fun: Callable[[Any, Mapping], Any]
    args: dict
    scales: np.ndarray


@dataclasses.dataclass(frozen=True)
class _Layout:
    """The hashable structure of an Experiment: what the one-residue functions close over."""

    kinds: tuple[int, ...]          # 0 R1, 1 R2, 2 NOE, per measurement
    field_index: tuple[int, ...]    # index into fields_mhz, per measurement
    fields_mhz: tuple[float, ...]   # distinct proton frequencies (MHz), order of first appearance
    nucleus: str
    rex_field_mhz: float

    @classmethod
    def of(cls, exp: Experiment) -> "_Layout":
        if not isinstance(exp, Experiment):
            raise ValueError(f"expected an mfjax Experiment, got {type(exp).__name__}")
        return cls(tuple(_KIND_CODES[k] for k in exp.kinds), tuple(int(i) for i in exp.field_index),
                   tuple(float(f) for f in exp.unique_fields_mhz), exp.nucleus, float(exp.rex_field_mhz))


# ---------------------------------------------------------------------------------------------------
# One residue (pure jax)

def _residue_values(layout: _Layout, form: str, p: Mapping, weights, taus, d, c):
    """Back-calculated data (m,) in measurement order for SI parameters ``p`` of one residue."""
    omega = relaxation.frequencies(layout.fields_mhz, layout.nucleus)
    jw = spectral_density(form, p, omega, weights, taus)
    rho_ex = p["rex"] * relaxation.rex_scale(layout.rex_field_mhz) if "rex" in p else 0.0
    r1, r2, noe = relaxation.rates(jw, d, c, rho_ex, relaxation.rex_factor(layout.fields_mhz),
                                   relaxation.g_ratio(layout.nucleus))
    table = (r1, r2, noe)
    return jnp.stack([table[kind][field] for kind, field in zip(layout.kinds, layout.field_index)])


def _residue_chi2(values, errors, mask, back_calc):
    """Σ ((1/σ)·(R − R(θ)))² in numpy's summation order; masked points add exactly 0."""
    terms = jnp.where(mask, (1.0 / errors * (values - back_calc)) ** 2, 0.0)
    return numpy_sum([terms[j] for j in range(terms.shape[0])])


def _residue_components(model: Model, p: Mapping, diffusion, vector):
    if model.local_tm:
        return local_tm_components(p["local_tm"])
    return components(diffusion, vector)


@functools.lru_cache(maxsize=None)
def _scaled_chi2(model: Model, layout: _Layout) -> Callable:
    """χ²(x_scaled, args_one) of one residue; cached so equal (model, layout) give the same object."""
    names = model.params
    scales = tuple(float(s) for s in scaling(model))
    form = model.form

    def back(x, args):
        p = {name: x[i] * scales[i] for i, name in enumerate(names)}
        if model.local_tm:
            weights, taus = local_tm_components(p["local_tm"])
        else:
            weights, taus = args["weights"], args["taus"]
        return _residue_values(layout, form, p, weights, taus, args["d"], args["c"])

    def fun(x, args):
        return _residue_chi2(args["values"], args["errors"], args["mask"], back(x, args))

    def residuals(x, args):
        """Weighted residuals (R − R(θ))/σ (m,), 0 where unmeasured: their squares summed in numpy's
        order are χ², bit for bit."""
        return jnp.where(args["mask"], 1.0 / args["errors"] * (args["values"] - back(x, args)), 0.0)

    fun.__name__ = fun.__qualname__ = f"chi2_{model.name}"
    fun.residuals = residuals      # for the least-squares solvers (Gauss–Newton, Levenberg–Marquardt)
    fun.scalar_parameters = True   # only indexes x: the solvers may pass a tuple of scalars (faster Hessians)
    return fun


# ---------------------------------------------------------------------------------------------------
# The generic χ²: ONE function per (experiment layout, number of parameters, number of diffusion
# components) for every model the generic spectral density covers. The model is data in args:
# "route" (S,) int: which x_i feeds slot s (−1: the slot is fixed), "scale" (S,): x_SI = x_i·scale,
# "fixed" (S,): the value of an unfed slot; "weights"/"taus" (k,): the diffusion components (for a
# local-τm model weight 1 then 0s, and slot "local_tm" replaces τ of the first component).

SLOTS = ("local_tm",) + GENERIC_SLOTS + ("rex",)
_FIXED = {"local_tm": 0.0, **GENERIC_FIXED, "rex": 0.0}
LOCAL_TM_COMPONENTS = 3   # components of a local-τm model in the generic χ² (a spheroid's count: shared programs)


def generic_route(model: Model) -> dict[str, np.ndarray] | None:
    """The model as data for the generic χ² ("route", "scale", "fixed", each (len(SLOTS),)), or None
    when the generic spectral density does not cover its form."""
    if model.form not in FORM_SLOTS:
        return None
    slot_of = {"local_tm": "local_tm", "rex": "rex", **FORM_SLOTS[model.form]}
    route = np.full(len(SLOTS), -1, np.int32)
    scale = np.ones(len(SLOTS))
    for i, name in enumerate(model.params):
        s = SLOTS.index(slot_of[name])
        route[s], scale[s] = i, SCALES[name]
    return {"route": route, "scale": scale, "fixed": np.array([_FIXED[name] for name in SLOTS])}


def fed_slots(model: Model) -> frozenset:
    """The slots of the generic χ² that a model's parameters feed (its form must have generic slots)."""
    return frozenset({"local_tm": "local_tm", "rex": "rex", **FORM_SLOTS[model.form]}[p] for p in model.params)


SHARED_SIZES = (3, 6)   # parameter counts of the shared programs: n parameters are padded to the next size


def shared_size(n: int) -> int:
    """The parameter count of the shared programs serving models with n parameters: the smallest of
    SHARED_SIZES ≥ n (n itself for 0 or beyond them): m1–m5, m9, tm0–tm3 and tm9 run the
    3-parameter programs."""
    return next((size for size in SHARED_SIZES if n and size >= n), n)


def shared_slots(model: Model) -> frozenset:
    """The slots that the generic χ² serving ``model`` can feed: those of every registered model
    padded to the same size (and of ``model``), so that all of them share one function."""
    size = shared_size(model.n_params)
    peers = [m for m in MODELS.values() if shared_size(m.n_params) == size and m.form in FORM_SLOTS] + [model]
    return frozenset().union(*(fed_slots(m) for m in peers))


@functools.lru_cache(maxsize=None)
def generic_chi2(layout: _Layout, n: int, k: int, fed: frozenset = frozenset(SLOTS)) -> Callable:
    """χ²(x_scaled, args_one) of one residue for EVERY model with n parameters whose form the generic
    spectral density covers, k diffusion components (see ``generic_route``); the slots outside ``fed``
    are constants (their fixed values) for all these models. Cached per (layout, n, k, fed)."""
    omega = relaxation.frequencies(layout.fields_mhz, layout.nucleus)
    rex_scale = relaxation.rex_scale(layout.rex_field_mhz)
    rex_factor = relaxation.rex_factor(layout.fields_mhz)
    ratio = relaxation.g_ratio(layout.nucleus)
    first = np.arange(k) == 0

    def back(x, args):
        route = args["route"]
        if n:
            xv = jnp.stack([x[i] for i in range(n)])
            slots = jnp.where(route >= 0, xv[jnp.clip(route, 0, n - 1)] * args["scale"], args["fixed"])
        else:
            slots = jnp.asarray(args["fixed"])
        value = {name: slots[i] if name in fed else _FIXED[name] for i, name in enumerate(SLOTS)}
        taus = jnp.where(first & (route[0] >= 0), value["local_tm"], args["taus"]) if "local_tm" in fed \
            else args["taus"]
        jw = generic_spectral_density(value, omega, args["weights"], taus)
        r1, r2, noe = relaxation.rates(jw, args["d"], args["c"], value["rex"] * rex_scale, rex_factor, ratio)
        table = (r1, r2, noe)
        return jnp.stack([table[kind][field] for kind, field in zip(layout.kinds, layout.field_index)])

    def fun(x, args):
        return _residue_chi2(args["values"], args["errors"], args["mask"], back(x, args))

    def residuals(x, args):
        """Weighted residuals (R − R(θ))/σ (m,), 0 where unmeasured."""
        return jnp.where(args["mask"], 1.0 / args["errors"] * (args["values"] - back(x, args)), 0.0)

    fun.__name__ = fun.__qualname__ = f"chi2_generic_{n}p_{k}c"
    fun.residuals = residuals
    fun.scalar_parameters = True   # only indexes x
    return fun


@functools.lru_cache(maxsize=None)
def _batched(model: Model, layout: _Layout, with_chi2: bool) -> Callable:
    """jit(vmap(...)) over residues of the back-calculation (or χ²) from SI parameters."""

    def one(p, diffusion, vector, d, c, values, errors, mask):
        weights, taus = _residue_components(model, p, diffusion, vector)
        back_calc = _residue_values(layout, model.form, p, weights, taus, d, c)
        if with_chi2:
            return _residue_chi2(values, errors, mask, back_calc)
        return back_calc

    return jax.jit(jax.vmap(one, in_axes=(0, None, 0, 0, 0, 0, 0, 0)))


# (diffusion, vectors (n, 3), n a multiple of 8): mapped 8 residues at a time, so that every residue's weights
# and times come from the same 8-wide code whatever n is (XLA's fusion, and so its fused multiply-adds,
# can change with the batch width): a residue's problem does not depend on the other residues.
_batched_components = jax.jit(lambda diffusion, vectors: jax.lax.map(lambda v: components(diffusion, v), vectors,
                                                                     batch_size=8))


# ---------------------------------------------------------------------------------------------------
# Validation (host side)

def _where(labels, i) -> str:
    return f"residue {labels[i]!r}" if labels is not None else f"residue index {i}"


def _per_residue(name: str, value, n: int | None, labels=None) -> np.ndarray:
    """A finite scalar or (n,) array, returned as float64 (n,) (or (1,) if n is still unknown)."""
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or an array of numbers, got {value!r}") from None
    if array.ndim > 1:
        raise ValueError(f"{name} must be a scalar or a 1-D array (one value per residue), got shape {array.shape}")
    if array.ndim == 1 and n is not None and array.shape[0] != n:
        raise ValueError(f"{name} has {array.shape[0]} values but there are {n} residues")
    bad = np.flatnonzero(~np.isfinite(np.atleast_1d(array)))
    if bad.size:
        where = _where(labels, bad[0]) if array.ndim == 1 else "scalar"
        raise ValueError(f"{name} is not finite ({np.atleast_1d(array)[bad[0]]}) at {where}")
    return array


def _count(arrays: Mapping[str, np.ndarray], n: int | None) -> int:
    """The common number of residues (leading axis) of the arrays (and n if given); scalars broadcast."""
    lengths = {name: a.shape[0] for name, a in arrays.items() if a.ndim >= 1}
    if n is not None:
        lengths = {"data": n, **lengths}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name}: {size}" for name, size in lengths.items())
        raise ValueError(f"inconsistent numbers of residues ({listed})")
    return next(iter(lengths.values()), 1)


def _check_params(model: Model, params, n: int | None, labels) -> dict[str, np.ndarray]:
    if not isinstance(params, Mapping):
        raise ValueError(f"params must be a dict name -> values, got {type(params).__name__}")
    missing = [p for p in model.params if p not in params]
    unknown = [p for p in params if p not in model.params]
    if missing or unknown:
        parts = [f"missing {missing}" if missing else "", f"unknown {unknown}" if unknown else ""]
        raise ValueError(f"model {model.name!r} takes the parameters {list(model.params)}: "
                         f"{'; '.join(p for p in parts if p)}")
    return {name: _per_residue(f"parameter {name!r}", params[name], n, labels) for name in model.params}


def _check_diffusion(model: Model, diffusion):
    if model.local_tm:
        if diffusion is not None:
            raise ValueError(f"model {model.name!r} fits a local tm; give diffusion=None, not {diffusion!r}")
        return
    if diffusion is None:
        raise ValueError(f"model {model.name!r} needs a diffusion tensor (Sphere, Spheroid or Ellipsoid); "
                         "the tm0-tm9 models take local_tm as a parameter instead")
    if not isinstance(diffusion, (Sphere, Spheroid, Ellipsoid)):
        raise ValueError(f"diffusion must be a Sphere, Spheroid or Ellipsoid, got {type(diffusion).__name__}")
    for field in dataclasses.fields(diffusion):
        value = np.asarray(getattr(diffusion, field.name), dtype=np.float64)
        if value.shape != () or not np.isfinite(value):
            raise ValueError(f"{type(diffusion).__name__}.{field.name} must be a finite scalar, got {value}")


def _check_vectors(diffusion, vectors, n: int | None, labels=None) -> np.ndarray | None:
    """(n, 3) unit XH vectors, required for anisotropic tensors; None when not needed and not given."""
    if vectors is None:
        if is_anisotropic(diffusion):
            raise ValueError(f"a {type(diffusion).__name__} diffusion tensor needs the XH unit vectors: "
                             "pass vectors=(n, 3) array")
        return None
    try:
        vectors = np.array(vectors, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("vectors must be an (n, 3) array of numbers") from None
    if vectors.ndim != 2 or vectors.shape[1] != 3 or (n is not None and vectors.shape[0] != n):
        expected = f"({n}, 3)" if n is not None else "(n, 3)"
        raise ValueError(f"vectors must have shape {expected} (one XH unit vector per residue), got {vectors.shape}")
    norms = np.sqrt((vectors ** 2).sum(axis=1))
    bad = np.flatnonzero(~(np.abs(norms - 1.0) <= _UNIT_TOLERANCE))
    if bad.size:
        raise ValueError(f"vectors must be unit vectors (length 1 within {_UNIT_TOLERANCE:g}); "
                         f"{_where(labels, bad[0])} has length {float(norms[bad[0]])!r} (normalise them first)")
    return vectors


class _Inputs(NamedTuple):
    params: dict       # name -> (n,) float64
    vectors: np.ndarray  # (n, 3) (zeros where unused)
    d: np.ndarray      # (n,)
    c: np.ndarray      # (n, nf)


def _inputs(exp: Experiment, model: Model, params, diffusion, r, csa, vectors, n=None, labels=None) -> _Inputs:
    """Validate the inputs of back_calc / chi2 / residue_problem and expand them to n residues."""
    layout = _Layout.of(exp)
    _check_diffusion(model, diffusion)
    params = _check_params(model, params, n, labels) if params is not None else {}
    r = _per_residue("r (bond length, m)", r, n, labels)
    csa = _per_residue("csa", csa, n, labels)
    vectors = _check_vectors(diffusion, vectors, n, labels)
    sanity.bond_length(r, labels)
    sanity.csa(csa, labels)
    sanity.parameters(params, labels)
    if not model.local_tm:
        sanity.tensor(diffusion)
    arrays = {**{f"parameter {k!r}": v for k, v in params.items()}, "r": r, "csa": csa}
    if vectors is not None:
        arrays["vectors"] = vectors
    n = _count(arrays, n)
    if vectors is None:
        vectors = np.zeros((n, 3))
    d = relaxation.dipolar_constant(np.broadcast_to(r, (n,)), layout.nucleus)
    c = relaxation.csa_constant(np.broadcast_to(csa, (n,)), layout.fields_mhz, layout.nucleus)
    params = {k: np.broadcast_to(v, (n,)) for k, v in params.items()}
    return _Inputs(params, vectors, d, c)


CHUNK = 256   # residues per call of the batched host-side programs: every residue count runs the same shapes


def _pad(a, size: int) -> np.ndarray:
    """``a`` with its last row repeated up to ``size`` rows."""
    a = np.asarray(a)
    return np.concatenate([a, np.repeat(a[-1:], size - a.shape[0], axis=0)]) if size > a.shape[0] else a


def _chunked(function, rows, n: int):
    """``function(*rows_chunk)`` on chunks of CHUNK rows (the last padded by repeating its last row),
    concatenated as float64 numpy arrays and cut to n rows: one compiled program for any n."""
    size = -(-n // CHUNK) * CHUNK
    rows = jax.tree_util.tree_map(lambda a: _pad(a, size), rows)
    parts = [function(*jax.tree_util.tree_map(lambda a: a[i:i + CHUNK], rows)) for i in range(0, size, CHUNK)]
    return jax.tree_util.tree_map(lambda *p: np.concatenate([np.asarray(q, np.float64) for q in p])[:n], *parts)


def _evaluate(model: Model, layout: _Layout, with_chi2: bool, inputs: _Inputs, diffusion, values, errors, mask):
    """Run the batched back-calculation (or χ²) on n residues, in chunks of CHUNK rows."""
    batched = _batched(model, layout, with_chi2)
    return _chunked(lambda p, *rows: batched(p, diffusion, *rows),
                    (inputs.params, inputs.vectors, inputs.d, inputs.c, values, errors, mask), inputs.d.shape[0])


# ---------------------------------------------------------------------------------------------------
# Public

@x64
def back_calc(exp: Experiment, model, params: Mapping, diffusion=None, r=NH_BOND_LENGTH, csa=N15_CSA,
              vectors=None) -> np.ndarray:
    """Back-calculated R1 (s⁻¹), R2 (s⁻¹, Rex included) and NOE, shape (n, m) in measurement order.

    params: {name: (n,) array or scalar} in SI (s2..., te/tf/ts/local_tm in s, rex in s⁻¹ at
    exp.rex_field_mhz); diffusion: Sphere/Spheroid/Ellipsoid, or None for the tm0-tm9 models;
    r: bond length in m and csa (dimensionless), scalars or (n,); vectors: (n, 3) XH unit vectors,
    required for a spheroid or ellipsoid.
    """
    model = get_model(model)
    inputs = _inputs(exp, model, params, diffusion, r, csa, vectors)
    unused = np.zeros((inputs.d.shape[0], exp.n_measurements))
    return _evaluate(model, _Layout.of(exp), False, inputs, diffusion, unused, unused, unused.astype(bool))


def _data_arrays(data: RelaxationData):
    mask = np.asarray(data.mask, dtype=bool)
    values = np.where(mask, data.values, 0.0)
    errors = np.where(mask, data.errors, 1.0)
    return values, errors, mask


@x64
def chi2(data: RelaxationData, model, params: Mapping, diffusion=None, r=NH_BOND_LENGTH, csa=N15_CSA,
         vectors=None) -> np.ndarray:
    """χ² of every residue (n,) for SI parameters (as in ``back_calc``); unmeasured points add 0."""
    if not isinstance(data, RelaxationData):
        raise ValueError(f"data must be an mfjax RelaxationData, got {type(data).__name__}")
    model = get_model(model)
    inputs = _inputs(data.experiment, model, params, diffusion, r, csa, vectors, data.n_residues, data.residues)
    return _evaluate(model, _Layout.of(data.experiment), True, inputs, diffusion, *_data_arrays(data))


@x64
def residue_problem(data: RelaxationData, model, diffusion=None, r=NH_BOND_LENGTH, csa=N15_CSA,
                    vectors=None, generic: bool = False, pad: bool = True) -> Problem:
    """The per-residue χ² problem in scaled coordinates (see ``Problem``) for a fixed diffusion tensor
    (weights and correlation times precomputed per residue) or a tm0-tm9 model (diffusion=None).

    generic: use the generic χ² (``generic_chi2``: one function, hence one set of compiled programs,
    for every model with the same number of parameters; the model travels in args) where it covers
    the model's form; a local-τm model then gets LOCAL_TM_COMPONENTS components (zero weights after
    the first). Same values; the Hessian costs more per evaluation (no symbolic zeros). With ``pad``
    the parameter vector is padded to ``shared_size(n)`` (``scales`` too, with 1): the χ² does not
    depend on the padding entries, so their gradient and Hessian entries are exact zeros and a Newton
    step leaves them at their start, 0."""
    if not isinstance(data, RelaxationData):
        raise ValueError(f"data must be an mfjax RelaxationData, got {type(data).__name__}")
    model = get_model(model)
    layout = _Layout.of(data.experiment)
    inputs = _inputs(data.experiment, model, None, diffusion, r, csa, vectors, data.n_residues, data.residues)
    values, errors, mask = _data_arrays(data)
    args = {"values": values, "errors": errors, "mask": mask, "d": np.asarray(inputs.d), "c": np.asarray(inputs.c)}
    n = data.n_residues
    if not model.local_tm:
        args["weights"], args["taus"] = _chunked(lambda v: _batched_components(diffusion, v), (inputs.vectors,), n)
    route = generic_route(model) if generic else None
    if route is None:
        return Problem(_scaled_chi2(model, layout), args, scaling(model))
    if model.local_tm:
        k = LOCAL_TM_COMPONENTS
        args["weights"] = np.broadcast_to(np.arange(k) == 0, (n, k)).astype(np.float64)
        args["taus"] = np.zeros((n, k))
    args.update({key: np.broadcast_to(value, (n,) + value.shape) for key, value in route.items()})
    size = shared_size(model.n_params) if pad else model.n_params
    fun = generic_chi2(layout, size, args["weights"].shape[1], shared_slots(model))
    return Problem(fun, args, np.concatenate([scaling(model), np.ones(size - model.n_params)]))
