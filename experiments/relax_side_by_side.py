"""relax's own results for issue 8's reproduction runs, run side by side (a relax script, not an mfjax one).

Steepest descent, coordinate descent and BFGS with backtracking and with Moré–Thuente, and Newton–GMW with
Moré–Thuente, on the d'Auvergne & Gooley (2008) Fig. 2 point (relax's test-suite data
S2_0.970_te_2048_Rex_0.149, spin :2@N) from S2 = 1, τe = 0, Rex = 0 with the Method of Multipliers
(constraints=True), without a grid search, as relax's system tests
(test_suite/system_tests/model_free.py, test_opt_constr_*_S2_0_970_te_2048_Rex_0_149) run them.
tests/test_zoo_relax.py holds the printed numbers; it does not need this script.

Run it with relax itself (relax is a checking tool only), e.g. with relax and minfx checked out under
RELAX and MINFX and a virtual environment with numpy==1.26.4 and scipy==1.13.1:

    cd RELAX && PYTHONPATH=MINFX VENV/bin/python relax PATH/TO/experiments/relax_side_by_side.py

DATA (the folder with r1.600.out, ... noe.500.out) defaults to relax's own test-suite copy; set the
environment variable FIG2_DATA to use another. It prints one JSON line per run, prefixed "RESULT ", with
te in ps and Rex in s^-1 at 600 MHz, and the full-precision repr of every number.
"""
import json
import os
import sys
from math import pi
from os import sep

from status import Status

status = Status()
DATA = os.environ.get("FIG2_DATA", status.install_path + sep + "test_suite" + sep + "shared_data" + sep
                      + "model_free" + sep + "S2_0.970_te_2048_Rex_0.149")

RUNS = [("sd", "back", 50), ("sd", "mt", 50), ("cd", "back", 50), ("cd", "mt", None),
        ("bfgs", "back", None), ("bfgs", "mt", None), ("newton", "mt", None)]


def setup():
    """relax's opt_setup_S2_0_970_te_2048_Rex_0_149.py, with its literal constants."""
    sequence.read('noe.500.out', dir=DATA, res_num_col=1, res_name_col=2)
    for ri_id, ri_type, frq, fname in [('R1_600', 'R1', 600.0 * 1e6, 'r1.600.out'),
                                       ('R2_600', 'R2', 600.0 * 1e6, 'r2.600.out'),
                                       ('NOE_600', 'NOE', 600.0 * 1e6, 'noe.600.out'),
                                       ('R1_500', 'R1', 500.0 * 1e6, 'r1.500.out'),
                                       ('R2_500', 'R2', 500.0 * 1e6, 'r2.500.out'),
                                       ('NOE_500', 'NOE', 500.0 * 1e6, 'noe.500.out')]:
        relax_data.read(ri_id=ri_id, ri_type=ri_type, frq=frq, file=fname, dir=DATA, res_num_col=1,
                        res_name_col=2, data_col=3, error_col=4)
    diffusion_tensor.init(10e-9, fixed=True)
    spin.name('N')
    spin.element('N')
    sequence.attach_protons()
    interatom.define(spin_id1='@N', spin_id2='@H', direct_bond=True)
    interatom.set_dist(spin_id1='@N', spin_id2='@H', ave_dist=1.02 * 1e-10)
    value.set(-160 * 1e-6, 'csa')
    spin.isotope('15N', spin_id='@N')
    spin.isotope('1H', spin_id='@H')
    model_free.select_model(model='m4')


for algor, line_search, max_iter in RUNS:
    reset()
    pipe.create('fig2', 'mf')
    setup()
    value.set([1.0, 0.0, 0.0], ['s2', 'te', 'rex'])
    kwargs = {} if max_iter is None else {'max_iter': max_iter}
    if algor == 'newton':
        minimise.execute('newton', 'gmw', line_search, constraints=True, **kwargs)
    else:
        minimise.execute(algor, line_search, constraints=True, **kwargs)
    sp = cdp.mol[0].res[1].spin[0]
    rex600 = sp.rex * (2.0 * pi * cdp.spectrometer_frq[cdp.ri_ids[0]]) ** 2   # as relax's value_test
    out = {"algorithm": algor, "line_search": line_search, "max_iter": max_iter if max_iter else 10000000,
           "s2": repr(sp.s2), "te_ps": repr(sp.te / 1e-12), "rex_600": repr(rex600), "rex_relax": repr(sp.rex),
           "chi2": repr(sp.chi2), "iter": sp.iter, "f_count": sp.f_count, "g_count": sp.g_count,
           "h_count": sp.h_count, "warning": sp.warning}
    sys.stdout.write("RESULT " + json.dumps(out) + "\n")
    sys.stdout.flush()
