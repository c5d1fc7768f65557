"""The presenter's whole studio: `configure` replaces a room's run, the room keeps its code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from app.settings import Settings

SETTINGS = Settings(max_fps=60, max_steps_per_request=500, max_rooms=3, max_participants=4)
Msg = dict[str, Any]

SPIRAL = {"layers": [2, 8, 8, 1], "activation": "tanh", "dataset": {"name": "spiral"}}
ARTICLE = {"preset": "article"}


def new_room(client: TestClient) -> tuple[str, str]:
    """POST /api/rooms with the article's network: code, token."""
    r = client.post("/api/rooms", json={"config": ARTICLE})
    assert r.status_code == 201, r.text
    return r.json()["code"], r.json()["presenter_token"]


def until(ws: WebSocketTestSession, done: Callable[[Msg], bool], limit: int = 2000) -> list[Msg]:
    """Messages up to and including the first for which `done` holds."""
    seen: list[Msg] = []
    for _ in range(limit):
        seen.append(ws.receive_json())
        if done(seen[-1]):
            return seen
    raise AssertionError(f"condition never met; last messages {seen[-3:]}")


def is_type(kind: str) -> Callable[[Msg], bool]:
    """A message of this type."""
    return lambda m: m["type"] == kind


def shape(frame: Msg) -> list[int]:
    """The layer sizes a frame's weight matrices have (W[l] is n_l x n_{l+1})."""
    weights = frame["weights"]
    return [len(weights[0])] + [len(w[0]) for w in weights]


def presenter_socket(client: TestClient, code: str, token: str) -> WebSocketTestSession:
    """A socket that proves the token in its handshake (docs/api.md)."""
    return client.websocket_connect(
        f"/ws/rooms/{code}", subprotocols=["bp.presenter", f"bp.token.{token}"]
    )


def switch(
    presenter: WebSocketTestSession,
    viewers: list[WebSocketTestSession],
    config: Msg,
    layers: list[int],
) -> None:
    """Configure, then check every stream: the new shape from its first frame after the switch.

    Once a frame of the new shape arrived, no frame of the old one may follow; the message just
    before `configured` is already the new run's whole curve; every frame after it is new.
    """
    presenter.send_json({"type": "configure", "config": config})
    for ws in [presenter, *viewers]:
        seen = until(ws, is_type("configured"))
        assert seen[-1]["layers"] == layers
        frames = [m for m in seen if m["type"] == "frame"]
        first_new = next(k for k, f in enumerate(frames) if shape(f) == layers)
        assert all(shape(f) == layers for f in frames[first_new:])
        assert frames[first_new]["first_step"] == 0  # the new run's whole curve
        assert frames[first_new]["settings_log"] is None  # the new run's own log, empty
        after = until(ws, lambda m: m["type"] == "frame" and m["step"] >= 3)
        assert all(shape(m) == layers for m in after if m["type"] == "frame")


def test_switch_to_spiral_and_back_participants_follow_forks_stay(client: TestClient) -> None:
    code, token = new_room(client)
    with (
        presenter_socket(client, code, token) as presenter,
        client.websocket_connect(f"/ws/rooms/{code}") as p1,
        client.websocket_connect(f"/ws/rooms/{code.lower()}") as p2,
    ):
        until(presenter, is_type("welcome"))
        presenter.send_json({"type": "set", "l2": 0.01})  # a settings log of the old run
        presenter.send_json({"type": "step", "count": 5})
        until(p1, lambda m: m["type"] == "frame" and m["step"] == 5)
        fork = client.post(f"/api/rooms/{code}/fork").json()
        before = client.get(f"/api/sessions/{fork['id']}").json()
        assert before["step"] == 5 and shape(before) == [4, 5, 1]
        # Playing while it switches: the play loop goes on with the new run.
        presenter.send_json({"type": "play", "steps_per_frame": 1, "fps": 60})
        until(p2, lambda m: m["type"] == "frame" and m["step"] >= 8)
        switch(presenter, [p1, p2], SPIRAL, [2, 8, 8, 1])
        config = client.get(f"/api/rooms/{code}/config").json()
        assert config["layers"] == [2, 8, 8, 1] and config["activation"] == "tanh"
        assert config["dataset"]["name"] == "spiral" and config["l2"] == 0.0
        assert len(client.get(f"/api/rooms/{code}/data").json()["x"][0]) == 2
        info = client.get(f"/api/rooms/{code}").json()
        assert info["code"] == code and info["playing"] is True
        switch(presenter, [p1, p2], ARTICLE, [4, 5, 1])
        presenter.send_json({"type": "pause"})
        until(p1, lambda m: m["type"] == "frame" and not m["playing"])
    after = client.get(f"/api/sessions/{fork['id']}").json()
    assert after["step"] == 5
    assert after["weights"] == before["weights"] and after["biases"] == before["biases"]
    assert shape(after) == [4, 5, 1]


