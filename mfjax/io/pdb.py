"""XH bond unit vectors from PDB files, labelled like ``RelaxationData``'s residues ("2 ALA").

Coordinates are read from ATOM and HETATM records at the PDB format's fixed columns (wwPDB format 3.3:
atom name 13–16, alternate location 17, residue name 18–20, chain 22, residue number 23–26, insertion code
27, x y z 31–54 in Å). Several MODELs: ``model=None`` averages each residue's X→H unit vector over the
models and renormalises the mean (the direction of the average, as relax's ``structure.get_pos`` /
``interatom.unit_vectors`` with ``ave=True`` do); ``model=k`` takes MODEL k alone. Only the first
alternate location (blank or the first letter met) of an atom is used. Plain, gzip and bzip2 files.
"""
from __future__ import annotations

import os

import numpy as np

from ..data import RelaxationData
from ._files import read_lines

# Proton names accepted for an amide proton: PDB files write "H", older and X-PLOR files "HN".
ALIASES = {"H": ("H", "HN"), "HN": ("HN", "H")}


def _names(atom) -> tuple[str, ...]:
    if isinstance(atom, str):
        return ALIASES.get(atom.strip().upper(), (atom.strip().upper(),))
    return tuple(str(a).strip().upper() for a in atom)


def _models(path: str, heavy: tuple[str, ...], proton: tuple[str, ...], chain):
    """{model number: {(label, chain): {"X"|"H": (xyz, line number)}}} of the wanted atoms."""
    models: dict[int, dict] = {}
    current, implicit = None, 1
    altloc_seen: dict[tuple, str] = {}
    for line_number, line in enumerate(read_lines(path), start=1):
        record = line[:6].strip().upper()
        where = f"{path}, line {line_number}"
        if record == "MODEL":
            try:
                current = int(line[6:].split()[0])
            except (ValueError, IndexError):
                raise ValueError(f"{where}: MODEL record without a model number: {line!r}") from None
            if current in models:
                raise ValueError(f"{where}: MODEL {current} appears twice")
            models[current] = {}
            continue
        if record == "ENDMDL":
            current = None
            continue
        if record not in ("ATOM", "HETATM"):
            continue
        name = line[12:16].strip().upper()
        kind = "X" if name in heavy else "H" if name in proton else None
        if kind is None:
            continue
        if len(line.rstrip()) < 54:
            raise ValueError(f"{where}: {record} record is {len(line.rstrip())} characters long, its "
                             f"coordinates need columns 31–54: {line!r}")
        if chain is not None and line[21].strip() != chain:
            continue
        try:
            xyz = (float(line[30:38]), float(line[38:46]), float(line[46:54]))
            number = int(line[22:26])
        except ValueError:
            raise ValueError(f"{where}: residue number (columns 23–26) or coordinates (31–54) are not numbers: "
                             f"{line!r}") from None
        if not np.all(np.isfinite(xyz)):
            raise ValueError(f"{where}: coordinates are not finite: {line!r}")
        label = f"{number}{line[26].strip()} {line[17:20].strip()}"
        key = (label, line[21].strip())
        model = current if current is not None else implicit
        residues = models.setdefault(model, {})
        altloc = line[16].strip()
        first = altloc_seen.setdefault((model, key, kind), altloc)
        if altloc != first:
            continue                            # a later alternate location of the same atom
        atoms = residues.setdefault(key, {})
        if kind in atoms:
            raise ValueError(f"{where}: residue {label} (chain {key[1] or '-'}) has a second "
                             f"{'/'.join(heavy if kind == 'X' else proton)} atom (first on line {atoms[kind][1]})")
        atoms[kind] = (np.array(xyz), line_number)
    return models


