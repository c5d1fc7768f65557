"""A diverged run: every answer and every frame is strict JSON (null, never NaN or Infinity)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hardening import strict_json

from app.main import create_app
from app.settings import Settings

# Linear units and a huge rate: the weights overflow within a few dozen steps.
CONFIGS: dict[str, dict[str, Any]] = {
    "sgd": {
        "layers": [4, 5, 1],
        "activation": "linear",
        "output_activation": "linear",
        "loss": "mse",
        "optimizer": {"name": "sgd", "learning_rate": 1e6},
    },
    "momentum_test_split_batches": {
        "layers": [2, 6, 1],
        "activation": "relu",
        "output_activation": "linear",
        "loss": "mse",
        "optimizer": {"name": "momentum", "learning_rate": 1e5, "momentum": 0.99},
        "batch_size": 16,
        "dataset": {"name": "gauss", "samples": 100, "test_fraction": 0.2},
    },
    "tanh_shared_bias": {
        "layers": [4, 3, 1],
        "activation": "tanh",
        "output_activation": "linear",
        "loss": "half_sse",
        "bias": "shared",
        "init": "uniform01",
        "optimizer": {"name": "sgd", "learning_rate": 1e4},
    },
}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    """One app for the module."""
    with TestClient(create_app(Settings())) as c:
        yield c


def diverge(client: TestClient, config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A session stepped until it diverged; its id and the frame that said so."""
    r = client.post("/api/sessions", json=config)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    for _ in range(20):
        frame = strict_json(client.post(f"/api/sessions/{sid}/step", json={"count": 500}).text)
        if frame["diverged"]:
            return sid, frame
    raise AssertionError("the run never diverged")


@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_rest_answer_of_a_diverged_run_is_strict_json(client: TestClient, name: str) -> None:
    sid, frame = diverge(client, CONFIGS[name])
    assert frame["diverged"] is True and frame["playing"] is False
    assert None in frame["losses"] or frame["loss"] is None
    paths = [
        f"/api/sessions/{sid}",
        f"/api/sessions/{sid}/export",
        f"/api/sessions/{sid}/matrix",
        f"/api/sessions/{sid}/gradcheck",
        f"/api/sessions/{sid}/data",
        f"/api/sessions/{sid}/chain?kind=weight&layer=0&i=0&j=0",
        f"/api/sessions/{sid}/chain?kind=bias&layer=1&j=0",
    ]
    for path in paths:
        r = client.get(path)
        assert r.status_code == 200, (path, r.text[:300])
        strict_json(r.content)
    export = strict_json(client.get(f"/api/sessions/{sid}/export").content)
    assert export["diverged"] is True
    for method, path, body in (
        ("POST", f"/api/sessions/{sid}/step", {"count": 3}),
        ("PATCH", f"/api/sessions/{sid}", {"l2": 0.1}),
        ("POST", f"/api/sessions/{sid}/reset", None),
    ):
        r = client.request(method, path, json=body)
        assert r.status_code == 200, r.text
        strict_json(r.content)


def test_websocket_frames_of_a_diverging_run_are_strict(client: TestClient) -> None:
    sid = client.post("/api/sessions", json=CONFIGS["sgd"]).json()["id"]
    with client.websocket_connect(f"/ws/sessions/{sid}") as ws:
        strict_json(ws.receive_text())
        ws.send_json({"type": "play", "steps_per_frame": 5, "fps": 60})
        for _ in range(500):
            frame = strict_json(ws.receive_text())
            if frame["type"] == "frame" and frame["diverged"] and not frame["playing"]:
                break
        else:
            raise AssertionError("play never stopped at divergence")
        ws.send_json({"type": "play"})  # playing a diverged run: refused with a reason
        answers = [strict_json(ws.receive_text()) for _ in range(2)]
        assert any(a["type"] == "error" and "diverged" in a["message"] for a in answers)
    with client.websocket_connect(f"/ws/sessions/{sid}") as ws:  # a late viewer: whole curve
        frame = strict_json(ws.receive_text())
        assert frame["diverged"] is True and frame["first_step"] == 0


def test_a_room_on_a_diverged_run_is_strict(client: TestClient) -> None:
    created = client.post("/api/rooms", json={"config": CONFIGS["sgd"]})
    assert created.status_code == 201
    code, token = created.json()["code"], created.json()["presenter_token"]
    with client.websocket_connect(f"/ws/rooms/{code}") as presenter:
        presenter.send_json({"type": "hello", "token": token})
        presenter.send_json({"type": "step", "count": 200})
        for _ in range(50):
            msg = strict_json(presenter.receive_text())
            if msg["type"] == "frame" and msg["diverged"]:
                break
        else:
            raise AssertionError("the room never diverged")
    for path in ("data", "matrix", "config", "chain?layer=0&i=0&j=0"):
        r = client.get(f"/api/rooms/{code}/{path}")
        assert r.status_code == 200, r.text
        strict_json(r.content)
    fork = client.post(f"/api/rooms/{code}/fork")
    assert fork.status_code == 201
    assert strict_json(fork.content)["frame"]["diverged"] is True
