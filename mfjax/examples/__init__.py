"""Bundled example data: the d'Auvergne & Gooley (2008) Fig. 2 and Fig. 3 grid points, from relax's test
suite (GPL-3, see each folder's README). 15N, sphere τm = 10 ns, r = 1.02 Å, CSA = −160 ppm.

- "S2_0.970_te_2048_Rex_0.149": residue 2 ALA (model m4 truth S2 0.970, te 2048 ps, Rex 0.149 s^-1 at 600 MHz);
  residue 1 GLY has no data.
- "S2f_0.952_S2s_0.582_ts_32": residue 1 ALA (model m5 truth S2f 0.952, S2s 0.582, ts 32 ps).
"""
from __future__ import annotations

from pathlib import Path

from ..data import RelaxationData
from ..io.relax import read_relax

EXAMPLES = ("S2_0.970_te_2048_Rex_0.149", "S2f_0.952_S2s_0.582_ts_32")
_ORDER = (("r1", "R1", 600.0), ("r2", "R2", 600.0), ("noe", "NOE", 600.0),
          ("r1", "R1", 500.0), ("r2", "R2", 500.0), ("noe", "NOE", 500.0))


def example_files(name: str) -> list[tuple[str, str, float]]:
    """(path, kind, field_mhz) of an example's six files in relax's order: R1, R2, NOE at 600, then at 500 MHz."""
    if name not in EXAMPLES:
        raise ValueError(f"unknown example {name!r}; available: {', '.join(EXAMPLES)}")
    folder = Path(__file__).parent / name
    return [(str(folder / f"{stem}.{field:g}.out"), kind, field) for stem, kind, field in _ORDER]


def load_example(name: str) -> RelaxationData:
    """The example's data (Rex reference field 600 MHz, the first file's, as in relax)."""
    return read_relax(example_files(name), nucleus="15N")
