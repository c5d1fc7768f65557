"""Seeded data sets: the article's houses, Playground-style 2D sets, and custom data."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Array = np.ndarray

# The article's dummy data: 5 houses, features in everyday units.
HOUSE_FEATURES = ["area ÷ 3000 sq ft", "bedrooms ÷ 5", "age ÷ 50 years", "distance ÷ 20 km"]
HOUSE_ROWS = [
    # area sq ft, bedrooms, age years, distance km, price $k
    (1400, 3, 20, 8, 245),
    (2100, 4, 5, 12, 390),
    (1750, 3, 35, 3, 310),
    (2600, 5, 10, 15, 455),
    (1100, 2, 45, 6, 180),
]
# Features divided by these so they sit in (0, 1): U(0, 1) weights then leave the sigmoid
# hidden units out of saturation and the article's net visibly learns within 300 steps.
HOUSE_UNITS = np.array([3000.0, 5.0, 50.0, 20.0])
PRICE_SCALE = 1000.0  # $k -> prices in (0, 1) as fractions of $1M

DATASET_INFO: list[dict[str, object]] = [
    {"name": "houses", "kind": "regression", "inputs": 4, "outputs": 1,
     "parameters": {"samples": 5, "noise": 0.0, "max_samples": 1000}},
    {"name": "xor", "kind": "classification", "inputs": 2, "outputs": 1,
     "parameters": {"samples": 200, "noise": 0.0, "test_fraction": 0.0}},
    {"name": "circle", "kind": "classification", "inputs": 2, "outputs": 1,
     "parameters": {"samples": 200, "noise": 0.0, "test_fraction": 0.0}},
    {"name": "gauss", "kind": "classification", "inputs": 2, "outputs": 1,
     "parameters": {"samples": 200, "noise": 0.0, "test_fraction": 0.0}},
    {"name": "spiral", "kind": "classification", "inputs": 2, "outputs": 1,
     "parameters": {"samples": 200, "noise": 0.0, "test_fraction": 0.0}},
    {"name": "plane", "kind": "regression", "inputs": 2, "outputs": 1,
     "parameters": {"samples": 200, "noise": 0.0, "test_fraction": 0.0}},
    {"name": "multi_gauss", "kind": "regression", "inputs": 2, "outputs": 1,
     "parameters": {"samples": 200, "noise": 0.0, "test_fraction": 0.0}},
    {"name": "blobs3", "kind": "classification", "inputs": 2, "outputs": 3,
     "parameters": {"samples": 240, "noise": 0.0, "test_fraction": 0.0}},
    {"name": "spiral3", "kind": "classification", "inputs": 2, "outputs": 3,
     "parameters": {"samples": 300, "noise": 0.0, "test_fraction": 0.0}},
]  # fmt: skip
CLASSES3 = ("blobs3", "spiral3")  # three classes: one-hot targets, one output per class


@dataclass
class Dataset:
    """Samples are columns: X is (features, n), Y is (outputs, n); test split apart."""

    name: str
    kind: str  # "regression" | "classification"
    X: Array
    Y: Array
    X_test: Array
    Y_test: Array
    feature_names: list[str]
    target_names: list[str]
    # Original units: y = min + Y (max - min), per output (a float when there is one output).
    target_scale: dict[str, Any] | None = None
    extra: dict[str, object] = field(default_factory=dict)
    # Standardised inputs: x = mean + X std, per feature; None when the inputs are as given.
    input_scale: dict[str, list[float]] | None = None
    targets_scaled: bool = False

    @property
    def n_inputs(self) -> int:
        """Number of features."""
        return int(self.X.shape[0])

    @property
    def n_outputs(self) -> int:
        """Number of targets."""
        return int(self.Y.shape[0])


def _houses(n: int, noise: float, rng: np.random.Generator) -> tuple[Array, Array]:
    """The article's 5 houses, or n generated like them; rows are samples."""
    if n <= len(HOUSE_ROWS):
        base = np.array(HOUSE_ROWS[:n], dtype=float)
        x, price = base[:, :4], base[:, 4]
        price = price + noise * 30.0 * rng.standard_normal(n)
    else:
        area = rng.uniform(800, 2900, n)
        beds = np.clip(np.round(area / 650 + rng.integers(-1, 2, n)), 1, 6)
        age = rng.uniform(0, 50, n)
        dist = rng.uniform(1, 20, n)
        x = np.column_stack([area, beds, age, dist])
        price = 60 + 0.13 * area + 12 * beds - 1.6 * age - 5 * dist
        price = price + (noise + 0.05) * 30.0 * rng.standard_normal(n)
    y = np.clip(price / PRICE_SCALE, 0.01, 0.99)
    return x / HOUSE_UNITS, y[:, None]


