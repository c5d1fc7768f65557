"""Hostile WebSocket clients: random messages, floods, foreign origins, too many connections."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hardening import assert_healthy, deep, dumps, hostile_json, strict_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from app.domain.session import TrainingSession
from app.main import create_app
from app.settings import Settings
from app.web.ws.base import MessageRate

SETTINGS = Settings(max_steps_per_request=200, max_steps_per_frame=20, max_rooms=5)
KINDS = {"frame", "error", "room", "select", "welcome"}
FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    """One app for the module: it must survive every fuzzer."""
    with TestClient(create_app(SETTINGS)) as c:
        yield c


@pytest.fixture(scope="module")
def sid(client: TestClient) -> str:
    """A session to fuzz."""
    r = client.post("/api/sessions", json={"preset": "article"})
    assert r.status_code == 201
    return str(r.json()["id"])


@pytest.fixture(scope="module")
def room(client: TestClient) -> dict[str, Any]:
    """A room to fuzz: its code and presenter token."""
    r = client.post("/api/rooms", json={"config": {"preset": "article"}})
    assert r.status_code == 201
    return dict(r.json())


def receive(ws: WebSocketTestSession) -> dict[str, Any]:
    """The next message, strictly parsed (no NaN or Infinity), of a known kind."""
    message = ws.receive()
    if message["type"] == "websocket.close":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    assert message["type"] == "websocket.send", message
    payload = strict_json(message["text"])
    assert payload["type"] in KINDS, payload
    return dict(payload)


def settle(ws: WebSocketTestSession) -> None:
    """Pause, reset, step once: the connection still works and the run is where we say."""
    for text in ('{"type": "pause"}', '{"type": "reset"}', '{"type": "step", "count": 1}'):
        ws.send_text(text)
    for _ in range(2000):
        msg = receive(ws)
        if msg["type"] == "frame" and msg["step"] == 1 and not msg["playing"]:
            return
    raise AssertionError("the connection never settled")


Message = tuple[str, Any]
MESSAGES: st.SearchStrategy[Message] = st.one_of(
    hostile_json().map(lambda v: ("text", dumps(v))),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["step", "play", "pause", "reset", "set", "hello", "select"])},
        optional={
            "count": st.one_of(st.integers(-3, 300), st.just(10**40), st.floats()),
            "steps_per_frame": st.integers(-1, 50),
            "fps": st.one_of(st.floats(), st.integers(-1, 100)),
            "optimizer": hostile_json(5),
            "batch_size": st.one_of(st.none(), st.integers(-1, 10)),
            "l2": st.one_of(st.floats(), st.text(max_size=3)),
            "token": st.text(max_size=10),
            "selection": hostile_json(8),
        },
    ).map(lambda v: ("text", dumps(v))),
    st.text(max_size=50).map(lambda t: ("text", t)),
    st.binary(max_size=50).map(lambda b: ("bytes", b)),
    st.sampled_from(
        [
            ("text", deep(10_000)),
            ("text", '{"type": "step", "count": 1' + "0" * 5000 + "}"),
            ("text", '{"type": "select", "selection": {"n": 123456789012345678901234567890}}'),
            ("text", '{"type": "hello", "token": "\\ud800"}'),
            ("text", "x" * 70_000),
            ("bytes", b"\xff\xfe\x00"),
            ("text", "null"),
            ("text", "1e999"),
        ]
    ),
)


def send(ws: WebSocketTestSession, message: Message) -> None:
    """Send a text or binary frame."""
    kind, data = message
    if kind == "bytes":
        ws.send_bytes(data)
    else:
        ws.send_text(data)


@FUZZ
@given(batch=st.lists(MESSAGES, min_size=1, max_size=6))
def test_random_messages_on_a_session(client: TestClient, sid: str, batch: list[Message]) -> None:
    with client.websocket_connect(f"/ws/sessions/{sid}") as ws:
        receive(ws)
        for message in batch:
            send(ws, message)
        settle(ws)


@FUZZ
@given(
    batch=st.lists(MESSAGES, min_size=1, max_size=6),
    presenter=st.booleans(),
)
def test_random_messages_on_a_room(
    client: TestClient, room: dict[str, Any], batch: list[Message], presenter: bool
) -> None:
    with client.websocket_connect(f"/ws/rooms/{room['code']}") as ws:
        if presenter:
            ws.send_json({"type": "hello", "token": room["presenter_token"]})
        for message in batch:
            send(ws, message)
        if presenter:
            settle(ws)
        else:
            ws.send_text('{"type": "step"}')  # a participant: refused, but answered
            for _ in range(2000):
                msg = receive(ws)
                if msg["type"] == "error" and "presenter" in msg["message"]:
                    break
            else:
                raise AssertionError("a participant's step was never refused")


def test_server_healthy_after_the_fuzzers(client: TestClient) -> None:
    assert_healthy(client)


# ---- rate limit and floods ------------------------------------------------------------------


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_bursts_warns_then_closes() -> None:
    clock = Clock()
    rate = MessageRate(rate=10, burst=5, flood_limit=8, clock=clock)
    assert [rate.check() for _ in range(5)] == [MessageRate.OK] * 5
    assert rate.check() == MessageRate.WARN  # the first refusal says why
    assert rate.check() == MessageRate.QUIET  # more within a second add nothing
    clock.now += 1.0  # refills the bucket and forgives the refusals
    assert [rate.check() for _ in range(5)] == [MessageRate.OK] * 5
    verdicts = [rate.check() for _ in range(9)]
    assert verdicts[0] == MessageRate.WARN and verdicts[-1] == MessageRate.FLOOD
    assert set(verdicts[1:-1]) == {MessageRate.QUIET}


def test_a_held_key_is_refused_now_and_then_but_never_closed() -> None:
    clock = Clock()
    rate = MessageRate(rate=20, burst=40, flood_limit=100, clock=clock)
    verdicts = []
    for _ in range(30 * 60):  # a minute at 30 per second, one and a half times the rate
        clock.now += 1 / 30
        verdicts.append(rate.check())
    assert MessageRate.FLOOD not in verdicts
    assert verdicts.count(MessageRate.WARN) <= 60  # at most one explanation per second
    assert verdicts.count(MessageRate.OK) >= 20 * 59


def test_a_steady_client_under_the_rate_is_never_refused() -> None:
    clock = Clock()
    rate = MessageRate(rate=20, burst=40, flood_limit=100, clock=clock)
    for _ in range(1000):
        clock.now += 0.05  # exactly 20 per second
        assert rate.check() == MessageRate.OK


def test_a_flood_gets_an_error_then_a_1008_close(client: TestClient, sid: str) -> None:
    with client.websocket_connect(f"/ws/sessions/{sid}") as ws:
        receive(ws)
        for _ in range(600):
            ws.send_text('{"type": "pause"}')
        errors: list[str] = []
        with pytest.raises(WebSocketDisconnect) as closed:
            for _ in range(1000):
                msg = receive(ws)
                if msg["type"] == "error":
                    errors.append(msg["message"])
    assert closed.value.code == 1008
    assert any("too many messages" in e for e in errors)
    assert any("flood" in e for e in errors)
    # The flooder is gone; everyone else, and a new connection, carry on.
    assert_healthy(client)
    with client.websocket_connect(f"/ws/sessions/{sid}") as ws:
        receive(ws)
        settle(ws)


def test_a_burst_under_the_limit_is_all_answered(client: TestClient, sid: str) -> None:
    with client.websocket_connect(f"/ws/sessions/{sid}") as ws:
        receive(ws)
        ws.send_text('{"type": "reset"}')
        for _ in range(60):  # under the burst of 80
            ws.send_text('{"type": "step", "count": 1}')
        step = 0
        while step < 60:
            msg = receive(ws)
            assert msg["type"] == "frame", msg
            step = msg["step"]


def test_rooms_are_rate_limited_too(client: TestClient, room: dict[str, Any]) -> None:
    with client.websocket_connect(f"/ws/rooms/{room['code']}") as ws:
        for _ in range(600):
            ws.send_text('{"type": "select", "selection": {}}')
        with pytest.raises(WebSocketDisconnect) as closed:
            for _ in range(1000):
                receive(ws)
    assert closed.value.code == 1008


# ---- origin and connection caps -------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ws/sessions/{sid}", "/ws/rooms/{code}", "/ws/nowhere"])
def test_foreign_origins_are_refused_on_every_websocket_route(
    client: TestClient, sid: str, room: dict[str, Any], path: str
) -> None:
    url = path.format(sid=sid, code=room["code"])
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect(url, headers={"origin": "https://evil.example"}),
    ):
        pass
    assert refused.value.code == 1008


def test_own_origin_is_welcome(client: TestClient, sid: str) -> None:
    with client.websocket_connect(
        f"/ws/sessions/{sid}", headers={"origin": "http://testserver"}
    ) as ws:
        assert receive(ws)["type"] == "frame"


def refused(ws: WebSocketTestSession) -> tuple[str, int]:
    """The error message and close code of a refused connection."""
    msg = ws.receive_json()
    assert msg["type"] == "error"
    with pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_json()
    return str(msg["message"]), closed.value.code


@pytest.mark.parametrize(
    ("limits", "needle"),
    [
        ({"max_connections_per_ip": 3}, "your address"),
        ({"max_connections": 3}, "limit of 3 live connections"),
    ],
)
def test_connection_caps(limits: dict[str, Any], needle: str) -> None:
    with TestClient(create_app(Settings(**limits))) as c:
        sid = c.post("/api/sessions", json={}).json()["id"]
        opened = [c.websocket_connect(f"/ws/sessions/{sid}") for _ in range(3)]
        for ws in opened:
            ws.__enter__()
            assert receive(ws)["type"] == "frame"
        assert c.app.state.connections.total == 3  # type: ignore[attr-defined]
        with c.websocket_connect(f"/ws/sessions/{sid}") as extra:
            message, code = refused(extra)
        assert needle in message and code == 1013
        opened.pop().__exit__(None, None, None)
        with c.websocket_connect(f"/ws/sessions/{sid}") as again:  # a seat came free
            assert receive(again)["type"] == "frame"
        for ws in opened:
            ws.__exit__(None, None, None)
        assert c.app.state.connections.total == 0  # type: ignore[attr-defined]
        assert not c.app.state.connections.by_ip  # type: ignore[attr-defined]
        assert_healthy(c)


# ---- faults inside the engine ---------------------------------------------------------------


def flaky_advance(monkeypatch: pytest.MonkeyPatch, fail_on: int = 1) -> None:
    """TrainingSession.advance raises on its `fail_on`-th call, then works again."""
    real = TrainingSession.advance
    calls = {"n": 0}

    def advance(self: TrainingSession, n: int) -> int:
        calls["n"] += 1
        if calls["n"] == fail_on:
            raise FloatingPointError("engine bug")
        return real(self, n)

    monkeypatch.setattr(TrainingSession, "advance", advance)


def test_a_step_that_raises_answers_an_error_and_keeps_the_connection(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sid = client.post("/api/sessions", json={}).json()["id"]
    with client.websocket_connect(f"/ws/sessions/{sid}") as ws:
        receive(ws)
        flaky_advance(monkeypatch)
        with caplog.at_level(logging.ERROR):
            ws.send_json({"type": "step", "count": 3})
            msgs = [receive(ws), receive(ws)]
        errors = [m for m in msgs if m["type"] == "error"]
        assert errors and "FloatingPointError" in errors[0]["message"]
        assert "engine bug" not in errors[0]["message"]
        ws.send_json({"type": "step", "count": 3})
        frame = receive(ws)
        assert frame["type"] == "frame" and frame["step"] == 3
    assert sid not in caplog.text


def test_a_play_loop_that_raises_stops_and_says_so(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = client.post("/api/sessions", json={}).json()["id"]
    with client.websocket_connect(f"/ws/sessions/{sid}") as ws:
        receive(ws)
        flaky_advance(monkeypatch, fail_on=3)
        ws.send_json({"type": "play", "fps": 60})
        seen_error = stopped = False
        for _ in range(200):
            msg = receive(ws)
            seen_error |= msg["type"] == "error" and "FloatingPointError" in msg["message"]
            stopped |= msg["type"] == "frame" and not msg["playing"] and msg["step"] > 0
            if seen_error and stopped:
                break
        assert seen_error and stopped
        assert client.get(f"/api/sessions/{sid}").json()["playing"] is False
        ws.send_json({"type": "play", "fps": 60})  # and it plays again
        step = 0
        while step < 5:
            msg = receive(ws)
            step = msg.get("step", step)
        ws.send_json({"type": "pause"})
