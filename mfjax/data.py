"""Relaxation data: which rates were measured at which fields (``Experiment``) and the measured values,
errors and mask of every residue (``RelaxationData``, shape [residue, measurement]).

Rates R1, R2 in s^-1, NOE dimensionless; fields are proton frequencies in MHz. Measurement order matters:
the first measurement's field is relax's ν₁, the reference field of Rex (unless ``rex_field_mhz`` is given).
"""
from __future__ import annotations

import numpy as np

from . import sanity

KINDS = ("R1", "R2", "NOE")
NUCLEI = ("15N", "13C")


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.array(array, copy=True)
    array.flags.writeable = False
    return array


class Experiment:
    """The measurements of a data set, in order: ``Experiment(["R1", "R2", "NOE"], [600, 600, 600])``.

    kinds: "R1", "R2" or "NOE" (any case); fields_mhz: proton frequency (MHz) of each measurement;
    nucleus: heteronucleus "15N" or "13C" (the partner is 1H); rex_field_mhz: the field (MHz) at which Rex
    is given, one of the measurement fields, default the first (relax's ν₁).
    """

    def __init__(self, kinds, fields_mhz, nucleus: str = "15N", rex_field_mhz: float | None = None):
        if isinstance(kinds, str):
            raise ValueError(f"kinds must be a sequence of 'R1'/'R2'/'NOE', not the string {kinds!r}")
        kinds = list(kinds)
        normalised = []
        for j, kind in enumerate(kinds):
            key = kind.strip().upper() if isinstance(kind, str) else None
            if key not in KINDS:
                raise ValueError(f"measurement {j + 1}: unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}")
            normalised.append(key)
        if not normalised:
            raise ValueError("an experiment needs at least one measurement")
        try:
            fields = np.array(fields_mhz, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"fields_mhz must be numbers (MHz), got {fields_mhz!r}") from None
        if fields.shape != (len(normalised),):
            raise ValueError(f"{len(normalised)} kinds but fields_mhz has shape {fields.shape}; "
                             "give one field per measurement")
        for j, (kind, field) in enumerate(zip(normalised, fields)):
            if not (np.isfinite(field) and field > 0):
                raise ValueError(f"measurement {j + 1} ({kind}): field must be a positive number of MHz, got {field}")
        sanity.fields(fields)
        if nucleus not in NUCLEI:
            raise ValueError(f"unknown nucleus {nucleus!r}; valid: {', '.join(NUCLEI)}")

        self.kinds: tuple[str, ...] = tuple(normalised)
        self.fields_mhz: np.ndarray = _readonly(fields)
        self.nucleus: str = nucleus
        unique, first, index = np.unique(fields, return_index=True, return_inverse=True)
        order = np.argsort(first)                         # distinct fields in order of first appearance
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        self.unique_fields_mhz: np.ndarray = _readonly(unique[order])
        self.field_index: np.ndarray = _readonly(rank[index.reshape(-1)].astype(np.int64))
        self.n_measurements: int = len(normalised)

        if rex_field_mhz is None:
            self.rex_field_mhz: float = float(fields[0])
        else:
            try:
                value = float(rex_field_mhz)
            except (TypeError, ValueError):
                raise ValueError(f"rex_field_mhz must be a number (MHz), got {rex_field_mhz!r}") from None
            match = np.isclose(self.unique_fields_mhz, value, rtol=1e-12, atol=0.0)
            if not match.any():
                raise ValueError(f"rex_field_mhz {value:g} MHz is not one of the experiment's fields "
                                 f"({', '.join(f'{f:g}' for f in self.unique_fields_mhz)} MHz); "
                                 "Rex is given at a measured field, as in relax")
            self.rex_field_mhz = float(self.unique_fields_mhz[match.argmax()])

    @property
    def labels(self) -> tuple[str, ...]:
        """One label per measurement, e.g. "R1 at 600 MHz"."""
        return tuple(f"{kind} at {field:g} MHz" for kind, field in zip(self.kinds, self.fields_mhz))

    def __eq__(self, other):
        return (isinstance(other, Experiment) and self.kinds == other.kinds and self.nucleus == other.nucleus
                and np.array_equal(self.fields_mhz, other.fields_mhz) and self.rex_field_mhz == other.rex_field_mhz)

    __hash__ = None

    def __repr__(self):
        measured = ", ".join(f"{k} {f:g}" for k, f in zip(self.kinds, self.fields_mhz))
        return f"Experiment([{measured}] MHz, nucleus={self.nucleus}, rex_field_mhz={self.rex_field_mhz:g})"


