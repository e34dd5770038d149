"""Model registry, scaling, grid bounds, linear constraints and deconvolution against relax's
(specific_analyses/model_free/model.py parameter order, parameters.py deconvolution and linear
constraints, pipe_control/minimise.py scaling, parameter_object.py grid bounds)."""
import numpy as np
import pytest

from mfjax import models
from mfjax.models import (MODELS, Model, deconvolve, get_model, grid_bounds, linear_constraints,
                          register_model, scaling, units)

TM = 10e-9   # s, the sphere of the reference data sets
# relax writes these constants as products; in binary they differ from the plain literals in the last bit.
LOCAL_TM_MAX = -200.0 * 1e-9 / 1e-12     # b of the local tm <= 200 ns row: -200000.00000000003
assert LOCAL_TM_MAX != -200000.0

# relax's model_map (§2.4), written out by hand.
ORDER = {
    "m0": (), "m1": ("s2",), "m2": ("s2", "te"), "m3": ("s2", "rex"), "m4": ("s2", "te", "rex"),
    "m5": ("s2f", "s2", "ts"), "m6": ("s2f", "tf", "s2", "ts"), "m7": ("s2f", "s2", "ts", "rex"),
    "m8": ("s2f", "tf", "s2", "ts", "rex"), "m9": ("rex",),
    "tm0": ("local_tm",), "tm1": ("local_tm", "s2"), "tm2": ("local_tm", "s2", "te"),
    "tm3": ("local_tm", "s2", "rex"), "tm4": ("local_tm", "s2", "te", "rex"),
    "tm5": ("local_tm", "s2f", "s2", "ts"), "tm6": ("local_tm", "s2f", "tf", "s2", "ts"),
    "tm7": ("local_tm", "s2f", "s2", "ts", "rex"), "tm8": ("local_tm", "s2f", "tf", "s2", "ts", "rex"),
    "tm9": ("local_tm", "rex"),
}
FORM = {"0": "none", "1": "s2", "2": "s2_te", "3": "s2", "4": "s2_te", "5": "s2f_s2_ts",
        "6": "s2f_tf_s2_ts", "7": "s2f_s2_ts", "8": "s2f_tf_s2_ts", "9": "none"}


@pytest.fixture
def registry(monkeypatch):
    """A private copy of the registry so custom models do not leak into other tests."""
    monkeypatch.setattr(models, "MODELS", dict(models.MODELS))
    return models.MODELS


def test_registry_holds_exactly_relax_models_in_relax_order():
    assert set(MODELS) == set(ORDER)
    for name, params in ORDER.items():
        model = get_model(name)
        assert model.name == name
        assert model.params == params
        assert model.n_params == len(params)
        assert model.local_tm == name.startswith("tm")
        assert model.form == FORM[name[-1]]


def test_get_model_passes_models_through_and_refuses_unknown_names():
    m = Model("mine", ("s2", "te"))
    assert get_model(m) is m
    with pytest.raises(ValueError, match=r"unknown model 'm10'.*m0, m1.*tm9"):
        get_model("m10")


def test_units_table():
    assert units("tm8") == ("s", "", "s", "", "s", "s^-1")
    assert get_model("m2").units == ("", "s")


def test_scaling_times_in_ps():
    np.testing.assert_array_equal(scaling("m4"), [1.0, 1e-12, 1.0])
    np.testing.assert_array_equal(scaling("tm6"), [1e-12, 1.0, 1e-12, 1.0, 1e-12])
    assert scaling("m0").shape == (0,)
    assert scaling("m8").dtype == np.float64


def check(model, A_expected, b_expected, tm=TM):
    A, b = linear_constraints(model, tm)
    assert A.dtype == np.float64 and b.dtype == np.float64
    np.testing.assert_array_equal(A, np.array(A_expected, dtype=float))
    np.testing.assert_array_equal(b, np.array(b_expected, dtype=float))


def test_constraints_m4_reference_example():
    # relax specific_analyses/model_free/parameters.py linear_constraints: m4, sphere tm = 10 ns.
    check("m4", [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1]], [0, -1, 0, -20000, 0])


