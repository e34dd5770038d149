"""Read relax's results and saved-state files (XML; plain, gzip or bzip2) of a model-free analysis.

Layout (relax's ``data_store`` and ``lib.xml`` modules): a ``<relax>`` root holds one ``<pipe name=…>`` per
data pipe (a saved state may hold several and names the current one in ``<current_pipe>``). A pipe holds
``<global>`` (relaxation-data ids ``ri_ids``, their ``ri_type`` and ``spectrometer_frq`` — ``frq`` in relax
2 — keyed by id), ``<diff_tensor type="sphere|spheroid|ellipsoid">``, ``<mol>/<res name num>/<spin name
num>`` containers (per spin: ``ri_data``, ``ri_data_err`` dicts keyed by id, ``model``, ``s2`` … ``rex``,
``local_tm``, ``csa``, ``chi2``, ``*_err``) and, since relax 3, ``<interatomic spin_id1 spin_id2>`` containers
with the bond length ``r`` and unit ``vector``. Each Python object is stored as its ``repr`` in ``<value>``
and, for floats, also as the 8 little-endian bytes of the IEEE-754 double in ``<ieee_754_byte_array>``; the
bytes are used when present, so values are exact. relax 1.3 files (no ``type`` attributes: values as element
text, the bytes in an attribute; ``ri_labels``/``frq``/``remap_table`` lists and per-spin ``relax_data``,
``relax_error``, ``xh_vect``, ``r``) are read too.

Units: relax stores SI values except two. Spectrometer frequencies are in Hz (converted to MHz), and Rex is
stored as ρex = Rex / (2π ν₁)², in s, with ν₁ the frequency (Hz) of the first relaxation-data id; it is
converted to Rex in s^-1 at ν₁, which is the data's reference field (``Experiment.rex_field_mhz``). Times
(tm, te, tf, ts, local_tm) are in s, Da in s^-1, angles in rad, r in m, CSA unitless (−160 ppm = −1.6e-4):
unchanged. ``RelaxResults.conversions`` lists what was converted.
"""
from __future__ import annotations

import ast
import math
import os
import re
import struct
from dataclasses import dataclass, field
from xml.parsers import expat

import numpy as np

from ..data import Experiment, RelaxationData
from ..diffusion import Ellipsoid, Sphere, Spheroid
from ._files import read_text

PARAMS = ("local_tm", "s2", "s2f", "s2s", "te", "tf", "ts", "rex")


@dataclass
class RelaxResults:
    """What a relax model-free pipe holds, per residue in ``data.residues`` order (NaN / None where absent).

    data: the relaxation data; diffusion: Sphere, Spheroid, Ellipsoid or None (local τm analyses);
    vectors (n, 3) XH unit vectors; r (n,) bond lengths in m; csa (n,) unitless; models: model names
    ("m4", "tm2", … or None); params, errors: {name: (n,)} in SI with Rex in s^-1 at ν₁; chi2 (n,) per spin,
    chi2_global (the pipe's global χ², or None); selected (n,) relax's spin selection flags; pipe: its name;
    conversions: the unit conversions made, in words.
    """

    data: RelaxationData
    diffusion: Sphere | Spheroid | Ellipsoid | None
    vectors: np.ndarray
    r: np.ndarray
    csa: np.ndarray
    models: tuple
    params: dict
    errors: dict
    chi2: np.ndarray
    chi2_global: float | None
    selected: np.ndarray
    pipe: str
    conversions: list = field(default_factory=list)


class _Node:
    __slots__ = ("tag", "attrib", "text", "children", "line")

    def __init__(self, tag, attrib, line):
        self.tag, self.attrib, self.line = tag, attrib, line
        self.text, self.children = [], []

    def child(self, tag):
        return next((c for c in self.children if c.tag == tag), None)

    def all(self, tag):
        return [c for c in self.children if c.tag == tag]


def _parse_tree(path: str, text: str) -> _Node:
    """The element tree of ``text``, each element with the line it starts on (ValueError naming the line)."""
    parser = expat.ParserCreate()
    root = _Node("", {}, 0)
    stack = [root]

    def start(tag, attrib):
        node = _Node(tag.rsplit(":", 1)[-1], attrib, parser.CurrentLineNumber)
        stack[-1].children.append(node)
        stack.append(node)

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda tag: stack.pop()
    parser.CharacterDataHandler = lambda data: stack[-1].text.append(data)
    try:
        parser.Parse(text, True)
    except expat.ExpatError as err:
        hint = "" if text.lstrip().startswith("<") else "; relax 1.2's text results tables are not read"
        raise ValueError(f"{path}, line {err.lineno}: not a relax XML file ({expat.ErrorString(err.code)}{hint})") from None
    if len(root.children) != 1 or root.children[0].tag != "relax":
        raise ValueError(f"{path}: not a relax results or state file (no <relax> root element)")
    return root.children[0]


