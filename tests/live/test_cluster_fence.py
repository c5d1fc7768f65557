"""Fencing (docs/cluster.md, "Fencing"): an owner cut off from Redis stops before anyone else
starts, refuses what it cannot save, and the room goes on from the peer that took it over.

Real processes throughout: redis-server, two `backprop-studio` peers, WebSocket and HTTP clients.
Peer A (the owner) reaches Redis through a proxy the test cuts for 10 s; every client stays
connected to its own peer meanwhile. Each message is kept with the moment it arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import DEADLINE, CutProxy, RedisProcess, ServerProcess, running, wait_for
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.live.state import decode_state

FPS = 20
SPF = 2
CUT_SECONDS = 10.0
Msg = dict[str, Any]


class Socket:
    """A client's WebSocket and every message it received, each with its arrival time."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.got: list[tuple[float, Msg]] = []
        self._new = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        """Keep every message until the socket closes."""
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.ws:
                self.got.append((time.monotonic(), json.loads(raw)))
                self._new.set()

    async def send(self, msg: Msg) -> float:
        """Send a message; the moment it went."""
        sent = time.monotonic()
        await self.ws.send(json.dumps(msg))
        return sent

    async def wait(self, check: Callable[[Msg], bool], after: float = 0.0) -> tuple[float, Msg]:
        """The first message that arrived at or after `after` for which `check` holds."""
        async with asyncio.timeout(DEADLINE):
            while True:
                for at, msg in self.got:
                    if at >= after and check(msg):
                        return at, msg
                self._new.clear()
                await self._new.wait()

    def frames(self, start: float, end: float) -> list[Msg]:
        """Frames that arrived in [start, end)."""
        return [m for at, m in self.got if start <= at < end and m["type"] == "frame"]

    async def close(self) -> None:
        """Stop reading."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def frame(check: Callable[[Msg], bool] = lambda _: True) -> Callable[[Msg], bool]:
    """A frame for which `check` holds."""
    return lambda m: m["type"] == "frame" and check(m)


def error(m: Msg) -> bool:
    """An error message."""
    return bool(m["type"] == "error")


def whole(m: Msg) -> bool:
    """A frame carrying the whole curve, with no hole: a loss for every step from 0."""
    return bool(m["first_step"] == 0 and len(m["losses"]) == m["step"] + 1)


@pytest.fixture
def proxy(redis_server: RedisProcess) -> Iterator[CutProxy]:
    """The way peer A reaches Redis."""
    cut = CutProxy(redis_server.port)
    try:
        yield cut
    finally:
        cut.close()


@pytest.fixture
def peers(
    redis_server: RedisProcess, proxy: CutProxy, tmp_path: Path
) -> Iterator[list[ServerProcess]]:
    """A (through the proxy) and B (straight to Redis)."""
    started = []
    for name, url in (("a", proxy.url), ("b", redis_server.url)):
        env = {"BACKPROP_REDIS_URL": url, "BACKPROP_STATE_DIR": ""}
        started.append(ServerProcess(tmp_path / f"peer-{name}.log", env=env).start())
    yield from running(started)


def test_an_owner_cut_from_redis_stops_before_another_peer_takes_over(
    redis_server: RedisProcess, proxy: CutProxy, peers: list[ServerProcess]
) -> None:
    """No moment with two trainers; the presenter's pause holds across the room; nothing
    acknowledged is lost, and what the cut-off owner could not save it refused."""
    a, b = peers
    made = httpx.post(f"{a.url}/api/rooms", json={"config": {"preset": "article"}})
    code, token = made.json()["code"], made.json()["presenter_token"]
    sid = httpx.post(f"{a.url}/api/sessions", json={"preset": "xor"}).json()["id"]
    acknowledged = httpx.post(f"{a.url}/api/sessions/{sid}/step", json={"count": 5}, timeout=30)
    assert acknowledged.status_code == 200 and acknowledged.json()["step"] == 5

    async def scenario() -> dict[str, Any]:
        async with (
            connect(f"{a.ws_url}/ws/rooms/{code}") as p_ws,
            connect(f"{a.ws_url}/ws/rooms/{code}") as a_ws,
            connect(f"{b.ws_url}/ws/rooms/{code}") as b_ws,
        ):
            presenter, on_a, on_b = Socket(p_ws), Socket(a_ws), Socket(b_ws)
            await presenter.send({"type": "hello", "token": token})
            await presenter.wait(lambda m: m["type"] == "welcome")
            await presenter.send({"type": "play", "steps_per_frame": SPF, "fps": FPS})
            await on_b.wait(frame(lambda m: m["step"] >= 2 * SPF * FPS))  # through Redis

            cut_at = time.monotonic()
            proxy.cut()
            # A command A cannot save under its lease now is refused, never acknowledged.
            refused = await asyncio.to_thread(
                httpx.post, f"{a.url}/api/sessions/{sid}/step", json={"count": 3}, timeout=DEADLINE
            )
            assert refused.status_code == 503, refused.text
            # A stops training and tells its viewers, before B takes over (while still cut).
            handover_at, told = await on_a.wait(
                lambda m: error(m) and "stopped training" in m["message"], after=cut_at
            )
            await presenter.wait(lambda m: error(m) and "stopped training" in m["message"])
            takeover_at, first = await on_b.wait(frame(whole), after=cut_at)
            assert handover_at < takeover_at, (handover_at - cut_at, takeover_at - cut_at)
            at_cut = max(m["step"] for m in on_a.frames(0, cut_at))
            last_a = max(m["step"] for m in on_a.frames(0, handover_at))
            # B plays on from A's last save before the cut (saves every 0.5 s while playing):
            # what A played on after it, unconfirmed, is gone with A's handover message.
            assert at_cut - 1.5 * SPF * FPS <= first["step"] <= last_a, (at_cut, first, last_a)
            await on_b.wait(frame(lambda m: m["step"] > first["step"] and m["playing"]))

            # The presenter, still on A, pauses during the cut: refused, so the room plays on.
            paused_at = await presenter.send({"type": "pause"})
            refused_at, refusal = await presenter.wait(error, after=paused_at)
            assert "shared store" in refusal["message"], refusal
            moving = await on_b.wait(frame(lambda m: m["playing"]), after=refused_at)

            # The cut lasts 10 s, and at least until B has played on past the refusal.
            await asyncio.sleep(max(0.0, cut_at + CUT_SECONDS - time.monotonic()))
            healed_at = time.monotonic()
            proxy.heal()
            # Not one frame from A after its handover: it trained nothing more.
            for viewer in (on_a, presenter):
                assert not viewer.frames(handover_at, healed_at)

            # A follows B now: its viewers get B's run, past everything A had.
            await on_a.wait(frame(lambda m: whole(m) and m["step"] > last_a), after=healed_at)
            # The presenter's pause, on A again, reaches the whole room through B.
            paused_at = await presenter.send({"type": "pause"})
            steps = set()
            for viewer in (presenter, on_a, on_b):
                _, stopped = await viewer.wait(frame(lambda m: not m["playing"]), after=paused_at)
                steps.add(stopped["step"])
            assert len(steps) == 1, steps  # one run, paused at one step on both peers
            # It holds: one more step is exactly one more, everywhere.
            (paused,) = steps
            stepped_at = await presenter.send({"type": "step", "count": 1})
            for viewer in (presenter, on_a, on_b):
                await viewer.wait(frame(lambda m: m["step"] == paused + 1), after=stepped_at)
            for viewer in (presenter, on_a, on_b):
                await viewer.close()
            return {
                "handover": handover_at - cut_at,
                "takeover": takeover_at - cut_at,
                "told": told["message"],
                "moving": moving[1]["step"],
                "final": paused + 1,
            }

    seen = asyncio.run(scenario())
    for peer in (a, b):  # the room paused at the final step, as both peers see it
        info = httpx.get(f"{peer.url}/api/rooms/{code}").json()
        assert info["step"] == seen["final"] and not info["playing"], (peer.url, info)
    r = redis_server.client()
    b_id = httpx.get(f"{b.url}/healthz").json()["peer"]
    # Two acquisitions of the room's lease: A's at creation, B's at the takeover. A's late
    # writes (held by the cut, delivered after it) were refused: B's run is the stored one.
    assert r.get(f"bp:lease:room:{code}") == b_id.encode()
    assert r.get(f"bp:fence:room:{code}") == b"2"
    wait_for(lambda: b"stopped training room" in a.log().encode(), "A's step-down in its log")
    assert "took over room" in b.log() and "took over room" not in a.log()
    # B's saves are the stored ones: the final step, not anything A had.
    wait_for(lambda: stored_step(r, "room", code) == seen["final"], "B's last save in Redis")
    r.close()
    # The session's acknowledged 5 steps survive the cut; the refused 3 never happened.
    for peer in (b, a):
        wait_for(partial(at_step, peer, sid, 5), "the session at step 5", poll=0.2)


def at_step(peer: ServerProcess, sid: str, step: int) -> bool:
    """Whether this peer answers that the session is at `step` (not while it cannot answer)."""
    got = httpx.get(f"{peer.url}/api/sessions/{sid}", timeout=DEADLINE)
    return got.status_code == 200 and got.json()["step"] == step


def stored_step(r: Any, kind: str, key: str) -> int | None:
    """The step of the run's snapshot in Redis."""
    blob = r.get(f"bp:run:{kind}:{key}")
    return None if blob is None else int(decode_state(bytes(blob))["step_count"])
