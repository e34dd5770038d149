"""BMRB NMR-STAR 3.1 relaxation data in, model-free results out, through pynmrstar (``pip install 'mfjax[star]'``).

Read (saveframes in file order, one measurement each; tag names of the BMRB NMR-STAR dictionary):

- ``heteronucl_T1_relaxation``: ``_Heteronucl_T1_list.Spectrometer_frequency_1H`` (MHz),
  ``.T1_val_units``; loop ``_T1`` with ``Comp_index_ID``, ``Comp_ID``, ``Atom_ID``, ``Val``, ``Val_err``;
- ``heteronucl_T2_relaxation``: ``_Heteronucl_T2_list`` likewise (``.T2_val_units``); loop ``_T2`` with
  ``T2_val``, ``T2_val_err``;
- ``heteronucl_NOEs``: ``_Heteronucl_NOE_list.Spectrometer_frequency_1H``; loop ``_Heteronucl_NOE`` with
  ``Comp_index_ID_1``, ``Comp_ID_1``, ``Atom_ID_1``, ``Val``, ``Val_err``;
- ``auto_relaxation`` (NMR-STAR 3.2, written by relax's ``bmrb.write``): ``_Auto_relaxation_list``
  ``.Common_relaxation_type_name`` R1 or R2, ``.Relaxation_val_units``; loop ``_Auto_relaxation`` with
  ``Auto_relaxation_val``, ``Auto_relaxation_val_err``. Other relaxation types (R1rho, …) are skipped.

Units: times T1/T2 in "s" or "ms" become rates R = 1/T with σR = σT / T² (first-order propagation);
rates in "s-1" or "ms-1" are taken as they are (ms-1 × 1000). Residues are labelled "Comp_index_ID Comp_ID"
("9 Gln"; ``auth=True`` uses the author's Auth_seq_ID, Auth_comp_ID), rows of other atoms than ``atom``
(default "N" for 15N) are ignored.

Write: :func:`write_nmrstar` puts the relaxation data (R1, R2 as rates in s^-1 in T1/T2 saveframes, NOEs)
and model-free results (``order_parameters``: ``_Order_param.Order_param_val``, ``Sf2_val``, ``Ss2_val``,
``Tau_e_val``, ``Tau_f_val``, ``Tau_s_val`` (s), ``Rex_val`` (s^-1 at ``Rex_field_strength`` MHz), each with
``*_fit_err``, ``Model_free_sum_squared_errs`` (χ²) and ``Model_fit``) in one entry. The dictionary has no
tag for a local τm, which is not written.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os

import numpy as np

from ..data import Experiment, RelaxationData
from ._files import atomic_writer, read_text, split_label

# category -> (list prefix, loop, value, error, kind, units tag, number/name/atom tags)
_LISTS = {
    "heteronucl_T1_relaxation": ("_Heteronucl_T1_list", "_T1", "Val", "Val_err", "R1", "T1_val_units", ""),
    "heteronucl_T2_relaxation": ("_Heteronucl_T2_list", "_T2", "T2_val", "T2_val_err", "R2", "T2_val_units", ""),
    "heteronucl_NOEs": ("_Heteronucl_NOE_list", "_Heteronucl_NOE", "Val", "Val_err", "NOE", None, "_1"),
    "auto_relaxation": ("_Auto_relaxation_list", "_Auto_relaxation", "Auto_relaxation_val",
                        "Auto_relaxation_val_err", None, "Relaxation_val_units", ""),
}
_NULL = (None, "", ".", "?")
# mfjax parameter -> Order_param tag stem
_ORDER_TAGS = {"s2": "Order_param_val", "s2f": "Sf2_val", "s2s": "Ss2_val", "te": "Tau_e_val",
               "tf": "Tau_f_val", "ts": "Tau_s_val", "rex": "Rex_val"}


def _pynmrstar():
    try:
        import pynmrstar
    except ImportError as err:
        raise ImportError("reading and writing NMR-STAR needs pynmrstar: pip install 'mfjax[star]'") from err
    return pynmrstar


@contextlib.contextmanager
def _quiet():
    """pynmrstar logs a warning for every framecode relax writes as '?'; they say nothing about the data."""
    logger = logging.getLogger("pynmrstar")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _entry(path: str):
    pynmrstar = _pynmrstar()
    text = read_text(path)
    with _quiet():
        try:
            return pynmrstar.Entry.from_string(text)
        except (ValueError, pynmrstar.exceptions.ParsingError) as err:
            raise ValueError(f"{path}: not a readable NMR-STAR file ({' '.join(str(err).split())})") from None


def _tag(frame, name):
    values = frame.get_tag(name)
    return values[0] if values and values[0] not in _NULL else None


def _float(text, what, where):
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{where}: {what} {text!r} is not finite")
    return value


def _rates(value, error, units, kind, where):
    """(rate, error) in s^-1 from a value in ``units`` (s, ms, s-1, ms-1); NOEs pass through."""
    if kind == "NOE":
        return value, error
    if units in ("s", "ms"):
        scale = 1e-3 if units == "ms" else 1.0
        t, st = value * scale, error * scale
        if not t > 0:
            raise ValueError(f"{where}: relaxation time {value} {units} must be > 0")
        return 1.0 / t, st / (t * t)
    if units in ("s-1", "ms-1"):
        scale = 1e3 if units == "ms-1" else 1.0
        return value * scale, error * scale
    raise ValueError(f"{where}: units {units!r} unknown; expected s, ms, s-1 or ms-1")


def read_nmrstar(path, nucleus: str = "15N", atom: str | None = None, auth: bool = False,
                 rex_field_mhz: float | None = None) -> RelaxationData:
    """R1, R2 and NOE saveframes of an NMR-STAR file (plain, .gz, .bz2) as ``RelaxationData`` (rates in s^-1).

    atom: the heteronucleus atom name of the rows to read (default "N" for 15N, any for 13C); auth: label
    residues with the author numbering. One measurement per saveframe, in file order.
    """
    path = os.fspath(path)
    atom = atom if atom is not None else ("N" if nucleus == "15N" else None)
    entry = _entry(path)
    kinds, fields, columns = [], [], []
    names: dict[int, tuple[str, str]] = {}
    for frame in entry.frame_list:
        if frame.category not in _LISTS:
            continue
        prefix, loop_name, value_tag, error_tag, kind, units_tag, suffix = _LISTS[frame.category]
        where = f"{path}, saveframe {frame.name}"
        if kind is None:
            kind = (_tag(frame, "Common_relaxation_type_name") or "").upper()
            if kind not in ("R1", "R2"):
                continue
        field = _tag(frame, "Spectrometer_frequency_1H")
        if field is None:
            raise ValueError(f"{where}: no {prefix}.Spectrometer_frequency_1H (MHz)")
        field = _float(field, "spectrometer frequency", where)
        units = _tag(frame, units_tag) if units_tag else None
        if units_tag and units is None:
            raise ValueError(f"{where}: no {prefix}.{units_tag}; give the file its units (s, ms, s-1 or ms-1)")
        try:
            loop = frame.get_loop(loop_name)
        except KeyError:
            raise ValueError(f"{where}: no {loop_name} loop") from None
        tags = ["Auth_seq_ID" if auth else "Comp_index_ID", "Auth_comp_ID" if auth else "Comp_ID", "Atom_ID"]
        tags = [t + suffix for t in tags] + [value_tag, error_tag]
        missing = [t for t in tags if t.lower() not in [x.lower() for x in loop.tags]]
        if missing and not auth and "Comp_index_ID" + suffix in missing and "Seq_ID" + suffix in loop.tags:
            tags[0] = "Seq_ID" + suffix
            missing.remove("Comp_index_ID" + suffix)
        if missing:
            raise ValueError(f"{where}: the {loop_name} loop lacks the tag(s) {missing}")
        points: dict[int, tuple[float, float]] = {}
        for row_number, (number, name, atom_id, value, error) in enumerate(loop.get_tag(tags), start=1):
            here = f"{where}, row {row_number} of {loop_name}"
            if atom is not None and atom_id != atom:
                continue
            try:
                number = int(number)
            except (TypeError, ValueError):
                raise ValueError(f"{here}: residue number {number!r} is not an integer") from None
            if number in points or (number in names and names[number][1] == where):
                raise ValueError(f"{here}: residue {number} is listed again")
            if number in names and names[number][0] != name:
                raise ValueError(f"{here}: residue {number} is named {name!r} but {names[number][0]!r} in "
                                 f"{names[number][1]}")
            names.setdefault(number, (name, where))
            if value in _NULL:
                continue
            value = _float(value, "value", here)
            if error in _NULL:
                raise ValueError(f"{here}: value {value} has no error")
            error = _float(error, "error", here)
            if not error > 0:
                raise ValueError(f"{here}: error {error} must be > 0")
            points[number] = _rates(value, error, units, kind, here)
        kinds.append(kind)
        fields.append(field)
        columns.append(points)
    if not columns:
        raise ValueError(f"{path}: no heteronuclear T1, T2, NOE or auto-relaxation (R1, R2) saveframes")
    numbers = list(names)
    shape = (len(numbers), len(columns))
    values, errors, mask = np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape, bool)
    for j, points in enumerate(columns):
        for i, number in enumerate(numbers):
            if number in points:
                (values[i, j], errors[i, j]), mask[i, j] = points[number], True
    try:
        experiment = Experiment(kinds, fields, nucleus=nucleus, rex_field_mhz=rex_field_mhz)
        return RelaxationData(experiment, values, errors, mask, [f"{n} {names[n][0]}" for n in numbers])
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def _text(x) -> str:
    x = float(x)
    return repr(x) if math.isfinite(x) else "."


def _relaxation_frames(pynmrstar, data: RelaxationData, atom: str, isotope: int):
    frames, counters = [], {}
    for j, (kind, field) in enumerate(zip(data.experiment.kinds, data.experiment.fields_mhz)):
        category = {"R1": "heteronucl_T1_relaxation", "R2": "heteronucl_T2_relaxation", "NOE": "heteronucl_NOEs"}[kind]
        prefix, loop_name, value_tag, error_tag, _, units_tag, suffix = _LISTS[category]
        counters[category] = counters.get(category, 0) + 1
        name = f"{category}_{counters[category]}"
        frame = pynmrstar.Saveframe.from_scratch(name, prefix)
        frame.add_tag("Sf_category", category)
        frame.add_tag("Sf_framecode", name)
        frame.add_tag("ID", str(counters[category]))
        frame.add_tag("Spectrometer_frequency_1H", repr(float(field)))
        if units_tag:
            frame.add_tag(units_tag, "s-1")
            frame.add_tag("T1_coherence_type" if kind == "R1" else "T2_coherence_type", "Nz" if kind == "R1" else "Nx")
        loop = pynmrstar.Loop.from_scratch(loop_name)
        base = ["ID", "Comp_index_ID", "Comp_ID", "Atom_ID", "Atom_type", "Atom_isotope_number"]
        loop.add_tag([t + suffix if t != "ID" else t for t in base] + [value_tag, error_tag])
        rows = []
        for i, label in enumerate(data.residues):
            if data.mask[i, j]:
                number, resname = split_label(label)
                rows.append([str(len(rows) + 1), str(number), resname, atom, atom[0], str(isotope),
                             _text(data.values[i, j]), _text(data.errors[i, j])])
        loop.add_data(rows)
        frame.add_loop(loop)
        frames.append(frame)
    return frames


def _order_frame(pynmrstar, result, atom: str, isotope: int, rex_field_mhz):
    residues = list(result.residues)
    params = {k: np.asarray(v, dtype=np.float64) for k, v in result.params.items()}
    errors = {k: np.asarray(v, dtype=np.float64) for k, v in (getattr(result, "errors", None) or {}).items()}
    models = getattr(result, "models", None) or [getattr(result, "model", None)] * len(residues)
    chi2 = np.asarray(getattr(result, "chi2", np.full(len(residues), np.nan)), dtype=np.float64)
    has_rex = "rex" in params and np.isfinite(params["rex"]).any()
    if has_rex and rex_field_mhz is None:
        raise ValueError("results with Rex need rex_field_mhz (the field at which Rex is given)")
    frame = pynmrstar.Saveframe.from_scratch("order_parameters_1", "_Order_parameter_list")
    for tag, value in (("Sf_category", "order_parameters"), ("Sf_framecode", "order_parameters_1"), ("ID", "1"),
                       ("Tau_e_val_units", "s"), ("Tau_f_val_units", "s"), ("Tau_s_val_units", "s"),
                       ("Rex_field_strength", repr(float(rex_field_mhz)) if rex_field_mhz is not None else "."),
                       ("Rex_val_units", "s-1"), ("Details", "written by mfjax")):
        frame.add_tag(tag, value)
    loop = pynmrstar.Loop.from_scratch("_Order_param")
    stems = list(_ORDER_TAGS.items())
    loop.add_tag(["ID", "Comp_index_ID", "Comp_ID", "Atom_ID", "Atom_type", "Atom_isotope_number"]
                 + [t for _, stem in stems for t in (stem, stem + "_fit_err")]
                 + ["Model_free_sum_squared_errs", "Model_fit"])
    rows = []
    for i, label in enumerate(residues):
        number, resname = split_label(label)
        row = [str(i + 1), str(number), resname, atom, atom[0], str(isotope)]
        for name, _ in stems:
            row.append(_text(params[name][i]) if name in params else ".")
            row.append(_text(errors[name][i]) if name in errors else ".")
        row += [_text(chi2[i]), models[i] if models[i] else "."]
        rows.append(row)
    loop.add_data(rows)
    frame.add_loop(loop)
    return frame


def write_nmrstar(path, data: RelaxationData | None = None, result=None, rex_field_mhz: float | None = None,
                  entry_id: str = "mfjax") -> None:
    """Write relaxation data and/or model-free results as an NMR-STAR 3.1 entry (plain, .gz or .bz2).

    result: any object with ``residues`` ("num name" labels), ``params`` {name: (n,) SI values} and
    optionally ``errors`` {name: (n,)}, ``chi2`` (n,), ``models`` (one name per residue) or ``model``.
    rex_field_mhz: field of Rex (default: the data's ``rex_field_mhz``). NaN values are written as '.'.
    """
    pynmrstar = _pynmrstar()
    if data is None and result is None:
        raise ValueError("nothing to write: give data, result or both")
    nucleus = data.experiment.nucleus if data is not None else "15N"
    atom, isotope = ("N", 15) if nucleus == "15N" else ("C", 13)
    if rex_field_mhz is None and data is not None:
        rex_field_mhz = data.experiment.rex_field_mhz
    entry = pynmrstar.Entry.from_scratch(entry_id)
    if data is not None:
        for frame in _relaxation_frames(pynmrstar, data, atom, isotope):
            entry.add_saveframe(frame)
    if result is not None:
        entry.add_saveframe(_order_frame(pynmrstar, result, atom, isotope, rex_field_mhz))
    with atomic_writer(path) as out:
        out.write(str(entry))


def read_nmrstar_order_parameters(path) -> dict:
    """The ``order_parameters`` saveframe as {"residues", "params", "errors", "chi2", "models",
    "rex_field_mhz"} (SI: times in s — "ms", "ns", "ps" converted —, Rex in s^-1)."""
    path = os.fspath(path)
    entry = _entry(path)
    frames = entry.get_saveframes_by_category("order_parameters")
    if not frames:
        raise ValueError(f"{path}: no order_parameters saveframe")
    frame = frames[0]
    where = f"{path}, saveframe {frame.name}"
    loop = frame.get_loop("_Order_param")
    scale = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "ps": 1e-12}
    units = {}
    for stem in ("Tau_e", "Tau_f", "Tau_s"):
        unit = _tag(frame, f"{stem}_val_units") or "s"
        if unit not in scale:
            raise ValueError(f"{where}: {stem}_val_units {unit!r} unknown; expected one of {list(scale)}")
        units[stem] = scale[unit]
    field = _tag(frame, "Rex_field_strength")
    lower = {t.lower(): t for t in loop.tags}
    rows = loop.get_tag(["Comp_index_ID", "Comp_ID"])
    residues = [f"{n} {c}" for n, c in rows]
    n = len(residues)
    params, errors = {}, {}
    for name, stem in _ORDER_TAGS.items():
        factor = units.get(stem.rsplit("_", 1)[0], 1.0)
        for target, tag in ((params, stem), (errors, stem + "_fit_err")):
            if tag.lower() not in lower:
                continue
            column = [None if v in _NULL else _float(v, tag, f"{where}, row {k + 1}") * factor
                      for k, v in enumerate(loop.get_tag(tag))]
            if any(v is not None for v in column):
                target[name] = np.array([np.nan if v is None else v for v in column])
    chi2 = np.full(n, np.nan)
    if "model_free_sum_squared_errs" in lower:
        chi2 = np.array([np.nan if v in _NULL else _float(v, "chi2", where) for v in loop.get_tag("Model_free_sum_squared_errs")])
    models = [None if v in _NULL else v for v in loop.get_tag("Model_fit")] if "model_fit" in lower else [None] * n
    return {"residues": residues, "params": params, "errors": errors, "chi2": chi2, "models": models,
            "rex_field_mhz": None if field is None else _float(field, "Rex_field_strength", where)}