def _bytes_to_float(raw) -> float:
    return struct.unpack("<d", bytes(raw))[0]


def _is_bytes(raw) -> bool:
    return isinstance(raw, list) and len(raw) == 8 and all(isinstance(b, int) and 0 <= b < 256 for b in raw)


def _merge(value, ieee):
    """Replace the floats of ``value`` by the exact doubles of the IEEE-754 byte lists of ``ieee``."""
    if isinstance(value, float) and _is_bytes(ieee):
        return _bytes_to_float(ieee)
    if isinstance(value, dict) and isinstance(ieee, dict):
        return {k: _merge(v, ieee[k]) if k in ieee else v for k, v in value.items()}
    if isinstance(value, list) and isinstance(ieee, list) and len(value) == len(ieee):
        return [_merge(v, b) for v, b in zip(value, ieee)]
    return value


_ARRAY = re.compile(r"^array\((.*?)(?:,\s*dtype=\w+)?\)$", re.S)


def _literal(text: str, path: str, node: _Node):
    text = " ".join(text.split())
    match = _ARRAY.match(text)
    try:
        if match:
            return _nested_floats(ast.literal_eval(match.group(1)))
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ValueError(f"{path}, line {node.line}: <{node.tag}> holds {text[:60]!r}, not a Python literal") from None


def _nested_floats(value):
    return [_nested_floats(v) for v in value] if isinstance(value, list) else float(value)


def _value(node: _Node | None, path: str):
    """The Python value stored in an element (relax ≥ 2 ``<value>``/``<ieee_754_byte_array>``, or 1.3 text)."""
    if node is None:
        return None
    holder, ieee_text = node.child("value"), None
    if holder is not None:
        text = "".join(holder.text)
        ieee = node.child("ieee_754_byte_array")
        ieee_text = "".join(ieee.text) if ieee is not None else None
    else:
        text = "".join(node.text)
        ieee_text = node.attrib.get("ieee_754_byte_array")
    value = _literal(text, path, node)
    if ieee_text:
        value = _merge(value, _literal(ieee_text, path, node))
    return value


def _float(node, path, what) -> float:
    value = _value(node, path)
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{path}, line {node.line}: {what} is {value!r}, not a number")
    return float(value)


def _choose_pipe(root: _Node, path: str, pipe: str | None) -> _Node:
    pipes = root.all("pipe")
    names = [p.attrib.get("name") for p in pipes]
    if not pipes:
        raise ValueError(f"{path}: no data pipe in the file")
    if pipe is None:
        if len(pipes) == 1:
            return pipes[0]
        pipe = _value(root.child("current_pipe"), path)
        if pipe is None:
            raise ValueError(f"{path}: {len(pipes)} data pipes {names}; choose one with pipe=")
    if pipe not in names:
        raise ValueError(f"{path}: no data pipe {pipe!r}; pipes: {names}")
    return pipes[names.index(pipe)]


def _measurements(glob: _Node, path: str):
    """(ids, kinds, frequencies in Hz) of the relaxation data, in relax's order (ν₁ first)."""
    ids = _value(glob.child("ri_ids"), path)
    if ids is not None:
        types = _value(glob.child("ri_type"), path) or {}
        frq_node = glob.child("spectrometer_frq")
        frq_node = glob.child("frq") if frq_node is None else frq_node
        frqs = _value(frq_node, path) or {}
        missing = [i for i in ids if i not in types or i not in frqs]
        if missing:
            raise ValueError(f"{path}, line {glob.line}: relaxation data ids {missing} have no type or frequency")
        return list(ids), [types[i] for i in ids], [float(frqs[i]) for i in ids]
    labels = _value(glob.child("ri_labels"), path)
    if labels is None:
        raise ValueError(f"{path}, line {glob.line}: the pipe holds no relaxation data (no ri_ids or ri_labels); "
                         "is it a model-free pipe?")
    frq, remap = _value(glob.child("frq"), path), _value(glob.child("remap_table"), path)
    return list(range(len(labels))), list(labels), [float(frq[k]) for k in remap]


