"""`configure` on real servers: on peers sharing one Redis (sent to a peer that only follows the
room, it is forwarded to the owner like every presenter command; every peer's participants
follow), and across a restart (the room's snapshot holds the new run)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import DEADLINE, RedisProcess, ServerProcess, running, start_peers
from websockets.asyncio.client import ClientConnection, connect

SPIRAL = {"layers": [2, 8, 8, 1], "activation": "tanh", "dataset": {"name": "spiral"}}


@pytest.fixture
def two(redis_server: RedisProcess, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Two running peers."""
    yield from running(start_peers(tmp_path, redis_server.url, 2))


def shape(frame: dict[str, Any]) -> list[int]:
    """The layer sizes a frame's weight matrices have."""
    weights = frame["weights"]
    return [len(weights[0])] + [len(w[0]) for w in weights]


async def until(ws: ClientConnection, kind: str) -> list[dict[str, Any]]:
    """Messages up to and including the next of `kind`, within the deadline."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(DEADLINE):
        while True:
            seen.append(json.loads(await ws.recv()))
            if seen[-1]["type"] == kind:
                return seen


async def switched(ws: ClientConnection, layers: list[int]) -> None:
    """Up to `configured`: the new run's whole curve came first, no old frame after it."""
    seen = await until(ws, "configured")
    assert seen[-1]["layers"] == layers
    frames = [m for m in seen if m["type"] == "frame"]
    first = next(k for k, f in enumerate(frames) if shape(f) == layers)
    assert frames[first]["first_step"] == 0
    assert all(shape(f) == layers for f in frames[first:])


def test_configure_through_a_follower_reaches_the_owner_and_every_peer(
    two: list[ServerProcess],
) -> None:
    a, b = two
    made = httpx.post(f"{a.url}/api/rooms", json={"config": {"preset": "article"}}).json()
    code, token = made["code"], made["presenter_token"]
    protocols: Any = ["bp.presenter", f"bp.token.{token}"]

    async def scenario() -> None:
        async with (
            connect(f"{a.ws_url}/ws/rooms/{code}") as on_a,
            connect(f"{b.ws_url}/ws/rooms/{code}") as on_b,
            connect(f"{b.ws_url}/ws/rooms/{code}", subprotocols=protocols) as presenter_b,
        ):
            await until(presenter_b, "welcome")
            await presenter_b.send(json.dumps({"type": "step", "count": 3}))
            while (await until(on_a, "frame"))[-1]["step"] != 3:
                pass  # the whole curve at step 0 may come first: the fork is of step 3
            fork = httpx.post(f"{b.url}/api/rooms/{code}/fork").json()
            before = httpx.get(f"{a.url}/api/sessions/{fork['id']}").json()
            await presenter_b.send(json.dumps({"type": "configure", "config": SPIRAL}))
            for ws in (on_a, on_b, presenter_b):
                await switched(ws, [2, 8, 8, 1])
            await presenter_b.send(json.dumps({"type": "step", "count": 2}))
            for ws in (on_a, on_b):
                frame = (await until(ws, "frame"))[-1]
                assert frame["step"] == 2 and shape(frame) == [2, 8, 8, 1]
            for peer in (a, b):
                config = httpx.get(f"{peer.url}/api/rooms/{code}/config").json()
                assert config["layers"] == [2, 8, 8, 1] and config["activation"] == "tanh"
                assert httpx.get(f"{peer.url}/api/rooms/{code}").json()["code"] == code
            # A bad config through the follower: the owner's refusal, the room unchanged.
            bad = {"dataset": {"name": "spiral", "samples": 100000}}
            await presenter_b.send(json.dumps({"type": "configure", "config": bad}))
            error = (await until(presenter_b, "error"))[-1]
            assert "over the limit" in error["message"]
            # A participant on either peer may not configure.
            await on_b.send(json.dumps({"type": "configure", "config": {"preset": "xor"}}))
            assert "only the presenter" in (await until(on_b, "error"))[-1]["message"]
            # And back, from a presenter on the owner: the follower's participant follows.
            async with connect(f"{a.ws_url}/ws/rooms/{code}", subprotocols=protocols) as pa:
                await until(pa, "welcome")
                await pa.send(json.dumps({"type": "configure", "config": {"preset": "article"}}))
                for ws in (on_a, on_b):
                    await switched(ws, [4, 5, 1])
            after = httpx.get(f"{a.url}/api/sessions/{fork['id']}").json()
            assert after["weights"] == before["weights"] and after["step"] == before["step"] == 3

    asyncio.run(scenario())


def test_a_reconfigured_room_survives_a_restart(tmp_path: Path) -> None:
    """The room's snapshot holds the new run: after SIGTERM and a start, the same code runs it."""
    server = ServerProcess(tmp_path / "server.log").start()
    try:
        made = httpx.post(f"{server.url}/api/rooms", json={"config": {"preset": "article"}}).json()
        code, token = made["code"], made["presenter_token"]
        protocols: Any = ["bp.presenter", f"bp.token.{token}"]

        async def reconfigure() -> dict[str, Any]:
            async with connect(f"{server.ws_url}/ws/rooms/{code}", subprotocols=protocols) as ws:
                await until(ws, "welcome")
                await ws.send(json.dumps({"type": "configure", "config": SPIRAL}))
                await until(ws, "configured")
                await ws.send(json.dumps({"type": "step", "count": 7}))
                while (frame := (await until(ws, "frame"))[-1])["step"] != 7:
                    pass
                return frame

        before = asyncio.run(reconfigure())
        server.stop()
        server.start()
        config = httpx.get(f"{server.url}/api/rooms/{code}/config").json()
        assert config["layers"] == [2, 8, 8, 1] and config["dataset"]["name"] == "spiral"

        async def first() -> dict[str, Any]:
            async with connect(f"{server.ws_url}/ws/rooms/{code}") as ws:
                return (await until(ws, "frame"))[-1]

        after = asyncio.run(first())
        assert after["step"] == 7 and after["weights"] == before["weights"]
    finally:
        server.stop()
    assert "Traceback" not in server.log()
