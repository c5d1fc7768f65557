"""A learner's own points on the data plane (issue 22, item 8): checked, and applied to the data.

Drawn points are appended to the training set, after the data set's own samples, so every
sample index the batch sampler already holds still names the same sample. No web imports here.
"""

from __future__ import annotations

import numpy as np

from app.engine import datasets
from app.engine import features as feature_inputs

from .errors import InvalidError
from .protocol import MAX_DRAWN, PointsChange

Array = np.ndarray
Point = tuple[float, float, int]  # x1, x2 on the data plane, and the point's class
Drawn = tuple[Point, ...]  # the drawn points in force, oldest first (immutable: checkpoints)


def after(drawn: Drawn, change: PointsChange) -> Drawn:
    """The drawn points once `change` is applied (checked already)."""
    if change.op == "add":
        assert change.x is not None and change.y is not None
        rows = zip(change.x, change.y, strict=True)
        return drawn + tuple((float(a), float(b), int(c)) for (a, b), c in rows)
    if change.op == "undo":
        return drawn[:-1]
    return ()


def check(change: PointsChange, drawn: Drawn, data: datasets.Dataset, plane: bool) -> None:
    """InvalidError (a sentence) unless `change` fits this run's data and drawn points.

    `plane`: the data set is drawn on a plane (two inputs, or feature inputs of two).
    """
    if not plane:
        raise InvalidError(
            f"drawn points need a 2D data set (a plane to draw on); {data.name!r} has "
            f"{data.n_inputs} inputs"
        )
    if data.kind != "classification":
        raise InvalidError(
            f"drawn points need a classification data set (a point's class is its target); "
            f"{data.name!r} is {data.kind}"
        )
    if change.op != "add":
        if not drawn:
            raise InvalidError(f"there are no drawn points to {change.op}")
        return
    assert change.x is not None and change.y is not None
    classes = max(2, data.n_outputs)
    bad = [c for c in change.y if c >= classes]
    if bad:
        raise InvalidError(
            f"y: class {bad[0]} does not exist; this data set's classes are 0 to {classes - 1}"
        )
    if len(drawn) + len(change.x) > MAX_DRAWN:
        raise InvalidError(
            f"at most {MAX_DRAWN} drawn points at a time; this run has {len(drawn)} "
            f"(undo or clear some first)"
        )


def columns(drawn: Drawn, n_outputs: int) -> tuple[Array, Array]:
    """The drawn points as samples (columns): their (x1, x2) and their targets.

    One output: the class, 0 or 1, as the data set's own labels are; several: one-hot.
    """
    xy = np.array([[p[0], p[1]] for p in drawn], dtype=float).reshape(-1, 2).T
    classes = np.array([p[2] for p in drawn], dtype=int)
    if n_outputs == 1:
        return xy, classes[None, :].astype(float)
    Y = np.zeros((n_outputs, classes.size))
    Y[classes, np.arange(classes.size)] = 1.0
    return xy, Y


def inputs(xy: Array, features: list[str] | None) -> Array:
    """The network's inputs for points (x1, x2): the points, or their features."""
    return xy if features is None else feature_inputs.feature_map(xy, features)


def as_change(drawn: Drawn) -> dict[str, object]:
    """The drawn points as an `add` body (x rows and y classes): for data() and snapshots."""
    return {"x": [[p[0], p[1]] for p in drawn], "y": [p[2] for p in drawn]}
