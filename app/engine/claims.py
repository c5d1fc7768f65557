"""The article's closing claims, measured on a live network.

The article says backprop updates the layer nearest the output first, recomputes the loss, then
moves inward, and that it "converges faster" than forward propagation. What is true, computed:
- backprop gets every gradient from one forward and one backward pass (delta reused from the
  output layer in); estimating them by central differences takes two forward passes per
  parameter, so backprop is cheaper per step, not a different, faster-converging rule;
- gradient descent updates every layer at once from those gradients; the article's sequential
  scheme (output layer, recompute, next layer in) is another algorithm and lands elsewhere;
- early in training an output that barely varies across samples sits at the mean of Y.

Pure NumPy: passes are counted on copies of the network, the live one is never touched.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .gradcheck import numerical
from .network import Network, weight_name

Array = np.ndarray

# "Predicting about the mean": the outputs' spread across samples (max - min) and their mean's
# distance from the mean of Y are both under this share of Y's own spread.
MEAN_THRESHOLD = 0.2


class Counted:
    """A copy of a network whose forward and backward passes are counted as they run."""

    def __init__(self, net: Network) -> None:
        self.net = copy.deepcopy(net)
        self.forward_passes = 0
        self.backward_passes = 0
        forward, backward = self.net.forward, self.net.backward

        def counted_forward(*args: Any, **kwargs: Any) -> Any:
            self.forward_passes += 1
            return forward(*args, **kwargs)

        def counted_backward(*args: Any, **kwargs: Any) -> Any:
            self.backward_passes += 1
            return backward(*args, **kwargs)

        # Instance attributes shadow the methods, so output() and gradcheck's calls count too.
        setattr(self.net, "forward", counted_forward)  # noqa: B010
        setattr(self.net, "backward", counted_backward)  # noqa: B010

    def passes(self) -> dict[str, int]:
        """Forward and backward passes made so far."""
        return {"forward_passes": self.forward_passes, "backward_passes": self.backward_passes}


def _num(x: float) -> float | None:
    """A finite float, else None (JSON never carries NaN)."""
    x = float(x)
    return x if math.isfinite(x) else None


def gradients_two_ways(net: Network, X: Array, Y: Array, eps: float = 1e-6) -> dict[str, Any]:
    """Every dE/dW and dE/db by backprop and by central differences, with the passes counted."""
    bp = Counted(net)
    grads = bp.net.backward(bp.net.forward(X), Y)
    fd = Counted(net)
    nW, nb = numerical(fd.net, X, Y, eps)
    layers = []
    worst = 0.0
    for k in range(net.n_layers):
        diff = max(
            float(np.max(np.abs(grads.dW[k] - nW[k]))), float(np.max(np.abs(grads.db[k] - nb[k])))
        )
        layers.append(
            {
                "layer": k,
                "name": weight_name(k, net.n_layers),
                "parameters": int(grads.dW[k].size + grads.db[k].size),
                "max_abs_gradient": _num(
                    max(float(np.max(np.abs(grads.dW[k]))), float(np.max(np.abs(grads.db[k]))))
                ),
                "max_abs_difference": _num(diff),
            }
        )
        worst = max(worst, diff) if not math.isnan(diff) else math.nan
    return {
        "parameters": net.n_params,
        "samples": int(X.shape[1]),
        "backprop": bp.passes(),
        "finite_differences": {**fd.passes(), "eps": eps},
        "max_abs_difference": _num(worst),
        "layers": layers,
    }


def sequential_vs_simultaneous(
    net: Network, X: Array, Y: Array, learning_rate: float
) -> dict[str, Any]:
    """One step of W -= lr dE/dW: every layer at once (backprop) vs the article's sequence.

    Sequence: update the output layer, forward and backward again (the loss and delta
    recomputed with the moved layer), update the next layer in, and so on down to the first.
    """
    L = net.n_layers
    sim = Counted(net)
    g = sim.net.backward(sim.net.forward(X), Y)
    E_before = g.error
    sim.net.theta -= learning_rate * g.flat  # every layer at once, from the same gradients
    sim_passes = sim.passes()
    E_sim = sim.net.error(sim.net.output(X), Y)  # measuring E is not part of the update

    seq = Counted(net)
    stages: list[dict[str, Any]] = []
    for k in range(L - 1, -1, -1):
        g = seq.net.backward(seq.net.forward(X), Y)  # E and delta at the weights moved so far
        if stages:
            stages[-1]["E_after"] = _num(g.error)
        seq.net.W[k][...] -= learning_rate * g.dW[k]
        seq.net.b[k][...] -= learning_rate * g.db[k]
        stages.append({"layer": k, "name": weight_name(k, L), "E_after": None})
    seq_passes = seq.passes()
    E_seq = seq.net.error(seq.net.output(X), Y)
    stages[-1]["E_after"] = _num(E_seq)

    layers = []
    for k in range(L):
        dW = np.abs(seq.net.W[k] - sim.net.W[k])
        db = np.abs(seq.net.b[k] - sim.net.b[k])
        layers.append(
            {
                "layer": k,
                "name": weight_name(k, L),
                "max_abs_difference": _num(max(float(np.max(dW)), float(np.max(db)))),
            }
        )
    return {
        "learning_rate": learning_rate,
        "E_before": _num(E_before),
        "simultaneous": {**sim_passes, "E_after": _num(E_sim)},
        "sequential": {**seq_passes, "E_after": _num(E_seq), "stages": stages},
        "E_difference": _num(E_seq - E_sim),
        "max_abs_parameter_difference": _num(float(np.max(np.abs(seq.net.theta - sim.net.theta)))),
        "layers": layers,
    }


def output_spread(O: Array, Y: Array) -> dict[str, float]:
    """How much the outputs differ across samples, against the targets (worst output row)."""
    spread_O = np.ptp(O, axis=1)
    spread_Y = np.ptp(Y, axis=1)
    mean_O, mean_Y = O.mean(axis=1), Y.mean(axis=1)
    with np.errstate(all="ignore"):
        ratio = np.where(spread_Y > 0, spread_O / spread_Y, np.inf)
        offset = np.where(spread_Y > 0, np.abs(mean_O - mean_Y) / spread_Y, np.inf)
    r = int(np.argmax(np.nan_to_num(ratio, nan=np.inf)))
    return {
        "spread_O": float(spread_O[r]),
        "spread_Y": float(spread_Y[r]),
        "mean_O": float(mean_O[r]),
        "mean_Y": float(mean_Y[r]),
        "spread_ratio": float(np.max(ratio)),
        "mean_offset": float(np.max(offset)),
    }


def mean_check(Y: Array, threshold: float = MEAN_THRESHOLD) -> Callable[[Array], bool]:
    """A test of outputs O against these targets: about constant and about at the mean of Y.

    As output_spread()'s two ratios under the threshold, without dividing, with Y's numbers
    worked out once (a scan runs the test at every step). A constant target (room 0) or a
    non-finite output never qualifies.
    """
    room = threshold * np.ptp(Y, axis=1)
    mean_Y = Y.mean(axis=1)
    n = Y.shape[1]

    def check(O: Array) -> bool:
        if n < 2:
            return False
        spread = O.max(axis=1) - O.min(axis=1)
        offset = np.abs(O.sum(axis=1) / n - mean_Y)
        return bool((spread < room).all() and (offset < room).all())

    return check


def predicts_mean(O: Array, Y: Array, threshold: float = MEAN_THRESHOLD) -> bool:
    """Every output is about constant across samples and about the mean of its targets."""
    return mean_check(Y, threshold)(O)


def phase_around(steps: list[int], flags: list[bool], at: int) -> tuple[int, int | None] | None:
    """The run of steps where flags hold that contains `at`, else the last one before it, else
    the first one after it: (first step, first step after it, None if still on at the end)."""
    runs: list[tuple[int, int | None]] = []
    start: int | None = None
    for s, f in zip(steps, flags, strict=True):
        if f and start is None:
            start = s
        elif not f and start is not None:
            runs.append((start, s))
            start = None
    if start is not None:
        runs.append((start, None))
    if not runs:
        return None
    for a, b in runs:
        if a <= at and (b is None or at < b):
            return a, b
    before = [r for r in runs if r[1] is not None and r[1] <= at]
    return before[-1] if before else runs[0]


def mean_evidence(net: Network, X: Array, Y: Array) -> dict[str, Any]:
    """Why the outputs sit at the mean: E against the mean's own E, and the gradients."""
    cache = net.forward(X)
    g = net.backward(cache, Y)
    O = cache.A[-1]
    L = net.n_layers
    hidden = cache.A[L - 1] if L > 1 else X
    mean_Y = Y.mean(axis=1, keepdims=True)
    return {
        **output_spread(O, Y),
        "E": _num(g.error),
        # The error of answering the mean of Y for every sample.
        "E_of_mean": _num(net.error(np.broadcast_to(mean_Y, Y.shape).copy(), Y)),
        "bias_gradient": _num(float(np.max(np.abs(g.db[L - 1])))),
        "weight_gradient": _num(max(float(np.max(np.abs(dW))) for dW in g.dW)),
        # How much the last hidden layer's activations differ across samples: the weights'
        # gradients sum (O - Y) times them, so they need such differences.
        "hidden_spread": _num(float(np.max(np.ptp(hidden, axis=1)))),
    }