def _three_classes(
    name: str, n: int, noise: float, rng: np.random.Generator
) -> tuple[Array, Array]:
    """Three classes in [-1, 1]^2, in equal groups (the first ones one larger); one-hot Y."""
    c = np.arange(n) * 3 // n  # class of each sample: 0..0, 1..1, 2..2
    if name == "blobs3":
        # Three round clusters at 90, 210 and 330 degrees, 0.55 from the centre.
        angle = math.pi / 2 + c * 2 * math.pi / 3
        centres = 0.55 * np.column_stack([np.cos(angle), np.sin(angle)])
        x = centres + (0.18 + noise * 0.5) * rng.standard_normal((n, 2))
    else:
        # Three arms, each a third of a turn from the next, out from the centre.
        k = np.arange(n) - np.searchsorted(c, c)  # position along its arm
        m = np.bincount(c, minlength=3)[c]  # its arm's length
        r = k / m * 0.9 + 0.05
        t = 4.0 * k / m + c * 2 * math.pi / 3
        x = np.column_stack([r * np.sin(t), r * np.cos(t)])
        x += noise * 0.3 * rng.standard_normal((n, 2))
    return x, np.eye(3)[c]


def _two_d(name: str, n: int, noise: float, rng: np.random.Generator) -> tuple[Array, Array]:
    """Playground-style sets in [-1, 1]^2; labels 0/1, regression targets in (0, 1)."""
    if name in CLASSES3:
        return _three_classes(name, n, noise, rng)
    if name == "xor":
        x = rng.uniform(-1, 1, (n, 2))
        # A margin keeps points off the axes, as Playground does.
        x += np.sign(x) * 0.05
        x += noise * 0.5 * rng.standard_normal((n, 2))
        y = (x[:, 0] * x[:, 1] > 0).astype(float)
    elif name == "circle":
        half = n // 2
        r = np.concatenate([rng.uniform(0, 0.5, half), rng.uniform(0.7, 1.0, n - half)])
        t = rng.uniform(0, 2 * math.pi, n)
        x = np.column_stack([r * np.cos(t), r * np.sin(t)])
        x += noise * 0.5 * rng.standard_normal((n, 2))
        y = (np.arange(n) < half).astype(float)
    elif name == "gauss":
        half = n // 2
        centres = np.where((np.arange(n) < half)[:, None], 0.4, -0.4)
        x = centres + (0.2 + noise * 0.5) * rng.standard_normal((n, 2))
        y = (np.arange(n) < half).astype(float)
    elif name == "spiral":
        half = n // 2
        k = np.concatenate([np.arange(half), np.arange(n - half)])
        m = np.where(np.arange(n) < half, half, n - half)
        r = k / m * 0.9 + 0.05
        t = 1.75 * k / m * 2 * math.pi + np.where(np.arange(n) < half, 0.0, math.pi)
        x = np.column_stack([r * np.sin(t), r * np.cos(t)])
        x += noise * 0.3 * rng.standard_normal((n, 2))
        y = (np.arange(n) < half).astype(float)
    elif name == "plane":
        x = rng.uniform(-1, 1, (n, 2))
        y = np.clip(0.5 + 0.25 * (x[:, 0] + x[:, 1]) + noise * 0.1 * rng.standard_normal(n), 0, 1)
    elif name == "multi_gauss":
        x = rng.uniform(-1, 1, (n, 2))
        centres = np.array([[-0.5, 0.5], [0.5, 0.5], [-0.5, -0.5], [0.5, -0.5], [0.0, 0.0]])
        signs = np.array([1.0, -1.0, -1.0, 1.0, 0.5])
        d2 = ((x[:, None, :] - centres[None]) ** 2).sum(axis=2)
        y = 0.5 + 0.45 * np.tanh((signs * np.exp(-d2 / 0.08)).sum(axis=1))
        y = np.clip(y + noise * 0.1 * rng.standard_normal(n), 0, 1)
    else:
        raise ValueError(f"unknown data set {name!r}")
    return x, y[:, None]


