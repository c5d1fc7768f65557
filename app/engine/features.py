"""Playground's feature inputs: the network sees functions of (x1, x2), not only x1 and x2."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Array = np.ndarray

# Each feature of the two coordinates, and its name in the article's notation (the diagram's).
FEATURES: dict[str, tuple[Callable[[Array, Array], Array], str]] = {
    "x1": (lambda a, b: a, "x₁"),
    "x2": (lambda a, b: b, "x₂"),
    "x1_squared": (lambda a, b: a * a, "x₁²"),
    "x2_squared": (lambda a, b: b * b, "x₂²"),
    "x1_x2": (lambda a, b: a * b, "x₁x₂"),
    "sin_x1": (lambda a, b: np.sin(a), "sin x₁"),
    "sin_x2": (lambda a, b: np.sin(b), "sin x₂"),
}
DEFAULT = ["x1", "x2"]


def feature_map(X: Array, names: list[str]) -> Array:
    """The features `names` of the points X (2 x n, samples as columns), one row each."""
    if X.shape[0] != 2:
        raise ValueError(f"features need two inputs (x1, x2); the data have {X.shape[0]}")
    out = np.empty((len(names), X.shape[1]))
    for k, name in enumerate(names):
        if name not in FEATURES:
            raise ValueError(f"unknown feature {name!r}; known: {', '.join(FEATURES)}")
        out[k] = FEATURES[name][0](X[0], X[1])
    return out


def notation(names: list[str]) -> list[str]:
    """The features' names as the diagram writes them: x₁², x₁x₂, sin x₁."""
    return [FEATURES[n][1] for n in names]
