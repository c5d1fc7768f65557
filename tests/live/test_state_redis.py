"""Snapshots in a real redis-server (BACKPROP_REDIS_URL): restarts of a peer and of Redis."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import redis
from support import SCRIPT, RedisProcess, ServerProcess, free_port, wait_for
from websockets.asyncio.client import connect

from app.live.state import decode_state


def peer(tmp_path: Path, url: str) -> ServerProcess:
    """A server keeping its snapshots in Redis (no state directory at all)."""
    env = {"BACKPROP_REDIS_URL": url, "BACKPROP_STATE_DIR": ""}
    return ServerProcess(tmp_path / "peer.log", env=env)


def stored_step(r: redis.Redis, kind: str, key: str) -> int | None:
    """The step of a run's snapshot in Redis, or None."""
    try:
        blob = r.get(f"bp:run:{kind}:{key}")
    except redis.RedisError:
        return None
    return None if blob is None else int(decode_state(bytes(blob))["step_count"])  # type: ignore[arg-type]


async def presenter_step(ws_url: str, code: str, token: str, count: int) -> int:
    """Say hello, step `count` from the room's current step; the step of the frame that shows it."""
    base = ws_url.replace("ws://", "http://")
    target = httpx.get(f"{base}/api/rooms/{code}").json()["step"] + count
    async with connect(f"{ws_url}/ws/rooms/{code}") as ws:
        await ws.send(json.dumps({"type": "hello", "token": token}))
        await ws.send(json.dumps({"type": "step", "count": count}))
        while True:
            msg: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 20))
            if msg["type"] == "frame" and msg["step"] >= target:
                return int(msg["step"])


def test_unreachable_redis_is_a_clear_error_not_a_hang(tmp_path: Path) -> None:
    """Nothing listens at the URL: the command exits at once and says what to do."""
    env = {"BACKPROP_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [str(SCRIPT), "--port", str(free_port())], env=env, capture_output=True, timeout=60
    )
    assert done.returncode != 0
    assert b"cannot reach Redis at redis://127.0.0.1" in done.stderr, done.stderr


def test_workers_needs_a_redis_url() -> None:
    """--workers without Redis: says what to set."""
    env = {"BACKPROP_REDIS_URL": "", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([str(SCRIPT), "--workers", "2"], env=env, capture_output=True, timeout=60)
    assert done.returncode == 2 and b"BACKPROP_REDIS_URL" in done.stderr, done.stderr


def test_a_peer_restarts_from_redis(redis_server: RedisProcess, tmp_path: Path) -> None:
    """Session and room come back from Redis after a restart: same id, code, token, weights."""
    server = peer(tmp_path, redis_server.url).start()
    try:
        sid = httpx.post(f"{server.url}/api/sessions", json={"preset": "xor"}).json()["id"]
        httpx.post(f"{server.url}/api/sessions/{sid}/step", json={"count": 17})
        room = httpx.post(f"{server.url}/api/rooms", json={"config": {"preset": "article"}}).json()
        code, token = room["code"], room["presenter_token"]
        assert asyncio.run(presenter_step(server.ws_url, code, token, 4)) == 4
        before = httpx.get(f"{server.url}/api/sessions/{sid}/export").json()
        r = redis_server.client()
        wait_for(lambda: stored_step(r, "room", code) == 4, "the room's snapshot in Redis")
        assert token.encode() not in (r.get(f"bp:run:room:{code}") or b"")  # the digest only
        server.stop()
        server.start()
        assert httpx.get(f"{server.url}/api/sessions/{sid}/export").json() == before
        assert asyncio.run(presenter_step(server.ws_url, code, token, 1)) == 5
        r.close()
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()


async def presenter_try(ws_url: str, code: str, token: str, count: int) -> dict[str, Any]:
    """Say hello and step `count`: the first frame past the step the room had, or the error."""
    async with connect(f"{ws_url}/ws/rooms/{code}") as ws:
        await ws.send(json.dumps({"type": "hello", "token": token}))
        start: int | None = None
        while True:
            msg: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 20))
            if msg["type"] == "error":
                return msg
            if msg["type"] == "frame" and start is None:
                start = int(msg["step"])  # the whole curve, sent first
                await ws.send(json.dumps({"type": "step", "count": count}))
            elif msg["type"] == "frame" and start is not None and msg["step"] > start:
                return msg


def test_redis_restarted_under_a_running_peer(redis_server: RedisProcess, tmp_path: Path) -> None:
    """Redis goes away: a step is refused (it could not be saved under the lease), nothing of it
    is shown; Redis comes back empty: the peer takes the run back as it was and saves it again."""
    server = peer(tmp_path, redis_server.url).start()
    try:
        room = httpx.post(f"{server.url}/api/rooms", json={"config": {"preset": "article"}}).json()
        code, token = room["code"], room["presenter_token"]
        assert asyncio.run(presenter_step(server.ws_url, code, token, 3)) == 3
        redis_server.stop()
        refused = asyncio.run(presenter_try(server.ws_url, code, token, 2))
        assert refused["type"] == "error", refused  # refused, or told the run is handed over
        wait_for(lambda: "stopped training room" in server.log(), "the step-down in the log")
        redis_server.start()  # the same port, and empty
        r = redis_server.client()
        # Nobody else has it: this peer takes it back from the run as it stopped it, step 3.
        wait_for(lambda: stored_step(r, "room", code) == 3, "the snapshot written again")
        # ... from what it had saved: the refused step is not in it.
        assert "took over room" in server.log()

        def stepped() -> bool:  # commands are answered again once the lease is retaken
            answer = asyncio.run(presenter_try(server.ws_url, code, token, 2))
            return bool(answer["type"] == "frame" and answer["step"] == 5)

        wait_for(stepped, "a step acknowledged again", poll=0.2)
        wait_for(lambda: stored_step(r, "room", code) == 5, "the acknowledged step saved")
        r.close()
        server.stop(signal.SIGTERM)
        server.start()
        assert httpx.get(f"{server.url}/api/rooms/{code}").json()["step"] == 5
    finally:
        server.stop()
