"""Reads that compute (seek, trace, slice, frame, matrix, chain) are charged and gated like steps.

A client looping seeks or slices on a big session is told 429 once its budget is spent, rather
than taking the CPU from everyone else; a playing room keeps its frame rate beside such clients
(compared with its own rate without them, measured in the same run); /healthz keeps answering.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable

import httpx
from support import ServerProcess, wait_for
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as aconnect

FPS = 30
WINDOW_FRAMES = 120  # the room's frames each measurement spans (4 s at 30 fps)
VIEWERS = 30
SEEKERS = 8
# Of the room's unloaded frame rate while the seekers loop. Ungated reads took a room from 30.5 to
# 8.7 fps (0.29, issue 25); gated it keeps ~1.0 on a quiet box. The bar sits between, low enough
# for a loaded 2-core CI box, where the test's own seeker threads share the server's cores (0.64
# was seen once at load 15).
MIN_RATIO = 0.5
# About 20 M multiply-adds a step: 63 steps replayed by a seek are about 1.3 G, a third of the
# default burst (4 G); a slice's 42 forward passes about 0.9 G.
HEAVY = {
    "preset": "spiral",
    "layers": [2, 64, 64, 64, 64, 64, 64, 1],
    "dataset": {"name": "spiral", "samples": 1000},
}
HEAD = 63  # one checkpoint at step 0, the next at 64: a seek to 63 replays 63 steps
SLICE = {"layer": 1, "i": 0, "j": 0}


def client(address: str) -> httpx.Client:
    """A client from its own loopback address (budgets are per address)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=120)


def big_session(server: ServerProcess, address: str) -> str:
    """A big session stepped to HEAD, made from `address` (its own budget pays for it)."""
    with client(address) as c:
        r = c.post(f"{server.url}/api/sessions", json=HEAVY)
        assert r.status_code == 201, r.text
        sid = str(r.json()["id"])
        r = c.post(f"{server.url}/api/sessions/{sid}/step", json={"count": HEAD})
        assert r.status_code == 200, r.text
        return sid


RATE, BURST = 1e9, 4e9  # the default client_work_per_second and client_work_burst (app/settings.py)


def refused_after(
    ask: Callable[[], httpx.Response], most: int
) -> tuple[int, httpx.Response, float]:
    """Call `ask()` until it answers 429 (at most `most` times): how many got 200, the 429, and
    the seconds the loop took (the bucket refills meanwhile: a slower machine earns more)."""
    t0 = time.monotonic()
    for ok in range(most):
        r = ask()
        if r.status_code == 429:
            return ok, r, time.monotonic() - t0
        assert r.status_code == 200, r.text
    raise AssertionError(f"{most} calls, never refused")


def most_granted(cost: float, seconds: float) -> int:
    """What the token bucket can have granted in `seconds`: the burst and its refill, at most."""
    return int((BURST + RATE * seconds) // cost) + 1


def test_looping_seeks_and_slices_are_refused_once_over_budget(server: ServerProcess) -> None:
    sid = big_session(server, "127.0.3.1")
    url = f"{server.url}/api/sessions/{sid}"
    with client("127.0.3.2") as seeker:
        ok, refused, took = refused_after(
            lambda: seeker.post(f"{url}/seek", json={"step": HEAD}), 20
        )
        # The burst (4 G) holds about three 1.3 G replays, plus what refilled while they ran; an
        # uncharged seek would never be refused.
        assert 1 <= ok <= most_granted(1.2e9, took), (ok, took)
        assert "too much computation from your address" in refused.json()["detail"]
        assert float(refused.headers["Retry-After"]) >= 1
    with client("127.0.3.3") as slicer:
        ok, refused, took = refused_after(lambda: slicer.get(f"{url}/slice", params=SLICE), 20)
        assert 1 <= ok <= most_granted(0.8e9, took), (ok, took)
    with client("127.0.3.4") as other:
        # Another address is not affected, and the server answers its health check.
        assert other.post(f"{url}/seek", json={"step": 10}).status_code == 200
        assert other.get(f"{server.url}/healthz").status_code == 200


def test_a_socket_looping_seeks_gets_errors_once_over_budget(server: ServerProcess) -> None:
    sid = big_session(server, "127.0.3.5")

    async def loop() -> tuple[int, str]:
        url = f"{server.ws_url}/ws/sessions/{sid}"
        async with aconnect(url, max_size=None) as ws:
            sent = 0
            while sent < 20:
                await ws.send(json.dumps({"type": "seek", "step": HEAD - sent % 2}))
                sent += 1
                while True:  # each seek answers with a frame or an error
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 60))
                    if msg["type"] == "error":
                        return sent, str(msg["message"])
                    if msg["type"] == "frame" and msg.get("seeked"):
                        break
        raise AssertionError("twenty seeks, never refused")

    sent, message = asyncio.run(loop())
    assert sent <= 5, sent
    assert "too much computation from your address" in message