def _split(
    x: Array, y: Array, test_fraction: float, rng: np.random.Generator
) -> tuple[Array, Array, Array, Array]:
    """Shuffle once with the run's generator, keep the last fraction for testing."""
    n = x.shape[0]
    n_test = round(n * test_fraction)
    if test_fraction > 0 and n - n_test < 1:
        raise ValueError("test_fraction leaves no training samples")
    if n_test == 0:
        return x, y, x[:0], y[:0]
    order = rng.permutation(n)
    train, test = order[: n - n_test], order[n - n_test :]
    return x[train], y[train], x[test], y[test]


def _standardize(x: Array, x_test: Array) -> tuple[Array, Array, dict[str, list[float]]]:
    """Zero mean, unit variance per feature, with the training split's statistics."""
    with np.errstate(all="ignore"):  # values near the float limit: refused below, not warned
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        std[std == 0] = 1.0  # a constant column stays constant rather than dividing by zero
        xt, xs = (x - mean) / std, (x_test - mean) / std
    if not (np.isfinite(std).all() and np.isfinite(xt).all() and np.isfinite(xs).all()):
        raise ValueError("the inputs are too large to standardise; scale them down first")
    return xt, xs, {"mean": mean.tolist(), "std": std.tolist()}


# Where scaled regression targets go, per output activation: inside the range, off its
# flat ends, so O(1 - O) stays well away from 0 at the extreme targets.
TARGET_RANGES: dict[str, tuple[float, float]] = {
    "sigmoid": (0.1, 0.9),
    "tanh": (-0.8, 0.8),
    "relu": (0.0, 1.0),
}


def scale_targets(d: Dataset, output_activation: str) -> Dataset:
    """Regression targets into the output activation's range (0/1 labels are kept as they are).

    Ranges from the training split; `target_scale` maps back: y = min + Y (max - min).
    """
    if d.kind == "classification" or d.Y.shape[1] == 0:
        return d
    Y = d.Y
    with np.errstate(all="ignore"):  # values near the float limit: refused below, not warned
        at0, at1 = _target_map(Y, output_activation)
        unit = at1 - at0
        scaled = (Y - at0[:, None]) / unit[:, None]
        scaled_test = (d.Y_test - at0[:, None]) / unit[:, None]
    finite = all(np.isfinite(a).all() for a in (unit, scaled, scaled_test))
    if not finite or (unit == 0).any():
        raise ValueError("the targets are too large to scale; scale them down first")
    d.Y, d.Y_test = scaled, scaled_test
    one = d.Y.shape[0] == 1
    d.target_scale = {
        "min": float(at0[0]) if one else at0.tolist(),
        "max": float(at1[0]) if one else at1.tolist(),
    }
    d.targets_scaled = True
    return d


def _target_map(Y: Array, output_activation: str) -> tuple[Array, Array]:
    """Original values at scaled 0 and at scaled 1, per output."""
    if output_activation in TARGET_RANGES:
        lo, hi = TARGET_RANGES[output_activation]
        y_min, y_max = Y.min(axis=1), Y.max(axis=1)
        span = np.where(y_max > y_min, y_max - y_min, 1.0)
        a = (hi - lo) / span  # scaled = lo + (y - y_min) a
        at0 = y_min - lo / a
        at1 = y_min + (1.0 - lo) / a
    else:
        # Unbounded output: zero mean, unit variance.
        mean, std = Y.mean(axis=1), Y.std(axis=1)
        std = np.where(std > 0, std, 1.0)
        at0, at1 = mean, mean + std
    return at0, at1


