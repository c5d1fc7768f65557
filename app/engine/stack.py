"""Full-batch steps of k runs of one network shape at once, as (k, ...) stacks of arrays.

A run stepped alone goes through the same kernel with k = 1, on views of its own buffers, so a
run stepped in a stack and the same run stepped alone do the same operations on the same
numbers: np.matmul over a (k, n, m) stack calls the same BLAS routine on every (n, m) slice as
on a lone (1, n, m) one, and the elementwise ufuncs compute each element on its own. The
arithmetic is Network.forward/backward's, operation for operation (tests compare the bits), with
the temporaries preallocated and written in place.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from .network import Cache, Grads, Network, penalty

Array = np.ndarray
_matmul, _multiply, _subtract, _add, _tanh = np.matmul, np.multiply, np.subtract, np.add, np.tanh

# What the kernel computes; any other net (softmax, bce/ce, a shared bias) uses Network's passes.
LOSSES = ("half_sse", "mse")
BIASES = ("per_neuron",)


def supports(net: Network) -> bool:
    """Whether the kernel steps this net (else Network.forward/backward do)."""
    return (
        net.loss_name in LOSSES and net.bias_mode in BIASES and net.output_activation != "softmax"
    )


def _const(x: float) -> Array:
    """A read-only 0-d float64: a ufunc takes it ~0.2 us faster than a Python float, same value."""
    a = np.array(x)
    a.flags.writeable = False
    return a


_ZERO, _HALF, _ONE, _LEAK = _const(0.0), _const(0.5), _const(1.0), _const(0.01)


# a = f(z) into a buffer, operation for operation activations.ACTIVATIONS[name].f_into.
def _sigmoid(z: Array, out: Array) -> None:
    _multiply(z, _HALF, out)  # (1 + tanh(z/2))/2: sigmoid_into's four passes
    _tanh(out, out)
    _multiply(out, _HALF, out)
    _add(out, _HALF, out)


def _tanh_f(z: Array, out: Array) -> None:
    _tanh(z, out)


def _relu(z: Array, out: Array) -> None:
    np.maximum(z, _ZERO, out=out)


def _leaky(z: Array, out: Array) -> None:
    _multiply(z, _LEAK, out)
    np.maximum(z, out, out=out)


def _linear(z: Array, out: Array) -> None:
    np.copyto(out, z)


FUNCTIONS: dict[str, Callable[[Array, Array], None]] = {
    "sigmoid": _sigmoid,
    "tanh": _tanh_f,
    "relu": _relu,
    "leaky_relu": _leaky,
    "linear": _linear,
}


# da/dz into a buffer, the same numbers as activations.ACTIVATIONS[name].df(z, a).
def _sigmoid_d(z: Array, a: Array, out: Array) -> None:
    _multiply(a, a, out)  # a(1 - a) as _sigmoid_d writes it: a - a*a
    _subtract(a, out, out)


def _tanh_d(z: Array, a: Array, out: Array) -> None:
    _multiply(a, a, out)  # 1 - a^2 from the cached activation: no second tanh
    _subtract(_ONE, out, out)


def _relu_d(z: Array, a: Array, out: Array) -> None:
    np.greater(z, _ZERO, out)  # True/False written as 1.0/0.0, as (z > 0).astype(float)


def _leaky_d(z: Array, a: Array, out: Array) -> None:
    np.copyto(out, np.where(z > 0, 1.0, 0.01))


def _linear_d(z: Array, a: Array, out: Array) -> None:
    out.fill(1.0)


DERIVATIVES: dict[str, Callable[[Array, Array, Array], None]] = {
    "sigmoid": _sigmoid_d,
    "tanh": _tanh_d,
    "relu": _relu_d,
    "leaky_relu": _leaky_d,
    "linear": _linear_d,
}


def _outer(a: Array, b: Array, out: Array) -> Array:
    """a @ b where the inner dimension is 1, as np.matmul computes it: its loop writes
    0 + a*b, which turns a product of -0.0 into +0.0; one multiply and one add of +0.0 give
    the same bits in two fast passes (np.matmul's loop was 10 us on 16 x 500)."""
    _multiply(a, b, out)
    _add(out, _ZERO, out)
    return out


def _product(a: Array, b: Array) -> Callable[..., Array]:
    """The matrix product for a @ b: np.dot for a lone run's 2-D products (half np.matmul's
    overhead on small ones), np.matmul for stacks (one BLAS call per run), `_outer` where the
    inner dimension is 1. np.dot and np.matmul call the same BLAS routine with the same
    arguments otherwise: the tests compare the bits of every path with Network's."""
    if a.shape[-1] == 1:
        return _outer
    if a.ndim == 2 and b.ndim == 2:
        return np.dot
    return np.matmul


def _weights(sizes: list[int], flat: Array) -> list[Array]:
    """[W; b] of every layer as (k, n_in + 1, n_out) views of (k, P) parameters; 2-D from 1-D."""
    lead, out, pos = flat.shape[:-1], [], 0
    for n_in, n_out in itertools.pairwise(sizes):
        size = (n_in + 1) * n_out
        out.append(flat[..., pos : pos + size].reshape(*lead, n_in + 1, n_out))
        pos += size
    return out


class Stack:
    """k runs of one net on one data set: parameters (k, P), activations (k, n_l (+1), m).

    `Stack.new` allocates buffers for k runs; `Stack.alone` works on a lone run's own buffers
    as they are, without the leading axis (parameters (P,), activations (n_l, m)): the same
    kernel, and on each slice the same BLAS call and the same elementwise operations, but
    2-D products cost a lone run ~0.5 us less per call than (1, n, m) ones (`_product`).
    """

    def __init__(
        self,
        net: Network,
        theta: Array,
        g: Array,
        A_aug: list[Array],
        O: Array,
        Z: list[Array],
        Y: Array,
    ) -> None:
        if not supports(net):
            raise ValueError(
                "the stacked kernel needs half_sse or mse, per-neuron biases, no softmax"
            )
        self.net, self.theta, self.g, self.Y = net, theta, g, Y
        # A lone run's forward buffers and gradients, when the stack is views of them.
        self.cache: Cache | None = None
        self.grads: Grads | None = None
        lead, L, m = theta.shape[:-1], net.n_layers, Y.shape[1]
        self.k, self.L, self.lead = int(np.prod(lead)), L, lead
        self.A_aug, self.O, self.Z = A_aug, O, Z
        self.A = [a[..., :-1, :] for a in A_aug] + [O]  # A[0] = X, A[l] = f(Z[l])
        self.Wa = _weights(net.sizes, theta)
        self.W = [w[..., :-1, :] for w in self.Wa]
        self.dWa = _weights(net.sizes, g)
        self.dW = [w[..., :-1, :] for w in self.dWa]
        acts = [net.act(layer) for layer in range(L)]
        sizes = net.sizes
        # delta[l] = dE/dZ[l + 1] (Grads.delta's numbering); t and back: df and W @ delta.
        self.delta = [np.empty((*lead, n, m)) for n in sizes[1:]]
        self._t = [np.empty((*lead, n, m)) for n in sizes[1:]]
        self._back = [np.empty((*lead, n, m)) for n in sizes[1:]]
        self.r = np.empty((*lead, sizes[-1], m))  # dE/dO
        n = sizes[-1] * m
        self._r_row, self._r_col = self.r.reshape(*lead, 1, n), self.r.reshape(*lead, n, 1)
        self.e = np.empty((*lead, 1, 1))  # r . r per run
        self.mse_scale = 2.0 / n if net.loss_name == "mse" else None
        self.n_outputs = n
        self._forward = []
        for layer in range(L):
            WaT, A_in = self.Wa[layer].swapaxes(-1, -2), self.A_aug[layer]
            f = FUNCTIONS[acts[layer].name]
            self._forward.append(
                (_product(WaT, A_in), WaT, A_in, Z[layer + 1], self.A[layer + 1], f)
            )
        df = [DERIVATIVES[a.name] for a in acts]
        # Layers from the output down: dE/d[W; b] = [A; 1] . delta^T, then delta one layer down.
        self._backward = []
        for layer in range(L - 1, -1, -1):
            A_in, d = self.A_aug[layer], self.delta[layer]
            dT, W = d.swapaxes(-1, -2), self.W[layer]
            down = None
            if layer:
                down = (_product(W, d), self._back[layer - 1], Z[layer], self.A[layer],
                        df[layer - 1], self._t[layer - 1], self.delta[layer - 1])  # fmt: skip
            self._backward.append((_product(A_in, dT), A_in, dT, self.dWa[layer], W, d, down))
        # r . r: np.vdot for a lone run, np.matmul per run of a stack (both BLAS ddot).
        self._dot = np.vdot if not lead else None
        self._out_df = (df[L - 1], Z[L], O, self._t[L - 1], self.delta[L - 1])

    @classmethod
    def alone(cls, net: Network, cache: Cache, grads: Grads, Y: Array) -> Stack:
        """k = 1 on a run's own parameters, gradients and forward buffers (views, no copies)."""
        st = cls(net, net.theta, grads.flat, cache.A_aug, cache.A[-1], cache.Z, Y)
        st.cache, st.grads = cache, grads
        return st

    @classmethod
    def new(cls, net: Network, k: int, X: Array, Y: Array) -> Stack:
        """Buffers of its own for k runs of `net`'s shape on inputs X (n_0 x m), targets Y."""
        m = X.shape[1]
        X_aug = np.ones((X.shape[0] + 1, m))
        X_aug[:-1] = X
        sizes = net.sizes
        # Every run reads the same inputs: one copy, broadcast over the stack.
        A_aug = [np.broadcast_to(X_aug, (k, *X_aug.shape))]
        A_aug += [np.ones((k, n + 1, m)) for n in sizes[1:-1]]
        O = np.empty((k, sizes[-1], m))
        Z = [np.empty((0, 0, 0))] + [np.empty((k, n, m)) for n in sizes[1:]]
        return cls(net, np.empty((k, net.n_params)), np.zeros((k, net.n_params)), A_aug, O, Z, Y)

    def forward(self) -> None:
        """Z = [W; b]^T [A; 1], A = f(Z), layer by layer, for every run."""
        for product, WaT, A_in, Z, A_out, f in self._forward:
            product(WaT, A_in, Z)
            f(Z, A_out)

    def backward(self) -> float | Array:
        """Gradients into g and the deltas; returns r . r (per run of a stack: (k, 1, 1))."""
        net, r = self.net, self.r
        _subtract(self.O, self.Y, r)  # O - Y
        if self._dot is not None:
            rr: float | Array = float(self._dot(r, r))
        else:
            rr = _matmul(self._r_row, self._r_col, self.e)  # per run, the ddot np.vdot calls
        if self.mse_scale is not None:
            _multiply(r, self.mse_scale, r)  # dE/dO = 2(O - Y)/n
        df, Z, O, t, d = self._out_df
        df(Z, O, t)
        _multiply(r, t, d)
        l2, l1 = net.l2, net.l1
        for product, A_aug, dT, dWa, W, d, down in self._backward:
            product(A_aug, dT, dWa)
            if l2 or l1:
                dW = dWa[..., :-1, :]
                if l2:
                    dW += l2 * W
                if l1:
                    dW += l1 * np.sign(W)
            if down is not None:
                product, back, Z, A, df, t, d_down = down
                product(W, d, back)
                df(Z, A, t)
                _multiply(back, t, d_down)
        return rr

    def errors(self) -> list[float]:
        """E per run of a stack, from the last backward(): Network's formula, run by run."""
        raw, n = self.e.ravel().tolist(), self.n_outputs
        losses = [0.5 * v for v in raw] if self.mse_scale is None else [v / n for v in raw]
        net = self.net
        if not (net.l2 or net.l1):
            return [E + 0.0 for E in losses]
        return [E + penalty([W[i] for W in self.W], net.l2, net.l1) for i, E in enumerate(losses)]

    def error(self) -> float:
        """E of a lone run (`Stack.alone`): forward, backward and the error in one call."""
        self.forward()
        raw = self.backward()
        assert isinstance(raw, float)
        net = self.net
        E = 0.5 * raw if self.mse_scale is None else raw / self.n_outputs
        if net.l2 or net.l1:
            return E + penalty(self.W, net.l2, net.l1)
        return E + 0.0

    def deltas(self, i: int) -> list[Array]:
        """Run i's deltas as Grads.delta holds them (views: the next step overwrites them)."""
        return list(self.delta) if not self.lead else [d[i] for d in self.delta]


def sgd_update(learning_rate: float, size: int) -> Callable[[Array, Array], None]:
    """Optimizer.update of plain SGD, theta -= lr * g, for a lone run's hot loop: the rate a
    0-d array, the product into a buffer of its own (the same two operations, the same bits)."""
    lr, step = _const(learning_rate), np.empty(size)

    def sgd(theta: Array, g: Array) -> None:
        _multiply(lr, g, step)
        _subtract(theta, step, theta)

    return sgd


def update(
    name: str, theta: Array, g: Array, state: dict[str, Array], hyper: dict[str, Array]
) -> None:
    """One optimizer step for every run of a stack, element for element optimizers.py's.

    `hyper` holds (k, 1) columns of each run's own numbers (learning rate, and for Adam the
    bias corrections 1 - beta^t), so runs with different rates or step counts share the pass.
    """
    lr = hyper["lr"]
    if name == "sgd":
        theta -= lr * g
    elif name == "momentum":
        v = state["v"]
        v *= hyper["momentum"]
        v += g
        theta -= lr * v
    elif name == "adam":
        m, v = state["m"], state["v"]
        m *= hyper["beta1"]
        m += hyper["one_minus_beta1"] * g
        v *= hyper["beta2"]
        v += hyper["one_minus_beta2"] * (g * g)
        m_hat = m / hyper["correction1"]
        v_hat = v / hyper["correction2"]
        theta -= lr * m_hat / (np.sqrt(v_hat) + hyper["eps"])
    else:
        raise ValueError(f"unknown optimizer {name!r}")


__all__ = ["DERIVATIVES", "FUNCTIONS", "Stack", "sgd_update", "supports", "update"]