async def drain(ws: ClientConnection) -> None:
    """Read and drop frames, as a page does (a socket that stops reading is dropped)."""
    async for _ in ws:
        pass


class Watch:
    """Every playing frame a room's watcher receives: (when, step), read as they come."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, int]] = []

    async def run(self, watcher: ClientConnection) -> None:
        async for raw in watcher:
            msg = json.loads(raw)
            if msg.get("type") == "frame" and msg.get("playing"):
                self.seen.append((time.monotonic(), int(msg["step"])))

    async def rate(self) -> float:
        """Steps a second (one a frame) over the next WINDOW_FRAMES frames from now."""
        start = len(self.seen)
        deadline = time.monotonic() + 120
        while len(self.seen) < start + WINDOW_FRAMES and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        (t0, s0), (t1, s1) = self.seen[start], self.seen[-1]
        return (s1 - s0) / (t1 - t0)


def test_a_room_keeps_its_frame_rate_beside_clients_looping_seeks(server: ServerProcess) -> None:
    sids = [big_session(server, f"127.0.4.{k + 1}") for k in range(SEEKERS // 2)]
    r = httpx.post(f"{server.url}/api/rooms", json={"config": {"preset": "article"}}, timeout=30)
    assert r.status_code == 201, r.text
    code, token = r.json()["code"], r.json()["presenter_token"]
    stop = threading.Event()
    answers: list[int] = []
    health: list[int] = []

    def seeker(k: int) -> None:
        url = f"{server.url}/api/sessions/{sids[k % len(sids)]}/seek"
        with client(f"127.0.5.{k + 1}") as c:
            while not stop.is_set():
                r = c.post(url, json={"step": HEAD - k % 2})
                answers.append(r.status_code)
                if r.status_code == 429:
                    # A polite client waits as told; an impolite one is refused again at once.
                    stop.wait(min(float(r.headers["Retry-After"]), 0.2))

    def prober() -> None:
        with client("127.0.5.100") as c:
            while not stop.is_set():
                health.append(c.get(f"{server.url}/healthz").status_code)
                stop.wait(0.25)

    async def measure() -> tuple[float, float]:
        url = f"{server.ws_url}/ws/rooms/{code}"
        async with aconnect(url, max_queue=None) as presenter, aconnect(url) as watcher:
            viewers = [await aconnect(url) for _ in range(VIEWERS - 1)]
            drains = [asyncio.create_task(drain(ws)) for ws in [presenter, *viewers]]
            watch = Watch()
            drains.append(asyncio.create_task(watch.run(watcher)))
            try:
                await presenter.send(json.dumps({"type": "hello", "token": token}))
                await presenter.send(json.dumps({"type": "play", "steps_per_frame": 1, "fps": FPS}))
                unloaded = await watch.rate()
                threads = [
                    threading.Thread(target=seeker, args=(k,), daemon=True) for k in range(SEEKERS)
                ]
                threads.append(threading.Thread(target=prober, daemon=True))
                for thread in threads:
                    thread.start()
                await asyncio.to_thread(
                    wait_for, lambda: len(answers) >= SEEKERS, "the seekers' first answers", 120
                )
                loaded = await watch.rate()
                stop.set()
                for thread in threads:
                    await asyncio.to_thread(thread.join, 120)
                return unloaded, loaded
            finally:
                stop.set()
                for task in drains:
                    task.cancel()
                for ws in viewers:
                    await ws.close()

    unloaded, loaded = asyncio.run(asyncio.wait_for(measure(), 300))
    ratio = loaded / unloaded
    print(f"room: {unloaded:.1f} fps alone, {loaded:.1f} beside {SEEKERS} seekers ({ratio:.2f})")
    print(f"seeks: {answers.count(200)} answered, {answers.count(429)} refused")
    assert ratio >= MIN_RATIO, f"{loaded:.1f} fps beside the seekers, {unloaded:.1f} alone"
    assert answers.count(200) >= SEEKERS // 2, answers  # the seeks did run
    assert health and set(health) == {200}, health
