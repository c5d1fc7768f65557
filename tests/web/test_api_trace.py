"""Version 2 over HTTP and WebSockets: trace, slice, seek, and a room's presenter seek and phase."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from support import DEADLINE, ServerProcess, strict_loads
from websockets.sync.client import ClientConnection, connect

from app.main import create_app
from app.settings import Settings

Msg = dict[str, Any]
DIVERGING = {
    "layers": [4, 5, 1],
    "activation": "linear",
    "output_activation": "linear",
    "loss": "mse",
    "optimizer": {"name": "sgd", "learning_rate": 1e6},
}


@pytest.fixture
def client() -> Iterator[TestClient]:
    """A client on a fresh app with default limits."""
    with TestClient(create_app(Settings())) as c:
        yield c


def create(client: TestClient, config: Msg | None = None) -> str:
    """POST /api/sessions; the id."""
    r = client.post("/api/sessions", json=config or {"preset": "article"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


# ---- REST: trace ---------------------------------------------------------------------------------


def test_trace_of_a_session_and_of_a_room(client: TestClient) -> None:
    sid = create(client, {"preset": "article", "optimizer": {"name": "momentum"}})
    client.post(f"/api/sessions/{sid}/step", json={"count": 3})
    r = client.get(f"/api/sessions/{sid}/trace")
    assert r.status_code == 200
    t = strict_loads(r.text)
    assert t["step"] == 3 and t["head"] == 3 and t["batch"] == [0, 1, 2, 3, 4]
    assert [p["layer"] for p in t["forward"]] == [0, 1, 2]
    assert [p["layer"] for p in t["backward"]] == [2, 1]
    nxt = client.post(f"/api/sessions/{sid}/step", json={"count": 1}).json()
    assert [u["W_new"] for u in t["update"]] == nxt["weights"]
    assert [u["b_new"] for u in t["update"]] == nxt["biases"]

    room = client.post("/api/rooms", json={"config": {"preset": "article"}}).json()
    r = client.get(f"/api/rooms/{room['code'].lower()}/trace")  # public read, any case
    assert r.status_code == 200 and strict_loads(r.text)["step"] == 0
    assert client.get("/api/rooms/ZZZZZZ/trace").status_code == 404
    assert client.get("/api/sessions/nope/trace").status_code == 404


def test_trace_of_a_diverged_run_carries_nulls_not_nan(client: TestClient) -> None:
    sid = create(client, DIVERGING)
    frame = client.post(f"/api/sessions/{sid}/step", json={"count": 50}).json()
    assert frame["diverged"]
    r = client.get(f"/api/sessions/{sid}/trace")
    assert r.status_code == 200
    assert "NaN" not in r.text and "Infinity" not in r.text
    t = strict_loads(r.text)
    assert t["error"]["E"] is None or isinstance(t["error"]["E"], float)
    assert "null" in r.text
    r = client.get(f"/api/sessions/{sid}/slice", params={"layer": 0, "i": 0, "j": 0})
    assert r.status_code == 200
    strict_loads(r.text)


# ---- REST: slice ---------------------------------------------------------------------------------


def test_slice_of_a_weight_and_of_a_bias(client: TestClient) -> None:
    sid = create(
        client, {"preset": "article", "optimizer": {"name": "adam", "learning_rate": 0.05}}
    )
    r = client.get(
        f"/api/sessions/{sid}/slice", params={"kind": "weight", "layer": 0, "i": 2, "j": 3}
    )
    assert r.status_code == 200, r.text
    s = r.json()
    assert (s["kind"], s["layer"], s["i"], s["j"]) == ("weight", 0, 2, 3)
    assert len(s["points"]) == 41 and s["points"][20] == [s["value"], pytest.approx(s["E"])]
    nxt = client.post(f"/api/sessions/{sid}/step", json={"count": 1}).json()
    assert s["next_value"] == nxt["weights"][0][2][3]
    b = client.get(f"/api/sessions/{sid}/slice", params={"kind": "bias", "layer": 1, "j": 0}).json()
    assert b["i"] is None and b["value"] == nxt["biases"][1][0]
    room = client.post("/api/rooms", json={"config": {"preset": "article"}}).json()
    r = client.get(f"/api/rooms/{room['code']}/slice", params={"layer": 1, "i": 4, "j": 0})
    assert r.status_code == 200 and r.json()["value"] == room["frame"]["weights"][1][4][0]


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"layer": 0, "i": 9, "j": 0}, "i must be between 0 and 3 for layer 0"),
        ({"layer": 5, "i": 0, "j": 0}, "layer must be between 0 and 1"),
        ({"layer": 1, "i": 0, "j": 3}, "j must be between 0 and 0 for layer 1"),
        ({"layer": 0, "j": 0}, "i: required for kind=weight"),
        ({"kind": "bias", "layer": 0, "j": 7}, "j must be between 0 and 4"),
    ],
)
def test_slice_bad_indices_are_clear_422s(client: TestClient, params: Msg, needle: str) -> None:
    sid = create(client)
    r = client.get(f"/api/sessions/{sid}/slice", params=params)
    assert r.status_code == 422
    assert needle in r.json()["detail"]
    assert client.get(f"/api/sessions/{sid}").status_code == 200  # the session is fine


def test_chain_update_is_the_real_next_step(client: TestClient) -> None:
    sid = create(
        client, {"preset": "article", "optimizer": {"name": "adam", "learning_rate": 0.05}}
    )
    c = client.get(f"/api/sessions/{sid}/chain", params={"layer": 0, "i": 1, "j": 4}).json()
    nxt = client.post(f"/api/sessions/{sid}/step", json={"count": 1}).json()
    assert c["update"]["new"] == nxt["weights"][0][1][4]
    assert abs(c["update"]["delta"]) > 10 * abs(c["update"]["plain_delta"])


# ---- REST: seek ----------------------------------------------------------------------------------


def test_seek_answers_the_frame_as_it_was_after_patches_with_mini_batches(
    client: TestClient,
) -> None:
    sid = create(client, {"preset": "article", "batch_size": 2, "optimizer": {"name": "adam"}})
    seen: dict[int, Msg] = {0: client.get(f"/api/sessions/{sid}").json()}
    for n in range(1, 91):
        seen[n] = client.post(f"/api/sessions/{sid}/step", json={"count": 1}).json()
        if n == 40:
            seen[n] = client.patch(
                f"/api/sessions/{sid}", json={"l2": 0.01, "batch_size": 3}
            ).json()
        if n == 70:
            seen[n] = client.patch(
                f"/api/sessions/{sid}", json={"optimizer": {"name": "sgd"}}
            ).json()
    assert seen[90]["head"] == 90
    keys = ("step", "loss", "weights", "biases", "gradients", "diverged", "learning_rate")
    for n in (3, 40, 39, 70, 90, 0, 65, 41):
        r = client.post(f"/api/sessions/{sid}/seek", json={"step": n})
        assert r.status_code == 200, r.text
        frame = r.json()
        assert frame["seeked"] is True and frame["head"] == 90 and frame["playing"] is False
        assert {k: frame[k] for k in keys} == {k: seen[n][k] for k in keys}
        assert frame["first_step"] == 0 and len(frame["losses"]) == n + 1
        assert client.get(f"/api/sessions/{sid}").json()["step"] == n
    # Stepping from an earlier step: a new branch.
    client.post(f"/api/sessions/{sid}/seek", json={"step": 20})
    branch = client.post(f"/api/sessions/{sid}/step", json={"count": 2}).json()
    assert branch["step"] == 22 and branch["head"] == 22 and branch["seeked"] is False
    r = client.post(f"/api/sessions/{sid}/seek", json={"step": 23})
    assert r.status_code == 422


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"step": 6}, "step: 6 is outside this run; seek to a step from 0 to the head, 5"),
        ({"step": -1}, "step: -1 is outside this run; seek to a step from 0 to the head, 5"),
        ({"step": "x"}, "step"),
        ({}, "step"),
        ({"step": 1, "extra": 1}, "extra"),
    ],
)
def test_seek_bad_input_is_a_clear_422(client: TestClient, body: Msg, needle: str) -> None:
    sid = create(client)
    client.post(f"/api/sessions/{sid}/step", json={"count": 5})
    r = client.post(f"/api/sessions/{sid}/seek", json=body)
    assert r.status_code == 422
    assert needle in json.dumps(r.json()["detail"])
    assert client.get(f"/api/sessions/{sid}").json()["step"] == 5  # nothing moved
    assert client.post("/api/sessions/nope/seek", json={"step": 0}).status_code == 404


# ---- WebSockets, on a real server -------------------------------------------------------------


def recv(ws: ClientConnection) -> Msg:
    """The next message, within the deadline."""
    return strict_loads(ws.recv(timeout=DEADLINE))  # type: ignore[no-any-return]


def until(ws: ClientConnection, done: Callable[[Msg], bool], limit: int = 200) -> Msg:
    """Read until a message satisfies `done`; return it."""
    for _ in range(limit):
        msg = recv(ws)
        if done(msg):
            return msg
    raise AssertionError("condition never met")


def frame_at(step: int, seeked: bool | None = None) -> Callable[[Msg], bool]:
    """A frame at `step` (and with this `seeked`, when given)."""
    return lambda m: (
        m["type"] == "frame" and m["step"] == step and (seeked is None or m["seeked"] is seeked)
    )


def is_error(needle: str) -> Callable[[Msg], bool]:
    """An error message containing `needle`."""
    return lambda m: m["type"] == "error" and needle in m["message"]


def test_websocket_seek_on_a_session(server: ServerProcess) -> None:
    sid = httpx.post(f"{server.url}/api/sessions", json={"preset": "article"}).json()["id"]
    with connect(f"{server.ws_url}/ws/sessions/{sid}") as ws:
        until(ws, frame_at(0))
        ws.send(json.dumps({"type": "step", "count": 12}))
        at12 = until(ws, frame_at(12))
        ws.send(json.dumps({"type": "seek", "step": 5}))
        back = until(ws, frame_at(5, seeked=True))
        assert back["head"] == 12 and back["first_step"] == 0 and len(back["losses"]) == 6
        assert back["losses"][-1] == back["loss"]
        assert back["weights"] != at12["weights"]
        ws.send(json.dumps({"type": "seek", "step": 13}))
        until(ws, is_error("outside this run; seek to a step from 0 to the head, 12"))
        ws.send(json.dumps({"type": "seek", "step": "soon"}))
        until(ws, is_error("invalid message"))
        ws.send(json.dumps({"type": "phase", "index": 1}))
        until(ws, is_error("'phase' is for workshop rooms"))
        ws.send(json.dumps({"type": "seek", "step": 12}))
        forward = until(ws, frame_at(12, seeked=True))
        assert forward["weights"] == at12["weights"]
        # Still connected and driving: stepping from 12 goes on.
        ws.send(json.dumps({"type": "step", "count": 1}))
        assert until(ws, frame_at(13))["head"] == 13


def hello(ws: ClientConnection, token: str) -> None:
    """Become the presenter."""
    ws.send(json.dumps({"type": "hello", "token": token}))
    until(ws, lambda m: m["type"] == "welcome")


def test_room_presenter_seek_and_phase_reach_participants(server: ServerProcess) -> None:
    room = httpx.post(f"{server.url}/api/rooms", json={"config": {"preset": "article"}}).json()
    url = f"{server.ws_url}/ws/rooms/{room['code']}"
    with connect(url) as presenter, connect(url) as participant:
        hello(presenter, room["presenter_token"])
        until(participant, frame_at(0))
        presenter.send(json.dumps({"type": "step", "count": 8}))
        until(presenter, frame_at(8))
        until(participant, frame_at(8))
        # A participant may neither seek nor set the phase.
        participant.send(json.dumps({"type": "seek", "step": 2}))
        until(participant, is_error("only the presenter drives this room"))
        participant.send(json.dumps({"type": "phase", "index": 2}))
        until(participant, is_error("only the presenter drives this room"))
        # The presenter seeks: everyone gets the seeked frame.
        presenter.send(json.dumps({"type": "seek", "step": 3}))
        seen = until(participant, frame_at(3, seeked=True))
        assert seen["head"] == 8 and len(seen["losses"]) == 4
        until(presenter, frame_at(3, seeked=True))
        # The phase follows, with the step it belongs to; out of range is refused.
        presenter.send(json.dumps({"type": "phase", "index": 4}))
        assert until(participant, lambda m: m["type"] == "phase") == {
            "type": "phase",
            "index": 4,
            "step": 3,
        }
        presenter.send(json.dumps({"type": "phase", "index": 64}))
        until(presenter, is_error("index"))
        presenter.send(json.dumps({"type": "phase", "index": -2}))
        until(presenter, is_error("index"))
        # A late joiner gets the frame at the seeked step, then the current phase.
        with connect(url) as late:
            first = recv(late)
            assert first["type"] == "frame" and first["step"] == 3 and first["head"] == 8
            assert until(late, lambda m: m["type"] == "phase")["index"] == 4
        presenter.send(json.dumps({"type": "phase", "index": -1}))
        assert until(participant, lambda m: m["type"] == "phase")["index"] == -1
        info = httpx.get(f"{server.url}/api/rooms/{room['code']}").json()
        assert info["step"] == 3


def test_slice_of_a_big_network_runs_off_the_loop_and_agrees(client: TestClient) -> None:
    # Over INLINE_SEEK_WORK: answered from a copy in a worker thread; the same numbers.
    config = {"layers": [2, 64, 64, 1], "dataset": {"name": "spiral", "samples": 400}}
    sid = create(client, config)
    frame = client.post(f"/api/sessions/{sid}/step", json={"count": 2}).json()
    r = client.get(f"/api/sessions/{sid}/slice", params={"layer": 1, "i": 5, "j": 7})
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["value"] == frame["weights"][1][5][7]
    assert s["dE_dw"] == frame["gradients"]["weights"][1][5][7]
    assert s["points"][20][0] == s["value"]
    bad = client.get(f"/api/sessions/{sid}/slice", params={"layer": 1, "i": 64, "j": 0})
    assert bad.status_code == 422 and "i must be between 0 and 63" in bad.json()["detail"]
