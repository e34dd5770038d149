"""Experiment and RelaxationData: normalisation, field bookkeeping (relax's remap table, §1.4) and refusals."""
import numpy as np
import pytest

from mfjax.data import Experiment, RelaxationData

KINDS = ["R1", "R2", "NOE", "R1", "R2", "NOE"]
FIELDS = [600.0, 600.0, 600.0, 500.0, 500.0, 500.0]


@pytest.fixture
def exp():
    return Experiment(KINDS, FIELDS)


def test_experiment_normalises_kinds_and_maps_fields():
    e = Experiment(["r1", " noe", "R2", "Noe", "r1"], [500, 800, 500, 500.0, 600])
    assert e.kinds == ("R1", "NOE", "R2", "NOE", "R1")
    assert e.fields_mhz.dtype == np.float64
    np.testing.assert_array_equal(e.fields_mhz, [500, 800, 500, 500, 600])
    np.testing.assert_array_equal(e.unique_fields_mhz, [500, 800, 600])      # order of first appearance
    np.testing.assert_array_equal(e.field_index, [0, 1, 0, 0, 2])
    assert e.n_measurements == 5 and e.nucleus == "15N"
    assert e.rex_field_mhz == 500.0                                       # relax's ν₁: the first field
    assert e.labels[1] == "NOE at 800 MHz"


def test_experiment_rex_field_and_nucleus(exp):
    assert exp.rex_field_mhz == 600.0
    e = Experiment(KINDS, FIELDS, nucleus="13C", rex_field_mhz=500)
    assert e.rex_field_mhz == 500.0 and isinstance(e.rex_field_mhz, float) and e.nucleus == "13C"
    np.testing.assert_array_equal(e.field_index, [0, 0, 0, 1, 1, 1])
    assert e != exp and Experiment(KINDS, FIELDS) == exp