def test_constraints_m5():
    # s2f: 0..1; s2: 0..1, S2 <= S2f; ts >= 0, ts <= 2 tm
    check("m5", [[1, 0, 0], [-1, 0, 0],
                 [0, 1, 0], [0, -1, 0], [1, -1, 0],
                 [0, 0, 1], [0, 0, -1]],
          [0, -1, 0, -1, 0, 0, -20000])


def test_constraints_m6():
    # s2f: 0..1; tf >= 0 (no upper row); s2: 0..1, S2 <= S2f; ts >= 0, tf <= ts, ts <= 2 tm
    check("m6", [[1, 0, 0, 0], [-1, 0, 0, 0],
                 [0, 1, 0, 0],
                 [0, 0, 1, 0], [0, 0, -1, 0], [1, 0, -1, 0],
                 [0, 0, 0, 1], [0, -1, 0, 1], [0, 0, 0, -1]],
          [0, -1, 0, 0, -1, 0, 0, 0, -20000])


def test_constraints_m8_with_other_tm():
    check("m8", [[1, 0, 0, 0, 0], [-1, 0, 0, 0, 0],
                 [0, 1, 0, 0, 0],
                 [0, 0, 1, 0, 0], [0, 0, -1, 0, 0], [1, 0, -1, 0, 0],
                 [0, 0, 0, 1, 0], [0, -1, 0, 1, 0], [0, 0, 0, -1, 0],
                 [0, 0, 0, 0, 1]],
          [0, -1, 0, 0, -1, 0, 0, 0, -2.0 * 8e-9 / 1e-12, 0], tm=8e-9)   # relax: -2·tm/s, = -16000.000000000002


def test_constraints_tm2_uses_local_tm_for_te_limit():
    # local_tm: 0 <= tm <= 200 ns (200000 ps); s2: 0..1; te >= 0, 2 tm - te >= 0
    check("tm2", [[1, 0, 0], [-1, 0, 0],
                  [0, 1, 0], [0, -1, 0],
                  [0, 0, 1], [2, 0, -1]],
          [0, LOCAL_TM_MAX, 0, -1, 0, 0], tm=None)


def test_constraints_tm6():
    check("tm6", [[1, 0, 0, 0, 0], [-1, 0, 0, 0, 0],
                  [0, 1, 0, 0, 0], [0, -1, 0, 0, 0],
                  [0, 0, 1, 0, 0],
                  [0, 0, 0, 1, 0], [0, 0, 0, -1, 0], [0, 1, 0, -1, 0],
                  [0, 0, 0, 0, 1], [0, 0, -1, 0, 1], [2, 0, 0, 0, -1]],
          [0, LOCAL_TM_MAX, 0, -1, 0, 0, -1, 0, 0, 0, 0], tm=None)


def test_constraints_without_time_constants_need_no_tm():
    check("m0", np.zeros((0, 0)), [], tm=None)
    check("m3", [[1, 0], [-1, 0], [0, 1]], [0, -1, 0], tm=None)
    check("m9", [[1]], [0], tm=None)
    check("tm0", [[1], [-1]], [0, LOCAL_TM_MAX], tm=None)


def test_constraints_refuse_missing_or_bad_tm():
    with pytest.raises(ValueError, match=r"'m2'.*tm"):
        linear_constraints("m2")
    with pytest.raises(ValueError, match="positive"):
        linear_constraints("m5", tm=-1e-9)


def test_constraints_feasibility_of_known_points():
    # m4 truth of the Fig. 2 point is feasible; te = 2.5 tm and S2 = 1.1 are not.
    A, b = linear_constraints("m4", TM)
    assert (A @ np.array([0.970, 2048.0, 0.149]) - b).min() >= 0
    assert (A @ np.array([0.970, 25000.0, 0.149]) - b).min() == -5000.0
    assert (A @ np.array([1.1, 2048.0, 0.149]) - b).min() == pytest.approx(-0.1, rel=1e-12)