def read_pdb_vectors(path, atoms=("N", "H"), model: int | None = None, chain: str | None = None):
    """``labels, vectors = read_pdb_vectors("protein.pdb")``: XH unit vectors (n, 3) and residue labels.

    atoms: (heavy atom, proton) names, e.g. ("N", "H") for backbone NH (the proton also matches "HN") or
    ("C", "H") / ("CA", "HA") for CH; each may be a tuple of accepted names. model: None averages the unit
    vectors over all models and renormalises; an integer picks that MODEL. chain: the chain identifier to
    read (needed when several chains hold the atoms). Residues lacking either atom are left out (see
    :func:`vectors_for`). Errors name the file and line (malformed record) or residue (zero-length vector,
    residue absent from some models).
    """
    path = os.fspath(path)
    if len(atoms) != 2:
        raise ValueError(f"atoms must be (heavy atom, proton), e.g. ('N', 'H'), got {atoms!r}")
    heavy, proton = _names(atoms[0]), _names(atoms[1])
    models = _models(path, heavy, proton, chain)
    if model is not None:
        if model not in models:
            raise ValueError(f"{path}: no MODEL {model}; models in the file: {sorted(models) or 'none'}")
        models = {model: models[model]}
    if not models or not any(models.values()):
        raise ValueError(f"{path}: no ATOM/HETATM records of {'/'.join(heavy)} or {'/'.join(proton)}")

    chains = {key[1] for residues in models.values() for key in residues}
    if len(chains) > 1:
        raise ValueError(f"{path}: atoms in chains {sorted(chains)}; choose one with chain=")
    first = next(iter(models.values()))
    keys = [key for key, found in first.items() if len(found) == 2]
    if not keys:
        raise ValueError(f"{path}: no residue has both a {'/'.join(heavy)} and a {'/'.join(proton)} atom")
    vectors = np.zeros((len(keys), 3))
    for k, key in enumerate(keys):
        for number, residues in models.items():
            found = residues.get(key, {})
            if len(found) != 2:
                raise ValueError(f"{path}: residue {key[0]} has both atoms in the first model but not in "
                                 f"MODEL {number}")
            bond = found["H"][0] - found["X"][0]
            length = np.linalg.norm(bond)
            if not length > 0:
                raise ValueError(f"{path}, line {found['H'][1]}: residue {key[0]}: the {'/'.join(heavy)} and "
                                 f"{'/'.join(proton)} atoms are at the same place (zero-length bond vector)")
            vectors[k] += bond / length
        norm = np.linalg.norm(vectors[k])
        if not norm > 1e-12 * len(models):
            raise ValueError(f"{path}: residue {key[0]}: the unit vectors of the models cancel out on average")
        vectors[k] /= norm
    return tuple(key[0] for key in keys), vectors


def vectors_for(data: RelaxationData, labels, vectors, by: str = "label") -> np.ndarray:
    """The (n_residues, 3) vectors of ``data.residues`` in order.

    by: "label" matches "2 ALA" to "2 Ala" (names compared without regard to case); "number" matches the
    residue number alone, as relax does with its spin ids (for data whose residue names differ from the
    structure's). Residues with data must have a vector (ValueError listing those without, and any whose
    name differs in the structure); residues without any data (``data.skipped``) get NaN rows when absent.
    """
    if by not in ("label", "number"):
        raise ValueError(f"by must be 'label' or 'number', got {by!r}")
    vectors = np.asarray(vectors, dtype=np.float64)
    labels = [" ".join(str(label).split()) for label in labels]
    if vectors.shape != (len(labels), 3):
        raise ValueError(f"{len(labels)} labels but vectors have shape {vectors.shape}, expected ({len(labels)}, 3)")

    def key(label):
        return label.split()[0] if by == "number" else label.upper()

    index = {key(label): k for k, label in enumerate(labels)}
    numbers = {label.split()[0]: label for label in labels}
    out = np.full((data.n_residues, 3), np.nan)
    missing, renamed = [], []
    for i, label in enumerate(data.residues):
        label = " ".join(label.split())
        k = index.get(key(label))
        if k is not None:
            out[i] = vectors[k]
        elif data.n_points[i] > 0:
            other = numbers.get(label.split()[0]) if label else None
            (renamed if other else missing).append(f"{label!r} is {other!r} there" if other else repr(label))
    if missing or renamed:
        parts = []
        if missing:
            parts.append(f"no bond vector (both atoms) for {len(missing)} residue(s) with data: {_first(missing)}")
        if renamed:
            parts.append(f"{len(renamed)} residue(s) with data have another name in the structure: {_first(renamed)} "
                         "(by='number' matches residue numbers alone)")
        raise ValueError("; ".join(parts))
    return out


def _first(items, shown=20) -> str:
    return ", ".join(items[:shown]) + (f" and {len(items) - shown} more" if len(items) > shown else "")
