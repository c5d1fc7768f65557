"""SGD, momentum and Adam (formulas in docs/api.md); they update the flat parameters in place."""

from __future__ import annotations

import copy

import numpy as np

Array = np.ndarray


class Optimizer:
    """W -= lr * g (plain SGD, the article's update)."""

    name = "sgd"

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = float(learning_rate)

    def update(self, theta: Array, g: Array) -> None:
        """Apply one step to the parameter vector in place."""
        theta -= self.learning_rate * g

    def clone(self) -> Optimizer:
        """An independent copy, state buffers included (checkpoints, previews)."""
        new = copy.copy(self)
        for key, value in vars(self).items():
            if isinstance(value, np.ndarray):
                setattr(new, key, value.copy())
        return new

    def preview(self, theta: Array, g: Array) -> Array:
        """The parameters update() WOULD produce, without touching theta or this optimizer.

        The very same update() runs on copies, so the answer is bit for bit the next step's.
        """
        new = theta.copy()
        self.clone().update(new, g)
        return new


class Momentum(Optimizer):
    """v = momentum * v + g; W -= lr * v."""

    name = "momentum"

    def __init__(self, learning_rate: float, momentum: float = 0.9) -> None:
        super().__init__(learning_rate)
        self.momentum = float(momentum)
        self.v: Array | None = None

    def update(self, theta: Array, g: Array) -> None:
        """Apply one step to the parameter vector in place."""
        if self.v is None:
            self.v = np.zeros_like(theta)
        self.v *= self.momentum
        self.v += g
        theta -= self.learning_rate * self.v


class Adam(Optimizer):
    """Kingma and Ba's Algorithm 1 with bias correction; eps added to sqrt(v_hat)."""

    name = "adam"

    def __init__(
        self, learning_rate: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        super().__init__(learning_rate)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.t = 0
        self.m: Array | None = None
        self.v: Array | None = None

    def update(self, theta: Array, g: Array) -> None:
        """Apply one step to the parameter vector in place."""
        if self.m is None or self.v is None:
            self.m = np.zeros_like(theta)
            self.v = np.zeros_like(theta)
        self.t += 1
        m, v = self.m, self.v
        m *= self.beta1
        m += (1.0 - self.beta1) * g
        v *= self.beta2
        v += (1.0 - self.beta2) * (g * g)
        m_hat = m / (1.0 - self.beta1**self.t)
        v_hat = v / (1.0 - self.beta2**self.t)
        theta -= self.learning_rate * m_hat / (np.sqrt(v_hat) + self.eps)


def make_optimizer(name: str, learning_rate: float, **hyper: float) -> Optimizer:
    """Build an optimizer by name; hyper-parameters of other optimizers are ignored."""
    if name == "sgd":
        return Optimizer(learning_rate)
    if name == "momentum":
        return Momentum(learning_rate, hyper.get("momentum", 0.9))
    if name == "adam":
        return Adam(
            learning_rate,
            hyper.get("beta1", 0.9),
            hyper.get("beta2", 0.999),
            hyper.get("eps", 1e-8),
        )
    raise ValueError(f"unknown optimizer {name!r}")