def _spin_points(spin: _Node, ids, path):
    """{id: (value, error)} of one spin, in either layout."""
    data, errors = _value(spin.child("ri_data"), path), _value(spin.child("ri_data_err"), path)
    if data is None and spin.child("relax_data") is not None:          # relax 1.3
        values, errs = _value(spin.child("relax_data"), path), _value(spin.child("relax_error"), path)
        data = dict(enumerate(values or []))
        errors = dict(enumerate(errs or []))
    data, errors = data or {}, errors or {}
    points = {}
    for key in ids:
        value, error = data.get(key), errors.get(key)
        if value is not None:
            if error is None:
                raise ValueError(f"{path}, line {spin.line}: relaxation data {key!r} has a value but no error")
            value, error = float(value), float(error)
            if not math.isfinite(value):
                raise ValueError(f"{path}, line {spin.line}: relaxation data {key!r}: value {value} is not finite")
            if not (math.isfinite(error) and error > 0):
                raise ValueError(f"{path}, line {spin.line}: relaxation data {key!r}: error {error} must be "
                                 "finite and > 0")
            points[key] = (value, error)
    return points


def _is_proton(spin: _Node, path: str) -> bool:
    return (_value(spin.child("isotope"), path) == "1H" or _value(spin.child("element"), path) == "H"
            or spin.attrib.get("name", "").upper().startswith("H"))


def _data_spins(pipe: _Node, path: str, spin_name: str | None):
    """[(label, spin node, molecule)] of the heteronuclear spins, one per residue."""
    rows, seen = [], {}
    for mol in pipe.all("mol"):
        for res in mol.all("res"):
            spins = [s for s in res.all("spin")
                     if (s.attrib.get("name") == spin_name if spin_name is not None else not _is_proton(s, path))]
            if not spins:
                continue
            if len(spins) > 1:
                names = [s.attrib.get("name") for s in spins]
                raise ValueError(f"{path}, line {res.line}: residue {res.attrib.get('num')} has spins {names}; "
                                 "choose one with spin_name=")
            label = f"{res.attrib.get('num')} {res.attrib.get('name')}"
            if label in seen:
                raise ValueError(f"{path}, line {res.line}: residue {label} appears again (first on line {seen[label]}, "
                                 f"molecule {mol.attrib.get('name')!r}); mfjax reads one molecule")
            seen[label] = res.line
            rows.append((label, spins[0], res))
    if not rows:
        raise ValueError(f"{path}: the pipe has no spin containers")
    return rows


def _diffusion(pipe: _Node, path: str, conversions):
    node = pipe.child("diff_tensor")
    if node is None:
        return None
    kind = node.attrib.get("type") or _value(node.child("type"), path)
    get = {name: _float(node.child(name), path, f"diffusion tensor {name}") for name in
           ("tm", "Da", "Dr", "theta", "phi", "alpha", "beta", "gamma") if node.child(name) is not None}
    needs = {"sphere": ("tm",), "spheroid": ("tm", "Da", "theta", "phi"),
             "ellipsoid": ("tm", "Da", "Dr", "alpha", "beta", "gamma")}
    if kind not in needs:
        raise ValueError(f"{path}, line {node.line}: unknown diffusion tensor type {kind!r}")
    missing = [n for n in needs[kind] if math.isnan(get.get(n, math.nan))]
    if missing:
        raise ValueError(f"{path}, line {node.line}: the {kind} diffusion tensor lacks {missing}")
    conversions.append(f"diffusion tensor ({kind}): tm in s, Da in s^-1, angles in rad, as relax stores them "
                       "(unchanged)")
    if kind == "sphere":
        return Sphere(tm=get["tm"])
    if kind == "spheroid":
        return Spheroid(tm=get["tm"], da=get["Da"], theta=get["theta"], phi=get["phi"])
    return Ellipsoid(tm=get["tm"], da=get["Da"], dr=get["Dr"], alpha=get["alpha"], beta=get["beta"], gamma=get["gamma"])


def _residue_number(spin_id: str):
    match = re.search(r":(-?\d+)", spin_id or "")
    return int(match.group(1)) if match else None


