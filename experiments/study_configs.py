"""The configuration table of the paper's optimisation study (d'Auvergne & Gooley 2008): one line per
configuration, name -> the ``mfjax.fit`` keyword arguments and the grid-search increments.

A configuration whose algorithm, line search, Hessian modification or constraint strategy this copy of
mfjax does not know is skipped by the study (``fit`` refuses it with a ValueError before it runs), and
the study's output says which were skipped and why. A new algorithm is added by one line here.

Settings that are not relax's are ours (the precision settings of Modelfree4 and Dasha are not known:
d'Auvergne & Gooley 2008); experiments/results/README.md lists them all.
"""
from __future__ import annotations

from typing import NamedTuple

RELAX = dict(algorithm="newton", line_search="backtrack", hessian_mod="gmw", constraints=True,
             func_tol=1e-25, grad_tol=None, max_iter=10_000_000)
FIRST_ORDER_MAX_ITER = 10_000        # first-order / derivative-free methods: a cap so the study ends
LOW_20 = dict(func_tol=1e-5, max_iter=20)    # our own harsher low-precision setting (not a program's)
# mfjax.fit(preset="modelfree4" / "dasha") (mfjax.solvers.presets) sets func_tol, max_iter and constraints:
# Modelfree4 stand-in |Δχ²| ≤ 1e-6, 200 iterations, steps cut at the bounds; Dasha stand-in |Δχ²| ≤ 1e-8,
# 200 iterations, (distance outside)^6 penalty. Their real tolerances are not published.


class Config(NamedTuple):
    name: str
    grid_inc: int
    kwargs: dict        # mfjax.fit keyword arguments (beyond data, model, diffusion, r, csa, grid_bounds)
    role: str           # "relax", "modelfree4", "dasha", "cnewton", "lowprec" or "" (the rest of the zoo)
    note: str


def _c(name, grid_inc, role="", note="", **changes):
    kwargs = dict(RELAX)
    kwargs.update(changes)
    return Config(name, grid_inc, kwargs, role, note)


_FO = dict(max_iter=FIRST_ORDER_MAX_ITER)   # overridden by a preset where one is given

