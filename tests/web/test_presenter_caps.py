"""The presenter is never refused by a connection cap; refused participants back off with jitter."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect
from support import CHROMIUM, CHROMIUM_ARGS, ServerProcess

from app.main import create_app
from app.settings import Settings
from app.web.sockets import PRESENTER_PROTOCOL, PRESENTER_SOCKETS, TOKEN_PROTOCOL

Msg = dict[str, Any]


def next_of(ws: WebSocketTestSession, kind: str, limit: int = 50) -> Msg:
    """The next message of this type (others skipped)."""
    for _ in range(limit):
        msg: Msg = ws.receive_json()
        if msg["type"] == kind:
            return msg
    raise AssertionError(f"no {kind} message")


def presenter_protocols(token: str) -> list[str]:
    """What the presenter's page offers in its handshake (static/js/present.js)."""
    return [PRESENTER_PROTOCOL, TOKEN_PROTOCOL + token]


def test_the_default_per_address_cap_is_well_under_half_the_server() -> None:
    """Two addresses can never hold every socket; a full room does not count against it."""
    s = Settings()
    assert 4 * s.max_connections_per_ip <= s.max_connections
    assert s.max_participants < s.max_connections


def test_a_room_behind_one_address_is_not_held_to_the_address_cap() -> None:
    """Participants count against the room's seats: more than the address cap get in."""
    with TestClient(create_app(Settings(max_connections_per_ip=2, max_participants=4))) as c:
        code = c.post("/api/rooms", json={"config": {"preset": "article"}}).json()["code"]
        sid = c.post("/api/sessions", json={}).json()["id"]
        with ExitStack() as stack:
            for _ in range(4):
                ws = stack.enter_context(c.websocket_connect(f"/ws/rooms/{code}"))
                assert next_of(ws, "frame")["step"] == 0
            with c.websocket_connect(f"/ws/rooms/{code}") as fifth:
                message = next_of(fifth, "error")
                assert "room is full" in message["message"] and message["retry_after"] >= 1
                with pytest.raises(WebSocketDisconnect) as closed:
                    fifth.receive_json()
                assert closed.value.code == 4429
            for _ in range(2):  # a learner's own session: the address cap holds
                ws = stack.enter_context(c.websocket_connect(f"/ws/sessions/{sid}"))
                assert next_of(ws, "frame")["step"] == 0
            with c.websocket_connect(f"/ws/sessions/{sid}") as third:
                assert "your address" in next_of(third, "error")["message"]
        assert c.app.state.connections.total == 0  # type: ignore[attr-defined]


def test_a_fork_of_a_room_is_a_participants_socket() -> None:
    """A hall that forks the room is not held to the address's socket cap either."""
    with TestClient(create_app(Settings(max_connections_per_ip=1))) as c:
        code = c.post("/api/rooms", json={"config": {"preset": "article"}}).json()["code"]
        forks = [c.post(f"/api/rooms/{code}/fork").json()["id"] for _ in range(3)]
        with ExitStack() as stack:
            for sid in forks:
                ws = stack.enter_context(c.websocket_connect(f"/ws/sessions/{sid}"))
                assert next_of(ws, "frame")["step"] == 0


@pytest.mark.parametrize("limits", [{"max_participants": 3}, {"max_connections": 3}])
def test_the_presenter_gets_in_over_every_cap(limits: dict[str, Any]) -> None:
    """Three participants fill a cap: the presenter (token in the handshake) still gets in."""
    with TestClient(create_app(Settings(**limits))) as c:
        room = c.post("/api/rooms", json={"config": {"preset": "article"}}).json()
        code, token = room["code"], room["presenter_token"]
        with ExitStack() as stack:
            for _ in range(3):
                ws = stack.enter_context(c.websocket_connect(f"/ws/rooms/{code}"))
                assert next_of(ws, "frame")["step"] == 0
            for _ in range(3):  # and again: reconnects never wait for a seat
                with c.websocket_connect(
                    f"/ws/rooms/{code}", subprotocols=presenter_protocols(token)
                ) as presenter:
                    assert presenter.accepted_subprotocol == PRESENTER_PROTOCOL
                    next_of(presenter, "welcome")
                    presenter.send_json({"type": "step", "count": 2})
                    assert next_of(presenter, "frame")["step"] >= 0
            # A wrong token is a participant's connection: over the cap it is refused.
            with c.websocket_connect(
                f"/ws/rooms/{code}", subprotocols=presenter_protocols("not the token")
            ) as wrong:
                msg = next_of(wrong, "error")
                assert "full" in msg["message"] or "live connections" in msg["message"]
                assert msg["retry_after"] >= 1
                with pytest.raises(WebSocketDisconnect) as closed:
                    wrong.receive_json()
                assert closed.value.code in (1013, 4429)
        assert c.app.state.connections.total == 0  # type: ignore[attr-defined]


def test_a_presenter_holds_a_bounded_number_of_sockets() -> None:
    """Never refused, but a token cannot pile up sockets: the longest idle one makes way."""
    with TestClient(create_app(Settings())) as c:
        room = c.post("/api/rooms", json={"config": {"preset": "article"}}).json()
        code, token = room["code"], room["presenter_token"]
        with ExitStack() as stack:
            held = []
            protocols = presenter_protocols(token)
            for _ in range(PRESENTER_SOCKETS + 1):
                ws = stack.enter_context(
                    c.websocket_connect(f"/ws/rooms/{code}", subprotocols=protocols)
                )
                next_of(ws, "welcome")
                held.append(ws)
            book = c.app.state.connections  # type: ignore[attr-defined]
            assert book.total == PRESENTER_SOCKETS
            shed = next_of(held[0], "error")
            assert shed["retry_after"] >= 1
            with pytest.raises(WebSocketDisconnect) as closed:
                next_of(held[0], "frame")
            assert closed.value.code == 1013


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server for the front end's backoff test."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    proc = ServerProcess(tmp_path / "server.log", env={"BACKPROP_STATE_DIR": ""})
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


BACKOFF = """async () => {
  const { LiveSocket } = await import('/static/js/api.js');
  const waits = (refused) => {
    const seen = [];
    const onStatus = (state, wait) => state === 'reconnecting' && seen.push(wait);
    const s = new LiveSocket('/nowhere', { onStatus });
    for (let k = 0; k < 8; k++) {
      s.retry(refused);
      clearTimeout(s.timer);
      s.timer = null;
    }
    return seen;
  };
  return { refused: Array.from({ length: 20 }, () => waits(true)), dropped: waits(false) };
}"""


@pytest.mark.browser
def test_refused_pages_back_off_with_jitter(server: ServerProcess) -> None:
    """Refused: from about 2 s, doubling to 30 s, spread x0.5..x1.5; a dropped socket: faster."""
    playwright_sync = pytest.importorskip("playwright.sync_api")
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{server.url}/join", wait_until="domcontentloaded")
            out = page.evaluate(BACKOFF)
        finally:
            browser.close()
    for waits in out["refused"]:
        for k, wait in enumerate(waits):
            nominal = min(30_000, 2000 * 2**k)
            assert 0.5 * nominal <= wait <= 1.5 * nominal, (k, waits)
    firsts = [waits[0] for waits in out["refused"]]
    assert len(set(firsts)) > 1, firsts  # twenty pages refused together do not return together
    for k, wait in enumerate(out["dropped"]):
        assert 0.5 * min(5000, 250 * 2**k) <= wait <= 1.5 * min(5000, 250 * 2**k)