@pytest.mark.parametrize("args, kwargs, message", [
    ((["R1", "T1rho"], [600, 600]), {}, r"measurement 2: unknown kind 'T1rho'; valid kinds: R1, R2, NOE"),
    ((["R1", 2], [600, 600]), {}, "unknown kind 2"),
    (("R1", [600]), {}, "not the string"),
    (([], []), {}, "at least one"),
    ((["R1", "R2"], [600]), {}, r"2 kinds but fields_mhz has shape \(1,\)"),
    ((["R1", "R2"], [600, 0]), {}, r"measurement 2 \(R2\): field must be a positive"),
    ((["R1", "R2"], [600, -500]), {}, "positive"),
    ((["R1", "R2"], [600, np.nan]), {}, "positive"),
    ((["R1", "R2"], [600, np.inf]), {}, "positive"),
    ((["R1", "R2"], [600, "high"]), {}, "must be numbers"),
    ((["R1"], [600]), {"nucleus": "1H"}, "unknown nucleus '1H'; valid: 15N, 13C"),
    ((["R1"], [600]), {"rex_field_mhz": 800}, r"800 MHz is not one of the experiment's fields \(600 MHz\)"),
])
def test_experiment_refusals(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        Experiment(*args, **kwargs)


def make(exp, n=2):
    values = np.arange(1.0, 1.0 + n * 6).reshape(n, 6)
    errors = 0.1 * values
    return values, errors


def test_relaxation_data_stores_read_only_copies(exp):
    values, errors = make(exp)
    data = RelaxationData(exp, values, errors, residues=["1 GLY", "2 ALA"])
    values[0, 0] = 99.0
    errors[0, 0] = 99.0
    assert data.values[0, 0] == 1.0 and data.errors[0, 0] == pytest.approx(0.1)
    assert data.values.dtype == data.errors.dtype == np.float64 and data.mask.dtype == bool
    for array in (data.values, data.errors, data.mask, data.n_points):
        with pytest.raises(ValueError):
            array[0] = 0
    assert data.mask.all() and data.mask.shape == (2, 6)          # mask None: everything measured
    np.testing.assert_array_equal(data.n_points, [6, 6])
    assert data.n_residues == 2 and data.residues == ("1 GLY", "2 ALA") and data.skipped == ()
    assert data.experiment is exp


def test_default_labels_mask_and_skipped(exp):
    values, errors = make(exp, 3)
    values[0] = np.nan                       # unmeasured slots may hold NaN
    errors[0] = 0.0
    mask = np.array([[0] * 6, [1, 1, 0, 1, 1, 1], [1] * 6])   # 0/1 integers are accepted
    data = RelaxationData(exp, values, errors, mask)
    assert data.residues == ("1", "2", "3")
    np.testing.assert_array_equal(data.n_points, [0, 5, 6])
    assert data.skipped == ("1",)
    assert repr(data).startswith("RelaxationData(3 residues × 6 measurements, 11 points, 1 without data")


def test_subset(exp):
    values, errors = make(exp, 3)
    mask = np.ones((3, 6), bool)
    mask[1, 4] = False
    data = RelaxationData(exp, values, errors, mask, ["a", "b", "c"])
    sub = data.subset([2, 1])
    assert sub.residues == ("c", "b")
    np.testing.assert_array_equal(sub.values, values[[2, 1]])
    np.testing.assert_array_equal(sub.n_points, [6, 5])
    assert data.subset(np.array([False, True, False])).residues == ("b",)
    assert data.subset(0).residues == ("a",)
    assert data.subset(slice(1, None)).residues == ("b", "c")


@pytest.mark.parametrize("where, value, message", [
    ("errors", 0.0, r"residue '2 ALA', measurement 4 \(R1 at 500 MHz\): error is 0, must be finite and > 0"),
    ("errors", -0.1, r"residue '2 ALA', measurement 4 \(R1 at 500 MHz\): error is -0.1"),
    ("errors", np.nan, r"'2 ALA', measurement 4 .*error is nan"),
    ("errors", np.inf, r"'2 ALA', measurement 4 .*error is inf"),
    ("values", np.nan, r"residue '2 ALA', measurement 4 \(R1 at 500 MHz\): value is nan, is not finite"),
    ("values", -np.inf, r"'2 ALA', measurement 4 .*value is -inf"),
])
def test_bad_measured_points_are_refused_by_name(exp, where, value, message):
    arrays = dict(zip(("values", "errors"), make(exp)))
    arrays[where][1, 3] = value
    with pytest.raises(ValueError, match=message):
        RelaxationData(exp, arrays["values"], arrays["errors"], residues=["1 GLY", "2 ALA"])
    mask = np.ones((2, 6), bool)
    mask[1, 3] = False                      # the same point unmeasured is fine
    RelaxationData(exp, arrays["values"], arrays["errors"], mask, residues=["1 GLY", "2 ALA"])


def test_bad_point_message_counts_the_others(exp):
    values, errors = make(exp)
    errors[0, :3] = 0.0
    with pytest.raises(ValueError, match=r"residue '1', measurement 1 .*\(and 2 more bad points\)"):
        RelaxationData(exp, values, errors)


@pytest.mark.parametrize("change, message", [
    (lambda v, e, m, r: (v[0], e, m, r), r"values must have shape \(n_residues, 6\)"),
    (lambda v, e, m, r: (v[:, :5], e[:, :5], m, r), r"values must have shape \(n_residues, 6\) .* got \(2, 5\)"),
    (lambda v, e, m, r: (v, e[:1], m, r), r"errors have shape \(1, 6\) but values have shape \(2, 6\)"),
    (lambda v, e, m, r: (v[:0], e[:0], m, r), "at least one residue"),
    (lambda v, e, m, r: (v, e, m[:1], r), r"mask has shape \(1, 6\), expected \(2, 6\)"),
    (lambda v, e, m, r: (v, e, m * 2, r), "mask must be booleans"),
    (lambda v, e, m, r: (v, e, m, ["1", "1"]), "residue label '1' appears more than once"),
    (lambda v, e, m, r: (v, e, m, ["1"]), "1 residue labels for 2 rows"),
    (lambda v, e, m, r: (v, e, m, "12"), "not the string"),
    (lambda v, e, m, r: ([["a"] * 6] * 2, e, m, r), "values must be numbers"),
])
def test_relaxation_data_refusals(exp, change, message):
    values, errors = make(exp)
    mask = np.ones((2, 6), dtype=np.int64)
    v, e, m, r = change(values, errors, mask, None)
    with pytest.raises(ValueError, match=message):
        RelaxationData(exp, v, e, m, r)


def test_relaxation_data_needs_an_experiment():
    with pytest.raises(ValueError, match="must be an mfjax Experiment"):
        RelaxationData(("R1",), [[1.0]], [[0.1]])