class RelaxationData:
    """Measured values and errors of n residues × m measurements of an ``Experiment``.

    values, errors: (n, m) (R1, R2 in s^-1, NOE dimensionless); mask: (n, m) bool, True = measured
    (None: everything measured); residues: n distinct labels (default "1", "2", ...). Measured points need
    finite values and finite errors > 0; unmeasured slots may hold anything (NaN included). Residues without
    any measured point are kept and listed in ``skipped``. Arrays are stored as read-only float64 copies.
    """

    def __init__(self, experiment: Experiment, values, errors, mask=None, residues=None):
        if not isinstance(experiment, Experiment):
            raise ValueError(f"experiment must be an mfjax Experiment, got {type(experiment).__name__}")
        m = experiment.n_measurements
        values = self._array("values", values, m)
        errors = self._array("errors", errors, m)
        n = values.shape[0]
        if errors.shape != values.shape:
            raise ValueError(f"errors have shape {errors.shape} but values have shape {values.shape}")
        if n == 0:
            raise ValueError("relaxation data need at least one residue")

        if mask is None:
            mask = np.ones((n, m), dtype=bool)
        else:
            mask = np.asarray(mask)
            if mask.shape != (n, m):
                raise ValueError(f"mask has shape {mask.shape}, expected {(n, m)} like values")
            if mask.dtype != bool:
                if not (np.issubdtype(mask.dtype, np.number) and np.isin(mask, (0, 1)).all()):
                    raise ValueError(f"mask must be booleans (True = measured), got dtype {mask.dtype}")
                mask = mask.astype(bool)

        if residues is None:
            residues = tuple(str(i + 1) for i in range(n))
        else:
            if isinstance(residues, str):
                raise ValueError(f"residues must be a sequence of labels, not the string {residues!r}")
            residues = tuple(str(label) for label in residues)
            if len(residues) != n:
                raise ValueError(f"{len(residues)} residue labels for {n} rows of values")
            seen = set()
            for label in residues:
                if label in seen:
                    raise ValueError(f"residue label {label!r} appears more than once")
                seen.add(label)

        self.experiment = experiment
        self.residues: tuple[str, ...] = residues
        self._check_points("value", ~np.isfinite(values) & mask, values, experiment, residues, "is not finite")
        self._check_points("error", ~(np.isfinite(errors) & (errors > 0)) & mask, errors, experiment, residues,
                           "must be finite and > 0")
        self.values: np.ndarray = _readonly(values)
        self.errors: np.ndarray = _readonly(errors)
        self.mask: np.ndarray = _readonly(mask)
        self.n_points: np.ndarray = _readonly(mask.sum(axis=1).astype(np.int64))

    @staticmethod
    def _array(name, array, m) -> np.ndarray:
        try:
            array = np.array(array, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be numbers") from None
        if array.ndim != 2 or array.shape[1] != m:
            raise ValueError(f"{name} must have shape (n_residues, {m}) for {m} measurements, got {array.shape}")
        return array

    @staticmethod
    def _check_points(what, bad, array, experiment, residues, reason):
        if not bad.any():
            return
        i, j = np.argwhere(bad)[0]
        more = int(bad.sum()) - 1
        tail = f" (and {more} more bad point{'s' if more > 1 else ''})" if more else ""
        raise ValueError(f"residue {residues[i]!r}, measurement {j + 1} ({experiment.labels[j]}): "
                         f"{what} is {array[i, j]:g}, {reason}{tail}")

    @property
    def n_residues(self) -> int:
        return len(self.residues)

    @property
    def skipped(self) -> tuple[str, ...]:
        """Labels of residues with no measured point (they cannot be fitted)."""
        return tuple(label for label, k in zip(self.residues, self.n_points) if k == 0)

    def subset(self, indices) -> "RelaxationData":
        """The residues selected by ``indices`` (integers, a slice or a boolean array), in that order."""
        rows = np.arange(self.n_residues)[indices]
        rows = np.atleast_1d(rows)
        return RelaxationData(self.experiment, self.values[rows], self.errors[rows], self.mask[rows],
                              [self.residues[r] for r in rows])

    def __repr__(self):
        skipped = f", {len(self.skipped)} without data" if self.skipped else ""
        return (f"RelaxationData({self.n_residues} residues × {self.experiment.n_measurements} measurements, "
                f"{int(self.n_points.sum())} points{skipped}; {self.experiment!r})")
