"""The trace of one step (forward, error, backward, update) and the slice of E along one weight."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import numpy as np
import pytest

from app.domain.presets import resolve
from app.domain.protocol import SessionConfigIn
from app.domain.session import TrainingSession
from app.engine.optimizers import Adam, Momentum, Optimizer


def session(**config: Any) -> TrainingSession:
    """A session from a preset and overrides."""
    return TrainingSession(resolve(SessionConfigIn.model_validate(config)))


def strict(payload: Any) -> Any:
    """A round trip through JSON that refuses NaN and Infinity."""
    return json.loads(json.dumps(payload, allow_nan=False))


NETS: dict[str, dict[str, Any]] = {
    "article": {"preset": "article"},
    "shared_l2": {"preset": "article", "bias": "shared", "l2": 0.05},
    "deep_tanh_mse": {
        "layers": [2, 4, 3, 1],
        "activation": "tanh",
        "loss": "mse",
        "dataset": {"name": "circle", "samples": 12},
    },
    "minibatch_bce": {
        "layers": [2, 5, 2],
        "output_activation": "sigmoid",
        "loss": "bce",
        "batch_size": 4,
        "dataset": {"name": "xor", "samples": 20, "test_fraction": 0.25},
    },
    "relu_shared_momentum": {
        "layers": [2, 6, 1],
        "activation": "relu",
        "bias": "shared",
        "optimizer": {"name": "momentum", "learning_rate": 0.1},
        "dataset": {"name": "gauss", "samples": 16},
    },
}


# ---- a from-scratch reference of the article's network, written plainly ------------------------


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def article_reference(
    X: list[list[float]],
    Y: list[float],
    W_ih: list[list[float]],
    b_ih: list[float],
    W_ho: list[list[float]],
    b_ho: float,
) -> dict[str, Any]:
    """The article's equations one number at a time (4 inputs, 5 hidden, 1 output)."""
    n_in, n_h, m = len(X), len(b_ih), len(Y)
    Z1 = [
        [sum(W_ih[i][j] * X[i][s] for i in range(n_in)) + b_ih[j] for s in range(m)]
        for j in range(n_h)
    ]
    h1 = [[sigmoid(Z1[j][s]) for s in range(m)] for j in range(n_h)]
    Z2 = [sum(W_ho[j][0] * h1[j][s] for j in range(n_h)) + b_ho for s in range(m)]
    O = [sigmoid(z) for z in Z2]
    E = 0.5 * sum((Y[s] - O[s]) ** 2 for s in range(m))
    dE_dO = [O[s] - Y[s] for s in range(m)]
    delta2 = [dE_dO[s] * O[s] * (1 - O[s]) for s in range(m)]
    delta1 = [
        [delta2[s] * W_ho[j][0] * h1[j][s] * (1 - h1[j][s]) for s in range(m)] for j in range(n_h)
    ]
    dW_ho = [[sum(h1[j][s] * delta2[s] for s in range(m))] for j in range(n_h)]
    db_ho = [sum(delta2)]
    dW_ih = [
        [sum(X[i][s] * delta1[j][s] for s in range(m)) for j in range(n_h)] for i in range(n_in)
    ]
    db_ih = [sum(delta1[j]) for j in range(n_h)]
    return {
        "Z1": Z1, "h1": h1, "Z2": [Z2], "O": [O], "E": E, "dE_dO": [dE_dO],
        "delta2": [delta2], "delta1": delta1,
        "dW_ho": dW_ho, "db_ho": db_ho, "dW_ih": dW_ih, "db_ih": db_ih,
    }  # fmt: skip


