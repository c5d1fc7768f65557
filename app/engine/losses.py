"""Losses over a batch (outputs x samples), each with dE/dO."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Array = np.ndarray
# Predictions are clipped away from 0 and 1 inside bce so log() stays finite.
BCE_EPS = 1e-12


def _bce(O: Array, Y: Array) -> float:
    P = np.clip(O, BCE_EPS, 1.0 - BCE_EPS)
    return float(-np.mean(Y * np.log(P) + (1.0 - Y) * np.log(1.0 - P)))


def _bce_grad(O: Array, Y: Array) -> Array:
    P = np.clip(O, BCE_EPS, 1.0 - BCE_EPS)
    g: Array = (P - Y) / (P * (1.0 - P)) / O.size
    return g


@dataclass(frozen=True)
class Loss:
    """A loss E(O, Y) and its gradient dE/dO; `scale` is the factor in front of the sum."""

    name: str
    value: Callable[[Array, Array], float]
    grad: Callable[[Array, Array], Array]
    formula: str
    dformula: str  # dE/dO per sample, without the batch scale


LOSSES: dict[str, Loss] = {
    # The article: E = 1/2 sum (Y - O)^2, so dE/dO = O - Y with no 1/n.
    "half_sse": Loss(
        "half_sse",
        lambda O, Y: float(0.5 * np.sum((Y - O) ** 2)),
        lambda O, Y: O - Y,
        "E = 1/2 sum (Y - O)^2",
        "O - Y",
    ),
    "mse": Loss(
        "mse",
        lambda O, Y: float(np.mean((Y - O) ** 2)),
        lambda O, Y: 2.0 * (O - Y) / O.size,
        "E = mean (Y - O)^2",
        "2(O - Y)/n",
    ),
    "bce": Loss(
        "bce",
        _bce,
        _bce_grad,
        "E = -mean [Y log O + (1 - Y) log(1 - O)]",
        "(O - Y)/(O(1 - O) n)",
    ),
}
