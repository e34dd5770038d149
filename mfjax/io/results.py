"""Fit results as CSV and JSON, and back: one row per residue, units in the column names, every setting used.

Columns: ``res_num``, ``res_name`` (the label "2 ALA" split; a label that does not start with an integer
keeps ``res_num`` empty), ``model``, the parameters in SI with their unit in the name (``s2``, ``te_s``,
``rex_s-1``, ``local_tm_s``), their errors when given (``s2_err``, ``te_err_s``, ...), ``chi2``, the
counts (``n_points``, ``iterations``, ``f_count``, ``g_count``, ``h_count``, ``grid_count``) and
``status``. Residues that were not fitted hold NaN. Floats are written with ``repr`` (shortest exact
form), so reading a file back gives the same numbers bit for bit.

CSV: the settings (model, tensor, r, csa, algorithm, tolerances, versions of mfjax/jax/numpy/Python)
are ``# key: <json>`` lines before the header; ``pandas.read_csv(path, comment="#")`` reads the table.
JSON: ``{"format": "mfjax-results", "settings": {...}, "columns": [...], "residues": [{...}, ...]}``
with NaN written as null.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import platform
import re
from typing import Mapping, NamedTuple

import numpy as np

from ..diffusion import Ellipsoid, Sphere, Spheroid
from ..models import PARAMETERS, UNITS
from ..status import Status
from ._files import atomic_writer, join_label, parse_label

COUNTS = ("n_points", "iterations", "f_count", "g_count", "h_count", "grid_count")
_SUFFIX = {"": "", "s": "_s", "s^-1": "_s-1"}
_TENSORS = {cls.__name__: cls for cls in (Sphere, Spheroid, Ellipsoid)}


class Results(NamedTuple):
    """What a results file holds: the :class:`~mfjax.FitResult` (settings included), the parameter
    errors (name -> (n,) SI; empty if none) and the model of each residue (differs after selection)."""

    result: object
    errors: dict
    models: list


def column(name: str, error: bool = False) -> str:
    """The column of a parameter: ``column("te") == "te_s"``, ``column("rex", error=True) == "rex_err_s-1"``."""
    return f"{name}{'_err' if error else ''}{_SUFFIX[UNITS[name]]}"


_COLUMNS = {column(p, e): (p, e) for p in PARAMETERS for e in (False, True)}


def versions() -> dict:
    """Versions of mfjax, jax, numpy and Python, for the record."""
    import jax

    from .. import __version__
    return {"mfjax": __version__, "jax": jax.__version__, "numpy": np.__version__, "python": platform.python_version()}


def _jsonable(value):
    """Settings as plain JSON values: tensors as {"type": "Sphere", "tm": ...}, arrays as lists, NaN as None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"type": type(value).__name__, **{f.name: _jsonable(getattr(value, f.name))
                                                 for f in dataclasses.fields(value)}}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating, np.ndarray)):
        value = float(value)
        return None if np.isnan(value) else value if np.isfinite(value) else ("inf" if value > 0 else "-inf")
    if value is None or isinstance(value, str):
        return value
    return repr(value)


def _from_json(key, value):
    if key == "diffusion" and isinstance(value, dict) and value.get("type") in _TENSORS:
        fields = {k: v for k, v in value.items() if k != "type"}
        return _TENSORS[value["type"]](**fields)
    return value


