"""The article's feed-forward network, generalised: forward cache, backward gradients."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .activations import ACTIVATIONS, Activation
from .losses import LOSSES, Loss

Array = np.ndarray


@dataclass
class Cache:
    """What forward leaves for backward: Z[l] and A[l] per layer (A[0] = X)."""

    Z: list[Array]  # Z[0] is unused (None-like empty); Z[l] = W[l-1]^T A[l-1] + b
    A: list[Array]


@dataclass
class Grads:
    """dE/dW and dE/db for every layer, plus the back-propagated deltas."""

    dW: list[Array]
    db: list[Array]
    delta: list[Array]  # delta[l] = dE/dZ_(l+1), shape (n_out, samples)


def layer_names(n_weight_layers: int) -> list[str]:
    """Activation names in the article's notation: X, h1, ..., O."""
    hidden = [f"h{k}" for k in range(1, n_weight_layers)]
    return ["X", *hidden, "O"]


def weight_name(layer: int, n_weight_layers: int) -> str:
    """`W_ih`, `W_h1h2`, ..., `W_ho` (the article's names for a [4, 5, 1] net)."""
    if n_weight_layers == 1:
        return "W_io"
    if n_weight_layers == 2:
        return ("W_ih", "W_ho")[layer]
    src = "i" if layer == 0 else f"h{layer}"
    dst = "o" if layer == n_weight_layers - 1 else f"h{layer + 1}"
    return f"W_{src}{dst}"


class Network:
    """Layers `sizes`, weights W[l] of shape (n_in, n_out), biases per neuron or shared."""

    def __init__(
        self,
        sizes: list[int],
        activation: str = "sigmoid",
        output_activation: str = "sigmoid",
        loss: str = "half_sse",
        bias: str = "per_neuron",
        init: str = "xavier",
        l2: float = 0.0,
        rng: np.random.Generator | None = None,
    ) -> None:
        if len(sizes) < 2 or any(n < 1 for n in sizes):
            raise ValueError("layers need at least an input and an output layer, each >= 1 wide")
        for name, table in (
            (activation, ACTIVATIONS),
            (output_activation, ACTIVATIONS),
            (loss, LOSSES),
        ):
            if name not in table:
                raise ValueError(f"unknown name {name!r}")
        if bias not in ("per_neuron", "shared"):
            raise ValueError(f"unknown bias mode {bias!r}")
        self.sizes = list(sizes)
        self.activation = activation
        self.output_activation = output_activation
        self.loss_name = loss
        self.bias_mode = bias
        self.l2 = float(l2)
        self.W: list[Array] = []
        self.b: list[Array] = []
        self.init(init, rng if rng is not None else np.random.default_rng(0))

    @property
    def n_layers(self) -> int:
        """Number of weight layers (the article's net has 2: W_ih and W_ho)."""
        return len(self.sizes) - 1

    @property
    def loss(self) -> Loss:
        """The loss object."""
        return LOSSES[self.loss_name]

    def act(self, layer: int) -> Activation:
        """Activation of weight layer `layer` (the output one for the last)."""
        name = self.output_activation if layer == self.n_layers - 1 else self.activation
        return ACTIVATIONS[name]

    def init(self, scheme: str, rng: np.random.Generator) -> None:
        """Draw weights; biases start at zero except uniform01 (the article draws them too)."""
        self.W, self.b = [], []
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            nb = 1 if self.bias_mode == "shared" else n_out
            if scheme == "uniform01":
                W = rng.uniform(0.0, 1.0, (n_in, n_out))
                b = rng.uniform(0.0, 1.0, nb)
            elif scheme == "xavier":
                limit = np.sqrt(6.0 / (n_in + n_out))
                W = rng.uniform(-limit, limit, (n_in, n_out))
                b = np.zeros(nb)
            elif scheme == "he":
                W = rng.normal(0.0, np.sqrt(2.0 / n_in), (n_in, n_out))
                b = np.zeros(nb)
            else:
                raise ValueError(f"unknown init {scheme!r}")
            self.W.append(W)
            self.b.append(b)

    def params(self) -> list[Array]:
        """Weights then biases, the order optimizers see."""
        return [*self.W, *self.b]

    def forward(self, X: Array) -> Cache:
        """Z = W^T A + b, A = f(Z) layer by layer; samples are the columns of X."""
        Z: list[Array] = [np.empty((0, 0))]
        A: list[Array] = [X]
        for layer in range(self.n_layers):
            # b broadcasts over samples; a shared bias (shape (1,)) over neurons too.
            z = self.W[layer].T @ A[-1] + self.b[layer][:, None]
            Z.append(z)
            A.append(self.act(layer).f(z))
        return Cache(Z, A)

    def output(self, X: Array) -> Array:
        """O for inputs X."""
        return self.forward(X).A[-1]

    def error(self, O: Array, Y: Array) -> float:
        """E(O, Y) plus the L2 term 1/2 l2 sum W^2."""
        e = self.loss.value(O, Y)
        if self.l2:
            e += 0.5 * self.l2 * sum(float(np.sum(W * W)) for W in self.W)
        return e

    def backward(self, cache: Cache, Y: Array) -> Grads:
        """The chain rule, layer by layer from the output down."""
        L = self.n_layers
        dW: list[Array] = [np.empty(0)] * L
        db: list[Array] = [np.empty(0)] * L
        delta: list[Array] = [np.empty(0)] * L
        # delta_L = dE/dO * dO/dZ_L, e.g. (O - Y) * O(1 - O) for the article.
        d = self.loss.grad(cache.A[-1], Y) * self.act(L - 1).df(cache.Z[L], cache.A[L])
        for layer in range(L - 1, -1, -1):
            delta[layer] = d
            # Matrix form: dE/dW = A_(l-1) . delta^T, e.g. (5x5).(5x1) -> 5x1 for W_ho.
            dW[layer] = cache.A[layer] @ d.T + self.l2 * self.W[layer]
            g = d.sum(axis=1)
            db[layer] = np.array([g.sum()]) if self.bias_mode == "shared" else g
            if layer:
                d = (self.W[layer] @ d) * self.act(layer - 1).df(cache.Z[layer], cache.A[layer])
        return Grads(dW, db, delta)
