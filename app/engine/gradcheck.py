"""Central differences against backward: the relative error per tensor."""

from __future__ import annotations

from typing import Any

import numpy as np

from .network import Network, weight_name

Array = np.ndarray


def numerical(
    net: Network, X: Array, Y: Array, eps: float = 1e-6
) -> tuple[list[Array], list[Array]]:
    """dE/dW and dE/db by (E(p + eps) - E(p - eps)) / 2 eps, one parameter at a time."""
    theta = net.theta
    flat = np.zeros_like(theta)
    for k in range(theta.size):
        keep = theta[k]
        theta[k] = keep + eps
        up = net.error(net.output(X), Y)
        theta[k] = keep - eps
        down = net.error(net.output(X), Y)
        theta[k] = keep  # restore exactly: the check must not move the run
        flat[k] = (up - down) / (2 * eps)
    nW, nb, _ = net.views(flat)
    return nW, nb


def relative_error(a: Array, b: Array) -> float:
    """||a - b|| / max(||a|| + ||b||, tiny): 0 when both are 0."""
    denom = float(np.linalg.norm(a) + np.linalg.norm(b))
    return float(np.linalg.norm(a - b)) / denom if denom > 1e-300 else 0.0


def check(net: Network, X: Array, Y: Array, eps: float = 1e-6) -> dict[str, Any]:
    """Analytic vs numerical gradients per layer, with the worst relative error."""
    grads = net.backward(net.forward(X), Y)
    nW, nb = numerical(net, X, Y, eps)
    layers = []
    for layer in range(net.n_layers):
        layers.append(
            {
                "layer": layer,
                "name": weight_name(layer, net.n_layers),
                "weights_relative_error": relative_error(grads.dW[layer], nW[layer]),
                "biases_relative_error": relative_error(grads.db[layer], nb[layer]),
                "analytic": {
                    "weights": grads.dW[layer].tolist(),
                    "biases": grads.db[layer].tolist(),
                },
                "numerical": {"weights": nW[layer].tolist(), "biases": nb[layer].tolist()},
            }
        )
    worst = max(
        max(relative_error(grads.dW[k], nW[k]), relative_error(grads.db[k], nb[k]))
        for k in range(net.n_layers)
    )
    # Vanishing gradients (deep sigmoid nets) are below central differences' own noise, where
    # the relative error says little: the absolute error tells the two cases apart.
    abs_err = max(
        float(np.max(np.abs(a - n)))
        for a, n in zip([*grads.dW, *grads.db], [*nW, *nb], strict=True)
    )
    return {"eps": eps, "max_relative_error": worst, "max_abs_error": abs_err, "layers": layers}
