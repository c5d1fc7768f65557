"""A real server restarted on the same state directory: SIGTERM loses nothing, SIGKILL under 1 s."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import ServerProcess
from websockets.asyncio.client import ClientConnection, connect

FPS = 30
STEPS_PER_FRAME = 5
STEPS_PER_SECOND = FPS * STEPS_PER_FRAME  # the configured rate of play, whatever the machine
RECV_SECONDS = 20.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server with its own state directory; restartable on the same port."""
    proc = ServerProcess(tmp_path / "server.log", env={"BACKPROP_STATE_DIR": str(tmp_path / "st")})
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
    text = proc.log()
    assert "Traceback" not in text, text


async def next_frame(ws: ClientConnection, **want: Any) -> dict[str, Any]:
    """The next frame whose fields match `want` (other messages skipped); bounded."""
    while True:
        msg: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), RECV_SECONDS))
        if msg["type"] == "frame" and all(msg.get(k) == v for k, v in want.items()):
            return msg


async def presenter(server: ServerProcess, code: str, token: str) -> ClientConnection:
    """A room connection that said hello with the token and was welcomed."""
    ws = await connect(f"{server.ws_url}/ws/rooms/{code}")
    await ws.send(json.dumps({"type": "hello", "token": token}))
    while json.loads(await asyncio.wait_for(ws.recv(), RECV_SECONDS))["type"] != "welcome":
        pass
    return ws


async def first_frame(server: ServerProcess, path: str) -> dict[str, Any]:
    """The full frame a new connection gets first."""
    async with connect(f"{server.ws_url}{path}") as ws:
        return await next_frame(ws)


def create_room(server: ServerProcess, preset: str) -> tuple[str, str]:
    """POST /api/rooms: code and token."""
    r = httpx.post(f"{server.url}/api/rooms", json={"config": {"preset": preset}}, timeout=30)
    assert r.status_code == 201, r.text
    return r.json()["code"], r.json()["presenter_token"]


def test_sigterm_brings_paused_runs_back_bit_for_bit(server: ServerProcess) -> None:
    """Weights, gradients, losses, step: equal after a restart, and the same token drives."""
    base = server.url
    sid = httpx.post(f"{base}/api/sessions", json={"preset": "spiral"}, timeout=30).json()["id"]
    httpx.post(f"{base}/api/sessions/{sid}/step", json={"count": 123}, timeout=30)
    code, token = create_room(server, "xor")

    async def drive_room() -> None:
        ws = await presenter(server, code, token)
        await ws.send(json.dumps({"type": "step", "count": 40}))
        await next_frame(ws, step=40)
        await ws.send(json.dumps({"type": "play", "steps_per_frame": 3, "fps": FPS}))
        await next_frame(ws, playing=True)
        await ws.send(json.dumps({"type": "pause"}))
        await next_frame(ws, playing=False)
        await ws.close()

    asyncio.run(drive_room())
    before_session = httpx.get(f"{base}/api/sessions/{sid}/export", timeout=30).json()
    before_room = asyncio.run(first_frame(server, f"/ws/rooms/{code}"))
    assert before_room["step"] > 40

    # uvicorn re-raises SIGTERM after its graceful shutdown: -15 is a clean exit here.
    assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    server.start()

    assert httpx.get(f"{base}/api/sessions/{sid}/export", timeout=30).json() == before_session
    after_room = asyncio.run(first_frame(server, f"/ws/rooms/{code}"))
    assert after_room == before_room  # JSON floats round-trip exactly: bit for bit

    async def drive_again() -> int:
        ws = await presenter(server, code, token)  # the same token still makes a presenter
        await ws.send(json.dumps({"type": "step", "count": 2}))
        frame = await next_frame(ws, step=before_room["step"] + 2)
        await ws.close()
        return int(frame["step"])

    assert asyncio.run(drive_again()) == before_room["step"] + 2


def test_sigkill_while_playing_loses_under_a_second_of_play(server: ServerProcess) -> None:
    """Killed mid-play: the room comes back at most about one second of play behind."""
    code, token = create_room(server, "article")
    sid = httpx.post(f"{server.url}/api/sessions", json={"preset": "xor"}, timeout=30).json()["id"]
    httpx.post(f"{server.url}/api/sessions/{sid}/step", json={"count": 9}, timeout=30)

    async def play_then_see() -> int:
        ws = await presenter(server, code, token)
        await ws.send(json.dumps({"type": "play", "steps_per_frame": STEPS_PER_FRAME, "fps": FPS}))
        seen = 0
        while seen < 3 * STEPS_PER_SECOND:  # past the first few snapshots
            seen = int((await next_frame(ws, playing=True))["step"])
        # Kill while the connection is open and the room plays: no pause frame can be saved.
        server.stop(signal.SIGKILL)
        return seen

    seen = asyncio.run(play_then_see())
    server.start()
    info = httpx.get(f"{server.url}/api/rooms/{code}", timeout=30).json()
    assert info["step"] >= seen - STEPS_PER_SECOND, (info, seen)
    assert info["playing"] is False  # back paused: the presenter presses play again
    session = httpx.get(f"{server.url}/api/sessions/{sid}", timeout=30).json()
    assert session["step"] == 9
