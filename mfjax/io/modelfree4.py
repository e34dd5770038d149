"""Read and write Modelfree4's input files ``mfdata``, ``mfmodel`` and ``mfpar`` (A. G. Palmer's Modelfree 4).

Layouts, as relax writes them for Modelfree4 (relax's ``pipe_control.palmer`` module, ``create_mfdata``,
``create_mfmodel``, ``create_mfpar``): each spin starts with a ``spin <id>`` line, followed by

- mfdata: ``<R1|R2|NOE> <field MHz> <value> <error> <flag>`` lines, flag 1 = use, 0 = ignore (relax writes
  ``0 0 0`` with flag 0 for data it lacks); rates in s^-1;
- mfmodel: ``M1 <param> <initial> <free 0/1> <constraint> <lower> <upper> <steps>`` lines for the
  parameters tloc (ns), Theta (deg), Sf2, Ss2, te (ps) and rex (s^-1); the free flags define the model;
- mfin (``create_mfin``): ``diffusion isotropic|axial``, ``fields <n> <MHz> …`` and the tensor lines
  ``tm`` (ns), ``Dratio`` (D∥/D⊥), ``Theta``, ``Phi`` (degrees);
- mfpar: ``constants <residue number> <nucleus> <γ / 1e7> <r Å> <CSA ppm>`` and ``vector <X> <H>`` (the
  atom names whose coordinates Modelfree4 reads from the PDB file; the file holds no coordinates).

mfjax writes spins as ``<number>_<name>`` (``2_ALA`` for the residue "2 ALA") and reads them back to the
same label; a relax-style id ``:2@N`` reads as "2". Numbers are written with Python's repr (exact); r and
CSA are converted Å → m and ppm → unitless on reading (exact to repr precision).

Models (free parameters → mfjax model, Modelfree 4 manual's models 1–5 and relax's mapping): {} m0,
{Ss2} m1 (S2 = Ss2), {Ss2, te} m2, {Ss2, rex} m3, {Ss2, te, rex} m4, {Sf2, Ss2, te} m5 (te is τs),
{Sf2, Ss2, te, rex} m7, {rex} m9; tloc free adds the local τm (tm0–tm9). Modelfree4 has no τf: m6 and m8
cannot be written.
"""
from __future__ import annotations

import math
import os
import re

import numpy as np

from ..constants import gamma
from ..data import Experiment, RelaxationData
from ._files import atomic_writer, read_lines, split_label

KINDS = ("R1", "R2", "NOE")
MF4_PARAMS = ("tloc", "Theta", "Sf2", "Ss2", "te", "rex")
# mfjax model (without local tm) -> free Modelfree4 parameters
FREE = {"m0": (), "m1": ("Ss2",), "m2": ("Ss2", "te"), "m3": ("Ss2", "rex"), "m4": ("Ss2", "te", "rex"),
        "m5": ("Sf2", "Ss2", "te"), "m7": ("Sf2", "Ss2", "te", "rex"), "m9": ("rex",)}
_MODEL_OF = {frozenset(free): model for model, free in FREE.items()}
# initial value, constraint flag, lower, upper (relax's create_mfmodel)
_LINE = {"tloc": (0.0, 2, 0.0, 20.0), "Theta": (0.0, 2, 0.0, 90.0), "Sf2": (1.0, 2, 0.0, 1.0),
         "Ss2": (1.0, 2, 0.0, 1.0), "te": (0.0, 2, 0.0, 10000.0), "rex": (0.0, -1, 0.0, 20.0)}


def spin_id(label: str) -> str:
    number, name = split_label(label)
    return f"{number}_{name}"


def label_of(spin: str) -> str:
    """Residue label of a spin id: "2_ALA" -> "2 ALA"; relax's ":2@N" -> "2"; anything else unchanged."""
    match = re.fullmatch(r"(-?\d+)_(\S+)", spin)
    if match:
        return f"{match.group(1)} {match.group(2)}"
    match = re.fullmatch(r"(?:#[^:@]*)?:(-?\d+)(?:&:\S+?)?(?:@\S+)?", spin)
    return match.group(1) if match else spin