def test_article_trace_equals_the_plain_reference() -> None:
    s = session(preset="article")
    s.step(7)
    t = s.trace()
    f = s.snapshot()
    X = t["forward"][0]["A"]
    Y = t["error"]["Y"][0]
    ref = article_reference(
        X, Y, f["weights"][0], f["biases"][0], f["weights"][1], f["biases"][1][0]
    )

    def close(a: Any, b: Any) -> None:
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-12, atol=1e-15)

    assert [p["layer"] for p in t["forward"]] == [0, 1, 2]
    assert [p["name"] for p in t["forward"]] == ["X", "h1", "O"]
    assert np.array(X).shape == (4, 5)  # samples are columns, as in the article
    close(t["forward"][1]["Z"], ref["Z1"])
    close(t["forward"][1]["A"], ref["h1"])
    close(t["forward"][2]["Z"], ref["Z2"])
    close(t["forward"][2]["A"], ref["O"])
    assert t["error"]["E"] == pytest.approx(ref["E"], rel=1e-12)
    close(t["error"]["dE_dO"], ref["dE_dO"])
    # Backward runs from the output layer in.
    assert [p["layer"] for p in t["backward"]] == [2, 1]
    assert [p["name"] for p in t["backward"]] == ["W_ho", "W_ih"]
    close(t["backward"][0]["delta"], ref["delta2"])
    close(t["backward"][1]["delta"], ref["delta1"])
    close(t["backward"][0]["dW"], ref["dW_ho"])
    close(t["backward"][0]["db"], ref["db_ho"])
    close(t["backward"][1]["dW"], ref["dW_ih"])
    close(t["backward"][1]["db"], ref["db_ih"])
    # dW has the weight's own shape (n_in, n_out).
    assert np.array(t["backward"][1]["dW"]).shape == (4, 5)
    assert np.array(t["backward"][0]["dW"]).shape == (5, 1)
    # SGD: W_new = W_old - lr * dW, the article's update.
    lr = f["learning_rate"]
    close(t["update"][0]["W_new"], np.array(f["weights"][0]) - lr * np.array(ref["dW_ih"]))
    close(t["update"][1]["b_new"], np.array(f["biases"][1]) - lr * np.array(ref["db_ho"]))


def numerical_gradient(
    s: TrainingSession, t: dict[str, Any], h: float = 1e-6
) -> list[tuple[Any, Any]]:
    """Central differences of E on the trace's batch, per layer: (dW, db)."""
    X = np.array(t["forward"][0]["A"], dtype=float)
    Y = np.array(t["error"]["Y"], dtype=float)
    net = copy.deepcopy(s.net)
    E = lambda: net.error(net.forward(X).A[-1], Y)  # noqa: E731
    grad = np.zeros(net.n_params)
    for k in range(net.n_params):
        old = net.theta[k]
        net.theta[k] = old + h
        up = E()
        net.theta[k] = old - h
        down = E()
        net.theta[k] = old
        grad[k] = (up - down) / (2 * h)
    W, b, _ = net.views(grad)
    return list(zip(W, b, strict=True))


