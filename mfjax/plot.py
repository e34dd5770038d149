"""The usual model-free figures, as matplotlib Figures (matplotlib is optional: ``pip install 'mfjax[plot]'``).

- :func:`parameters`: S2, τe, Rex (any parameter) against residue number, with error bars;
- :func:`chi2_map`: log10 χ² of one residue over two parameters (d'Auvergne & Gooley 2008, Figs. 2–3);
- :func:`difference_surface`: fitted − true over a 2-D grid of true values (the paper's Figs. 5–6 kind).

Times are drawn in ps (τe, τf, τs) or ns (local τm); everything else in SI.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

_DISPLAY = {"te": (1e12, "τe (ps)"), "tf": (1e12, "τf (ps)"), "ts": (1e12, "τs (ps)"),
            "local_tm": (1e9, "local τm (ns)"), "rex": (1.0, "Rex (s⁻¹)"), "s2": (1.0, "S²"),
            "s2f": (1.0, "S²f"), "s2s": (1.0, "S²s")}


def _pyplot():
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError("mfjax.plot needs matplotlib: pip install 'mfjax[plot]'") from err
    del matplotlib
    return Figure


def display(name: str) -> tuple[float, str]:
    """(factor from SI, axis label) of a parameter, e.g. ("te") -> (1e12, "τe (ps)")."""
    return _DISPLAY.get(name, (1.0, name))


def residue_numbers(residues: Sequence[str]) -> np.ndarray:
    """The residue numbers of labels like "2 ALA" (their position 1, 2, ... where a label has none)."""
    from .io._files import parse_label
    numbers = [parse_label(label)[0] for label in residues]
    return np.array([k + 1 if num is None else num for k, num in enumerate(numbers)], dtype=np.float64)


def parameters(result, names: Sequence[str] | None = None, errors: Mapping | None = None, title: str | None = None):
    """One panel per parameter (default: every parameter with a fitted value) against residue number, with error bars from
    ``errors`` (name -> (n,) SI, e.g. ``mfjax.monte_carlo(...).errors``). Residues that were not fitted
    (NaN) are left out. Returns the Figure."""
    Figure = _pyplot()
    names = list(names if names is not None else
                 [p for p in result.params if np.isfinite(np.asarray(result.params[p], float)).any()])
    unknown = [p for p in names if p not in result.params]
    if unknown:
        raise ValueError(f"no parameter(s) {unknown} in the result; it has {list(result.params)}")
    x = residue_numbers(result.residues)
    fig = Figure(figsize=(7, 1.9 * len(names) + 0.6), layout="constrained")
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    for ax, name in zip(axes, names):
        factor, label = display(name)
        y = np.asarray(result.params[name], dtype=np.float64) * factor
        err = None
        if errors is not None and name in errors:
            err = np.asarray(errors[name], dtype=np.float64) * factor
        ax.errorbar(x, y, yerr=err, fmt="o", ms=3.5, capsize=2, lw=1)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    from matplotlib.ticker import MaxNLocator
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[-1].set_xlabel("residue number")
    fig.suptitle(title or f"model {result.model}")
    return fig


def chi2_map(x, y, chi2, xname: str, yname: str, best=None, truth=None, title: str | None = None):
    """log10 χ² over the grid ``x`` (nx,) × ``y`` (ny,) (SI; ``chi2`` of shape (ny, nx)) as a coloured map
    with contours; ``best``/``truth``: optional (x, y) points marked. Returns the Figure."""
    Figure = _pyplot()
    x, y, chi2 = (np.asarray(a, dtype=np.float64) for a in (x, y, chi2))
    if chi2.shape != (y.size, x.size):
        raise ValueError(f"chi2 must have shape (len(y), len(x)) = {(y.size, x.size)}, got {chi2.shape}")
    fx, xlabel = display(xname)
    fy, ylabel = display(yname)
    floor = np.nanmin(chi2[chi2 > 0]) if np.any(chi2 > 0) else 1.0
    z = np.log10(np.maximum(chi2, floor))
    fig = Figure(figsize=(6, 4.8), layout="constrained")
    ax = fig.subplots()
    mesh = ax.pcolormesh(x * fx, y * fy, z, shading="nearest", cmap="viridis")
    if np.ptp(z[np.isfinite(z)]) > 0:
        ax.contour(x * fx, y * fy, z, levels=12, colors="white", linewidths=0.5, linestyles="solid")
    fig.colorbar(mesh, ax=ax, label="log10 χ²")
    for point, marker, label in ((best, "x", "fit"), (truth, "+", "truth")):
        if point is not None:
            ax.plot([point[0] * fx], [point[1] * fy], marker, color="red", ms=10, mew=2, label=label)
    if best is not None or truth is not None:
        ax.legend(loc="best")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title or "χ² map")
    return fig


def difference_surface(x, y, fitted, true, xname: str, yname: str, name: str | None = None,
                       title: str | None = None):
    """fitted − true (both (ny, nx), SI) of one parameter over a 2-D grid of true values ``x`` (nx,) ×
    ``y`` (ny,), on a diverging colour scale centred on 0. Returns the Figure."""
    Figure = _pyplot()
    x, y, fitted, true = (np.asarray(a, dtype=np.float64) for a in (x, y, fitted, true))
    if fitted.shape != true.shape or fitted.shape != (y.size, x.size):
        raise ValueError(f"fitted and true must both have shape (len(y), len(x)) = {(y.size, x.size)}, "
                         f"got {fitted.shape} and {true.shape}")
    fx, xlabel = display(xname)
    fy, ylabel = display(yname)
    fz, zlabel = display(name) if name else (1.0, "parameter")
    diff = (fitted - true) * fz
    limit = np.nanmax(np.abs(diff)) if np.any(np.isfinite(diff)) else 1.0
    fig = Figure(figsize=(6, 4.8), layout="constrained")
    ax = fig.subplots()
    mesh = ax.pcolormesh(x * fx, y * fy, diff, shading="nearest", cmap="RdBu_r", vmin=-limit or -1, vmax=limit or 1)
    fig.colorbar(mesh, ax=ax, label=f"fitted − true: {zlabel}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title or "difference surface")
    return fig
