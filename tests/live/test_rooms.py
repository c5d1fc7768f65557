"""Workshop rooms over REST and real WebSockets (TestClient): presenter, participants, forks."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from app.domain.presets import resolve
from app.domain.protocol import SessionConfigIn
from app.domain.session import TrainingSession
from app.live.rooms import RoomRegistry, normalize_code
from app.live.route import ALPHABET
from app.settings import Settings

SETTINGS = Settings(max_fps=60, max_steps_per_request=500, max_rooms=3, max_participants=4)
Msg = dict[str, Any]


def new_room(client: TestClient, config: Msg | None = None) -> tuple[str, str, Msg]:
    """POST /api/rooms: code, token, body."""
    r = client.post("/api/rooms", json={"config": config or {"preset": "article"}})
    assert r.status_code == 201, r.text
    body = r.json()
    return body["code"], body["presenter_token"], body


def until(ws: WebSocketTestSession, done: Callable[[Msg], bool], limit: int = 500) -> list[Msg]:
    """Messages up to and including the first for which `done` holds."""
    seen: list[Msg] = []
    for _ in range(limit):
        msg = ws.receive_json()
        seen.append(msg)
        if done(msg):
            return seen
    raise AssertionError(f"condition never met; last messages {seen[-3:]}")


def frame_at(step: int) -> Callable[[Msg], bool]:
    """A frame at `step`."""
    return lambda m: m["type"] == "frame" and m["step"] == step


def is_type(kind: str) -> Callable[[Msg], bool]:
    """A message of this type."""
    return lambda m: m["type"] == kind


def become_presenter(ws: WebSocketTestSession, token: str) -> None:
    """Say hello with the token and wait for the welcome."""
    ws.send_json({"type": "hello", "token": token})
    until(ws, is_type("welcome"))


# ---- REST -----------------------------------------------------------------------------------


def test_create_and_look_up_a_room(client: TestClient) -> None:
    code, token, body = new_room(client)
    assert re.fullmatch(f"[{ALPHABET}]{{6}}", code)
    assert len(token) >= 43  # 32 random bytes, url-safe base64
    assert body["frame"]["step"] == 0 and body["frame"]["first_step"] == 0
    for asked in (code, code.lower(), f"{code[:3]}-{code[3:]}".lower()):
        r = client.get(f"/api/rooms/{asked}")
        assert r.status_code == 200
        assert r.json() == {
            "code": code,
            "participants": 0,
            "presenter": False,
            "step": 0,
            "playing": False,
        }
        assert token not in r.text
    assert client.get("/api/rooms/ZZZZZZ").status_code == 404


def test_codes_are_readable() -> None:
    assert not set("01ILO") & set(ALPHABET)
    assert normalize_code(" k7r-m3q ") == "K7RM3Q"


def test_bad_config_is_a_clear_422(client: TestClient) -> None:
    r = client.post("/api/rooms", json={"config": {"preset": "nope"}})
    assert r.status_code == 422 and "nope" in r.text
    r = client.post("/api/rooms", json={"config": {"layers": [4, 500, 1]}})
    assert r.status_code == 422 and "layers[1]" in r.json()["detail"]


def test_room_cap_is_429(client: TestClient) -> None:
    for _ in range(SETTINGS.max_rooms):
        new_room(client)
    r = client.post("/api/rooms", json={"config": {"preset": "article"}})
    assert r.status_code == 429
    assert "at most 3" in r.json()["detail"]


def test_panels_data_of_a_room(client: TestClient) -> None:
    code, _, _ = new_room(client)
    assert client.get(f"/api/rooms/{code}/config").json()["layers"] == [4, 5, 1]
    assert len(client.get(f"/api/rooms/{code}/data").json()["x"]) == 5
    assert len(client.get(f"/api/rooms/{code}/matrix").json()) == 2
    chain = client.get(f"/api/rooms/{code.lower()}/chain?kind=weight&layer=1&i=2&j=0").json()
    assert chain["name"] == "W_ho[2,0]"
    assert client.get(f"/api/rooms/{code}/chain?layer=1&j=0").status_code == 422
    r = client.get(f"/api/rooms/{code}/qr.svg")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in r.text and f"/room/{code}" in r.text


# ---- presenter and participants -------------------------------------------------------------


def test_everyone_sees_the_same_frames(client: TestClient) -> None:
    code, token, _ = new_room(client)
    with (
        client.websocket_connect(f"/ws/rooms/{code}") as presenter,
        client.websocket_connect(f"/ws/rooms/{code.lower()}") as p1,
        client.websocket_connect(f"/ws/rooms/{code}") as p2,
        client.websocket_connect(f"/ws/rooms/{code}") as p3,
    ):
        become_presenter(presenter, token)
        presenter.send_json({"type": "step", "count": 3})
        seen = [until(ws, frame_at(3))[-1] for ws in (presenter, p1, p2, p3)]
        assert all(f["weights"] == seen[0]["weights"] for f in seen)
        assert all(f["losses"] == seen[0]["losses"] for f in seen)
        info = client.get(f"/api/rooms/{code}").json()
        assert info["step"] == 3 and info["participants"] == 3 and info["presenter"] is True
        # The head count reaches everyone (throttled, so wait for the settled value).
        room = until(p1, lambda m: m["type"] == "room" and m["participants"] == 3)[-1]
        assert room == {"type": "room", "participants": 3, "presenter": True}


def test_participants_and_wrong_tokens_cannot_drive(client: TestClient) -> None:
    code, token, _ = new_room(client)
    with client.websocket_connect(f"/ws/rooms/{code}") as ws:
        assert ws.receive_json()["type"] == "frame"
        for msg in (
            {"type": "step", "count": 5},
            {"type": "play"},
            {"type": "reset"},
            {"type": "pause"},
            {"type": "set", "l2": 0.1},
            {"type": "select", "selection": {"guide": 2}},
        ):
            ws.send_json(msg)
            error = until(ws, is_type("error"))[-1]
            assert "only the presenter" in error["message"]
        ws.send_json({"type": "hello", "token": token + "x"})
        assert "wrong presenter token" in until(ws, is_type("error"))[-1]["message"]
        ws.send_json({"type": "hello", "token": ""})
        until(ws, is_type("error"))
        ws.send_json({"type": "step", "count": 5})
        assert "only the presenter" in until(ws, is_type("error"))[-1]["message"]
    info = client.get(f"/api/rooms/{code}").json()
    assert info["step"] == 0 and info["playing"] is False


def test_late_joiner_catches_up(client: TestClient) -> None:
    code, token, _ = new_room(client)
    selection = {"edge": {"kind": "weight", "layer": 0, "i": 1, "j": 2}, "guide": 3}
    with client.websocket_connect(f"/ws/rooms/{code}") as presenter:
        become_presenter(presenter, token)
        presenter.send_json({"type": "step", "count": 7})
        until(presenter, frame_at(7))
        presenter.send_json({"type": "select", "selection": selection})
        presenter.send_json({"type": "step", "count": 2})
        curve = until(presenter, frame_at(9))[-1]
        with client.websocket_connect(f"/ws/rooms/{code}") as late:
            first = late.receive_json()
            assert first["type"] == "frame" and first["step"] == 9
            assert first["first_step"] == 0 and len(first["losses"]) == 10
            assert first["losses"][-2:] == curve["losses"]
            assert late.receive_json() == {"type": "select", "selection": selection}
            assert late.receive_json()["type"] == "room"


def test_selection_reaches_participants_and_is_bounded(client: TestClient) -> None:
    code, token, _ = new_room(client)
    with (
        client.websocket_connect(f"/ws/rooms/{code}") as presenter,
        client.websocket_connect(f"/ws/rooms/{code}") as viewer,
    ):
        become_presenter(presenter, token)
        presenter.send_json({"type": "select", "selection": {"mode": "gradients", "sample": 2}})
        got = until(viewer, is_type("select"))[-1]
        assert got == {"type": "select", "selection": {"mode": "gradients", "sample": 2}}
        presenter.send_json({"type": "select", "selection": {"junk": "x" * 5000}})
        assert "selection" in until(presenter, is_type("error"))[-1]["message"]


def test_presenter_may_reconnect_and_use_two_tabs(client: TestClient) -> None:
    code, token, _ = new_room(client)
    with client.websocket_connect(f"/ws/rooms/{code}") as viewer:
        with client.websocket_connect(f"/ws/rooms/{code}") as tab1:
            become_presenter(tab1, token)
            with client.websocket_connect(f"/ws/rooms/{code}") as tab2:
                become_presenter(tab2, token)
                tab1.send_json({"type": "step", "count": 1})
                tab2.send_json({"type": "step", "count": 1})
                until(viewer, frame_at(2))
        with client.websocket_connect(f"/ws/rooms/{code}") as again:
            become_presenter(again, token)
            again.send_json({"type": "step", "count": 1})
            until(viewer, frame_at(3))


def test_presenter_leaving_while_playing_pauses_the_room(client: TestClient) -> None:
    code, token, _ = new_room(client)
    with client.websocket_connect(f"/ws/rooms/{code}") as viewer:
        with client.websocket_connect(f"/ws/rooms/{code}") as presenter:
            become_presenter(presenter, token)
            presenter.send_json({"type": "play", "steps_per_frame": 1, "fps": 60})
            until(viewer, lambda m: m["type"] == "frame" and m["playing"] and m["step"] >= 5)
        last = until(viewer, lambda m: m["type"] == "frame" and not m["playing"])[-1]
        info = client.get(f"/api/rooms/{code}").json()
        assert info["playing"] is False and info["presenter"] is False
        assert info["step"] == last["step"]
        gone = until(viewer, lambda m: m["type"] == "room" and not m["presenter"])[-1]
        assert gone["participants"] == 1


def test_fork_starts_at_the_room_state_and_leaves_the_room_alone(client: TestClient) -> None:
    code, token, _ = new_room(client)
    with client.websocket_connect(f"/ws/rooms/{code}") as presenter:
        become_presenter(presenter, token)
        presenter.send_json({"type": "step", "count": 12})
        room_frame = until(presenter, frame_at(12))[-1]
    r = client.post(f"/api/rooms/{code.lower()}/fork")
    assert r.status_code == 201, r.text
    fork = r.json()
    assert set(fork) == {"id", "config", "frame"}
    assert fork["config"]["layers"] == [4, 5, 1]
    assert fork["frame"]["step"] == 12 and fork["frame"]["weights"] == room_frame["weights"]
    assert fork["frame"]["first_step"] == 0 and len(fork["frame"]["losses"]) == 13
    assert fork["frame"]["playing"] is False
    stepped = client.post(f"/api/sessions/{fork['id']}/step", json={"count": 30}).json()
    assert stepped["step"] == 42
    assert client.get(f"/api/rooms/{code}").json()["step"] == 12
    with client.websocket_connect(f"/ws/rooms/{code}") as viewer:
        assert viewer.receive_json()["weights"] == room_frame["weights"]
    # The fork is an ordinary session: its own WebSocket drives it.
    with client.websocket_connect(f"/ws/sessions/{fork['id']}") as ws:
        assert ws.receive_json()["step"] == 42
    assert client.post("/api/rooms/ZZZZZZ/fork").status_code == 404


def test_fork_while_the_room_plays(client: TestClient) -> None:
    code, token, _ = new_room(client)
    with client.websocket_connect(f"/ws/rooms/{code}") as presenter:
        become_presenter(presenter, token)
        presenter.send_json({"type": "play", "steps_per_frame": 2, "fps": 60})
        until(presenter, lambda m: m["type"] == "frame" and m["step"] >= 10)
        fork = client.post(f"/api/rooms/{code}/fork").json()["frame"]
        # A consistent moment: the whole curve up to its own step, not playing.
        assert fork["step"] >= 10 and len(fork["losses"]) == fork["step"] + 1
        assert fork["playing"] is False and fork["loss"] == fork["losses"][-1]
        presenter.send_json({"type": "pause"})
        until(presenter, lambda m: m["type"] == "frame" and not m["playing"])


def test_participant_cap_turns_away_with_a_message(client: TestClient) -> None:
    code, token, _ = new_room(client)
    seats = [client.websocket_connect(f"/ws/rooms/{code}") for _ in range(4)]
    opened = [s.__enter__() for s in seats]
    try:
        with client.websocket_connect(f"/ws/rooms/{code}") as extra:
            error = until(extra, is_type("error"))[-1]
            assert "room is full" in error["message"] and "at most 4" in error["message"]
            with pytest.raises(WebSocketDisconnect) as closed:
                extra.receive_json()
            assert closed.value.code == 4429
        # The presenter still gets in: the token comes with the handshake (docs/api.md).
        protocols = ["bp.presenter", f"bp.token.{token}"]
        with client.websocket_connect(f"/ws/rooms/{code}", subprotocols=protocols) as presenter:
            until(presenter, is_type("welcome"))
            presenter.send_json({"type": "step", "count": 1})
            until(opened[0], frame_at(1))
    finally:
        for s in seats:
            s.__exit__(None, None, None)


def test_unknown_room_and_foreign_origin(client: TestClient) -> None:
    with client.websocket_connect("/ws/rooms/ZZZZZZ") as ws:
        assert "no workshop room" in ws.receive_json()["message"]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4404
    code, _, _ = new_room(client)
    with (
        pytest.raises(WebSocketDisconnect),
        client.websocket_connect(f"/ws/rooms/{code}", headers={"origin": "https://evil.example"}),
    ):
        pass  # pragma: no cover - refused before accept


def test_the_token_never_reaches_participants(client: TestClient) -> None:
    code, token, _ = new_room(client)
    texts: list[str] = []
    with (
        client.websocket_connect(f"/ws/rooms/{code}") as presenter,
        client.websocket_connect(f"/ws/rooms/{code}") as viewer,
    ):
        become_presenter(presenter, token)
        presenter.send_json({"type": "select", "selection": {"guide": 1}})
        presenter.send_json({"type": "step", "count": 2})
        for _ in range(50):
            text = viewer.receive_text()
            texts.append(text)
            if '"step":2' in text and '"type":"frame"' in text:
                break
        texts.append(client.get(f"/api/rooms/{code}").text)
        texts.append(client.get(f"/room/{code}").text)
        texts.append(client.get(f"/present/{code}").text)
    assert texts and not any(token in t for t in texts)


# ---- pages ----------------------------------------------------------------------------------


def test_pages(client: TestClient) -> None:
    code, _, _ = new_room(client)
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
    for path in (f"/room/{code}", f"/present/{code.lower()}", "/join"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert not inline_script.search(r.text), path
    assert f'data-code="{code}"' in client.get(f"/room/{code}").text
    r = client.get(f"/join?code={code[:3].lower()}-{code[3:].lower()}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/room/{code}"
    r = client.get("/join?code=ZZZZZZ")
    assert r.status_code == 404 and "No workshop room" in r.text
    r = client.get("/join", params={"code": "<b>" + "x" * 100})
    assert r.status_code == 404 and "<b>" not in r.text and "&lt;b&gt;" in r.text
    assert client.get("/room/ZZZZZZ").status_code == 404
    assert client.get("/present/ZZZZZZ").status_code == 404


# ---- the registry on its own ----------------------------------------------------------------


def test_idle_rooms_are_reaped_only_when_nobody_is_there() -> None:
    async def scenario() -> None:
        now = [0.0]
        rooms = RoomRegistry(5, 10, idle_seconds=60, clock=lambda: now[0])
        session = TrainingSession(resolve(SessionConfigIn(preset="article")))
        room, _ = rooms.create(session)
        member = room.join()
        now[0] = 1000.0
        assert await rooms.reap() == 0  # someone is connected
        room.leave(member)
        now[0] = 1030.0
        assert await rooms.reap() == 0  # idle for 30 s only
        now[0] = 1061.0
        assert await rooms.reap() == 1
        assert rooms.get(room.code) is None and len(rooms) == 0
        assert member.slot.closed

    asyncio.run(scenario())


def test_tokens_compare_by_digest() -> None:
    async def scenario() -> None:
        rooms = RoomRegistry(5, 10, idle_seconds=60)
        session = TrainingSession(resolve(SessionConfigIn(preset="article")))
        room, token = rooms.create(session)
        assert room.check_token(token)
        assert not room.check_token(token[:-1])
        assert not room.check_token("")
        assert token not in repr(vars(room))
        await rooms.close()

    asyncio.run(scenario())
