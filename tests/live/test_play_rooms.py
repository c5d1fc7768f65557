"""Rooms (issue 22): participants see the presenter's features, L1, classes and stop rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from app.settings import Settings

SETTINGS = Settings(max_fps=60, max_steps_per_request=500, max_rooms=3, max_participants=4)
Msg = dict[str, Any]
CONFIG: Msg = {
    "preset": "xor",
    "layers": [2, 6, 3],
    "output_activation": "softmax",
    "loss": "ce",
    "l1": 0.001,
    "features": ["x1", "x2", "x1_x2", "sin_x2"],
    "batch_size": 16,
    "stop": {"at_step": 12},
    "dataset": {"name": "spiral3", "samples": 90, "noise": 0.1, "test_fraction": 0.2},
}


def until(ws: WebSocketTestSession, done: Callable[[Msg], bool], limit: int = 500) -> Msg:
    """The first message for which `done` holds."""
    for _ in range(limit):
        msg = ws.receive_json()
        if done(msg):
            return msg  # type: ignore[no-any-return]
    raise AssertionError("condition never met")


def test_participants_follow_features_l1_classes_and_stops(client: TestClient) -> None:
    r = client.post("/api/rooms", json={"config": CONFIG})
    assert r.status_code == 201, r.text
    code, token = r.json()["code"], r.json()["presenter_token"]
    config = client.get(f"/api/rooms/{code}/config").json()
    assert config["features"] == CONFIG["features"] and config["l1"] == 0.001
    assert (config["output_activation"], config["loss"]) == ("softmax", "ce")
    data = client.get(f"/api/rooms/{code}/data").json()
    assert data["feature_names"] == ["x₁", "x₂", "x₁x₂", "sin x₂"] and len(data["points"]) == 72
    assert data["target_names"] == ["class 0", "class 1", "class 2"]
    with (
        client.websocket_connect(f"/ws/rooms/{code}") as presenter,
        client.websocket_connect(f"/ws/rooms/{code}") as viewer,
    ):
        presenter.send_json({"type": "hello", "token": token})
        until(presenter, lambda m: m["type"] == "welcome")
        presenter.send_json({"type": "step", "count": 50})
        got = until(viewer, lambda m: m["type"] == "frame" and m["step"] == 12)
        assert got["stopped"] == "at_step" and got["epoch"] == 12 * 16 // 72
        assert got["accuracy"] is not None and got["test_accuracy"] is not None
        assert len(got["weights"][0]) == 4 and len(got["weights"][-1][0]) == 3
        presenter.send_json({"type": "set", "l1": 0.01})
        until(viewer, lambda m: m["type"] == "frame" and m["stopped"] == "at_step")
    assert client.get(f"/api/rooms/{code}/config").json()["l1"] == 0.01
    chain = client.get(
        f"/api/rooms/{code}/chain", params={"kind": "weight", "layer": 1, "i": 0, "j": 1}
    ).json()
    assert chain["why"] is not None and abs(chain["l1_term"]) == 0.01