@pytest.mark.parametrize("name", list(NETS))
def test_trace_gradients_match_finite_differences_and_the_frame(name: str) -> None:
    s = session(**NETS[name])
    s.step(5)
    t = s.trace()
    f = s.snapshot()
    numeric = numerical_gradient(s, t)
    L = len(f["weights"])
    for entry in t["backward"]:
        k = entry["layer"] - 1
        dW_num, db_num = numeric[k]
        np.testing.assert_allclose(entry["dW"], dW_num, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(entry["db"], db_num, rtol=1e-5, atol=1e-8)
        # The trace's gradients are the frame's, bit for bit.
        assert entry["dW"] == f["gradients"]["weights"][k]
        assert entry["db"] == f["gradients"]["biases"][k]
        n_out = np.array(entry["dW"]).shape[1]
        assert np.array(entry["delta"]).shape == (n_out, len(t["batch"]))
    assert [e["layer"] for e in t["backward"]] == list(range(L, 0, -1))
    assert [e["layer"] for e in t["update"]] == list(range(1, L + 1))
    # E of the error phase is E on the batch, L2 term included.
    X = np.array(t["forward"][0]["A"])
    Y = np.array(t["error"]["Y"])
    assert t["error"]["E"] == pytest.approx(
        s.net.error(copy.deepcopy(s.net).forward(X).A[-1], Y), rel=1e-12
    )
    for layer in t["forward"][1:]:
        assert np.array(layer["A"]).shape[1] == len(t["batch"])


OPTIMIZERS = [
    {"name": "sgd", "learning_rate": 0.5},
    {"name": "momentum", "learning_rate": 0.3, "momentum": 0.8},
    {"name": "adam", "learning_rate": 0.05},
]


@pytest.mark.parametrize("bias", ["per_neuron", "shared"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda o: o["name"])
@pytest.mark.parametrize("batch_size", [None, 2])
def test_update_phase_is_the_next_frame(
    optimizer: dict[str, Any], bias: str, batch_size: int | None
) -> None:
    s = session(preset="article", optimizer=optimizer, bias=bias, batch_size=batch_size, l2=0.01)
    for steps in (0, 1, 6):  # fresh optimizer state, then momentum / moments built up
        if steps:
            s.step(steps)
        t = s.trace()
        nxt = s.step(1)
        for k, u in enumerate(t["update"]):
            assert u["W_new"] == nxt["weights"][k]
            assert u["b_new"] == nxt["biases"][k]
            if bias == "shared":
                assert len(u["b_new"]) == 1 and len(u["b_old"]) == 1
        assert t["step"] + 1 == nxt["step"]
    assert t["optimizer"]["name"] == optimizer["name"]


def test_the_update_is_the_optimizer_s_not_plain_descent() -> None:
    # The case: Adam, lr 0.05, step 0 moves every weight by about lr, not lr * grad.
    s = session(preset="article", optimizer={"name": "adam", "learning_rate": 0.05})
    t = s.trace()
    moved = np.array(t["update"][0]["W_new"]) - np.array(t["update"][0]["W_old"])
    np.testing.assert_allclose(np.abs(moved), 0.05, rtol=1e-3)
    chain = s.chain("weight", 0, 2, 3)
    nxt = s.step(1)
    assert chain["update"]["new"] == nxt["weights"][0][2][3]
    assert abs(chain["update"]["delta"]) == pytest.approx(0.05, rel=1e-3)
    assert abs(chain["update"]["plain_delta"]) < 0.01


def test_taking_a_trace_changes_nothing() -> None:
    config = {
        "preset": "article",
        "batch_size": 2,
        "optimizer": {"name": "adam", "learning_rate": 0.05},
    }
    traced, plain = session(**config), session(**config)
    for _ in range(7):
        a = traced.trace()
        b = traced.trace()
        assert a == b  # the batch was drawn once: looking twice shows the same
        assert a["batch"] == traced.batch()
        traced.slice("weight", 0, 1, 1)
        traced.step(1)
        plain.step(1)
    assert traced.snapshot() == plain.snapshot()


def test_the_batch_is_the_one_the_next_step_trains_on() -> None:
    s = session(preset="article", batch_size=2)
    t = s.trace()
    X = np.array(s.data()["x"]).T
    np.testing.assert_array_equal(np.array(t["forward"][0]["A"]), X[:, t["batch"]])
    assert len(t["batch"]) == 2
    full = session(preset="article").trace()
    assert full["batch"] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("cls", [Optimizer, Momentum, Adam])
def test_preview_leaves_the_optimizer_and_theta_alone(cls: type[Optimizer]) -> None:
    rng = np.random.default_rng(3)
    theta, g = rng.normal(size=10), rng.normal(size=10)
    opt = cls(0.1)
    for _ in range(3):
        opt.update(theta, g)
    state = copy.deepcopy(vars(opt))
    before = theta.copy()
    preview = opt.preview(theta, g)
    assert np.array_equal(theta, before)
    for key, value in vars(opt).items():
        assert (
            np.array_equal(value, state[key])
            if isinstance(value, np.ndarray)
            else value == state[key]
        )
    opt.update(theta, g)
    assert np.array_equal(preview, theta)


def test_a_diverged_trace_has_no_nan() -> None:
    s = session(
        layers=[4, 5, 1], activation="linear", output_activation="linear", loss="mse",
        optimizer={"name": "sgd", "learning_rate": 1e6},
    )  # fmt: skip
    s.step(50)
    assert s.diverged
    t = strict(s.trace())
    flat = json.dumps(t)
    assert "null" in flat
    strict(s.slice("weight", 0, 0, 0))
    strict(s.chain("weight", 0, 0, 0))


# ---- slice ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "layer", "i", "j"),
    [("weight", 0, 2, 3), ("weight", 1, 4, 0), ("bias", 0, None, 1), ("bias", 1, None, 0)],
)
@pytest.mark.parametrize("bias", ["per_neuron", "shared"])
def test_slice_is_E_along_one_parameter(
    kind: str, layer: int, i: int | None, j: int, bias: str
) -> None:
    s = session(preset="article", bias=bias, optimizer={"name": "momentum", "learning_rate": 2.0})
    s.step(3)
    sl = strict(s.slice(kind, layer, i, j))
    pts = np.array(sl["points"])
    assert pts.shape == (41, 2)
    assert np.all(np.diff(pts[:, 0]) > 0)
    mid = pts[20]
    assert mid[0] == sl["value"]
    assert mid[1] == pytest.approx(sl["E"], rel=1e-12)
    # The span holds the update arrow: value +- max(1, 4 |step|).
    half = max(1.0, 4 * abs(sl["next_value"] - sl["value"]))
    assert sl["span"] == pytest.approx([sl["value"] - half, sl["value"] + half])
    # The slope at the value is dE/dw: a tangent's central difference from E itself.
    net = copy.deepcopy(s.net)
    t = s.trace()
    X, Y = np.array(t["forward"][0]["A"]), np.array(t["error"]["Y"])
    W, b, _ = net.views(net.theta)
    cell = (W[layer], (i, j)) if kind == "weight" else (b[layer], (0 if bias == "shared" else j,))
    h = 1e-6
    cell[0][cell[1]] = sl["value"] + h
    up = net.error(net.forward(X).A[-1], Y)
    cell[0][cell[1]] = sl["value"] - h
    down = net.error(net.forward(X).A[-1], Y)
    assert sl["dE_dw"] == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-9)
    # Some point of the curve is the E a plain evaluation gives at that value.
    cell[0][cell[1]] = pts[3, 0]
    assert pts[3, 1] == pytest.approx(net.error(net.forward(X).A[-1], Y), rel=1e-12)
    # next_value is where the next step really puts this parameter.
    nxt = s.step(1)
    got = (
        nxt["weights"][layer][i][j]
        if kind == "weight"
        else nxt["biases"][layer][0 if bias == "shared" else j]
    )
    assert sl["next_value"] == got


