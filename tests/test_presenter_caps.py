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
from app.web.middleware import KNOCKS

Msg = dict[str, Any]


def next_of(ws: WebSocketTestSession, kind: str, limit: int = 50) -> Msg:
    """The next message of this type (others skipped)."""
    for _ in range(limit):
        msg: Msg = ws.receive_json()
        if msg["type"] == kind:
            return msg
    raise AssertionError(f"no {kind} message")


def test_the_default_per_address_cap_seats_a_full_room_and_its_presenter() -> None:
    """A lecture hall behind one NAT fills a room before the address cap bites."""
    s = Settings()
    assert s.max_connections_per_ip >= s.max_participants + 1
    assert s.max_connections >= s.max_connections_per_ip


@pytest.mark.parametrize("limits", [{"max_connections_per_ip": 3}, {"max_connections": 3}])
def test_the_presenter_gets_in_over_a_connection_cap(limits: dict[str, Any]) -> None:
    """Three participants fill the cap: the presenter still gets in, a fourth participant not."""
    with TestClient(create_app(Settings(**limits))) as c:
        room = c.post("/api/rooms", json={"config": {"preset": "article"}}).json()
        code, token = room["code"], room["presenter_token"]
        with ExitStack() as stack:
            for _ in range(3):
                ws = stack.enter_context(c.websocket_connect(f"/ws/rooms/{code}"))
                assert next_of(ws, "frame")["step"] == 0
            with c.websocket_connect(f"/ws/rooms/{code}") as presenter:
                presenter.send_json({"type": "hello", "token": token})
                next_of(presenter, "welcome")
                presenter.send_json({"type": "step", "count": 2})
                assert next_of(presenter, "frame")["step"] >= 0
            with c.websocket_connect(f"/ws/rooms/{code}") as wrong:
                wrong.send_json({"type": "hello", "token": "not the token"})
                msg = next_of(wrong, "error")
                assert "live connections" in msg["message"]
                with pytest.raises(WebSocketDisconnect) as closed:
                    wrong.receive_json()
                assert closed.value.code == 1013
            # A session socket has no presenter: over the cap it is refused at once, as before.
            sid = c.post("/api/sessions", json={}).json()["id"]
            with c.websocket_connect(f"/ws/sessions/{sid}") as extra:
                assert "live connections" in next_of(extra, "error")["message"]
        assert c.app.state.connections.total == 0  # type: ignore[attr-defined]


def test_knocking_over_the_cap_is_bounded() -> None:
    """Past KNOCKS extra connections, even a room connection is refused at the door."""
    with TestClient(create_app(Settings(max_connections_per_ip=1))) as c:
        code = c.post("/api/rooms", json={"config": {"preset": "article"}}).json()["code"]
        with ExitStack() as stack:
            first = stack.enter_context(c.websocket_connect(f"/ws/rooms/{code}"))
            next_of(first, "frame")
            knocking = [
                stack.enter_context(c.websocket_connect(f"/ws/rooms/{code}")) for _ in range(KNOCKS)
            ]
            assert c.app.state.connections.total == 1 + KNOCKS  # type: ignore[attr-defined]
            with c.websocket_connect(f"/ws/rooms/{code}") as late:
                assert "live connections" in next_of(late, "error")["message"]
                with pytest.raises(WebSocketDisconnect) as closed:
                    late.receive_json()
                assert closed.value.code == 1013
            for ws in knocking:  # each is told why once its hello time is up
                assert "live connections" in next_of(ws, "error")["message"]


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
