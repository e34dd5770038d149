"""Read relax's relaxation-data column files (``#Num Name Value Error``), one file per measurement.

A data line is ``num name value error`` (residue number, residue name, rate in s^-1 or NOE, error);
``num name`` alone, or ``num name None None`` as relax writes it, means the residue has no value in that
file. Lines starting with ``#`` and blank lines are ignored.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from ..data import Experiment, RelaxationData


def _parse(path: str) -> dict[tuple[int, str], tuple[float, float] | None]:
    """{(number, name): (value, error) or None for "no data"} of one file, in file order."""
    entries: dict[tuple[int, str], tuple[float, float] | None] = {}
    first_line: dict[int, int] = {}
    with open(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            where = f"{path}, line {line_number}: {text!r}"
            columns = text.split()
            if len(columns) not in (2, 4):
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
            try:
                value, error = float(columns[2]), float(columns[3])
            except ValueError:
                raise ValueError(f"{where}: value and error must be numbers") from None
            if not np.isfinite(value):
                raise ValueError(f"{where}: value {value} is not finite")
            if not (np.isfinite(error) and error > 0):
                raise ValueError(f"{where}: error {error} must be finite and > 0")
            entries[(number, name)] = (value, error)
    return entries


def read_relax(files: Sequence[tuple[str | os.PathLike, str, float]], nucleus: str = "15N",
               rex_field_mhz: float | None = None) -> RelaxationData:
    """Read relax column files into ``RelaxationData``.

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