CONFIGS: list[Config] = [
    # --- the paper's three programs' stand-ins, the new constrained Newton, Newton's variations
    _c("relax", 11, "relax", "relax 1.2: Newton, backtracking, GMW, Method of Multipliers, func_tol 1e-25, 1e7 iterations"),
    _c("projected_newton", 11, "cnewton", "the new constrained Newton (opt-in; docs/constrained_newton.md), at most 100,000 iterations",
       algorithm="projected_newton", max_iter=100_000),
    _c("modelfree4_style", 20, "modelfree4",
       "Levenberg–Marquardt, steps cut flush at the bounds (no sliding), Modelfree4-stand-in precision, 20-increment grid",
       algorithm="lm", hessian_mod=None, line_search="none", preset="modelfree4"),
    _c("dasha_style_newton_cg", 11, "dasha", "Newton–CG, χ² + (distance outside a bound)^6, Dasha-stand-in precision",
       algorithm="newton_cg", hessian_mod=None, preset="dasha"),
    _c("dasha_style_lm", 11, "dasha", "Levenberg–Marquardt, χ² + (distance outside a bound)^6, Dasha-stand-in precision",
       algorithm="lm", hessian_mod=None, line_search="none", preset="dasha"),
    _c("lm_mf4_bounds_relaxprec", 20, note="Levenberg–Marquardt, Modelfree4-style bounds, relax's precision, 20 increments",
       algorithm="lm", hessian_mod=None, line_search="none", constraints="modelfree4"),
    _c("lm_unconstrained", 11, note="Levenberg–Marquardt, no constraints, relax's precision", algorithm="lm",
       hessian_mod=None, line_search="none", constraints="none"),
    _c("relax_lowprec_20it", 11, "lowprec", "relax's optimiser stopped by |Δχ²| ≤ 1e-5 or 20 iterations (ours)", **LOW_20),
    _c("newton_preset_mf4_prec", 11, "lowprec", "relax's optimiser, Modelfree4-stand-in precision (1e-6, 200 it.), MoM",
       func_tol=1e-6, max_iter=200),
    _c("newton_mt_mom", 11, note="Newton, Moré–Thuente, GMW, MoM", line_search="more_thuente"),
    _c("newton_bt_unconstrained", 11, note="Newton, backtracking, GMW, no constraints (100,000 it.: unconstrained paths "
       "off the bounds crawl for 10^7 iterations on some DMG points)", constraints=False, max_iter=100_000),
    _c("newton_nomod_bt_mom", 11, note="Newton, backtracking, no Hessian modification, MoM", hessian_mod=None),
    _c("newton_eigen_bt_mom", 11, note="Newton, eigenvalue Hessian modification, MoM", hessian_mod="eigen"),
    _c("newton_cg_mom", 11, note="Newton–CG, backtracking, MoM", algorithm="newton_cg", hessian_mod=None),
    _c("relax_grid20", 20, note="relax's optimiser from Modelfree4's 20-increment grid"),
    # --- the rest of the algorithm zoo
    _c("newton_chol_bt_mom", 11, note="Newton, Cholesky + multiple of the identity, MoM", hessian_mod="chol"),
    _c("bfgs_bt_mom", 11, note="BFGS, backtracking, MoM", algorithm="bfgs", hessian_mod=None),
    _c("bfgs_mt_mom", 11, note="BFGS, Moré–Thuente, MoM", algorithm="bfgs", hessian_mod=None, line_search="more_thuente"),
    _c("lbfgs_bt_mom", 11, note="L-BFGS (optax direction), backtracking, MoM (10,000 it.)", algorithm="lbfgs",
       hessian_mod=None, **_FO),
    _c("sd_bt_mom", 11, note="steepest descent, backtracking, MoM (10,000 it.)", algorithm="sd", hessian_mod=None, **_FO),
    _c("cd_bt_mom", 11, note="coordinate descent, backtracking, MoM (10,000 it.)", algorithm="cd", hessian_mod=None, **_FO),
    _c("cg_fr_mt_mom", 11, note="CG Fletcher–Reeves, Moré–Thuente, MoM (10,000 it.)", algorithm="fr",
       hessian_mod=None, line_search="more_thuente", **_FO),
    _c("cg_pr_mt_mom", 11, note="CG Polak–Ribière, Moré–Thuente, MoM (10,000 it.)", algorithm="pr",
       hessian_mod=None, line_search="more_thuente", **_FO),
    _c("cg_prplus_mt_mom", 11, note="CG Polak–Ribière+, Moré–Thuente, MoM (10,000 it.)", algorithm="pr+",
       hessian_mod=None, line_search="more_thuente", **_FO),
    _c("cg_hs_mt_mom", 11, note="CG Hestenes–Stiefel, Moré–Thuente, MoM (10,000 it.)", algorithm="hs",
       hessian_mod=None, line_search="more_thuente", **_FO),
    _c("pcg_diag_bt_mom", 11, note="PR+ CG preconditioned by the Hessian's diagonal, MoM (10,000 it.)",
       algorithm="pcg_diag", hessian_mod=None, **_FO),
    _c("gauss_newton_unconstrained", 11, note="Gauss–Newton, backtracking, no constraints", algorithm="gauss_newton",
       hessian_mod=None, constraints="none"),
    _c("annealing_dasha", 11, note="simulated annealing (5,000 proposals, cooling 0.995), Dasha penalty",
       algorithm="annealing", hessian_mod=None, line_search="none", constraints="dasha", **_FO),
    _c("adam_dasha", 11, note="optax Adam (learning rate 0.05, halved every 2,000 steps), Dasha penalty (10,000 it.)",
       algorithm="adam", hessian_mod=None, line_search="none", constraints="dasha", **_FO),
    _c("simplex_dasha", 11, note="Nelder–Mead simplex, Dasha penalty, relax's func_tol (10,000 it.)",
       algorithm="simplex", hessian_mod=None, line_search="none", constraints="dasha", **_FO),
]

BY_NAME = {c.name: c for c in CONFIGS}
assert len(BY_NAME) == len(CONFIGS), "configuration names must be unique"
