"""A room on the real server: a participant that never reads slows nobody and is dropped."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support import ServerProcess
from websockets.asyncio.client import ClientConnection, connect

SEND_SECONDS = 1.0  # the server's room_send_seconds here: a stalled reader goes within seconds
FPS = 30
# Big frames (a 2-48-48-1 net: about 100 kB of JSON each) fill a stalled reader's buffers fast.
CONFIG = {"preset": "xor", "layers": [2, 48, 48, 1], "dataset": {"name": "xor", "samples": 40}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`backprop-studio` in a subprocess with a short send timeout; its base URL."""
    srv = ServerProcess(
        tmp_path_factory.mktemp("rooms-server") / "server.log",
        env={"BACKPROP_ROOM_SEND_SECONDS": str(SEND_SECONDS)},
    ).start()
    try:
        yield srv.url
    finally:
        srv.stop()
    text = srv.log()
    assert "Traceback" not in text and "ERROR" not in text, text


async def next_message(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next message of this type (others skipped), or a timeout failure."""
    while True:
        msg: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if msg["type"] == kind:
            return msg


async def read_frames(ws: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    """Every frame that arrives within `seconds`."""
    frames: list[dict[str, Any]] = []
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            msg = json.loads(await asyncio.wait_for(ws.recv(), left))
        except TimeoutError:
            break
        if msg["type"] == "frame":
            frames.append(msg)
    return frames


def stalled_socket(url: str) -> socket.socket:
    """A connected TCP socket with a tiny receive buffer: the server's sends back up quickly."""
    host, port = url.split("//", 1)[1].split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    return sock


async def participants(base: str, code: str) -> int:
    """The room's head count, as GET /api/rooms/{code} says."""
    async with httpx.AsyncClient() as client:
        return int((await client.get(f"{base}/api/rooms/{code}")).json()["participants"])


def test_a_stalled_participant_slows_nobody(server: str) -> None:
    body = httpx.post(f"{server}/api/rooms", json={"config": CONFIG}, timeout=10).json()
    code, token = body["code"], body["presenter_token"]
    ws_url = server.replace("http", "ws") + f"/ws/rooms/{code}"

    async def scenario() -> None:
        # max_queue=1 and no reads: the client stops reading its socket, the server's backs up.
        async with (
            connect(
                ws_url,
                max_queue=1,
                sock=stalled_socket(server),
                compression=None,
                close_timeout=0.5,  # the server has dropped it: no closing handshake to wait for
            ),
            connect(ws_url, compression=None, max_size=None, close_timeout=2) as presenter,
            connect(ws_url, compression=None, max_size=None, close_timeout=2) as reader1,
            connect(ws_url, compression=None, max_size=None, close_timeout=2) as reader2,
        ):
            await presenter.send(json.dumps({"type": "hello", "token": token}))
            await next_message(presenter, "welcome")
            assert await participants(server, code) == 3
            for ws in (reader1, reader2):
                await next_message(ws, "frame")
            await presenter.send(json.dumps({"type": "play", "steps_per_frame": 1, "fps": FPS}))
            # Everyone reads until the stalled participant is dropped (after its send timeout,
            # 5 s of the server's own clock, once its tiny buffer is full).
            got: list[list[dict[str, Any]]] = [[], [], []]
            dropped = asyncio.Event()

            async def collect(ws: ClientConnection, into: list[dict[str, Any]]) -> None:
                while not dropped.is_set():
                    into += await read_frames(ws, 0.2)

            async def watch() -> None:
                deadline = time.monotonic() + 60
                while await participants(server, code) != 2:
                    assert time.monotonic() < deadline, "the stalled participant was never dropped"
                    await asyncio.sleep(0.2)
                dropped.set()

            await asyncio.gather(
                watch(),
                *(collect(ws, g) for ws, g in zip((reader1, reader2, presenter), got, strict=True)),
            )
            for frames in got:
                # Were the server waiting on the stalled socket, the others would get at most one
                # frame per send timeout before it is dropped; the frames counted up to the drop
                # tell the two apart however slow the machine is (a quiet one gives ~200 each).
                assert len(frames) >= 10, len(frames)
                for a, b in itertools.pairwise(frames):
                    assert b["first_step"] == a["step"] + 1  # not a single loss missing
            await presenter.send(json.dumps({"type": "pause"}))
            # Read up to the paused frame: a client whose queue is full of unread frames
            # would wait out its close timeout for the server's close reply behind them.
            for ws in (presenter, reader1, reader2):
                while True:
                    msg = await next_message(ws, "frame")
                    if not msg["playing"]:
                        break

    asyncio.run(scenario())
