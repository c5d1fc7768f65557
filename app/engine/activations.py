"""Activation functions, each with its own derivative."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Array = np.ndarray


def sigmoid_into(z: Array, out: Array) -> Array:
    """Numerically stable logistic: no overflow warning at z = +-1000."""
    # 1/(1+e^-z) == (1 + tanh(z/2))/2, and tanh never overflows; written in place, no copies.
    # Positional `out` arguments: keyword parsing is a measurable share on 5x5 arrays.
    np.multiply(z, 0.5, out)
    np.tanh(out, out)
    np.multiply(out, 0.5, out)
    np.add(out, 0.5, out)
    return out


def sigmoid(z: Array) -> Array:
    """The logistic function, 1 / (1 + e^-z)."""
    return sigmoid_into(z, np.empty_like(z, dtype=float))


def _leaky_into(z: Array, out: Array) -> Array:
    # max(z, 0.01 z) is leaky ReLU for a slope below 1.
    np.multiply(z, 0.01, out=out)
    np.maximum(z, out, out=out)
    return out


def _tanh_into(z: Array, out: Array) -> Array:
    np.tanh(z, out=out)
    return out


def _relu_into(z: Array, out: Array) -> Array:
    np.maximum(z, 0.0, out=out)
    return out


def _linear_into(z: Array, out: Array) -> Array:
    np.copyto(out, z)
    return out


def _softmax_into(z: Array, out: Array) -> Array:
    # Over each column (one sample's outputs); the column's max taken off first, so e^z never
    # overflows: softmax(z - c) = softmax(z).
    np.subtract(z, z.max(axis=0, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=0, keepdims=True)
    return out


def _softmax_d(z: Array, a: Array) -> Array:
    # The diagonal of the Jacobian dO_j/dZ_k = O_j (delta_jk - O_k): what a per-output
    # derivative can say. backward() never uses it: it applies the whole Jacobian.
    d: Array = a - a * a
    return d


def _sigmoid_d(z: Array, a: Array) -> Array:
    d: Array = a - a * a  # a(1 - a)
    return d


def _tanh_d(z: Array, a: Array) -> Array:
    d: Array = 1.0 - a * a
    return d


def _relu_d(z: Array, a: Array) -> Array:
    d: Array = (z > 0).astype(float)
    return d


def _leaky_d(z: Array, a: Array) -> Array:
    d: Array = np.where(z > 0, 1.0, 0.01)
    return d


def _linear_d(z: Array, a: Array) -> Array:
    return np.ones_like(z, dtype=float)


@dataclass(frozen=True)
class Activation:
    """A function written into a buffer, and its derivative in terms of z and a = f(z)."""

    name: str
    f_into: Callable[[Array, Array], Array]  # (z, out) -> out = f(z)
    df: Callable[[Array, Array], Array]  # (z, a) -> da/dz
    formula: str  # a = f(z), as the UI shows it
    dformula: str  # da/dz in terms of a or z

    def f(self, z: Array) -> Array:
        """f(z) in a new array."""
        return self.f_into(z, np.empty_like(z, dtype=float))


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation("sigmoid", sigmoid_into, _sigmoid_d, "1/(1+e^-z)", "a(1 - a)"),
    "tanh": Activation("tanh", _tanh_into, _tanh_d, "tanh(z)", "1 - a^2"),
    "relu": Activation("relu", _relu_into, _relu_d, "max(0, z)", "1 if z > 0 else 0"),
    "leaky_relu": Activation(
        "leaky_relu", _leaky_into, _leaky_d, "max(0.01z, z)", "1 if z > 0 else 0.01"
    ),
    "linear": Activation("linear", _linear_into, _linear_d, "z", "1"),
    # Output layer only: each output depends on every Z of its sample, not on its own alone.
    "softmax": Activation(
        "softmax", _softmax_into, _softmax_d, "e^z / sum_k e^z_k", "a(1 - a) on the diagonal"
    ),
}
# Activations a hidden layer may use (softmax normalises the whole layer: output only).
HIDDEN = ("sigmoid", "tanh", "relu", "leaky_relu", "linear")
