"""SGD, momentum and Adam, with API.md's formulas; they update parameters in place."""

from __future__ import annotations

import numpy as np

Array = np.ndarray


class Optimizer:
    """W -= lr * g (plain SGD, the article's update)."""

    name = "sgd"

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = float(learning_rate)

    def update(self, params: list[Array], grads: list[Array]) -> None:
        """Apply one step to every parameter in place."""
        for p, g in zip(params, grads, strict=True):
            p -= self.learning_rate * g

    def state(self) -> dict[str, object]:
        """Hyper-parameters (the buffers stay internal)."""
        return {"name": self.name, "learning_rate": self.learning_rate}


class Momentum(Optimizer):
    """v = momentum * v + g; W -= lr * v."""

    name = "momentum"

    def __init__(self, learning_rate: float, momentum: float = 0.9) -> None:
        super().__init__(learning_rate)
        self.momentum = float(momentum)
        self.v: list[Array] | None = None

    def update(self, params: list[Array], grads: list[Array]) -> None:
        """Apply one step to every parameter in place."""
        if self.v is None:
            self.v = [np.zeros_like(p) for p in params]
        for p, g, v in zip(params, grads, self.v, strict=True):
            v *= self.momentum
            v += g
            p -= self.learning_rate * v


class Adam(Optimizer):
    """Kingma and Ba's Algorithm 1 with bias correction; eps added to sqrt(v_hat)."""

    name = "adam"

    def __init__(
        self, learning_rate: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        super().__init__(learning_rate)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.t = 0
        self.m: list[Array] | None = None
        self.v: list[Array] | None = None

    def update(self, params: list[Array], grads: list[Array]) -> None:
        """Apply one step to every parameter in place."""
        if self.m is None or self.v is None:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
        self.t += 1
        c1 = 1.0 - self.beta1**self.t
        c2 = 1.0 - self.beta2**self.t
        for p, g, m, v in zip(params, grads, self.m, self.v, strict=True):
            m *= self.beta1
            m += (1.0 - self.beta1) * g
            v *= self.beta2
            v += (1.0 - self.beta2) * g * g
            p -= self.learning_rate * (m / c1) / (np.sqrt(v / c2) + self.eps)


def make_optimizer(name: str, learning_rate: float, **hyper: float) -> Optimizer:
    """Build an optimizer by name; unknown keys for that optimizer are ignored."""
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
