"""One training step, phase by phase: forward, error, backward (output layer first), update."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from .network import Cache, Grads, Network, layer_names, weight_name
from .optimizers import Optimizer

Array = np.ndarray


def trace(
    net: Network,
    cache: Cache,
    Y: Array,
    grads: Grads,
    optimizer: Optimizer,
    batch: Array,
    step: int,
) -> dict[str, Any]:
    """What the next step computes from the current weights, in the order the algorithm runs.

    `cache` and `grads` are the forward and backward pass the session already made at these
    weights on the next step's batch, so every number equals the frame's (and the next frame's)
    bit for bit. Values are NumPy arrays and floats: the caller turns them into JSON.
    """
    L = net.n_layers
    names = layer_names(L)
    forward: list[dict[str, Any]] = [{"layer": 0, "name": names[0], "A": cache.A[0]}]
    for k in range(1, L + 1):
        forward.append({"layer": k, "name": names[k], "Z": cache.Z[k], "A": cache.A[k]})
    O = cache.A[L]
    # dE/dO before the activation's derivative: the article's O - Y for half_sse.
    dE_dO = net.loss.grad(O, Y)
    error = {
        "E": grads.error,
        "loss": net.loss_name,
        "formula": net.loss.formula,
        "Y": Y,
        "dE_dO": dE_dO,
        "l2": net.l2,
        "l1": net.l1,
    }
    backward = [
        {
            "layer": k + 1,
            "name": weight_name(k, L),
            "delta": grads.delta[k],
            "dW": grads.dW[k],
            "db": grads.db[k],
        }
        for k in range(L - 1, -1, -1)
    ]
    # The optimizer's real step (momentum and Adam state included), previewed on copies.
    W_new, b_new, _ = net.views(optimizer.preview(net.theta, grads.flat))
    update = [
        {
            "layer": k + 1,
            "name": weight_name(k, L),
            "W_old": net.W[k],
            "W_new": W_new[k],
            "b_old": net.b[k],
            "b_new": b_new[k],
        }
        for k in range(L)
    ]
    return {
        "step": step,
        "batch": [int(i) for i in batch],
        "bias": net.bias_mode,
        "optimizer": optimizer_info(optimizer),
        "forward": forward,
        "error": error,
        "backward": backward,
        "update": update,
    }


def optimizer_info(optimizer: Optimizer) -> dict[str, Any]:
    """The optimizer's name and hyper-parameters (and Adam's step counter t)."""
    info: dict[str, Any] = {"name": optimizer.name}
    for key in ("learning_rate", "momentum", "beta1", "beta2", "eps", "t"):
        if hasattr(optimizer, key):
            info[key] = getattr(optimizer, key)
    return info


SLICE_POINTS = 41  # odd: the middle point is the parameter's own value
# A change of E below this fraction of E is "flat": under the 10th significant digit, where
# float64's ~16 digits of a sum over the batch are rounding, and where the page, which prints a
# before -> after pair with up to 12 significant digits, could not promise to show it.
FLAT_REL = 1e-10


def slice_view(
    net: Network,
    X: Array,
    Y: Array,
    grads: Grads,
    optimizer: Optimizer,
    kind: str,
    layer: int,
    i: int | None,
    j: int,
    points: int = SLICE_POINTS,
) -> dict[str, Any]:
    """E against one parameter around its value (all others fixed), its slope and next step.

    The span is value +- max(1, 4 |step|), step being the optimizer's real next update of this
    parameter: wide enough to show the curve's shape, and the update arrow always fits. E at
    the next value is computed, not read off the sampled curve, and judged by `verdict`.
    """
    index = param_index(net, kind, layer, i, j)
    value = float(net.theta[index])
    next_value = float(optimizer.preview(net.theta, grads.flat)[index])
    step = next_value - value
    half = max(1.0, 4.0 * abs(step)) if np.isfinite(step) else 1.0
    ws = np.linspace(value - half, value + half, points)
    ws[points // 2] = value  # exactly the current value, not a rounding of it
    # The next value rides along with the curve: one copy of the network, the same arithmetic.
    Es = slice_error(net, X, Y, index, np.append(ws, next_value))
    E_here, next_E = float(Es[points // 2]), float(Es[-1])
    dE_dw = float(grads.flat[index])
    way = direction(dE_dw, step)
    return {
        "kind": kind,
        "layer": layer,
        "i": i if kind == "weight" else None,
        "j": j,
        "value": value,
        "E": grads.error,
        "dE_dw": dE_dw,
        "next_value": next_value,
        "delta": step,
        "next_E": next_E,
        "direction": way,
        "verdict": verdict(E_here, next_E, way),
        "optimizer": optimizer.name,  # whose state may carry a step with the slope
        "span": [float(ws[0]), float(ws[-1])],
        "points": np.column_stack([ws, Es[:-1]]),
    }


def direction(dE_dw: float, step: float) -> str | None:
    """The real step against the slope ("against"), with it ("with"), or "none" if either is 0."""
    if not (np.isfinite(dE_dw) and np.isfinite(step)):
        return None
    if dE_dw == 0.0 or step == 0.0:
        return "none"
    # Gradient descent steps against the slope; momentum's velocity or Adam's m may not.
    return "against" if (step > 0.0) != (dE_dw > 0.0) else "with"


def verdict(E: float, next_E: float, way: str | None) -> str | None:
    """What the step does to E: "flat", "downhill", "overshoot" or "uphill" (None if diverged).

    flat: |next_E - E| <= FLAT_REL * max(|E|, |next_E|). Otherwise E falls (downhill, whichever
    way the step goes) or rises: after a step against the slope E first fell, so the step went
    past the curve's minimum (overshoot); any other rise is uphill.
    """
    if not (way is not None and np.isfinite(E) and np.isfinite(next_E)):
        return None
    change = next_E - E
    if abs(change) <= FLAT_REL * max(abs(E), abs(next_E)):
        return "flat"
    if change < 0.0:
        return "downhill"
    return "overshoot" if way == "against" else "uphill"


def slice_error(net: Network, X: Array, Y: Array, index: int, values: Array) -> Array:
    """E on (X, Y) with theta[index] set to each of `values` in turn, all else fixed."""
    # A copy: the run's own weights (and its forward buffers) are never touched.
    probe = copy.deepcopy(net)
    cache = probe.new_cache(X.shape[1])
    out = np.empty(values.size)
    for n, v in enumerate(values):
        probe.theta[index] = v
        out[n] = probe.error(probe.forward(X, cache).A[-1], Y)
    return out


def param_index(net: Network, kind: str, layer: int, i: int | None, j: int) -> int:
    """Position of W[layer][i, j] or b[layer][j] in the flat parameter vector; ValueError if bad."""
    L = net.n_layers
    if not 0 <= layer < L:
        raise ValueError(f"layer must be between 0 and {L - 1}")
    n_in, n_out = net.W[layer].shape
    if not 0 <= j < n_out:
        raise ValueError(f"j must be between 0 and {n_out - 1} for layer {layer}")
    marker = np.zeros(net.n_params)
    W, b, _ = net.views(marker)
    if kind == "weight":
        if i is None or not 0 <= i < n_in:
            raise ValueError(f"i must be between 0 and {n_in - 1} for layer {layer}")
        W[layer][i, j] = 1.0
    elif kind == "bias":
        # A shared bias is one number however many neurons it feeds.
        b[layer][0 if net.bias_mode == "shared" else j] = 1.0
    else:
        raise ValueError("kind must be 'weight' or 'bias'")
    return int(np.flatnonzero(marker)[0])
