"""Fair CPU on the real server: a playing room keeps its frame rate beside heavy sessions."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx
from support import ServerProcess, wait_for
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as aconnect

FPS = 30
# Of the room's frames, while the others compete (see the assertions). Without the gate it got
# 0.05, with it 0.97-1.0 on a quiet box; the bar is low enough for a loaded 2-core CI box (the
# server itself then gets part of a core), high enough to tell the gate apart.
MIN_SHARE = 0.4
HEAVY_SESSIONS = 4
WINDOW_FRAMES = 240  # the room's frames the measurement spans (8 s at 30 fps)
# The largest network the default limits allow, on the largest data set: about 20 M
# multiply-adds a step, so a frame of 96 steps is the whole default work budget of a request.
HEAVY = {
    "preset": "spiral",
    "layers": [2, 64, 64, 64, 64, 64, 64, 1],
    "dataset": {"name": "spiral", "samples": 1000},
}
HEAVY_PLAY = {"type": "play", "steps_per_frame": 96, "fps": 60}
SERVER_ENV = {  # the conftest `server` starts with these
    # The budget per address is tested elsewhere: here every client shares 127.0.0.1 and
    # the scheduler alone must keep the room's frame rate (anonymous load from many addresses).
    "BACKPROP_CLIENT_WORK_BURST": "1e15",
}


async def drain(ws: ClientConnection) -> None:
    """Read and drop frames, as a page does (a socket that stops reading is dropped)."""
    async for _ in ws:
        pass


async def room_frames(server: ServerProcess, code: str, token: str) -> tuple[int, float]:
    """Play the room at FPS and count a watcher's frames: (frames, seconds) over the window."""
    url = f"{server.ws_url}/ws/rooms/{code}"
    async with aconnect(url, max_queue=None) as presenter, aconnect(url) as watcher:
        await presenter.send(json.dumps({"type": "hello", "token": token}))
        await presenter.send(json.dumps({"type": "play", "steps_per_frame": 1, "fps": FPS}))
        presenting = asyncio.create_task(drain(presenter))
        first: tuple[int, float] | None = None
        while True:
            msg = json.loads(await asyncio.wait_for(watcher.recv(), 30))
            if msg.get("type") != "frame" or not msg.get("playing"):
                continue
            now = time.monotonic()
            if first is None:
                first = (msg["step"], now)
            elif msg["step"] - first[0] >= WINDOW_FRAMES or now - first[1] > 60:
                presenting.cancel()
                return msg["step"] - first[0], now - first[1]


def test_a_playing_room_keeps_its_frame_rate_beside_heavy_sessions(server: ServerProcess) -> None:
    r = httpx.post(f"{server.url}/api/rooms", json={"config": {"preset": "article"}}, timeout=30)
    assert r.status_code == 201, r.text
    code, token = r.json()["code"], r.json()["presenter_token"]
    sids = []
    for _ in range(HEAVY_SESSIONS):
        r = httpx.post(f"{server.url}/api/sessions", json=HEAVY, timeout=60)
        assert r.status_code == 201, r.text
        sids.append(r.json()["id"])

    async def measure() -> tuple[int, float]:
        heavy = [
            await aconnect(f"{server.ws_url}/ws/sessions/{sid}", max_size=None, max_queue=None)
            for sid in sids
        ]
        drains = [asyncio.create_task(drain(ws)) for ws in heavy]
        try:
            for ws in heavy:
                await ws.send(json.dumps(HEAVY_PLAY))

            def all_playing() -> bool:
                return all(
                    httpx.get(f"{server.url}/api/sessions/{sid}", timeout=10).json()["playing"]
                    for sid in sids
                )

            await asyncio.to_thread(wait_for, all_playing, "the heavy sessions to play")
            return await room_frames(server, code, token)
        finally:
            for task in drains:
                task.cancel()
            for ws in heavy:
                await ws.close()

    frames, seconds = asyncio.run(asyncio.wait_for(measure(), 180))
    # A ratio, not a speed: frames the room published over those the presenter asked for.
    ratio = frames / (FPS * seconds)
    print(f"room: {frames} frames in {seconds:.2f} s, {ratio:.3f} of {FPS} fps")
    # Without the gate the room got 0.05 of its frames here (BENCHMARKS.md); with it 0.97-1.0
    # on a quiet machine. The bound leaves room for a busy one: what it tells apart is the gate.
    assert ratio >= MIN_SHARE, f"{frames} frames in {seconds:.2f} s: {ratio:.2f} of {FPS} fps"
    # The heavy sessions did get CPU too (they were not simply starved).
    steps = [httpx.get(f"{server.url}/api/sessions/{s}", timeout=10).json()["step"] for s in sids]
    assert all(step > 0 for step in steps), steps


def test_a_playing_room_keeps_its_frame_rate_beside_gradchecks_and_resets(
    server: ServerProcess,
) -> None:
    r = httpx.post(f"{server.url}/api/rooms", json={"config": {"preset": "article"}}, timeout=30)
    assert r.status_code == 201, r.text
    code, token = r.json()["code"], r.json()["presenter_token"]
    # Gradient checks that cost ~0.5 G multiply-adds each, asked for eight at a time.
    check = {"preset": "spiral", "layers": [2, 32, 32, 1], "batch_size": None}
    sid = httpx.post(f"{server.url}/api/sessions", json=check, timeout=60).json()["id"]
    big = httpx.post(f"{server.url}/api/sessions", json=HEAVY, timeout=60).json()["id"]
    stop = threading.Event()
    answers: list[int] = []

    def checker(address: str) -> None:
        transport = httpx.HTTPTransport(local_address=address)
        with httpx.Client(transport=transport, timeout=120) as c:
            while not stop.is_set():
                answers.append(c.get(f"{server.url}/api/sessions/{sid}/gradcheck").status_code)
                answers.append(c.post(f"{server.url}/api/sessions/{big}/reset").status_code)

    async def measure() -> tuple[int, float]:
        return await room_frames(server, code, token)

    threads = [
        threading.Thread(target=checker, args=(f"127.0.1.{k}",), daemon=True) for k in range(8)
    ]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: len(answers) >= 8, "the first gradient checks")
        frames, seconds = asyncio.run(asyncio.wait_for(measure(), 180))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    ratio = frames / (FPS * seconds)
    print(f"room beside gradchecks: {frames} frames in {seconds:.2f} s, {ratio:.3f}")
    # Without the gate the room got 0.05 of its frames here (BENCHMARKS.md); with it 0.97-1.0
    # on a quiet machine. The bound leaves room for a busy one: what it tells apart is the gate.
    assert ratio >= MIN_SHARE, f"{frames} frames in {seconds:.2f} s: {ratio:.2f} of {FPS} fps"
    assert 200 in answers, answers  # the checks did run
