"""The chain-rule breakdown: factors multiply to the products, products sum to the gradient."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from app.domain.presets import resolve
from app.domain.protocol import SessionConfigIn
from app.domain.session import TrainingSession


def session(steps=0, **cfg):
    s = TrainingSession(resolve(SessionConfigIn(**cfg)))
    s.step(steps)
    return s


NETS: dict[str, dict[str, Any]] = {
    "article": dict(preset="article"),
    "tanh_mse_2332": dict(
        preset="xor",
        layers=[2, 3, 3, 2],
        activation="tanh",
        output_activation="tanh",
        loss="mse",
        dataset={
            "x": [[0.1, -0.4], [0.7, 0.2], [-0.5, 0.9], [0.3, 0.3]],
            "y": [[0.5, -0.2], [0.1, 0.8], [-0.6, 0.4], [0.2, 0.0]],
        },
    ),
    "shared_bias": dict(preset="article", bias="shared", l2=0.05),
    "deep_l2": dict(
        preset="deep_sigmoid",
        layers=[2, 4, 3, 3, 1],
        l2=0.02,
        dataset={"name": "circle", "samples": 12},
    ),
    "relu_bce_minibatch": dict(
        preset="xor",
        activation="leaky_relu",
        batch_size=7,
        dataset={"name": "xor", "samples": 20, "test_fraction": 0.25},
    ),
}


def every_parameter(frame, shared):
    for layer, W in enumerate(frame["weights"]):
        for i, row in enumerate(W):
            for j in range(len(row)):
                yield "weight", layer, i, j, frame["gradients"]["weights"][layer][i][j], W[i][j]
        for j, b in enumerate(frame["biases"][layer]):
            yield "bias", layer, None, j, frame["gradients"]["biases"][layer][j], b
        if shared:
            assert len(frame["biases"][layer]) == 1


@pytest.mark.parametrize("name", list(NETS))
def test_chain_products_and_sum_equal_the_gradient_for_every_parameter(name):
    s = session(steps=3, **NETS[name])
    frame = s.snapshot()
    shared = s.config.bias == "shared"
    lr = frame["learning_rate"]
    l2 = s.config.l2
    batch = s.config.batch_size or len(s.data()["x"])
    count = 0
    for kind, layer, i, j, grad, value in every_parameter(frame, shared):
        c = s.chain(kind, layer, i, j)
        count += 1
        assert (c["kind"], c["layer"], c["i"], c["j"]) == (kind, layer, i, j)
        assert c["samples"] == batch
        assert c["value"] == value
        assert c["gradient"] == grad
        factors = np.array([f["values"] for f in c["factors"]])
        assert factors.shape == (len(c["factors"]), batch)
        assert all(f["name"] and f["formula"] for f in c["factors"])
        np.testing.assert_allclose(c["products"], factors.prod(axis=0), rtol=1e-12, atol=1e-300)
        assert c["sum"] == pytest.approx(math.fsum(c["products"]), rel=1e-12, abs=1e-300)
        # the sum over the batch (plus L2's l2 * W for weights) is the frame's gradient entry
        expected_l2 = l2 * value if kind == "weight" else 0.0
        assert c["l2_term"] == pytest.approx(expected_l2, rel=1e-15, abs=0)
        scale = max(abs(grad), 1e-9 * max(abs(p) for p in [*c["products"], 1e-300]))
        assert abs(c["sum"] + c["l2_term"] - grad) <= 1e-10 * scale + 1e-18
        u = c["update"]
        assert u["learning_rate"] == lr
        assert u["old"] == value
        assert u["new"] == pytest.approx(value - lr * grad, rel=1e-15, abs=1e-300)
        json.dumps(c, allow_nan=False)
    n_params = sum(len(W) * len(W[0]) + len(b) for W, b in zip(*arrays(frame), strict=True))
    assert count == n_params


def arrays(frame):
    return frame["weights"], frame["biases"]


def test_chain_sum_changes_with_the_data_not_a_constant():
    """Guard against a vacuous pass: distinct weights get distinct, nonzero gradients."""
    s = session(preset="article")
    sums = {s.chain("weight", 0, i, j)["sum"] for i in range(4) for j in range(5)}
    assert len(sums) == 20
    assert all(v != 0 for v in sums)


def test_article_factor_names_and_values_for_w_ih():
    s = session(preset="article")
    frame = s.snapshot()
    d = s.data()
    X, Y = np.array(d["x"]).T, np.array(d["y"]).T
    W_ih, W_ho = (np.array(W) for W in frame["weights"])
    b_ih, b_ho = (np.array(b) for b in frame["biases"])
    h1 = 1 / (1 + np.exp(-(W_ih.T @ X + b_ih[:, None])))
    O = 1 / (1 + np.exp(-(W_ho.T @ h1 + b_ho[:, None])))
    i, j = 2, 3
    c = s.chain("weight", 0, i, j)
    assert c["name"] == "W_ih[2,3]"
    assert [f["name"] for f in c["factors"]] == [
        "dE/dO",
        "dO/dZ2",
        "dZ2/dh1[3]",
        "dh1[3]/dZ1[3]",
        "dZ1[3]/dW_ih[2,3]",
    ]
    expected = [O - Y, O * (1 - O), np.full((1, 5), W_ho[j, 0]), h1[j] * (1 - h1[j]), X[i]]
    for f, e in zip(c["factors"], expected, strict=True):
        np.testing.assert_allclose(f["values"], np.ravel(e), rtol=1e-12)
    assert c["factors"][0]["formula"] == "O - Y"
    assert c["loss"] == "half_sse"
    # and W_ho: dE/dO * dO/dZ2 * dZ2/dW_ho[j]
    c = s.chain("weight", 1, 4, 0)
    assert c["name"] == "W_ho[4,0]"
    assert [f["name"] for f in c["factors"]][:2] == ["dE/dO", "dO/dZ2"]
    np.testing.assert_allclose(c["factors"][-1]["values"], h1[4], rtol=1e-12)


@pytest.mark.parametrize(
    ("kind", "layer", "i", "j"),
    [
        ("weight", -1, 0, 0),
        ("weight", 2, 0, 0),
        ("weight", 0, 4, 0),
        ("weight", 0, -1, 0),
        ("weight", 0, 0, 5),
        ("weight", 0, 0, -1),
        ("weight", 1, 0, 1),
        ("weight", 0, None, 0),
        ("bias", 0, None, 5),
        ("bias", 1, None, 1),
        ("bias", 2, None, 0),
        ("bias", 0, None, -1),
        ("gradient", 0, 0, 0),
    ],
)
def test_bad_indices_raise_value_error(kind, layer, i, j):
    s = session(preset="article")
    with pytest.raises(ValueError):
        s.chain(kind, layer, i, j)


@pytest.mark.parametrize("j", [5, -1])
def test_shared_bias_rejects_neurons_outside_the_layer(j):
    s = session(preset="article", bias="shared")
    with pytest.raises(ValueError):
        s.chain("bias", 0, None, j)


def test_shared_bias_is_the_same_through_any_neuron_it_feeds():
    s = session(preset="article", bias="shared")
    frame = s.snapshot()
    answers = [s.chain("bias", 0, None, j) for j in range(5)]
    assert {a["name"] for a in answers} == {"b_ih"}
    assert {a["sum"] for a in answers} == {answers[0]["sum"]}
    assert answers[0]["sum"] == pytest.approx(frame["gradients"]["biases"][0][0], rel=1e-12)