def settings_record(result, extra: Mapping | None = None) -> dict:
    """Every setting of ``result`` as JSON values, plus the model, ``extra`` and the versions used."""
    record = {"model": result.model, **_jsonable(dict(result.settings))}
    record.update(_jsonable(dict(extra or {})))
    record.setdefault("versions", versions())
    record.setdefault("written", datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    return record


def table(result, errors: Mapping | None = None, models=None) -> dict[str, list]:
    """The columns (name -> list of Python values, NaN for not fitted) of one results file."""
    n = len(result.residues)
    labels = [parse_label(label) for label in result.residues]
    cols: dict[str, list] = {"res_num": [num for num, _ in labels], "res_name": [name for _, name in labels],
                             "model": list(models) if models is not None else [result.model] * n}
    if len(cols["model"]) != n:
        raise ValueError(f"{len(cols['model'])} models for {n} residues")
    for name, values in result.params.items():
        cols[column(name)] = [float(v) for v in np.broadcast_to(values, (n,))]
    for name, values in (errors or {}).items():
        if name not in PARAMETERS:
            raise ValueError(f"errors: unknown parameter {name!r}; valid: {list(PARAMETERS)}")
        cols[column(name, error=True)] = [float(v) for v in np.broadcast_to(values, (n,))]
    cols["chi2"] = [float(v) for v in result.chi2]
    for name in COUNTS:
        cols[name] = [int(v) for v in getattr(result, name)]
    cols["status"] = list(result.status_names)
    return cols


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def write_results_csv(path, result, errors: Mapping | None = None, models=None, settings: Mapping | None = None):
    """Write ``result`` (a FitResult; ``errors`` name -> (n,) SI; ``models`` per residue after a
    selection; ``settings`` extra entries for the record) as CSV with ``# key: <json>`` header lines."""
    cols = table(result, errors, models)
    record = settings_record(result, settings)

    def write(handle):
        handle.write("# mfjax results, one row per residue (SI units in the column names; NaN = not fitted)\n")
        for key, value in record.items():
            handle.write(f"# {key}: {json.dumps(value, allow_nan=False)}\n")
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(cols)
        for i in range(len(result.residues)):
            writer.writerow([_cell(values[i]) for values in cols.values()])

    with atomic_writer(path) as handle:
        write(handle)


def write_results_json(path, result, errors: Mapping | None = None, models=None, settings: Mapping | None = None):
    """Write ``result`` as JSON (see the module docstring); same arguments as :func:`write_results_csv`."""
    cols = table(result, errors, models)
    rows = [{name: _jsonable(values[i]) for name, values in cols.items()} for i in range(len(result.residues))]
    document = {"format": "mfjax-results", "settings": settings_record(result, settings), "columns": list(cols),
                "residues": rows}
    with atomic_writer(path) as handle:
        json.dump(document, handle, indent=1, allow_nan=False)


def _build(path, cols: dict[str, list], settings: dict) -> Results:
    """A Results from columns of strings/JSON values (as read)."""
    from ..fit import FitResult

    for name in ("res_num", "res_name", "model", "chi2", "status", *COUNTS):
        if name not in cols:
            raise ValueError(f"{path}: not an mfjax results file: no {name!r} column")
    n = len(cols["chi2"])

    def floats(name):
        return np.array([np.nan if v in (None, "") else float(v) for v in cols[name]], dtype=np.float64)

    params, errors = {}, {}
    for name in cols:
        if name in _COLUMNS:
            param, is_error = _COLUMNS[name]
            (errors if is_error else params)[param] = floats(name)
    numbers = [None if v in (None, "") else int(v) for v in cols["res_num"]]
    residues = tuple(join_label(num, "" if name is None else name) for num, name in zip(numbers, cols["res_name"]))
    try:
        status = np.array([Status[str(s)] for s in cols["status"]], dtype=np.int32)
    except KeyError as err:
        raise ValueError(f"{path}: unknown status {err.args[0]!r}") from None
    models = [str(m) for m in cols["model"]]
    settings = {k: _from_json(k, v) for k, v in settings.items()}
    model = models[0] if len(set(models)) == 1 else str(settings.get("model", "mixed"))
    counts = {name: np.array([int(v) for v in cols[name]], dtype=np.int64) for name in COUNTS}
    settings = {k: v for k, v in settings.items() if k != "model"}
    result = FitResult(model=model, residues=residues, params=params, chi2=floats("chi2"), status=status,
                       settings=settings, **counts)
    if len(residues) != n:
        raise ValueError(f"{path}: columns of different lengths")
    return Results(result, errors, models)


_SETTING = re.compile(r"^# ([A-Za-z_]\w*): (.*)$")


def read_results_csv(path) -> Results:
    """Read a file of :func:`write_results_csv` back (the settings from its ``# key:`` lines)."""
    settings, lines = {}, []
    with open(path, newline="") as handle:
        for line in handle:
            if line.startswith("#"):
                match = _SETTING.match(line.rstrip("\n"))
                if match:
                    try:
                        settings[match.group(1)] = json.loads(match.group(2))
                    except json.JSONDecodeError:
                        pass
                continue
            lines.append(line)
    rows = list(csv.reader(lines))
    if not rows:
        raise ValueError(f"{path}: no header line")
    header, body = rows[0], rows[1:]
    for k, row in enumerate(body):
        if len(row) != len(header):
            raise ValueError(f"{path}: data row {k + 1} has {len(row)} cells, the header {len(header)}")
    cols = {name: [row[j] for row in body] for j, name in enumerate(header)}
    return _build(path, cols, settings)


def read_results_json(path) -> Results:
    """Read a file of :func:`write_results_json` back."""
    with open(path) as handle:
        try:
            document = json.load(handle)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{err.lineno}: not valid JSON: {err.msg}") from None
    if not isinstance(document, dict) or document.get("format") != "mfjax-results":
        raise ValueError(f"{path}: not an mfjax results file (no \"format\": \"mfjax-results\")")
    names = document["columns"]
    cols = {name: [row.get(name) for row in document["residues"]] for name in names}
    return _build(path, cols, dict(document.get("settings", {})))