def _blocks(path: str):
    """[(label, spin line number, [(line number, columns)])] of a Modelfree4 file; '#' starts a comment."""
    blocks, seen = [], {}
    for number, line in enumerate(read_lines(path), start=1):
        columns = line.split("#", 1)[0].split()
        if not columns:
            continue
        if columns[0].lower() == "spin":
            if len(columns) != 2:
                raise ValueError(f"{path}, line {number}: expected 'spin <id>', got {line.strip()!r}")
            label = label_of(columns[1])
            if label in seen:
                raise ValueError(f"{path}, line {number}: spin {columns[1]} is listed again (first on line {seen[label]})")
            seen[label] = number
            blocks.append((label, number, []))
        elif not blocks:
            raise ValueError(f"{path}, line {number}: {line.strip()!r} comes before the first 'spin' line")
        else:
            blocks[-1][2].append((number, columns))
    if not blocks:
        raise ValueError(f"{path}: no 'spin' lines")
    return blocks


def _float(text: str, what: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{where}: {what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{where}: {what} {text!r} is not finite")
    return value


def read_mfdata(path, nucleus: str = "15N", rex_field_mhz: float | None = None) -> RelaxationData:
    """Read an ``mfdata`` file into ``RelaxationData``.

    Measurements are the (kind, field) pairs in order of first appearance; pairs flagged 0 for every spin
    are dropped. Points with flag 0 are unmeasured (mask False). Fields in MHz, rates in s^-1.
    """
    path = os.fspath(path)
    blocks = _blocks(path)
    order: list[tuple[str, float]] = []
    points: list[dict] = []
    for label, _, lines in blocks:
        spin: dict = {}
        for number, columns in lines:
            where = f"{path}, line {number}: {' '.join(columns)!r}"
            if len(columns) != 5:
                raise ValueError(f"{where}: expected '<R1|R2|NOE> <field MHz> <value> <error> <flag>', "
                                 f"got {len(columns)} columns")
            kind = columns[0].upper()
            if kind not in KINDS:
                raise ValueError(f"{where}: unknown data type {columns[0]!r}; Modelfree4 data are R1, R2, NOE")
            field = _float(columns[1], "field", where)
            if not field > 0:
                raise ValueError(f"{where}: field {field} MHz must be > 0")
            value, error = _float(columns[2], "value", where), _float(columns[3], "error", where)
            if columns[4] not in ("0", "1"):
                raise ValueError(f"{where}: flag {columns[4]!r} must be 0 (ignore) or 1 (use)")
            key = (kind, field)
            if key in spin:
                raise ValueError(f"{where}: {kind} at {field:g} MHz is given again for spin {label}")
            if key not in order:
                order.append(key)
            if columns[4] == "1":
                if not error > 0:
                    raise ValueError(f"{where}: error {error} must be > 0")
                spin[key] = (value, error)
            else:
                spin[key] = None
        points.append(spin)
    used = [key for key in order if any(spin.get(key) is not None for spin in points)]
    if not used:
        raise ValueError(f"{path}: no data with flag 1")
    shape = (len(blocks), len(used))
    values, errors, mask = np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape, bool)
    for i, spin in enumerate(points):
        for j, key in enumerate(used):
            if spin.get(key) is not None:
                (values[i, j], errors[i, j]), mask[i, j] = spin[key], True
    experiment = Experiment([k for k, _ in used], [f for _, f in used], nucleus=nucleus, rex_field_mhz=rex_field_mhz)
    return RelaxationData(experiment, values, errors, mask, [label for label, _, _ in blocks])


def write_mfdata(path, data: RelaxationData) -> None:
    """Write ``data`` as an ``mfdata`` file: per spin, its measurements in the data's order, then flag-0
    lines for any of R1, R2, NOE missing at a field (Modelfree4 expects all three per field)."""
    experiment = data.experiment
    keys = list(zip(experiment.kinds, (float(f) for f in experiment.fields_mhz)))
    if len(set(keys)) != len(keys):
        raise ValueError("Modelfree4 holds one R1, R2 and NOE per field; the data repeat a (kind, field) pair")
    extra = [(kind, field) for field in experiment.unique_fields_mhz.tolist() for kind in KINDS
             if (kind, field) not in keys]
    with atomic_writer(path) as out:
        for i, label in enumerate(data.residues):
            out.write(f"\nspin     {spin_id(label)}\n")
            for j, (kind, field) in enumerate(keys + extra):
                if j < len(keys) and data.mask[i, j]:
                    value, error, flag = repr(float(data.values[i, j])), repr(float(data.errors[i, j])), 1
                else:
                    value, error, flag = "0", "0", 0
                out.write(f"{kind:<7}{field!r:<12}{value:>25} {error:>25} {flag}\n")


def model_of_free(free, where: str) -> str:
    free = set(free)
    local = "tloc" in free
    key = frozenset(free - {"tloc"})
    if "Theta" in key or key not in _MODEL_OF:
        known = "; ".join(f"{m} = {{{' '.join(f)}}}" for m, f in FREE.items())
        raise ValueError(f"{where}: free parameters {sorted(free)} match no mfjax model ({known}; tloc adds local tm)")
    return ("t" if local else "") + _MODEL_OF[key]


def read_mfmodel(path) -> dict[str, str]:
    """{residue label: mfjax model name} from an ``mfmodel`` file (the model is the set of free parameters)."""
    path = os.fspath(path)
    models = {}
    for label, line, lines in _blocks(path):
        free = []
        for number, columns in lines:
            where = f"{path}, line {number}: {' '.join(columns)!r}"
            if columns[0].upper() != "M1":
                raise ValueError(f"{where}: expected an 'M1 <param> ...' line (mfjax reads one model per spin)")
            if len(columns) < 4:
                raise ValueError(f"{where}: expected 'M1 <param> <initial> <free> ...', got {len(columns)} columns")
            names = {p.lower(): p for p in MF4_PARAMS}
            if columns[1].lower() not in names:
                raise ValueError(f"{where}: unknown parameter {columns[1]!r}; Modelfree4's are {', '.join(MF4_PARAMS)}")
            if columns[3] not in ("0", "1"):
                raise ValueError(f"{where}: free flag {columns[3]!r} must be 0 or 1")
            if columns[3] == "1":
                free.append(names[columns[1].lower()])
        models[label] = model_of_free(free, f"{path}, spin {label} (line {line})")
    return models


def write_mfmodel(path, residues, models, steps: int = 20) -> None:
    """Write an ``mfmodel`` file: ``models`` is one mfjax model name for all residues or one per residue."""
    residues = list(residues)
    models = [models] * len(residues) if isinstance(models, str) else list(models)
    if len(models) != len(residues):
        raise ValueError(f"{len(models)} models for {len(residues)} residues")
    with atomic_writer(path) as out:
        for label, model in zip(residues, models):
            local = model.startswith("tm")
            base = model[1:] if local else model
            if base not in FREE:
                raise ValueError(f"residue {label}: model {model!r} has no Modelfree4 form "
                                 f"(Modelfree4 has no tf; writable: {', '.join(FREE)} and their tm forms)")
            free = set(FREE[base]) | ({"tloc"} if local else set())
            out.write(f"\nspin     {spin_id(label)}\n")
            for name in MF4_PARAMS:
                initial, constraint, lower, upper = _LINE[name]
                out.write(f"M1 {name:<6}{initial:<6.1f}{int(name in free):<4d}{constraint:<3d}"
                          f"{lower:11.3f}{upper:12.3f} {steps}\n")


def read_mfpar(path) -> dict:
    """{"residues": labels, "r": bond lengths (m), "csa": CSA (unitless), "nucleus": per residue,
    "atoms": (X, H) names per residue} from an ``mfpar`` file (Å and ppm converted)."""
    path = os.fspath(path)
    out = {"residues": [], "r": [], "csa": [], "nucleus": [], "atoms": []}
    for label, line, lines in _blocks(path):
        found = {}
        for number, columns in lines:
            where = f"{path}, line {number}: {' '.join(columns)!r}"
            key = columns[0].lower()
            if key == "constants":
                if len(columns) != 6:
                    raise ValueError(f"{where}: expected 'constants <residue> <nucleus> <gamma/1e7> <r A> <csa ppm>'")
                r, csa = _float(columns[4], "bond length", where), _float(columns[5], "CSA", where)
                if not r > 0:
                    raise ValueError(f"{where}: bond length {r} Å must be > 0")
                found["constants"] = (r * 1e-10, csa * 1e-6, columns[2])
            elif key == "vector":
                if len(columns) != 3:
                    raise ValueError(f"{where}: expected 'vector <X atom> <H atom>'")
                found["vector"] = (columns[1], columns[2])
            else:
                raise ValueError(f"{where}: unknown line {columns[0]!r}; mfpar has 'constants' and 'vector' lines")
        if "constants" not in found:
            raise ValueError(f"{path}, line {line}: spin {label} has no 'constants' line")
        r, csa, nucleus = found["constants"]
        out["residues"].append(label)
        out["r"].append(r)
        out["csa"].append(csa)
        out["nucleus"].append(nucleus)
        out["atoms"].append(found.get("vector"))
    out["r"], out["csa"] = np.array(out["r"]), np.array(out["csa"])
    return out


def write_mfpar(path, residues, r, csa, nucleus: str = "15N", atoms=("N", "H")) -> None:
    """Write an ``mfpar`` file: r in m and csa unitless (scalars or one per residue), written in Å and ppm."""
    residues = list(residues)
    r = np.broadcast_to(np.asarray(r, dtype=np.float64), (len(residues),))
    csa = np.broadcast_to(np.asarray(csa, dtype=np.float64), (len(residues),))
    g = gamma(nucleus) / 1e7
    with atomic_writer(path) as out:
        for label, r_i, csa_i in zip(residues, r, csa):
            if not (np.isfinite(r_i) and r_i > 0 and np.isfinite(csa_i)):
                raise ValueError(f"residue {label}: r = {r_i} m and csa = {csa_i} must be finite (r > 0)")
            number, _ = split_label(label)
            out.write(f"\nspin     {spin_id(label)}\n")
            out.write(f"constants     {number:<6d}{nucleus:<7s}{g!r:<8s} {float(r_i) * 1e10!r} {float(csa_i) * 1e6!r}\n")
            out.write(f"vector    {atoms[0]:<4s}{atoms[1]:<4s}\n")


def write_mfin(path, diffusion, fields_mhz, search: str = "none") -> None:
    """Write the diffusion tensor and fields of an ``mfin`` file (relax's ``create_mfin`` layout; fixed
    tensor: ``algorithm fix``). Modelfree4 knows isotropic and axially symmetric tensors: tm in ns,
    Dratio = D∥/D⊥, Theta and Phi in degrees (converted from mfjax's tm in s, Da in s^-1, angles in rad)."""
    from ..diffusion import Sphere, Spheroid
    if isinstance(diffusion, Sphere):
        kind, dratio, theta, phi = "isotropic", 1.0, 0.0, 0.0
    elif isinstance(diffusion, Spheroid):
        diso = 1.0 / (6.0 * float(diffusion.tm))
        dpar, dper = diso + 2.0 * float(diffusion.da) / 3.0, diso - float(diffusion.da) / 3.0
        if not (dpar > 0 and dper > 0):
            raise ValueError(f"unphysical spheroid {diffusion}: D∥ = {dpar:g}, D⊥ = {dper:g} s^-1 must be > 0")
        kind, dratio = "axial", dpar / dper
        theta, phi = math.degrees(float(diffusion.theta)), math.degrees(float(diffusion.phi))
    else:
        raise ValueError(f"Modelfree4 handles sphere and spheroid tensors, not {type(diffusion).__name__}")
    fields = [float(f) for f in fields_mhz]
    with atomic_writer(path) as out:
        out.write("optimization    tval\n\nseed            0\n\nsearch          grid\n\n")
        out.write(f"diffusion       {kind} {search}\n\nalgorithm       fix\n\nsimulations     none\n\n")
        out.write("selection       none\n\nsim_algorithm   fix\n\n")
        out.write(f"fields          {len(fields)}" + "".join(f"  {f!r}" for f in fields) + "\n")
        out.write(f"tm     {float(diffusion.tm) / 1e-9!r} 1 0 5 15 20\n")
        out.write(f"Dratio {dratio!r} 1 0 0 2 5\n")
        out.write(f"Theta  {theta!r} 1 0 0 180 10\n")
        out.write(f"Phi    {phi!r} 1 0 0 360 10\n")


def read_mfin(path):
    """(diffusion, fields_mhz) from an ``mfin`` file: ``Sphere`` for ``diffusion isotropic``, ``Spheroid``
    for ``axial`` (tm ns → s; Dratio, Theta°, Phi° → Da = D⊥(Dratio − 1) with D⊥ = 3 Diso/(Dratio + 2),
    Diso = 1/(6 tm); angles → rad)."""
    from ..diffusion import Sphere, Spheroid
    path = os.fspath(path)
    found, lines = {}, {}
    for number, line in enumerate(read_lines(path), start=1):
        columns = line.split("#", 1)[0].split()
        if not columns:
            continue
        key = columns[0].lower()
        where = f"{path}, line {number}: {line.strip()!r}"
        if key in ("diffusion", "fields", "tm", "dratio", "theta", "phi"):
            if len(columns) < 2:
                raise ValueError(f"{where}: {columns[0]} needs a value")
            found[key], lines[key] = columns[1:], where
    for key in ("diffusion", "fields", "tm"):
        if key not in found:
            raise ValueError(f"{path}: no '{key}' line")
    kind = found["diffusion"][0].lower()
    count = int(_float(found["fields"][0], "number of fields", lines["fields"]))
    fields = [_float(f, "field", lines["fields"]) for f in found["fields"][1:1 + count]]
    if len(fields) != count:
        raise ValueError(f"{lines['fields']}: {count} fields announced, {len(fields)} given")
    tm = _float(found["tm"][0], "tm", lines["tm"]) * 1e-9
    if not tm > 0:
        raise ValueError(f"{lines['tm']}: tm must be > 0 (ns)")
    if kind == "isotropic":
        return Sphere(tm=tm), fields
    if kind != "axial":
        raise ValueError(f"{lines['diffusion']}: diffusion {kind!r}: mfjax reads isotropic and axial tensors")
    for key in ("dratio", "theta", "phi"):
        if key not in found:
            raise ValueError(f"{path}: an axial tensor needs a '{key}' line")
    dratio = _float(found["dratio"][0], "Dratio", lines["dratio"])
    if not dratio > 0:
        raise ValueError(f"{lines['dratio']}: Dratio must be > 0")
    diso = 1.0 / (6.0 * tm)
    dper = 3.0 * diso / (dratio + 2.0)
    theta = math.radians(_float(found["theta"][0], "Theta", lines["theta"]))
    phi = math.radians(_float(found["phi"][0], "Phi", lines["phi"]))
    return Spheroid(tm=tm, da=dper * (dratio - 1.0), theta=theta, phi=phi), fields