def test_grid_bounds_relax_defaults():
    lower, upper = grid_bounds("tm8")   # local_tm, s2f, tf, s2, ts, rex
    # relax's literals: 1.0 * 1e-9, 12.0 * 1e-9 and 500.0 * 1e-12 (not 12e-9: they differ in the last bit).
    np.testing.assert_array_equal(lower, [1.0 * 1e-9, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(upper, [12.0 * 1e-9, 1, 500.0 * 1e-12, 1, 500.0 * 1e-12, 5.0])
    assert upper[0] / 1e-12 == 12000.000000000002 and upper[2] / 1e-12 == 500.00000000000006   # relax's scaled grid
    lower, upper = grid_bounds("m4", rex_field_mhz=600.0)
    np.testing.assert_array_equal(upper, [1.0, 500.0 * 1e-12, 5.0])
    with pytest.raises(ValueError, match="rex_field_mhz"):
        grid_bounds("m4", rex_field_mhz=-600.0)


def test_grid_bounds_paper():
    lower, upper = grid_bounds("tm4", "paper")   # local_tm, s2, te, rex
    np.testing.assert_array_equal(lower, [1.0 * 1e-9, 0, 0, 0])
    np.testing.assert_array_equal(upper, [12.0 * 1e-9, 1, 10e-9, 20.0])


def test_grid_bounds_dict_overrides_relax_defaults():
    lower, upper = grid_bounds("m4", {"te": (0, 10e-9), "s2": (0.5, 1.0), "ts": (1e-12, 2e-12)})
    np.testing.assert_array_equal(lower, [0.5, 0, 0])
    np.testing.assert_array_equal(upper, [1.0, 10e-9, 5.0])


@pytest.mark.parametrize("bounds, message", [
    ({"tau": (0, 1)}, "unknown parameter 'tau'"),
    ({"te": (1e-9, 0)}, "lower <= upper"),
    ({"te": 5}, "pair"),
    ("modelfree", "unknown grid bounds"),
])
def test_grid_bounds_refusals(bounds, message):
    with pytest.raises(ValueError, match=message):
        grid_bounds("m4", bounds)


def test_deconvolve_fig3_point():
    out = deconvolve("m5", {"s2f": 0.952, "s2": 0.554064, "ts": 32e-12})
    assert out["s2s"] == pytest.approx(0.582, rel=1e-15)
    assert out["s2"] == 0.554064 and out["ts"] == 32e-12


def test_deconvolve_arrays_and_zero_s2f():
    s2f = np.array([0.952, 0.0, 0.5])
    s2 = np.array([0.554064, 0.0, 0.25])
    out = deconvolve("tm8", {"local_tm": np.full(3, 1e-8), "s2f": s2f, "tf": np.zeros(3), "s2": s2,
                             "ts": np.full(3, 1e-9), "rex": np.zeros(3)})
    np.testing.assert_allclose(out["s2s"], [0.582, 1e99, 0.5], rtol=1e-15)
    assert s2f[1] == 0.0   # input untouched


def test_deconvolve_leaves_single_order_parameter_models_alone():
    params = {"s2": 0.97, "te": 2048e-12, "rex": 0.149}
    assert deconvolve("m4", params) == params


def test_register_custom_model_s2f_s2s(registry):
    model = register_model("m5s", ["s2f", "s2s", "ts"])
    assert get_model("m5s") is registry["m5s"] is model
    assert model.params == ("s2f", "s2s", "ts") and model.form == "s2f_s2s_ts"
    assert register_model("m5s", ("s2f", "s2s", "ts")) == model       # idempotent
    out = deconvolve(model, {"s2f": 0.952, "s2s": 0.582, "ts": 32e-12})
    assert out["s2"] == pytest.approx(0.554064, rel=1e-15)
    # s2f: 0..1; s2s: 0..1 (no S2 rows: s2 is not a parameter); ts >= 0, ts <= 2 tm
    check(model, [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]],
          [0, -1, 0, -1, 0, -20000])


@pytest.mark.parametrize("name, params, message", [
    ("x", ("s2", "tau"), "unknown parameter"),
    ("x", ("s2", "s2"), "more than once"),
    ("x", ("s2", "s2f"), "no spectral density"),
    ("x", ("te",), "no spectral density"),
    ("x", "s2", "not the string"),
    ("", ("s2",), "non-empty"),
    ("m4", ("s2", "te"), "built-in"),
    ("x", ("s2", "local_tm"), "first parameter"),
])
def test_register_model_refusals(registry, name, params, message):
    with pytest.raises(ValueError, match=message):
        register_model(name, params)


def test_register_model_refuses_redefining_custom_model(registry):
    register_model("mine", ("s2",))
    with pytest.raises(ValueError, match="already registered"):
        register_model("mine", ("s2", "te"))
