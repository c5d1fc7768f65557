"""The article's feed-forward network, generalised: forward cache, backward gradients."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .activations import ACTIVATIONS, Activation
from .losses import LOSSES, Loss

Array = np.ndarray


@dataclass
class Cache:
    """What forward leaves for backward: Z[l] and A[l] per layer (A[0] = X).

    Buffers are reused from step to step; A[l] for l < L is a view of A_aug[l], whose
    last row is ones so one matmul applies the weights and the bias together.
    """

    A_aug: list[Array]
    A: list[Array]
    Z: list[Array]  # Z[0] is an empty placeholder; Z[l] = W[l-1]^T A[l-1] + b


@dataclass
class Grads:
    """dE/dW and dE/db for every layer (views of one flat buffer), plus the deltas."""

    flat: Array
    dW: list[Array]
    db: list[Array]
    dWa: list[Array | None]  # per-neuron mode: [dW; db] stacked, as one matmul writes it
    delta: list[Array] = field(default_factory=list)  # delta[l] = dE/dZ_(l+1)
    error: float = float("nan")  # E at the cache's weights, from the same pass


def penalty(W: list[Array], l2: float, l1: float) -> float:
    """1/2 l2 sum W^2 + l1 sum |W| over the weight matrices W (the stacked kernel's too)."""
    e = 0.5 * l2 * sum(float(np.vdot(w, w)) for w in W) if l2 else 0.0
    if l1:
        e += l1 * sum(float(np.abs(w).sum()) for w in W)
    return e


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
    """Layers `sizes`, weights W[l] of shape (n_in, n_out), biases per neuron or shared.

    All parameters live in one flat vector `theta` (W[l] and b[l] are views of it), so an
    optimizer updates the whole network in a couple of NumPy calls.
    """

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
        l1: float = 0.0,
    ) -> None:
        if len(sizes) < 2 or any(n < 1 for n in sizes):
            raise ValueError("layers need at least an input and an output layer, each >= 1 wide")
        if activation == "softmax":
            raise ValueError("softmax is for the output layer only (it normalises the layer)")
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
        self.l1 = float(l1)
        self.theta = np.zeros(self.n_params)
        self.W, self.b, self.Wa = self.views(self.theta)
        self._acts = [self.act(k) for k in range(self.n_layers)]
        self.init(init, rng if rng is not None else np.random.default_rng(0))

    @property
    def n_layers(self) -> int:
        """Number of weight layers (the article's net has 2: W_ih and W_ho)."""
        return len(self.sizes) - 1

    @property
    def n_params(self) -> int:
        """Weights plus biases."""
        nb = (lambda n: 1) if self.bias_mode == "shared" else (lambda n: n)
        return sum(a * b + nb(b) for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True))

    @property
    def loss(self) -> Loss:
        """The loss object."""
        return LOSSES[self.loss_name]

    def act(self, layer: int) -> Activation:
        """Activation of weight layer `layer` (the output one for the last)."""
        name = self.output_activation if layer == self.n_layers - 1 else self.activation
        return ACTIVATIONS[name]

    def views(self, flat: Array) -> tuple[list[Array], list[Array], list[Array | None]]:
        """W, b (and the stacked [W; b] in per-neuron mode) as views of a flat vector."""
        W: list[Array] = []
        b: list[Array] = []
        Wa: list[Array | None] = []
        pos = 0
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            if self.bias_mode == "per_neuron":
                block = flat[pos : pos + (n_in + 1) * n_out].reshape(n_in + 1, n_out)
                pos += (n_in + 1) * n_out
                W.append(block[:-1])
                b.append(block[-1])
                Wa.append(block)
            else:
                W.append(flat[pos : pos + n_in * n_out].reshape(n_in, n_out))
                pos += n_in * n_out
                b.append(flat[pos : pos + 1])
                pos += 1
                Wa.append(None)
        return W, b, Wa

    def __deepcopy__(self, memo: dict[int, Any]) -> Network:
        """A copy whose W and b are views of its own theta."""
        new = copy.copy(self)
        new.theta = self.theta.copy()
        new.W, new.b, new.Wa = new.views(new.theta)
        return new

    def init(self, scheme: str, rng: np.random.Generator) -> None:
        """Draw weights; biases start at zero except uniform01 (the article draws them too)."""
        for W, b in zip(self.W, self.b, strict=True):
            n_in, n_out = W.shape
            if scheme == "uniform01":
                W[...] = rng.uniform(0.0, 1.0, (n_in, n_out))
                # One draw per neuron in both bias modes (shared keeps the first), so switching
                # the bias convention keeps every weight: same seed, same W.
                b[...] = rng.uniform(0.0, 1.0, (n_out,))[: b.size]
            elif scheme == "xavier":
                limit = np.sqrt(6.0 / (n_in + n_out))
                W[...] = rng.uniform(-limit, limit, (n_in, n_out))
                b[...] = 0.0
            elif scheme == "he":
                W[...] = rng.normal(0.0, np.sqrt(2.0 / n_in), (n_in, n_out))
                b[...] = 0.0
            else:
                raise ValueError(f"unknown init {scheme!r}")

    def new_cache(self, samples: int) -> Cache:
        """Buffers for a forward pass over `samples` columns."""
        A_aug = [np.ones((n + 1, samples)) for n in self.sizes[:-1]]
        A = [a[:-1] for a in A_aug] + [np.empty((self.sizes[-1], samples))]
        Z = [np.empty((0, 0))] + [np.empty((n, samples)) for n in self.sizes[1:]]
        return Cache(A_aug, A, Z)

    def new_grads(self) -> Grads:
        """A zeroed gradient buffer shaped like the parameters."""
        flat = np.zeros(self.n_params)
        dW, db, dWa = self.views(flat)
        return Grads(flat, dW, db, dWa)

    def forward(self, X: Array | None = None, cache: Cache | None = None) -> Cache:
        """Z = W^T A + b, A = f(Z) layer by layer; samples are the columns of X.

        With X None the cache's A[0] is used as it is (the session loads its data once).
        """
        if cache is None:
            assert X is not None
            cache = self.new_cache(X.shape[1])
        if X is not None:
            np.copyto(cache.A[0], X)
        A_aug, A, Z = cache.A_aug, cache.A, cache.Z
        for k, act in enumerate(self._acts):
            Wa = self.Wa[k]
            if Wa is not None:
                # Z1 = W_ih^T X + b_ih in one product: [W; b]^T [A; 1].
                np.matmul(Wa.T, A_aug[k], out=Z[k + 1])
            else:
                np.matmul(self.W[k].T, A[k], out=Z[k + 1])
                Z[k + 1] += self.b[k]  # one shared bias broadcasts over every neuron
            act.f_into(Z[k + 1], A[k + 1])
        return cache

    def output(self, X: Array) -> Array:
        """O for inputs X."""
        return self.forward(X).A[-1]

    def _l2_error(self) -> float:
        """The penalties on the weights (never the biases): 1/2 l2 sum W^2 + l1 sum |W|."""
        return penalty(self.W, self.l2, self.l1)

    def error(self, O: Array, Y: Array) -> float:
        """E(O, Y) plus the L2 term 1/2 l2 sum W^2 and the L1 term l1 sum |W|."""
        return self.loss.value(O, Y) + self._l2_error()

    def _softmax_delta(self, O: Array, Y: Array, dE: Array) -> Array:
        """dE/dZ_L through softmax's whole Jacobian J = diag(O) - O O^T, per sample (column).

        J is symmetric, so J^T dE/dO = O * (dE/dO - sum_k O_k dE/dO_k). With cross-entropy,
        dE/dO = -Y/(O m) and sum_k Y_k = 1, which collapses to (O - Y)/m: computed so, exactly
        (no division by an O that may round to 0).
        """
        if self.loss_name == "ce":
            d: Array = (O - Y) / O.shape[1]
            return d
        d = O * (dE - (O * dE).sum(axis=0, keepdims=True))
        return d

    def backward(self, cache: Cache, Y: Array, grads: Grads | None = None) -> Grads:
        """The chain rule, layer by layer from the output down; also E from the same pass."""
        g = grads if grads is not None else self.new_grads()
        L = self.n_layers
        A = cache.A
        E, dE = self.loss.value_and_grad(A[L], Y)
        g.error = E + self._l2_error()
        if self.output_activation == "softmax":
            d = self._softmax_delta(A[L], Y, dE)
        else:
            # delta_L = dE/dO * dO/dZ_L, e.g. (O - Y) * O(1 - O) for the article.
            d = dE * self._acts[L - 1].df(cache.Z[L], A[L])
        deltas: list[Array] = [d] * L
        for k in range(L - 1, -1, -1):
            deltas[k] = d
            dWa = g.dWa[k]
            # Matrix form: dE/dW = A_(l-1) . delta^T, e.g. (5x5).(5x1) -> 5x1 for W_ho;
            # with A's row of ones the same product gives dE/db as its last row.
            if dWa is not None:
                np.matmul(cache.A_aug[k], d.T, out=dWa)
            else:
                np.matmul(A[k], d.T, out=g.dW[k])
                g.db[k][0] = d.sum()
            if self.l2:
                g.dW[k] += self.l2 * self.W[k]
            if self.l1:
                # The subgradient of |w|: sign(w), 0 at w = 0 exactly (np.sign's convention).
                g.dW[k] += self.l1 * np.sign(self.W[k])
            if k:
                d = (self.W[k] @ d) * self._acts[k - 1].df(cache.Z[k], A[k])
        g.delta = deltas
        return g
