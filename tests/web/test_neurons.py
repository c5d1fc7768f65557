"""GET .../neurons (issue 22, item 1): every neuron over the input plane, for sessions and rooms.

Values are checked against a forward pass written here in NumPy from the frame's weights (full
precision over REST) and the data's points; tests/engine/test_oracle_torch.py checks them against
PyTorch as well.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from support import strict_loads

from app.main import create_app
from app.settings import Settings

Msg = dict[str, Any]
TOL = 1e-12
SOFTMAX3: Msg = {
    "layers": [2, 6, 3],
    "activation": "tanh",
    "output_activation": "softmax",
    "loss": "ce",
    "init": "xavier",
    "optimizer": {"name": "adam", "learning_rate": 0.03},
    "batch_size": 16,
    "features": ["x1", "x2", "x1_x2", "sin_x2"],
    "dataset": {"name": "spiral3", "samples": 90, "noise": 0.1, "test_fraction": 0.2},
}


@pytest.fixture
def client() -> Iterator[TestClient]:
    """A client on a fresh app with default limits."""
    with TestClient(create_app(Settings())) as c:
        yield c


def create(client: TestClient, config: Msg) -> str:
    """POST /api/sessions; the id."""
    r = client.post("/api/sessions", json=config)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def get_neurons(client: TestClient, base: str, grid: int) -> Msg:
    """GET .../neurons (strict JSON: no NaN or Infinity)."""
    r = client.get(f"{base}/neurons", params={"grid": grid})
    assert r.status_code == 200, r.text
    answer: Msg = strict_loads(r.text)
    return answer


def act(name: str, Z: np.ndarray) -> Any:
    """The activations, samples as columns; softmax over each column."""
    if name == "tanh":
        return np.tanh(Z)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-Z))
    if name == "relu":
        return np.maximum(Z, 0.0)
    if name == "softmax":
        e = np.exp(Z - Z.max(axis=0))
        return e / e.sum(axis=0)
    raise AssertionError(name)


def feature(name: str, a: np.ndarray, b: np.ndarray) -> Any:
    """Playground's features of (x1, x2), from docs/api.md."""
    table = {
        "x1": a, "x2": b, "x1_squared": a * a, "x2_squared": b * b, "x1_x2": a * b,
        "sin_x1": np.sin(a), "sin_x2": np.sin(b),
    }  # fmt: skip
    return table[name]


def forward(frame: Msg, data: Msg, X: np.ndarray) -> list[np.ndarray]:
    """Each layer's activations for inputs X (columns), from the frame's weights."""
    A = [X]
    L = len(frame["weights"])
    for k, (W, b) in enumerate(zip(frame["weights"], frame["biases"], strict=True)):
        Z = np.array(W).T @ A[-1] + np.array(b)[:, None]
        A.append(act(data["output_activation"] if k == L - 1 else data["activation"], Z))
    return A


def test_every_neuron_over_the_plane_equals_a_forward_pass_of_the_frames_weights(
    client: TestClient,
) -> None:
    """Feature inputs and softmax: layer 0 holds the features of each grid point, each hidden
    neuron its tanh, each output its class's softmax share; the extent is the points' range
    widened by a tenth on each side (the page's data plane)."""
    sid = create(client, SOFTMAX3)
    base = f"/api/sessions/{sid}"
    client.post(f"{base}/step", json={"count": 25})
    answer = get_neurons(client, base, 9)
    frame, data = client.get(base).json(), client.get(f"{base}/data").json()
    assert answer["step"] == frame["step"] == 25 and answer["samples"] is None
    assert answer["inputs"] == data["feature_names"] and answer["layers"] == [4, 6, 3]
    pts = np.array(data["points"] + data["points_test"])
    plane = answer["plane"]
    for k, axis in enumerate(("x1", "x2")):
        lo, hi = pts[:, k].min(), pts[:, k].max()
        want = [lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo)]
        assert np.allclose(plane["extent"][axis], want, rtol=0, atol=TOL)
        values = np.array(plane[axis])
        spaced = np.linspace(want[0], want[1], 9)
        assert len(values) == 9 and np.allclose(values, spaced, rtol=0, atol=TOL)
    x1, x2 = np.array(plane["x1"]), np.array(plane["x2"])
    G1, G2 = np.meshgrid(x1, x2)  # rows follow x2, columns x1
    X = np.array([feature(f, G1.ravel(), G2.ravel()) for f in data["features"]])
    A = forward(frame, data, X)
    names = ["X", "h1", "O"]
    assert [(n["layer"], n["j"]) for n in answer["neurons"]] == [
        (layer, j) for layer, width in enumerate([4, 6, 3]) for j in range(width)
    ]
    for n in answer["neurons"]:
        assert n["name"] == f"{names[n['layer']]}[{n['j']}]"
        assert n["activation"] == ["input", "tanh", "softmax"][n["layer"]]
        got = np.array(n["values"])
        assert got.shape == (9, 9)
        assert np.abs(got - A[n["layer"]][n["j"]].reshape(9, 9)).max() <= TOL
    outputs = np.array([n["values"] for n in answer["neurons"] if n["layer"] == 2])
    assert np.allclose(outputs.sum(axis=0), 1.0, rtol=0, atol=TOL)


