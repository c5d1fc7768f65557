"""Floods: sessions, rooms, connections and messages hit their caps; a normal user carries on."""

from __future__ import annotations

import asyncio
import tracemalloc

import httpx
from fastapi.testclient import TestClient
from hardening import assert_healthy
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from app.main import create_app
from app.settings import Settings
from app.web.deps import services_of


async def _session_flood(cap: int) -> None:
    """Concurrent and sequential creations through the whole middleware stack, in one loop."""
    app = create_app(Settings(max_sessions=cap))
    store = services_of(app).store
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:

        async def create(preset: str = "article") -> httpx.Response:
            return await c.post("/api/sessions", json={"preset": preset})

        # A concurrent burst, five times the cap: exactly `cap` win, everyone else hears 429.
        answers = await asyncio.gather(*(create() for _ in range(5 * cap)))
        statuses = [r.status_code for r in answers]
        assert statuses.count(201) == cap and statuses.count(429) == 4 * cap
        assert all(
            "too many sessions" in r.json()["detail"] for r in answers if r.status_code == 429
        )
        assert len(store) == cap

        async def flood(n: int) -> None:
            for _ in range(n):
                r = await create("spiral")
                assert r.status_code == 429

        await flood(400)  # warm up whatever the server caches on first use
        tracemalloc.start()
        try:
            before, _ = tracemalloc.get_traced_memory()
            await flood(400)
            after, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert len(store) == cap
        # Nothing is kept per refused request (a leak of even 1 KB each would show).
        assert after - before < 300_000, f"memory grew by {after - before} bytes"
        # Someone leaves: a normal user gets the seat and trains.
        sid = store.ids()[0]
        assert (await c.delete(f"/api/sessions/{sid}")).status_code == 204
        created = await create()
        assert created.status_code == 201
        stepped = await c.post(f"/api/sessions/{created.json()['id']}/step", json={"count": 3})
        assert stepped.json()["step"] == 3
        await store.close()


def test_a_session_flood_meets_the_cap_and_memory_stays_flat() -> None:
    asyncio.run(_session_flood(cap=20))


def test_a_room_flood_meets_the_cap() -> None:
    with TestClient(create_app(Settings(max_rooms=3))) as c:
        codes = [c.post("/api/rooms", json={}).json()["code"] for _ in range(3)]
        for _ in range(100):
            r = c.post("/api/rooms", json={})
            assert r.status_code == 429 and "too many workshop rooms" in r.json()["detail"]
        assert len(services_of(c.app).rooms) == 3
        assert c.get(f"/api/rooms/{codes[0]}").status_code == 200
        assert_healthy(c)


def test_a_connection_flood_is_turned_away_and_the_server_carries_on() -> None:
    settings = Settings(max_connections_per_ip=20)
    with TestClient(create_app(settings)) as c:
        sid = c.post("/api/sessions", json={}).json()["id"]
        held: list[WebSocketTestSession] = []
        refused = 0
        try:
            for _ in range(80):
                ws = c.websocket_connect(f"/ws/sessions/{sid}").__enter__()
                msg = ws.receive_json()
                if msg["type"] == "frame":
                    held.append(ws)
                    continue
                assert msg["type"] == "error" and "too many live connections" in msg["message"]
                try:
                    ws.receive_json()
                except WebSocketDisconnect as closed:
                    assert closed.code == 1013
                refused += 1
                ws.__exit__(None, None, None)
            assert len(held) == 20 and refused == 60
            assert c.app.state.connections.total == 20  # type: ignore[attr-defined]
            assert_healthy(c)  # HTTP is unaffected by a full WebSocket quota
        finally:
            for ws in held:
                ws.__exit__(None, None, None)
        assert c.app.state.connections.total == 0  # type: ignore[attr-defined]
        with c.websocket_connect(f"/ws/sessions/{sid}") as ws:
            assert ws.receive_json()["type"] == "frame"


def test_a_message_flood_is_closed_and_others_train_on() -> None:
    # One message a second after the burst: what the flood gets through hardly depends on how
    # long the server takes to read it (the burst of 80, plus one per second it spends).
    with TestClient(create_app(Settings(ws_messages_per_second=1))) as c:
        flooded = c.post("/api/sessions", json={}).json()["id"]
        other = c.post("/api/sessions", json={}).json()["id"]
        with (
            c.websocket_connect(f"/ws/sessions/{other}") as calm,
            c.websocket_connect(f"/ws/sessions/{flooded}") as flooder,
        ):
            calm.receive_json()
            flooder.receive_json()
            for _ in range(2000):
                flooder.send_text('{"type": "step", "count": 1}')
            code = None
            try:
                for _ in range(5000):
                    flooder.receive_json()
            except WebSocketDisconnect as closed:
                code = closed.code
            assert code == 1008
            calm.send_json({"type": "step", "count": 5})
            frame = calm.receive_json()
            assert frame["type"] == "frame" and frame["step"] == 5
        # The flood's burst did step its session, but far from all 2000 times.
        step = c.get(f"/api/sessions/{flooded}").json()["step"]
        assert 80 <= step < 200
        assert_healthy(c)
