"""Figures of the paper's study (matplotlib, Agg, PNG): the Fig. 1 difference surfaces, one overview
per grid (every point: recovered, or why not) and the χ² map slices."""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import paper_grids  # noqa: E402
import study_configs  # noqa: E402
import study_rg_dmg as rg  # noqa: E402

CLASS_COLOURS = ("#2ca02c", "#98df8a", "#17becf", "#9467bd", "#d62728", "#ff7f0e", "#bcbd22", "#8c564b", "#7f7f7f")
SLICES = {"RG": dict(fixed=("s2", 0.952), x=("te", paper_grids.TAU_AXIS_PS, "τe (ps)"),
                     y=("rex", paper_grids.REX_AXIS, "Rex (s⁻¹)"), diff="te", diff_scale=1e12, diff_label="Δτe (ps)",
                     z_min=10.0),
          "DMG": dict(fixed=("s2f", 0.698), x=("ts", paper_grids.TAU_AXIS_PS, "τs (ps)"),
                      y=("s2s", paper_grids.ORDER_AXIS, "S2s"), diff="s2f", diff_scale=1.0, diff_label="ΔS2f",
                      z_min=0.01)}   # z_min: the smallest half-range of the z axis (a flat surface stays flat)
ROLES_FIG1 = ("modelfree4", "dasha", "relax", "cnewton")


def _full_grid(grid, pts, key):
    """Per-point array ``key`` of ``pts`` spread over the full grid (NaN where the point was not run)."""
    n = 2640 if grid == "RG" else 1936
    out = np.full(n, np.nan)
    out[pts["indices"]] = pts[key]
    return out


def difference_surfaces(points: dict, path: Path) -> list[str]:
    """Fig. 1: per grid, fitted − true over the paper's slice, one 3-D surface per configuration whose
    role is Modelfree4-, Dasha-style, relax or the new constrained Newton. Returns the configs drawn."""
    configs = [c for c in study_configs.CONFIGS if c.role in ROLES_FIG1 and any((c.name, g) in points for g in SLICES)]
    if not configs:
        return []
    fig = plt.figure(figsize=(max(4.6 * len(configs), 7.0), 8.6))
    for row, (grid, spec) in enumerate(SLICES.items()):
        _, truth, _, _ = rg.load_grid(grid)
        sel = np.isclose(truth[spec["fixed"][0]], spec["fixed"][1], rtol=1e-12, atol=0)
        nearest = lambda axis, v: np.abs(np.asarray(axis)[None, :] - v[:, None]).argmin(axis=1)
        xi = nearest(spec["x"][1], truth[spec["x"][0]][sel] * (1e12 if spec["x"][0] in ("te", "ts") else 1))
        yi = nearest(spec["y"][1], truth[spec["y"][0]][sel])
        for col, config in enumerate(configs):
            ax = fig.add_subplot(2, len(configs), row * len(configs) + col + 1, projection="3d")
            pts = points.get((config.name, grid))
            if pts is None:
                ax.set_title(f"{config.name}\n({grid}: not run)", fontsize=8)
                continue
            diff = (_full_grid(grid, pts, f"fit_{spec['diff']}")[sel] - truth[spec["diff"]][sel]) * spec["diff_scale"]
            Z = np.full((len(spec["y"][1]), len(spec["x"][1])), np.nan)
            Z[yi, xi] = diff
            X, Y = np.meshgrid(np.arange(len(spec["x"][1])), np.arange(len(spec["y"][1])))
            if np.isnan(Z).any():   # a partial run: points, not a surface
                ax.scatter(X[~np.isnan(Z)], Y[~np.isnan(Z)], Z[~np.isnan(Z)], c="k", s=6)
            else:
                ax.plot_surface(X, Y, Z, cmap="coolwarm", linewidth=0.2, edgecolor="k")
            half = max(spec["z_min"], float(np.nanmax(np.abs(diff))) if np.isfinite(diff).any() else 0.0)
            ax.set_zlim(-half, half)
            ax.set_xlabel(spec["x"][2] + " index", fontsize=7)
            ax.set_ylabel(spec["y"][2] + " index", fontsize=7)
            ax.set_zlabel(spec["diff_label"], fontsize=7)
            ax.tick_params(labelsize=6)
            ax.set_title(f"{config.name} ({grid}, {spec['fixed'][0]} = {spec['fixed'][1]})\n"
                         f"max |Δ| = {np.nanmax(np.abs(diff)):.3g}", fontsize=8)
    fig.suptitle("Fig. 1: fitted − true\n(RG: τe at S2 = 0.952; DMG: S2f at S2f = 0.698)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [c.name for c in configs]


def overview(points: dict, grid: str, path: Path) -> list[str]:
    """Every point of ``grid`` for every configuration: recovered, or the failure class (colour)."""
    names = [c.name for c in study_configs.CONFIGS if (c.name, grid) in points]
    if not names:
        return []
    n_tau = len(paper_grids.TAU_AXIS_PS)
    n_outer = len(paper_grids.REX_AXIS) if grid == "RG" else len(paper_grids.ORDER_AXIS)
    n_inner = len(paper_grids.ORDER_AXIS)
    cmap = ListedColormap(CLASS_COLOURS)
    norm = BoundaryNorm(np.arange(len(rg.CLASSES) + 1) - 0.5, cmap.N)
    fig, axes = plt.subplots(len(names), 1, figsize=(13, 0.95 * len(names) + 1.4), squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        codes = _full_grid(grid, points[(name, grid)], "code")
        # grid order: outer (Rex or S2s) slowest, then τ, then the inner order parameter fastest
        image = codes.reshape(n_outer, n_tau, n_inner).transpose(1, 0, 2).reshape(n_tau, n_outer * n_inner)
        ax.imshow(np.ma.masked_invalid(image), cmap=cmap, norm=norm, aspect="auto", origin="lower",
                  interpolation="nearest")
        for k in range(1, n_outer):
            ax.axvline(k * n_inner - 0.5, color="white", lw=0.4)
        n_rec = int(np.nansum(codes == 0))
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=7)
        ax.set_yticks([])
        ax.set_xticks([])
        ax.text(1.002, 0.5, f"{n_rec}/{int(np.sum(~np.isnan(codes)))}", transform=ax.transAxes, fontsize=7, va="center")
    outer = "Rex" if grid == "RG" else "S2s"
    inner = "S2" if grid == "RG" else "S2f"
    axes[-1, 0].set_xlabel(f"blocks: {outer} (left to right, increasing); inside a block: {inner} increasing; "
                           f"rows: τ{'e' if grid == 'RG' else 's'} increasing upwards", fontsize=8)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in CLASS_COLOURS]
    fig.legend(handles, rg.CLASSES, loc="lower center", ncol=len(rg.CLASSES), fontsize=7, frameon=False)
    fig.suptitle(f"{grid}: every point per configuration (number recovered at right)", fontsize=10)
    fig.tight_layout(rect=(0.0, 0.04, 1.0, 0.97))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return names