def test_late_joiner_timeline_and_fork_get_the_new_run(client: TestClient) -> None:
    code, token = new_room(client)
    with presenter_socket(client, code, token) as presenter:
        until(presenter, is_type("welcome"))
        presenter.send_json({"type": "select", "selection": {"edge": {"layer": 0, "i": 3}}})
        presenter.send_json({"type": "phase", "index": 2})
        presenter.send_json({"type": "step", "count": 6})
        until(presenter, lambda m: m["type"] == "frame" and m["step"] == 6)
        presenter.send_json({"type": "configure", "config": SPIRAL})
        until(presenter, is_type("configured"))
        # The timeline is the new run's: the old run's steps are gone.
        presenter.send_json({"type": "seek", "step": 3})
        assert "head, 0" in until(presenter, is_type("error"))[-1]["message"]
        with client.websocket_connect(f"/ws/rooms/{code}") as late:
            first = late.receive_json()
            assert first["type"] == "frame" and shape(first) == [2, 8, 8, 1]
            assert first["step"] == 0 and first["first_step"] == 0
            # The old run's selection and phase named edges that are gone: not replayed.
            assert late.receive_json()["type"] == "room"
    fork = client.post(f"/api/rooms/{code}/fork").json()
    assert fork["config"]["layers"] == [2, 8, 8, 1]


def test_bad_configs_are_refused_and_the_room_stays(client: TestClient) -> None:
    code, token = new_room(client)
    with presenter_socket(client, code, token) as presenter:
        until(presenter, is_type("welcome"))
        presenter.send_json({"type": "step", "count": 4})
        until(presenter, lambda m: m["type"] == "frame" and m["step"] == 4)
        bad: list[tuple[Msg, str]] = [
            ({"layers": [2, 100, 1], "dataset": {"name": "spiral"}}, "limit"),
            ({"activation": "swish"}, "config.activation"),
            ({"preset": "nope"}, "nope"),
            ({"dataset": {"csv": "a,b\n1,x\n"}}, "csv"),
            ({"dataset": {"name": "spiral", "samples": 100000}}, "over the limit"),
        ]
        for config, words in bad:
            presenter.send_json({"type": "configure", "config": config})
            error = until(presenter, is_type("error"))[-1]["message"]
            assert words in error.lower() or words in error, error
        presenter.send_json({"type": "configure"})
        assert "config" in until(presenter, is_type("error"))[-1]["message"]
        # Still up, still the same run.
        presenter.send_json({"type": "step", "count": 1})
        frame = until(presenter, is_type("frame"))[-1]
        assert frame["step"] == 5 and shape(frame) == [4, 5, 1]
    assert client.get(f"/api/rooms/{code}/config").json()["preset"] == "article"


def test_participants_cannot_configure(client: TestClient) -> None:
    code, token = new_room(client)
    with client.websocket_connect(f"/ws/rooms/{code}") as ws:
        ws.send_json({"type": "configure", "config": SPIRAL})
        assert "only the presenter" in until(ws, is_type("error"))[-1]["message"]
        ws.send_json({"type": "hello", "token": token + "x"})
        until(ws, is_type("error"))
        ws.send_json({"type": "configure", "config": SPIRAL})
        assert "only the presenter" in until(ws, is_type("error"))[-1]["message"]
    assert client.get(f"/api/rooms/{code}/config").json()["layers"] == [4, 5, 1]


def test_a_session_socket_refuses_configure(client: TestClient) -> None:
    r = client.post("/api/sessions", json=ARTICLE)
    with client.websocket_connect(f"/ws/sessions/{r.json()['id']}") as ws:
        ws.send_json({"type": "configure", "config": SPIRAL})
        assert "workshop rooms" in until(ws, is_type("error"))[-1]["message"]
