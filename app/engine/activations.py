"""Activation functions, each with its own derivative."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Array = np.ndarray


def sigmoid(z: Array) -> Array:
    """Numerically stable logistic: no overflow warning at z = +-1000."""
    # 1/(1+e^-z) == (1 + tanh(z/2))/2, and tanh never overflows: one ufunc, no branches.
    a: Array = 0.5 + 0.5 * np.tanh(0.5 * z)
    return a


@dataclass(frozen=True)
class Activation:
    """A function f and its derivative, written in terms of z and a = f(z)."""

    name: str
    f: Callable[[Array], Array]
    df: Callable[[Array, Array], Array]  # (z, a) -> da/dz
    formula: str  # a = f(z), as the UI shows it
    dformula: str  # da/dz in terms of a or z


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation("sigmoid", sigmoid, lambda z, a: a * (1.0 - a), "1/(1+e^-z)", "a(1 - a)"),
    "tanh": Activation("tanh", np.tanh, lambda z, a: 1.0 - a * a, "tanh(z)", "1 - a^2"),
    "relu": Activation(
        "relu",
        lambda z: np.maximum(z, 0.0),
        lambda z, a: (z > 0).astype(z.dtype),
        "max(0, z)",
        "1 if z > 0 else 0",
    ),
    "leaky_relu": Activation(
        "leaky_relu",
        lambda z: np.where(z > 0, z, 0.01 * z),
        lambda z, a: np.where(z > 0, 1.0, 0.01),
        "max(0.01z, z)",
        "1 if z > 0 else 0.01",
    ),
    "linear": Activation("linear", lambda z: z, lambda z, a: np.ones_like(z), "z", "1"),
}