def build(
    name: str,
    x: Array,
    y: Array,
    kind: str,
    feature_names: list[str],
    target_names: list[str],
    test_fraction: float,
    standardize: bool,
    rng: np.random.Generator,
    target_scale: dict[str, float] | None = None,
) -> Dataset:
    """Split, optionally standardise, and turn rows into the engine's columns."""
    xt, yt, xs, ys = _split(x, y, test_fraction, rng)
    input_scale = None
    if standardize:
        xt, xs, input_scale = _standardize(xt, xs)
    return Dataset(
        name, kind, xt.T.copy(), yt.T.copy(), xs.T.copy(), ys.T.copy(),
        feature_names, target_names, target_scale, input_scale=input_scale,
    )  # fmt: skip


def named(
    name: str,
    samples: int | None,
    noise: float,
    test_fraction: float,
    standardize: bool,
    rng: np.random.Generator,
    max_samples: int = 1000,
) -> Dataset:
    """A built-in data set, deterministic for a given generator state."""
    info = next((d for d in DATASET_INFO if d["name"] == name), None)
    if info is None:
        raise ValueError(f"unknown data set {name!r}")
    params = info["parameters"]
    assert isinstance(params, dict)
    n = samples if samples is not None else int(params["samples"])
    if not 1 <= n <= max_samples:
        raise ValueError(f"dataset.samples must be between 1 and {max_samples}, got {n}")
    if name == "houses":
        x, y = _houses(n, noise, rng)
        scale = {"min": 0.0, "max": PRICE_SCALE * 1000.0}
        return build(
            name, x, y, "regression", list(HOUSE_FEATURES), ["price ($1M)"],
            test_fraction, standardize, rng, scale,
        )  # fmt: skip
    x, y = _two_d(name, n, noise, rng)
    targets = ["class 0", "class 1", "class 2"] if name in CLASSES3 else ["y"]
    return build(
        name, x, y, str(info["kind"]), ["x1", "x2"], targets, test_fraction, standardize, rng
    )


MAX_CLASSES = 64


def one_hot(d: Dataset) -> Dataset:
    """A target column of class numbers 0..K-1 as K one-hot outputs (in place; returned)."""
    if d.n_outputs != 1:
        raise ValueError(
            f"classes: true needs one target column of class numbers, not {d.n_outputs}"
        )
    y = np.concatenate([d.Y[0], d.Y_test[0]])
    if y.size == 0 or not np.array_equal(y, np.round(y)) or y.min() < 0:
        raise ValueError("classes: true needs the target column to hold class numbers 0, 1, 2, ...")
    k = int(y.max()) + 1
    if not 2 <= k <= MAX_CLASSES:
        raise ValueError(f"classes: true needs 2 to {MAX_CLASSES} classes (0..{MAX_CLASSES - 1})")
    eye = np.eye(k)
    d.Y = eye[d.Y[0].astype(int)].T.copy()
    d.Y_test = eye[d.Y_test[0].astype(int)].T.copy()
    d.kind = "classification"
    d.target_names = [f"class {c}" for c in range(k)]
    d.target_scale = None
    return d


def _kind_of(y: Array) -> str:
    """Targets that are all 0 or 1 make a classification set."""
    return "classification" if np.isin(y, (0.0, 1.0)).all() else "regression"


def _numbers(rows: list[list[float]], what: str) -> Array:
    """Rows of equal length as a float matrix; a bad cell is named by its row and column."""
    try:
        a = np.array(rows, dtype=float)
    except (TypeError, ValueError):
        a = None
    if a is not None and np.isfinite(a).all():
        return a
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            try:
                v = float(cell)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{what} row {r}, column {c}: {str(cell)[:20]!r} is not a number"
                ) from None
            if not math.isfinite(v):
                raise ValueError(f"{what} row {r}, column {c}: value is not finite")
    raise ValueError(f"{what} must hold numbers")


