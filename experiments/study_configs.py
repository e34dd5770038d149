"""The configuration table of the paper's optimisation study (d'Auvergne & Gooley 2008): one line per
configuration, name -> the ``mfjax.fit`` keyword arguments and the grid-search increments.

A configuration whose algorithm, line search, Hessian modification or constraint strategy this copy of
mfjax does not know is skipped by the study (``fit`` refuses it with a ValueError before it runs), and
the study's output says which were skipped and why. A new algorithm is added by one line here.

Settings that are not relax's are ours (the precision settings of Modelfree4 and Dasha are not known:
paper_experiments.md §2); experiments/results/README.md lists them all.
"""
from __future__ import annotations

from typing import NamedTuple

RELAX = dict(algorithm="newton", line_search="backtrack", hessian_mod="gmw", constraints=True,
             func_tol=1e-25, grad_tol=None, max_iter=10_000_000)
FIRST_ORDER_MAX_ITER = 10_000        # first-order / derivative-free methods: a cap so the study ends
LOW_MF4 = dict(func_tol=1e-5, max_iter=20)           # our low-precision stand-in for Modelfree4
LOW_DASHA = dict(func_tol=1e-10, max_iter=200)       # our low-precision stand-in for Dasha


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


_FO = dict(max_iter=FIRST_ORDER_MAX_ITER)

CONFIGS: list[Config] = [
    # --- what mfjax has on main: Newton inside the Method of Multipliers and its variations
    _c("relax", 11, "relax", "relax 1.2: Newton, backtracking, GMW, Method of Multipliers, func_tol 1e-25, 1e7 iterations"),
    _c("newton_mt_mom", 11, note="Newton, Moré–Thuente, GMW, MoM", line_search="more_thuente"),
    _c("newton_bt_unconstrained", 11, note="Newton, backtracking, GMW, no constraints", constraints=False),
    _c("newton_mt_unconstrained", 11, note="Newton, Moré–Thuente, GMW, no constraints", line_search="more_thuente",
       constraints=False),
    _c("newton_nomod_bt_mom", 11, note="Newton, backtracking, no Hessian modification, MoM", hessian_mod=None),
    _c("relax_grid20", 20, note="relax's optimiser from Modelfree4's 20-increment grid"),
    _c("relax_lowprec_mf4", 11, "lowprec", "relax's optimiser with our Modelfree4-like precision", **LOW_MF4),
    _c("relax_lowprec_dasha", 11, "lowprec", "relax's optimiser with our Dasha-like precision", **LOW_DASHA),
    # --- the algorithm zoo (solver-engine issue); skipped where this mfjax does not have them
    _c("newton_eigen_bt_mom", 11, note="Newton, eigenvalue Hessian modification", hessian_mod="eigen"),
    _c("newton_chol_bt_mom", 11, note="Newton, Cholesky + multiple of identity", hessian_mod="chol"),
    _c("newton_cg_mom", 11, note="Newton–CG, MoM", algorithm="newton_cg", hessian_mod=None),
    _c("bfgs_bt_mom", 11, note="BFGS, backtracking, MoM", algorithm="bfgs", hessian_mod=None),
    _c("bfgs_mt_mom", 11, note="BFGS, Moré–Thuente, MoM", algorithm="bfgs", hessian_mod=None,
       line_search="more_thuente"),
    _c("sd_bt_mom", 11, note="steepest descent, backtracking, MoM (10,000 iterations)", algorithm="steepest_descent",
       hessian_mod=None, **_FO),
    _c("cd_bt_mom", 11, note="coordinate descent, backtracking, MoM (10,000 iterations)",
       algorithm="coordinate_descent", hessian_mod=None, **_FO),
    _c("cg_fr_mt_mom", 11, note="CG Fletcher–Reeves, Moré–Thuente, MoM (10,000)", algorithm="cg_fr",
       hessian_mod=None, line_search="more_thuente", **_FO),
    _c("cg_prp_mt_mom", 11, note="CG Polak–Ribière, Moré–Thuente, MoM (10,000)", algorithm="cg_prp",
       hessian_mod=None, line_search="more_thuente", **_FO),
    _c("cg_prpplus_mt_mom", 11, note="CG Polak–Ribière+, Moré–Thuente, MoM (10,000)", algorithm="cg_prp_plus",
       hessian_mod=None, line_search="more_thuente", **_FO),
    _c("cg_hs_mt_mom", 11, note="CG Hestenes–Stiefel, Moré–Thuente, MoM (10,000)", algorithm="cg_hs",
       hessian_mod=None, line_search="more_thuente", **_FO),
    _c("lm_mom", 11, note="Levenberg–Marquardt, MoM", algorithm="lm", hessian_mod=None, line_search="none"),
    _c("gauss_newton_mom", 11, note="Gauss–Newton, backtracking, MoM", algorithm="gauss_newton", hessian_mod=None),
    _c("simplex_mom", 11, note="Nelder–Mead simplex, MoM (10,000)", algorithm="simplex", hessian_mod=None,
       line_search="none", **_FO),
    _c("optax_lbfgs", 11, note="optax L-BFGS, unconstrained (10,000)", algorithm="optax_lbfgs", hessian_mod=None,
       line_search="none", constraints=False, **_FO),
    # --- the paper's programs' stand-ins and the new constrained Newton
    _c("modelfree4_style", 20, "modelfree4",
       "Levenberg–Marquardt, steps cut flush at the bounds, our Modelfree4-like precision, 20-increment grid",
       algorithm="lm", hessian_mod=None, line_search="none", constraints="modelfree4", **LOW_MF4),
    _c("dasha_style_newton_cg", 11, "dasha",
       "Newton–CG, χ² + (distance outside a bound)^6, our Dasha-like precision", algorithm="newton_cg",
       hessian_mod=None, constraints="dasha", **LOW_DASHA),
    _c("dasha_style_lm", 11, "dasha", "Levenberg–Marquardt, χ² + (distance outside a bound)^6, Dasha-like precision",
       algorithm="lm", hessian_mod=None, line_search="none", constraints="dasha", **LOW_DASHA),
    _c("active_set_newton", 11, "cnewton", "the new constrained Newton (opt-in; cnewton branch)",
       algorithm="active_set_newton"),
    _c("lm_mf4_grid20_relaxprec", 20, note="Levenberg–Marquardt, Modelfree4 bounds, relax's precision, 20 increments",
       algorithm="lm", hessian_mod=None, line_search="none", constraints="modelfree4"),
]

BY_NAME = {c.name: c for c in CONFIGS}
assert len(BY_NAME) == len(CONFIGS), "configuration names must be unique"
