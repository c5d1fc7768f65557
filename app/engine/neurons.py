"""What every neuron computes over the input plane: Playground's thumbnails, exactly.

For a 2D data set the plane is an n x n grid of points (x1, x2); each point goes through the
network's feature inputs (engine/features.py) and forward, and each neuron's activation is kept.
"""

from __future__ import annotations

import numpy as np

from .features import feature_map
from .network import Network

Array = np.ndarray
PAD = 0.1  # the plane reaches 10% past the points on each side, as the page's data plane does
MIN_GRID, MAX_GRID = 2, 64


def axis_range(values: Array, pad: float = PAD) -> tuple[float, float]:
    """The extent of one coordinate: its points' range widened by `pad` of it on each side.

    The page's data plane computes the same (static/js/nn.js columnRange), so a thumbnail and
    the big plane cover the same square.
    """
    lo, hi = (float(values.min()), float(values.max())) if values.size else (-1.0, 1.0)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return -1.0, 1.0
    if hi - lo < 1e-9:
        lo, hi = lo - 1.0, hi + 1.0
    p = (hi - lo) * pad
    return lo - p, hi + p


def axis(lo: float, hi: float, n: int) -> Array:
    """n evenly spaced values from lo to hi, both included, as the page spaces its grid.

    lo + (hi - lo) * c / (n - 1) in that order (not np.linspace's lo + c * step), so the page's
    grid points and these are the same doubles.
    """
    return lo + (hi - lo) * np.arange(n, dtype=float) / (n - 1)


def plane_points(x1: Array, x2: Array) -> Array:
    """The grid's points as columns (2 x n*n), row-major: point r*n + c is (x1[c], x2[r])."""
    X1, X2 = np.meshgrid(x1, x2)  # X1[r, c] = x1[c], X2[r, c] = x2[r]
    return np.vstack([X1.ravel(), X2.ravel()])


def activations(net: Network, X: Array) -> list[Array]:
    """A[l] for l = 0..L at inputs X (columns): inputs, each hidden layer, the outputs."""
    cache = net.forward(X)
    return [a.copy() for a in cache.A]


def neuron_grids(net: Network, x1: Array, x2: Array, features: list[str] | None) -> list[Array]:
    """Each layer's activations over the grid (x1 x x2), as (neurons, len(x2), len(x1)) arrays.

    Layer 0 holds the network's inputs there (the features of each point, or x1 and x2 alone);
    layer L the outputs (per class, after softmax, for a softmax output).
    """
    P = plane_points(x1, x2)
    X = feature_map(P, features) if features is not None else P
    return [a.reshape(a.shape[0], len(x2), len(x1)) for a in activations(net, X)]