def from_rows(
    x_rows: list[list[float]],
    y_rows: list[list[float]] | list[float],
    feature_names: list[str] | None,
    target_names: list[str] | None,
    test_fraction: float,
    standardize: bool,
    rng: np.random.Generator,
    max_samples: int = 1000,
    max_columns: int = 64,
) -> Dataset:
    """Custom data from rows; every problem is a ValueError with a clear message."""
    n = len(x_rows)
    if n == 0:
        raise ValueError("dataset.x has no rows")
    if n > max_samples:
        raise ValueError(f"dataset.x has {n} rows; at most {max_samples} are allowed")
    width = len(x_rows[0])
    for r, row in enumerate(x_rows):
        if len(row) != width:
            raise ValueError(f"dataset.x row {r} has {len(row)} values, row 0 has {width}")
    if width == 0 or width > max_columns:
        raise ValueError(f"dataset.x needs 1 to {max_columns} columns, got {width}")
    ys = [v if isinstance(v, list) else [v] for v in y_rows]
    if len(ys) != n:
        raise ValueError(f"dataset.y has {len(ys)} rows but dataset.x has {n}")
    outs = len(ys[0])
    for r, row in enumerate(ys):
        if len(row) != outs:
            raise ValueError(f"dataset.y row {r} has {len(row)} values, row 0 has {outs}")
    if outs == 0 or outs > max_columns:
        raise ValueError(f"dataset.y needs 1 to {max_columns} columns, got {outs}")
    x = _numbers(x_rows, "dataset.x")
    y = _numbers(ys, "dataset.y")
    fnames = feature_names or [f"x{k + 1}" for k in range(width)]
    tnames = target_names or (["y"] if outs == 1 else [f"y{k + 1}" for k in range(outs)])
    if len(fnames) != width or len(tnames) != outs:
        raise ValueError("feature_names and target_names must match the number of columns")
    return build("custom", x, y, _kind_of(y), fnames, tnames, test_fraction, standardize, rng)


def _hint(text: str) -> str:
    """A hint when the file looks separated by semicolons (a spreadsheet in many locales)."""
    first = text.lstrip().split("\n", 1)[0]
    if ";" in first:
        return (
            "; the file looks separated by ';': save it as CSV with commas "
            "(and '.' as the decimal point)"
        )
    return ""


def from_csv(
    text: str,
    targets: list[str] | None,
    test_fraction: float,
    standardize: bool,
    rng: np.random.Generator,
    max_samples: int = 1000,
    max_columns: int = 64,
) -> Dataset:
    """CSV with a header row; target columns named, else the last column."""
    # Spreadsheets on Windows save UTF-8 with a byte-order mark: not part of the first name.
    text = text.removeprefix("\ufeff")
    # Blank lines are skipped, but every message names the line as the file numbers it.
    reader = csv.reader(io.StringIO(text))
    numbered = [(reader.line_num, r) for r in reader if any(c.strip() for c in r)]
    rows = [r for _, r in numbered]
    if len(rows) < 2:
        raise ValueError("CSV needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    if len(header) < 2:
        raise ValueError("CSV needs at least two columns: one feature and one target" + _hint(text))
    if len(header) > max_columns + 1:
        raise ValueError(f"CSV has {len(header)} columns; at most {max_columns + 1} are allowed")
    if len(set(header)) != len(header):
        raise ValueError("CSV header has repeated column names")
    if len(rows) - 1 > max_samples:
        raise ValueError(f"CSV has {len(rows) - 1} data rows; at most {max_samples} are allowed")
    target_names = targets or [header[-1]]
    missing = [t for t in target_names if t not in header]
    if missing:
        raise ValueError(f"CSV has no column named {missing[0]!r}")
    t_idx = [header.index(t) for t in target_names]
    f_idx = [k for k in range(len(header)) if k not in t_idx]
    if not f_idx:
        raise ValueError("CSV needs at least one feature column besides the targets")
    values = np.empty((len(rows) - 1, len(header)))
    for k, (r, row) in enumerate(numbered[1:]):
        if len(row) != len(header):
            raise ValueError(f"CSV line {r} has {len(row)} values, the header has {len(header)}")
        for c, cell in enumerate(row):
            try:
                v = float(cell)
            except ValueError:
                raise ValueError(
                    f"CSV line {r}, column {header[c]!r}: {cell.strip()[:20]!r} is not a number"
                    + _hint(text)
                ) from None
            if not math.isfinite(v):
                raise ValueError(f"CSV line {r}, column {header[c]!r}: value is not finite")
            values[k, c] = v
    x, y = values[:, f_idx], values[:, t_idx]
    return build(
        "custom", x, y, _kind_of(y), [header[k] for k in f_idx], target_names,
        test_fraction, standardize, rng,
    )  # fmt: skip
