"""Read and write relax's relaxation-data column files, one file per measurement.

Two layouts, recognised per file from its first data line:

- the 4-column form of relax 1.x ``#Num Name Value Error``: ``num name value error``;
- the 7-column form of relax 3–5 ``# mol_name res_num res_name spin_num spin_name value error``, as written
  by relax's ``relax_data.write`` (one molecule; mol_name and spin_num are usually ``None``).

Values are rates in s^-1 (R1, R2) or the NOE; errors the same units. ``num name`` alone (4-column form), or
``None None`` for value and error as relax writes them, means the residue has no value in that file. Lines
starting with ``#`` and blank lines are ignored; plain, gzip and bzip2 files are read.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from ..data import Experiment, RelaxationData
from ._files import atomic_writer, read_lines, split_label

HEADER_4 = "#Num Name  Value                         Error"
HEADER_7 = "# mol_name    res_num    res_name    spin_num    spin_name    value                     error"
_SPIN_NAME = {"15N": "N", "13C": "C"}


def _number(text: str, what: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{where}: {what}") from None


def _parse(path: str) -> dict[tuple[int, str], tuple[float, float] | None]:
    """{(number, name): (value, error) or None for "no data"} of one file, in file order."""
    entries: dict[tuple[int, str], tuple[float, float] | None] = {}
    first_line: dict[int, int] = {}
    width = None                                    # 4 (num name [value error]) or 7 (relax 3–5)
    molecule = None
    for line_number, line in enumerate(read_lines(path), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        where = f"{path}, line {line_number}: {text!r}"
        columns = text.split()
        if width is None:
            width = 7 if len(columns) == 7 else 4
        if width == 7:
            if len(columns) != 7:
                raise ValueError(f"{where}: expected 'mol_name res_num res_name spin_num spin_name value error' "
                                 f"(7 columns, like the file's first data line), got {len(columns)} columns")
            if molecule is None:
                molecule = columns[0]
            elif columns[0] != molecule:
                raise ValueError(f"{where}: molecule {columns[0]!r} after {molecule!r}; "
                                 "mfjax reads one molecule per file")
            columns = [columns[1], columns[2]] + columns[5:]
        elif len(columns) not in (2, 4):
            raise ValueError(f"{where}: expected 'Num Name Value Error' or 'Num Name', "
                             f"got {len(columns)} columns")
        try:
            number = int(columns[0])
        except ValueError:
            raise ValueError(f"{where}: residue number {columns[0]!r} is not an integer") from None
        name = columns[1]
        if number in first_line:
            raise ValueError(f"{where}: residue {number} is listed again (first on line {first_line[number]})")
        first_line[number] = line_number
        if len(columns) == 2 or columns[2:] == ["None", "None"]:
            entries[(number, name)] = None
            continue
        value = _number(columns[2], "value and error must be numbers", where)
        error = _number(columns[3], "value and error must be numbers", where)
        if not np.isfinite(value):
            raise ValueError(f"{where}: value {value} is not finite")
        if not (np.isfinite(error) and error > 0):
            raise ValueError(f"{where}: error {error} must be finite and > 0")
        entries[(number, name)] = (value, error)
    return entries


def read_relax(files: Sequence[tuple[str | os.PathLike, str, float]], nucleus: str = "15N",
               rex_field_mhz: float | None = None) -> RelaxationData:
    """Read relax column files (4- or 7-column form, detected per file) into ``RelaxationData``.

    files: (path, kind, field_mhz) per measurement, in measurement order (like relax's ri_ids: the first
    field is ν₁, the default reference field of Rex); kind "R1", "R2" or "NOE"; field = proton MHz.
    Residues are the union over the files in order of first appearance, labelled "num name"; a residue
    missing from a file, or without values there, is unmeasured (mask False). Residues with no data at all
    are kept and listed in ``data.skipped``. Malformed lines raise ValueError naming file and line.
    """
    files = list(files)
    for entry in files:
        if isinstance(entry, (str, os.PathLike)) or len(entry) != 3:
            raise ValueError(f"each file must be given as (path, kind, field_mhz), got {entry!r}")
    paths = [os.fspath(path) for path, _, _ in files]
    experiment = Experiment([kind for _, kind, _ in files], [field for _, _, field in files],
                            nucleus=nucleus, rex_field_mhz=rex_field_mhz)

    parsed = [_parse(path) for path in paths]
    names: dict[int, tuple[str, str]] = {}          # number -> (name, file it was first seen in)
    for path, entries in zip(paths, parsed):
        for number, name in entries:
            if number not in names:
                names[number] = (name, path)
            elif names[number][0] != name:
                raise ValueError(f"{path}: residue {number} is named {name!r} but {names[number][0]!r} "
                                 f"in {names[number][1]}")
    if not names:
        raise ValueError(f"no residues in the files {paths}")

    numbers = list(names)
    row = {number: i for i, number in enumerate(numbers)}
    shape = (len(numbers), len(files))
    values, errors = np.full(shape, np.nan), np.full(shape, np.nan)
    mask = np.zeros(shape, dtype=bool)
    for j, entries in enumerate(parsed):
        for (number, _), point in entries.items():
            if point is not None:
                i = row[number]
                values[i, j], errors[i, j] = point
                mask[i, j] = True
    labels = [f"{number} {names[number][0]}" for number in numbers]
    return RelaxationData(experiment, values, errors, mask, labels)


def measurement_index(data: RelaxationData, column) -> int:
    """Index of a measurement given as an index or as (kind, field_mhz), e.g. ("R1", 600)."""
    experiment = data.experiment
    if isinstance(column, (int, np.integer)) and not isinstance(column, bool):
        if not 0 <= column < experiment.n_measurements:
            raise ValueError(f"measurement index {column} out of range 0..{experiment.n_measurements - 1}")
        return int(column)
    try:
        kind, field = column
        kind, field = str(kind).upper(), float(field)
    except (TypeError, ValueError):
        raise ValueError(f"measurement must be an index or (kind, field_mhz), got {column!r}") from None
    matches = [j for j, (k, f) in enumerate(zip(experiment.kinds, experiment.fields_mhz)) if k == kind and f == field]
    if len(matches) != 1:
        found = "no" if not matches else f"{len(matches)}"
        raise ValueError(f"{found} measurement(s) {kind} at {field:g} MHz in {experiment!r}; give an index")
    return matches[0]


def write_relax(path, data: RelaxationData, column, form: int = 7) -> None:
    """Write one measurement of ``data`` as a relax column file (``form`` 7: relax 3–5, or 4: relax 1.x).

    column: measurement index or (kind, field_mhz). Labels must be "number name". Values and errors are
    written with Python's repr (shortest exact form), so reading the file back gives the same floats;
    unmeasured residues are written as ``None None``. Compressed by extension (.gz, .bz2).
    """
    j = measurement_index(data, column)
    if form not in (4, 7):
        raise ValueError(f"form must be 4 or 7 (columns), got {form!r}")
    spin = _SPIN_NAME[data.experiment.nucleus]
    with atomic_writer(path) as out:
        out.write((HEADER_7 if form == 7 else HEADER_4) + "\n")
        for i, label in enumerate(data.residues):
            number, name = split_label(label)
            if data.mask[i, j]:
                value, error = repr(float(data.values[i, j])), repr(float(data.errors[i, j]))
            else:
                value, error = "None", "None"
            if form == 7:
                out.write(f"None          {number:<10d} {name:<11s} None        {spin:<12s} {value:<25s} {error}\n")
            else:
                out.write(f"{number:<4d} {name:<5s} {value:<29s} {error}\n")
