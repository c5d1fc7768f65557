"""Losses over a batch (outputs x samples), each with dE/dO."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Array = np.ndarray
# What each loss computes, as the page writes it: the one place the formulas are spelled out.
FORMULAS = {
    "half_sse": "E = 1/2 sum (Y - O)^2",
    "mse": "E = mean (Y - O)^2",
    "bce": "E = -mean [Y log O + (1 - Y) log(1 - O)]",
    "ce": "E = -mean_n sum_k Y_k log O_k",
}
# Predictions are clipped away from 0 and 1 inside bce so log() stays finite.
BCE_EPS = 1e-12


def _half_sse(O: Array, Y: Array) -> tuple[float, Array]:
    # The article: E = 1/2 sum (Y - O)^2, so dE/dO = O - Y with no 1/n.
    r: Array = O - Y
    return 0.5 * float(np.vdot(r, r)), r


def _mse(O: Array, Y: Array) -> tuple[float, Array]:
    r: Array = O - Y
    n = r.size
    E = float(np.vdot(r, r)) / n
    r *= 2.0 / n
    return E, r


def _bce(O: Array, Y: Array) -> tuple[float, Array]:
    P = np.clip(O, BCE_EPS, 1.0 - BCE_EPS)
    E = float(-np.mean(Y * np.log(P) + (1.0 - Y) * np.log(1.0 - P)))
    g: Array = (P - Y) / (P * (1.0 - P)) / O.size
    return E, g


def _ce(O: Array, Y: Array) -> tuple[float, Array]:
    # Mean over samples (columns) of the categorical cross-entropy -sum_k Y_k log O_k, for
    # one-hot Y and softmax outputs O. Clipped as bce is, so log() stays finite.
    P = np.clip(O, BCE_EPS, 1.0)
    m = O.shape[1]
    E = float(-np.sum(Y * np.log(P)) / m)
    g: Array = -Y / P / m
    return E, g


@dataclass(frozen=True)
class Loss:
    """A loss E(O, Y) with its gradient dE/dO, computed together."""

    name: str
    value_and_grad: Callable[[Array, Array], tuple[float, Array]]
    formula: str
    dformula: str  # dE/dO per sample, as the chain-rule panel shows it

    def value(self, O: Array, Y: Array) -> float:
        """E(O, Y)."""
        return self.value_and_grad(O, Y)[0]

    def grad(self, O: Array, Y: Array) -> Array:
        """dE/dO, one entry per output and sample."""
        return self.value_and_grad(O, Y)[1]


LOSSES: dict[str, Loss] = {
    "half_sse": Loss("half_sse", _half_sse, "E = 1/2 sum (Y - O)^2", "O - Y"),
    "mse": Loss("mse", _mse, "E = mean (Y - O)^2", "2(O - Y)/n"),
    "bce": Loss("bce", _bce, "E = -mean [Y log O + (1 - Y) log(1 - O)]", "(O - Y)/(O(1 - O) n)"),
    "ce": Loss("ce", _ce, "E = -mean_n sum_k Y_k log O_k", "-Y/(O n)"),
}