@pytest.mark.parametrize(
    ("kind", "layer", "i", "j", "needle"),
    [
        ("weight", 2, 0, 0, "layer must be between 0 and 1"),
        ("weight", 0, 4, 0, "i must be between 0 and 3"),
        ("weight", 0, None, 0, "i must be"),
        ("weight", 1, 0, 1, "j must be between 0 and 0"),
        ("bias", 0, None, 5, "j must be between 0 and 4"),
        ("nonsense", 0, 0, 0, "kind must be"),
    ],
)
def test_slice_bad_parameters_are_clear_errors(
    kind: str, layer: int, i: int | None, j: int, needle: str
) -> None:
    s = session(preset="article")
    with pytest.raises(ValueError, match=needle):
        s.slice(kind, layer, i, j)


# ---- chain-rule text ----------------------------------------------------------------------------


def test_shared_bias_chain_rule_is_a_sum_over_neurons_not_itself() -> None:
    s = session(preset="article", bias="shared")
    c = s.chain("bias", 0, None, 3)
    names = [f["name"] for f in c["factors"]]
    assert names == ["dE/dZ1[j]", "dZ1[j]/db_ih"]
    assert all("db_ih" not in n.split("/")[0] for n in names)  # never dE/db_ih in terms of itself
    assert c["equation"] == "dE/db_ih = sum_n sum_j dE/dZ1[j] * dZ1[j]/db_ih"
    assert c["factors"][0]["sum_over"] == "j"
    out = s.chain("bias", 1, None, 0)
    assert [f["name"] for f in out["factors"]] == ["dE/dZ2", "dZ2/db_ho"]
    assert c["sum"] == pytest.approx(s.snapshot()["gradients"]["biases"][0][0], rel=1e-12)


def test_per_neuron_bias_factor_names_the_neuron_on_both_sides() -> None:
    s = session(preset="article")
    c = s.chain("bias", 0, None, 3)
    assert c["factors"][-1]["name"] == "dZ1[3]/db_ih[3]"
    assert c["equation"].startswith("dE/db_ih[3] = sum_n dE/dO * dO/dZ2")
    assert s.chain("bias", 1, None, 0)["factors"][-1]["name"] == "dZ2/db_ho[0]"


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda o: o["name"])
@pytest.mark.parametrize("bias", ["per_neuron", "shared"])
def test_frames_carry_the_real_next_update(optimizer: dict[str, Any], bias: str) -> None:
    s = session(preset="article", optimizer=optimizer, bias=bias)
    s.step(4)
    frame, t = s.snapshot(), s.trace()
    if optimizer["name"] == "sgd":
        # SGD frames leave it out (the page takes -lr * gradients); the trace agrees to rounding.
        assert frame["update"] is None
        for k, u in enumerate(t["update"]):
            np.testing.assert_allclose(
                np.array(u["W_new"]) - np.array(u["W_old"]),
                -frame["learning_rate"] * np.array(frame["gradients"]["weights"][k]),
                rtol=1e-9,
                atol=1e-15,
            )
        return
    for k, u in enumerate(t["update"]):
        moved = np.array(u["W_new"]) - np.array(u["W_old"])
        assert np.array_equal(np.array(frame["update"]["weights"][k]), moved)
        assert np.array_equal(
            np.array(frame["update"]["biases"][k]), np.array(u["b_new"]) - np.array(u["b_old"])
        )
    nxt = s.step(1)
    for k in range(2):
        np.testing.assert_allclose(
            np.array(frame["weights"][k]) + np.array(frame["update"]["weights"][k]),
            np.array(nxt["weights"][k]),
            rtol=0,
            atol=1e-15,
        )