def read_relax_results(path, pipe: str | None = None, spin_name: str | None = None) -> RelaxResults:
    """Read a relax results or saved-state file (plain, .gz or .bz2) of a model-free analysis.

    pipe: the data pipe to read (default: the only one, or the state's current pipe); spin_name: the spin
    holding the data in each residue (default: the residue's one non-proton spin). Residues are labelled
    "num name" as relax names them (e.g. "9 Gln"), in file order. Rex is converted from relax's
    ρex = Rex/(2πν₁)² to s^-1 at ν₁ and frequencies from Hz to MHz (see ``conversions``).
    """
    path = os.fspath(path)
    root = _parse_tree(path, read_text(path))
    node = _choose_pipe(root, path, pipe)
    glob = node.child("global")
    if glob is None:
        raise ValueError(f"{path}, line {node.line}: the pipe has no <global> element")
    ids, kinds, frqs = _measurements(glob, path)
    conversions = ["spectrometer frequencies: Hz -> MHz (divided by 1e6)"]
    rows = _data_spins(node, path, spin_name)
    nucleus = "15N"
    for _, spin, _ in rows:
        isotope = _value(spin.child("isotope"), path) or _value(spin.child("heteronuc_type"), path)
        if isotope:
            nucleus = isotope
            break
    n, m = len(rows), len(ids)
    values, errors = np.full((n, m), np.nan), np.full((n, m), np.nan)
    mask = np.zeros((n, m), bool)
    for i, (_, spin, _) in enumerate(rows):
        points = _spin_points(spin, ids, path)
        for j, key in enumerate(ids):
            point = points.get(key)
            if point is not None:
                (values[i, j], errors[i, j]), mask[i, j] = point, True
    labels = [label for label, _, _ in rows]
    try:
        experiment = Experiment(kinds, [f / 1e6 for f in frqs], nucleus=nucleus)
        data = RelaxationData(experiment, values, errors, mask, labels)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None

    nu1 = frqs[0]
    rex_factor = (2.0 * math.pi * nu1) ** 2
    conversions.append(f"rex: relax's rho_ex = Rex/(2 pi nu1)^2 (s) -> Rex (s^-1) at nu1 = {nu1 / 1e6:g} MHz "
                       f"(the first ri_id's field), multiplied by (2 pi nu1)^2 = {rex_factor:.6g}")
    params = {p: np.full(n, np.nan) for p in PARAMS}
    errs = {p: np.full(n, np.nan) for p in PARAMS}
    chi2, r, csa = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    vectors = np.full((n, 3), np.nan)
    models, selected = [], np.zeros(n, bool)
    for i, (label, spin, _) in enumerate(rows):
        models.append(_value(spin.child("model"), path))
        selected[i] = bool(_value(spin.child("select"), path))
        for p in PARAMS:
            for target, name in ((params, p), (errs, p + "_err")):
                if spin.child(name) is not None:
                    target[p][i] = _float(spin.child(name), path, f"residue {label}: {name}")
        chi2[i] = _float(spin.child("chi2"), path, f"residue {label}: chi2")
        csa[i] = _float(spin.child("csa"), path, f"residue {label}: csa")
        if spin.child("r") is not None:                            # relax 1.3/2: on the spin
            r[i] = _float(spin.child("r"), path, f"residue {label}: r")
        vector = _value(spin.child("xh_vect"), path)
        if vector is not None:
            vectors[i] = _unit(vector, path, spin.child("xh_vect"), label, conversions)
    params["rex"] *= rex_factor
    errs["rex"] *= rex_factor

    number_to_row = {}
    for i, (_, _, res) in enumerate(rows):
        number_to_row.setdefault(_residue_number(":" + res.attrib.get("num", "")), i)
    for inter in node.all("interatomic"):                         # relax 3+: bond length and vector here
        i = number_to_row.get(_residue_number(inter.attrib.get("spin_id1")))
        if i is None or _residue_number(inter.attrib.get("spin_id2")) != _residue_number(inter.attrib.get("spin_id1")):
            continue
        if inter.child("r") is not None:
            r[i] = _float(inter.child("r"), path, f"residue {labels[i]}: r")
        vector = _value(inter.child("vector"), path)
        if vector is not None:
            vectors[i] = _unit(vector, path, inter.child("vector"), labels[i], conversions)

    chi2_global = _value(glob.child("chi2"), path)
    return RelaxResults(data=data, diffusion=_diffusion(node, path, conversions), vectors=vectors, r=r, csa=csa,
                        models=tuple(models), params=params, errors=errs, chi2=chi2,
                        chi2_global=None if chi2_global is None else float(chi2_global), selected=selected,
                        pipe=node.attrib.get("name"), conversions=conversions)


def _unit(vector, path, node, label, conversions) -> np.ndarray:
    """A stored XH vector as a unit vector; several (one per structure model) are averaged and renormalised."""
    array = np.asarray(vector, dtype=np.float64)
    if array.ndim == 2:
        array = array.mean(axis=0)
        note = "vectors: several per spin (one per structure model) averaged and renormalised"
        if note not in conversions:
            conversions.append(note)
    norm = np.linalg.norm(array) if array.shape == (3,) else 0.0
    if not norm > 0:
        raise ValueError(f"{path}, line {node.line}: residue {label}: bond vector {vector!r} is not a non-zero 3-vector")
    return array / norm