def test_the_grid_is_bounded_with_a_clear_message(client: TestClient) -> None:
    sid = create(client, {"preset": "xor", "dataset": {"name": "circle"}})
    base = f"/api/sessions/{sid}"
    for bad in (0, 1, 65, 1000):
        r = client.get(f"{base}/neurons", params={"grid": bad})
        assert r.status_code == 422, bad
        assert r.json()["detail"] == f"grid: {bad}; points per axis, from 2 to 64"
    for good in (2, 64):
        answer = get_neurons(client, base, good)
        assert all(np.array(n["values"]).shape == (good, good) for n in answer["neurons"])
    default = get_neurons(client, base, 24)
    r = client.get(f"{base}/neurons")
    assert r.status_code == 200 and strict_loads(r.text) == default


def test_a_set_without_a_plane_answers_per_sample(client: TestClient) -> None:
    """The article's four inputs: each neuron's activation at each training sample."""
    sid = create(client, {"preset": "article"})
    base = f"/api/sessions/{sid}"
    client.post(f"{base}/step", json={"count": 2})
    answer = get_neurons(client, base, 5)
    frame, data = client.get(base).json(), client.get(f"{base}/data").json()
    assert answer["plane"] is None and answer["samples"] == len(data["x"]) == 5
    A = forward(frame, data, np.array(data["x"]).T)
    for n in answer["neurons"]:
        assert np.abs(np.array(n["values"]) - A[n["layer"]][n["j"]]).max() <= TOL


def test_a_room_answers_the_presenters_run(client: TestClient) -> None:
    """Participants ask the room: the presenter's step and weights (as a fork of it has them)."""
    r = client.post("/api/rooms", json={"config": SOFTMAX3})
    code, token = r.json()["code"], r.json()["presenter_token"]
    with client.websocket_connect(f"/ws/rooms/{code}") as presenter:
        presenter.send_json({"type": "hello", "token": token})
        presenter.send_json({"type": "step", "count": 30})
        for _ in range(200):
            msg = presenter.receive_json()
            if msg["type"] == "frame" and msg["step"] == 30:
                break
        else:
            raise AssertionError("no frame at step 30")
    room = get_neurons(client, f"/api/rooms/{code}", 7)
    assert room["step"] == 30
    fork = client.post(f"/api/rooms/{code}/fork")
    assert fork.status_code == 201, fork.text
    mine = get_neurons(client, f"/api/sessions/{fork.json()['id']}", 7)
    assert mine == room


def test_neurons_are_charged_to_the_clients_work_budget() -> None:
    # [2, 8, 8, 1] on a 40 x 40 grid: 1,600 points x 88 weights = 140,800 multiply-adds.
    settings = Settings(client_work_burst=200_000, client_work_per_second=1)
    with TestClient(create_app(settings)) as c:
        sid = create(c, {"preset": "spiral", "layers": [2, 8, 8, 1]})
        url = f"/api/sessions/{sid}/neurons"
        assert c.get(url, params={"grid": 40}).status_code == 200
        again = c.get(url, params={"grid": 40})
        assert again.status_code == 429 and "too much computation" in again.text


def test_a_grid_over_the_servers_work_bound_is_refused() -> None:
    settings = Settings(max_work_per_request=1_000_000)
    with TestClient(create_app(settings)) as c:
        sid = create(c, {"preset": "spiral", "layers": [2, 64, 64, 1]})
        r = c.get(f"/api/sessions/{sid}/neurons", params={"grid": 64})
        assert r.status_code == 422 and "smaller grid" in r.json()["detail"]
        assert c.get(f"/api/sessions/{sid}/neurons", params={"grid": 8}).status_code == 200
