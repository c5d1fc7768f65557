"""GET .../neurons: every neuron's activation over the input plane, or per sample (docs/api.md)."""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np

from app.engine import neurons as engine
from app.engine.network import layer_names

from .errors import InvalidError

if TYPE_CHECKING:
    from app.domain.session import TrainingSession

DEFAULT_GRID = 24
MIN_GRID, MAX_GRID = engine.MIN_GRID, engine.MAX_GRID


def check_grid(grid: int) -> None:
    """InvalidError (422) unless 2 <= grid <= 64: each axis needs both ends, and a thumbnail
    needs no more."""
    if not MIN_GRID <= grid <= MAX_GRID:
        raise InvalidError(f"grid: {grid}; points per axis, from {MIN_GRID} to {MAX_GRID}")


def is_plane(session: TrainingSession) -> bool:
    """The data are points (x1, x2): a plane to draw on (else one value per sample)."""
    return session.points is not None or session.dataset.n_inputs == 2


def neurons_work(session: TrainingSession, grid: int) -> int:
    """Multiply-adds of the answer: one forward pass per grid point (or training sample)."""
    points = grid * grid if is_plane(session) else session.n_train
    return points * sum(a * b for a, b in pairwise(session.config.layers))


def _names(session: TrainingSession) -> list[str]:
    """Each layer's name in the article's notation: X, h1, ..., O."""
    return layer_names(len(session.config.layers) - 1)


def _entries(
    session: TrainingSession, layers: list[np.ndarray], shape: tuple[int, ...]
) -> list[dict[str, Any]]:
    """One entry per neuron: its layer, index, activation's name and values."""
    c, names = session.config, _names(session)
    L = len(layers) - 1
    out = []
    for layer, A in enumerate(layers):
        act = "input" if layer == 0 else c.output_activation if layer == L else c.activation
        for j in range(A.shape[0]):
            out.append(
                {
                    "layer": layer,
                    "j": j,
                    "name": f"{names[layer]}[{j}]",
                    "activation": act,
                    "values": A[j].reshape(shape).tolist(),
                }
            )
    return out


def neurons(session: TrainingSession, grid: int) -> dict[str, Any]:
    """Each neuron's activation at the run's current weights, over an n x n grid of the plane.

    Without a plane (not two inputs: the article's four), over the training samples instead.
    """
    check_grid(grid)
    net, d = session.net, session.dataset
    answer: dict[str, Any] = {
        "step": session.step_count,
        "layers": session.config.layers,
        "inputs": d.feature_names,  # layer 0's neurons: the features, or the data's columns
    }
    if not is_plane(session):
        layers = engine.activations(net, d.X)
        rows = _entries(session, layers, (-1,))
        return {**answer, "plane": None, "samples": session.n_train, "neurons": rows}
    X, X_test = session.points if session.points is not None else (d.X, d.X_test)
    both = np.hstack([X, X_test])
    x1r, x2r = engine.axis_range(both[0]), engine.axis_range(both[1])
    x1, x2 = engine.axis(*x1r, grid), engine.axis(*x2r, grid)
    feats = None if session.points is None else [str(f) for f in session.config.features]
    grids = engine.neuron_grids(net, x1, x2, feats)
    plane = {
        "grid": grid,
        "extent": {"x1": list(x1r), "x2": list(x2r)},
        "x1": x1.tolist(),
        "x2": x2.tolist(),
    }
    rows = _entries(session, grids, (grid, grid))
    return {**answer, "plane": plane, "samples": None, "neurons": rows}