UNITS = {"te": (1e12, "ps"), "ts": (1e12, "ps"), "local_tm": (1e9, "ns")}


def _label(p):
    scale, unit = UNITS.get(p, (1.0, ""))
    return (f"{p} ({unit})" if unit else p), scale


def map_slices(name, ticks, chi2, params, through, markers, levels, path: Path):
    """Three orthogonal slices of a χ² map through ``through``: log10 χ², contours at ``levels``, markers."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    marker_styles = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
    for ax, (i, j) in zip(axes, ((0, 1), (0, 2), (1, 2))):
        k = 3 - i - j
        at = int(np.argmin(np.abs(ticks[k] - through[params[k]])))
        sl = np.take(chi2, at, axis=k)                         # remaining axes in order (i, j)
        (li, si), (lj, sj) = _label(params[i]), _label(params[j])
        X, Y = np.meshgrid(ticks[i] * si, ticks[j] * sj, indexing="ij")
        mesh = ax.pcolormesh(X, Y, np.log10(np.maximum(sl, 1e-30)), shading="auto", cmap="viridis")
        cs = ax.contour(X, Y, sl, levels=sorted(levels), colors="white", linewidths=0.8)
        ax.clabel(cs, fontsize=6, fmt="%g")
        for m, (label, point) in enumerate(markers.items()):
            if params[i] in point and params[j] in point:
                ax.plot(point[params[i]] * si, point[params[j]] * sj, marker_styles[m % len(marker_styles)],
                        mfc="none", mec="red" if m % 2 else "orange", ms=8, label=label)
        ax.plot(through[params[i]] * si, through[params[j]] * sj, "+", color="white", ms=12)
        lk, sk = _label(params[k])
        ax.set_title(f"{lk} = {ticks[k][at] * sk:.4g}", fontsize=9)
        ax.set_xlabel(li)
        ax.set_ylabel(lj)
        fig.colorbar(mesh, ax=ax, label="log10 χ²")
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), fontsize=7, frameon=False)
    fig.suptitle(f"{name}: χ² map, {chi2.shape[0]}³ points, slices through + (contours: {', '.join(map(str, levels))})",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.08 if handles else 0, 1, 0.95))
    fig.savefig(path, dpi=100)
    plt.close(fig)
