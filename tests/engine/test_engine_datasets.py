"""Data sets: seeded, shaped as the engine expects, and clear about bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from app.domain.presets import resolve
from app.domain.protocol import SessionConfigIn
from app.domain.session import TrainingSession
from app.engine import datasets
from app.engine.datasets import DATASET_INFO, from_csv, from_rows, named

TWO_D = [d["name"] for d in DATASET_INFO if d["inputs"] == 2]


def rng(seed=0):
    return np.random.default_rng(seed)


def test_houses_default_is_the_articles_five_houses():
    d = named("houses", None, 0.0, 0.0, False, rng())
    assert d.X.shape == (4, 5)  # 4 features x 5 observations: samples are columns
    assert d.Y.shape == (1, 5)
    assert d.X_test.shape == (4, 0)
    assert ((d.Y > 0) & (d.Y < 1)).all()
    assert ((d.X > 0) & (d.X <= 1)).all()  # features divided into (0, 1] (5 bedrooms / 5)
    assert d.kind == "regression"
    assert len(d.feature_names) == 4
    # no noise: the same five houses whatever the seed
    other = named("houses", None, 0.0, 0.0, False, rng(9))
    assert np.array_equal(d.X, other.X) and np.array_equal(d.Y, other.Y)


@pytest.mark.parametrize("n", [1, 6, 1000])
def test_houses_up_to_1000_samples(n):
    d = named("houses", n, 0.1, 0.0, False, rng())
    assert d.X.shape == (4, n) and d.Y.shape == (1, n)
    assert ((d.Y > 0) & (d.Y < 1)).all()
    assert np.isfinite(d.X).all()


def test_more_than_max_samples_is_refused():
    with pytest.raises(ValueError, match="1000"):
        named("houses", 1001, 0.0, 0.0, False, rng())
    with pytest.raises(ValueError, match="samples"):
        named("xor", 0, 0.0, 0.0, False, rng())


def test_unknown_data_set_is_refused():
    with pytest.raises(ValueError, match="moons"):
        named("moons", None, 0.0, 0.0, False, rng())


@pytest.mark.parametrize("name", [d["name"] for d in DATASET_INFO])
def test_named_sets_are_deterministic_per_seed(name):
    a = named(name, 50, 0.2, 0.2, False, rng(5))
    b = named(name, 50, 0.2, 0.2, False, rng(5))
    for key in ("X", "Y", "X_test", "Y_test"):
        assert np.array_equal(getattr(a, key), getattr(b, key))
    c = named(name, 50, 0.2, 0.2, False, rng(6))
    assert not np.array_equal(np.hstack([a.X, a.X_test]), np.hstack([c.X, c.X_test])) or (
        not np.array_equal(a.Y, c.Y)
    )


@pytest.mark.parametrize("name", TWO_D)
@pytest.mark.parametrize(("samples", "fraction", "n_test"), [(200, 0.2, 40), (50, 0.3, 15)])
def test_two_d_sets_with_a_test_split(name, samples, fraction, n_test):
    d = named(name, samples, 0.1, fraction, False, rng())
    assert d.X.shape == (2, samples - n_test)
    assert d.X_test.shape == (2, n_test)
    info = next(i for i in DATASET_INFO if i["name"] == name)
    outs = info["outputs"]  # 3 for blobs3 and spiral3: one-hot targets
    assert d.Y.shape == (outs, samples - n_test) and d.Y_test.shape == (outs, n_test)
    assert d.kind == info["kind"]
    if d.kind == "classification":
        assert set(np.unique(np.hstack([d.Y, d.Y_test]))) <= {0.0, 1.0}
        assert len(np.unique(d.Y)) == 2
    else:
        assert ((d.Y >= 0) & (d.Y <= 1)).all()
    # the split is a partition of the samples: no sample in both
    train = {tuple(c) for c in d.X.T}
    test = {tuple(c) for c in d.X_test.T}
    assert not train & test


def test_a_test_split_that_leaves_no_training_samples_is_refused():
    with pytest.raises(ValueError, match="test_fraction"):
        named("xor", 1, 0.0, 0.9, False, rng())


@pytest.mark.parametrize("name", ["spiral", "houses", "gauss"])
def test_standardisation_gives_zero_mean_unit_std_on_train(name):
    d = named(name, 120, 0.1, 0.25, True, rng())
    np.testing.assert_allclose(d.X.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(d.X.std(axis=1), 1.0, rtol=1e-12)
    # the test split uses the training statistics: close to, not exactly, standard
    assert d.X_test.shape[1] == 30
    assert not np.allclose(d.X_test.mean(axis=1), 0.0, atol=1e-12)


def test_standardisation_leaves_a_constant_column_finite():
    d = from_rows(
        [[1.0, 5.0], [2.0, 5.0], [4.0, 5.0]], [0.0, 1.0, 0.0], None, None, 0.0, True, rng()
    )
    assert np.isfinite(d.X).all()
    np.testing.assert_array_equal(d.X[1], 0.0)
    np.testing.assert_allclose(d.X[0].std(), 1.0)


def test_session_data_is_deterministic_per_seed():
    cfg = dict(preset="xor", dataset={"name": "spiral", "samples": 60, "test_fraction": 0.2})
    a = TrainingSession(resolve(SessionConfigIn(**cfg))).data()
    b = TrainingSession(resolve(SessionConfigIn(**cfg))).data()
    c = TrainingSession(resolve(SessionConfigIn(**cfg, seed=3))).data()
    assert a == b
    assert a["x"] != c["x"]
    assert len(a["x"]) == 48 and len(a["x_test"]) == 12


# ---- custom rows ----------------------------------------------------------------------------


def rows(x, y, **kw):
    args: dict[str, Any] = dict(
        feature_names=None, target_names=None, test_fraction=0.0, standardize=False
    )
    args |= kw
    return from_rows(x, y, rng=rng(), **args)


def test_custom_rows_become_columns():
    d = rows([[1, 2, 3], [4, 5, 6]], [0.5, 0.25])
    assert d.X.shape == (3, 2) and d.Y.shape == (1, 2)
    np.testing.assert_array_equal(d.X[:, 1], [4, 5, 6])
    assert d.feature_names == ["x1", "x2", "x3"] and d.target_names == ["y"]
    assert d.kind == "regression"
    two = rows([[1], [2]], [[0, 1], [1, 0]])
    assert two.Y.shape == (2, 2) and two.kind == "classification"


@pytest.mark.parametrize(
    ("x", "y", "words"),
    [
        ([[1, 2], [3]], [0, 1], ["row 1", "1 values"]),
        ([[1, 2], [3, 4]], [[0, 1], [1]], ["dataset.y", "row 1"]),
        ([[1, 2], [3, 4]], [0, 1, 1], ["dataset.y", "3 rows"]),
        ([[1, 2], [3, "abc"]], [0, 1], ["row 1", "column 1", "not a number"]),
        ([[1, 2], [3, 4]], [0, "high"], ["dataset.y", "row 1", "not a number"]),
        ([[1, 2], [float("nan"), 4]], [0, 1], ["row 1", "column 0", "finite"]),
        ([[1, 2], [3, 4]], [[0], [float("inf")]], ["dataset.y", "row 1", "finite"]),
        ([[1, 2]] * 1001, [0] * 1001, ["1001 rows", "1000"]),
        ([[0.0] * 65, [1.0] * 65], [0, 1], ["65", "64 columns"]),
        ([], [], ["no rows"]),
        ([[], []], [0, 1], ["columns"]),
    ],
)
def test_bad_custom_rows_are_refused_with_a_clear_message(x, y, words):
    with pytest.raises(ValueError) as err:
        rows(x, y)
    for w in words:
        assert w in str(err.value), str(err.value)


def test_custom_rows_feature_names_must_match():
    with pytest.raises(ValueError, match="feature_names"):
        rows([[1, 2]], [0], feature_names=["a"])


def test_custom_rows_through_a_session():
    cfg = SessionConfigIn(
        preset="article", dataset={"x": [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], "y": [0.1, 0.9, 0.4]}
    )
    s = TrainingSession(resolve(cfg))
    assert s.config.layers == [2, 5, 1]  # input and output widths come from the data
    assert len(s.snapshot()["weights"][0]) == 2


# ---- CSV ------------------------------------------------------------------------------------

CSV = "area,rooms,price\n0.5,0.4,0.3\n0.7,0.6,0.5\n0.2,0.8,0.4\n"


def csv(text, targets=None, **kw):
    return from_csv(text, targets, kw.get("test_fraction", 0.0), False, rng(), **kw.get("max", {}))


def test_csv_last_column_is_the_target_by_default():
    d = csv(CSV)
    assert d.feature_names == ["area", "rooms"] and d.target_names == ["price"]
    assert d.X.shape == (2, 3) and d.Y.shape == (1, 3)
    np.testing.assert_array_equal(d.Y[0], [0.3, 0.5, 0.4])
    named_target = csv(CSV, ["area"])
    assert named_target.feature_names == ["rooms", "price"]
    np.testing.assert_array_equal(named_target.Y[0], [0.5, 0.7, 0.2])


@pytest.mark.parametrize(
    ("text", "targets", "words"),
    [
        ("a,b,y\n1,2,3\n4,5\n", None, ["line 3", "2 values", "header has 3"]),
        ("a,b,y\n1,2,3\n4,x5,6\n", None, ["line 3", "'b'", "not a number"]),
        ("a,b,y\n1,2,nan\n", None, ["line 2", "'y'", "not finite"]),
        ("a,b,y\n1,inf,3\n", None, ["line 2", "'b'", "not finite"]),
        ("a,b,y\n1,2,3\n", ["price"], ["no column named 'price'"]),
        ("a,b,y\n", None, ["header row and at least one data row"]),
        ("y\n1\n2\n", None, ["two columns"]),
        ("a,a,y\n1,2,3\n", None, ["repeated"]),
        ("a,b\n1,2\n", ["a", "b"], ["feature column"]),
        ("h,y\n" + "1,2\n" * 1001, None, ["1001 data rows", "1000"]),
        (",".join(f"c{k}" for k in range(66)) + "\n" + ",".join("1" * 66), None, ["66 columns"]),
    ],
)
def test_bad_csv_is_refused_with_a_clear_message(text, targets, words):
    with pytest.raises(ValueError) as err:
        csv(text, targets)
    for w in words:
        assert w in str(err.value), str(err.value)


def test_csv_line_numbers_count_blank_lines():
    text = "\na,b,y\n1,2,3\n\n4,5,6\n7,oops,9\n"
    with pytest.raises(ValueError, match="line 6") as err:
        csv(text)
    assert "'b'" in str(err.value)
    d = csv("a,b,y\n1,2,3\n\n4,5,6\n")  # blank lines are skipped, not samples
    assert d.X.shape == (2, 2)


def test_csv_through_a_session_with_a_test_split():
    text = "x1,x2,label\n" + "".join(f"{k / 20},{(k * 7 % 20) / 20},{k % 2}\n" for k in range(20))
    cfg = SessionConfigIn(preset="xor", dataset={"csv": text, "test_fraction": 0.25})
    s = TrainingSession(resolve(cfg))
    d = s.data()
    assert d["kind"] == "classification"
    assert len(d["x"]) == 15 and len(d["x_test"]) == 5
    assert d["feature_names"] == ["x1", "x2"] and d["target_names"] == ["label"]


def test_datasets_module_lists_what_it_builds():
    names = {d["name"] for d in DATASET_INFO}
    assert {"houses", "xor", "spiral", "circle"} <= names
    for info in DATASET_INFO:
        d = named(str(info["name"]), None, 0.0, 0.0, False, rng())
        assert d.n_inputs == info["inputs"] and d.n_outputs == info["outputs"]
        assert d.X.shape[1] == info["parameters"]["samples"]  # type: ignore[index]
    assert datasets.HOUSE_UNITS.shape == (4,)
