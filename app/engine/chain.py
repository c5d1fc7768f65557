"""The chain rule spelled out for one weight or bias, and the matrix form per layer."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from .network import Cache, Grads, Network, layer_names, weight_name

Array = np.ndarray


# Why dE/dZ = (O - Y)/n for softmax with cross-entropy: the page shows this under the chain.
SOFTMAX_WHY = (
    "Softmax couples the outputs: ∂Oₖ/∂Zⱼ = Oₖ(δₖⱼ − Oⱼ), a Jacobian, not one derivative "
    "per output. Cross-entropy gives ∂E/∂Oₖ = −Yₖ/(Oₖ n). Summed over k: ∂E/∂Zⱼ = "
    "Σₖ −Yₖ/(Oₖ n) · Oₖ(δₖⱼ − Oⱼ) = (Oⱼ Σₖ Yₖ − Yⱼ)/n = (Oⱼ − Yⱼ)/n, since a one-hot Y "
    "sums to 1."
)


def fill_formula(template: str, a: str, z: str) -> str:
    """Write an activation's derivative with the layer's own names (a -> h1, z -> Z1)."""
    return re.sub(r"\bz\b", z, re.sub(r"\ba\b", a, template))


def _neuron(names: list[str], k: int, j: int, width: int) -> str:
    """`h1[3]`, or just `O` for a single output as in the article."""
    return names[k] if width == 1 else f"{names[k]}[{j}]"


def _factor(name: str, formula: str, values: Array) -> dict[str, Any]:
    return {"name": name, "formula": formula, "values": [float(v) for v in values]}


def _output_factors(net: Network, cache: Cache, Y: Array, j: int) -> list[dict[str, Any]]:
    """dE/dO_j and dO_j/dZ_L for output neuron j, per sample."""
    L = net.n_layers
    names = layer_names(L)
    o = _neuron(names, L, j, net.sizes[-1])
    z = f"Z{L}" if net.sizes[-1] == 1 else f"Z{L}[{j}]"
    act = net.act(L - 1)
    if net.output_activation == "softmax":
        # Softmax's outputs are coupled: no per-output dO/dZ. Its Jacobian times dCE/dO
        # collapses (SOFTMAX_WHY) to one factor, dE/dZ = (O - Y)/n.
        n = cache.A[0].shape[1]
        y = "Y" if o == "O" else f"Y[{j}]"
        delta = (cache.A[L][j] - Y[j]) / n
        return [_factor(f"dE/d{z}", f"({o} - {y})/n", delta)]
    dE = net.loss.grad(cache.A[L], Y)[j]
    dO = act.df(cache.Z[L], cache.A[L])[j]
    loss_formula = net.loss.dformula.replace("O", o).replace("Y", "Y" if o == "O" else f"Y[{j}]")
    return [
        _factor(f"dE/d{o}", loss_formula, dE),
        _factor(f"d{o}/d{z}", fill_formula(act.dformula, o, z), dO),
    ]


def _upstream(
    net: Network, cache: Cache, Y: Array, grads: Grads, layer: int, j: int
) -> list[dict[str, Any]]:
    """Factors from E down to Z of neuron j in weight layer `layer` (dE/dZ_j, spelled out)."""
    L = net.n_layers
    if layer == L - 1:
        return _output_factors(net, cache, Y, j)
    names = layer_names(L)
    h = _neuron(names, layer + 1, j, net.sizes[layer + 1])
    z = f"Z{layer + 1}[{j}]"
    act = net.act(layer)
    local = _factor(
        f"d{h}/d{z}",
        fill_formula(act.dformula, h, z),
        act.df(cache.Z[layer + 1], cache.A[layer + 1])[j],
    )
    W_next = net.W[layer + 1]
    w_name = weight_name(layer + 1, L)
    if layer == L - 2 and net.sizes[-1] == 1:
        # The article's own spelling: dE/dO * dO/dZ2 * dZ2/dh1 * dh1/dZ1.
        zL = f"Z{L}"
        wire = np.full(cache.A[0].shape[1], W_next[j, 0])
        return [
            *_output_factors(net, cache, Y, 0),
            _factor(f"d{zL}/d{h}", f"{w_name}[{j},0]", wire),
            local,
        ]
    # Deeper: the back-propagated delta of the layer above, summed over its neurons.
    back = W_next[j] @ grads.delta[layer + 1]
    formula = f"sum_k {w_name}[{j},k] * delta{layer + 2}[k]"
    return [_factor(f"dE/d{h}", formula, back), local]


def breakdown(
    net: Network,
    cache: Cache,
    Y: Array,
    grads: Grads,
    kind: str,
    layer: int,
    i: int | None,
    j: int,
    learning_rate: float,
    theta_new: Array | None = None,
) -> dict[str, Any]:
    """Factors, per-sample products and their sum, which equals backward's gradient entry.

    `theta_new`, the parameters after the optimizer's real next step (momentum and Adam
    included), gives the update's new value; without it, plain gradient descent is shown.
    """
    L = net.n_layers
    if not 0 <= layer < L:
        raise ValueError(f"layer must be between 0 and {L - 1}")
    n_in, n_out = net.W[layer].shape
    names = layer_names(L)
    zname = f"Z{layer + 1}" if n_out == 1 else f"Z{layer + 1}[{j}]"
    sums = "sum_n"  # the sums on the right-hand side of the equation
    if kind == "weight":
        if i is None or not 0 <= i < n_in:
            raise ValueError(f"i must be between 0 and {n_in - 1} for layer {layer}")
        if not 0 <= j < n_out:
            raise ValueError(f"j must be between 0 and {n_out - 1} for layer {layer}")
        factors = _upstream(net, cache, Y, grads, layer, j)
        src = _neuron(names, layer, i, n_in) if layer else f"X[{i}]"
        factors.append(
            _factor(f"d{zname}/d{weight_name(layer, L)}[{i},{j}]", src, cache.A[layer][i])
        )
        value, grad = float(net.W[layer][i, j]), float(grads.dW[layer][i, j])
        name = f"{weight_name(layer, L)}[{i},{j}]"
        l2_term = net.l2 * value
        l1_term = net.l1 * float(np.sign(value))
    elif kind == "bias":
        bname = "b_" + weight_name(layer, L)[2:]
        shared = net.bias_mode == "shared"
        # A shared bias may be asked for through any neuron it feeds, but only those.
        if not 0 <= j < n_out:
            raise ValueError(f"j must be between 0 and {n_out - 1} for layer {layer}")
        if shared:
            # One bias feeds every neuron of the layer: dE/db = sum_n sum_j dE/dZ[j] * dZ[j]/db,
            # and dZ[j]/db = 1, so the first factor is the layer's delta summed over neurons.
            back = grads.delta[layer].sum(axis=0)
            value, grad, name = float(net.b[layer][0]), float(grads.db[layer][0]), bname
            if n_out == 1:
                factors = [_factor(f"dE/d{zname}", f"delta{layer + 1}", back)]
            else:
                zname = f"Z{layer + 1}[j]"
                factors = [_factor(f"dE/d{zname}", f"sum_j delta{layer + 1}[j]", back)]
                factors[0]["sum_over"] = "j"
                sums = "sum_n sum_j"
        else:
            factors = _upstream(net, cache, Y, grads, layer, j)
            value, grad = float(net.b[layer][j]), float(grads.db[layer][j])
            name = f"{bname}[{j}]"
        factors.append(_factor(f"d{zname}/d{name}", "1", np.ones(cache.A[0].shape[1])))
        l2_term = 0.0
        l1_term = 0.0
    else:
        raise ValueError("kind must be 'weight' or 'bias'")
    products = np.prod(np.array([f["values"] for f in factors]), axis=0)
    total = float(products.sum())
    if theta_new is None:
        new = value - learning_rate * grad
    else:
        W_new, b_new, _ = net.views(theta_new)
        if kind == "weight":
            assert i is not None
            new = float(W_new[layer][i, j])
        else:
            new = float(b_new[layer][0 if net.bias_mode == "shared" else j])
    return {
        "kind": kind,
        "layer": layer,
        "i": i if kind == "weight" else None,
        "j": j,
        "name": name,
        "value": value,
        "gradient": grad,
        "samples": int(cache.A[0].shape[1]),
        "loss": net.loss_name,
        "equation": f"dE/d{name} = {sums} " + " * ".join(f["name"] for f in factors),
        "factors": factors,
        "products": [float(p) for p in products],
        "sum": total,
        "l2_term": l2_term,
        "l1_term": l1_term,
        "why": SOFTMAX_WHY if net.output_activation == "softmax" else None,
        "update": {
            "learning_rate": learning_rate,
            "old": value,
            "delta": new - value,
            "new": new,
            "plain_delta": -learning_rate * grad,  # what plain gradient descent would do
        },
    }


def matrix_form(net: Network, cache: Cache, grads: Grads) -> list[dict[str, Any]]:
    """dE/dW_l = A_(l-1) . delta_l^T for every layer, with the operands' shapes."""
    L = net.n_layers
    names = layer_names(L)
    out = []
    for layer in range(L):
        A, d = cache.A[layer], grads.delta[layer]
        w = weight_name(layer, L)
        out.append(
            {
                "layer": layer,
                "name": w,
                "equation": f"dE/d{w} = {names[layer]} . delta{layer + 1}^T",
                "A": {"name": names[layer], "shape": list(A.shape)},
                "delta": {"name": f"delta{layer + 1}", "shape": list(d.shape)},
                "delta_T_shape": [d.shape[1], d.shape[0]],
                "result_shape": list(net.W[layer].shape),
                "W": net.W[layer].tolist(),
                "dW": grads.dW[layer].tolist(),
            }
        )
    return out
