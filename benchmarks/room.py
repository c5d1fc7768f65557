"""A workshop room under load: N participants over real WebSockets, one of them stalled.

Run: .venv/bin/python benchmarks/room.py [--participants 500] [--seconds 20] [--fps 30]

The presenter plays the article net; every participant records when each frame arrives.
Reports frames per second per participant (median, p5), the spread of one frame's arrival
across participants (p50, p99), and the server's RSS at the start and the end. The load
generator runs on the same 2 cores as the server: its own cost is part of every figure.
A baseline run without the stalled participant, in the same process, shows its effect.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._server import rss_mb, server


def create_room(base: str) -> tuple[str, str]:
    """A new article room's code and presenter token."""
    req = urllib.request.Request(
        base + "/api/rooms", data=b'{"config": {"preset": "article"}}',
        headers={"Content-Type": "application/json"}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(req) as r:
        body = json.loads(r.read())
    return str(body["code"]), str(body["presenter_token"])


def step_of(text: str) -> int | None:
    """The step of a frame without parsing it all: orjson keeps "type", "step" first."""
    if not text.startswith('{"type":"frame","step":'):
        return None
    head = text[23:40]
    return int(head[: head.index(",")])


async def participant(
    url: str, arrivals: dict[int, list[float]], counts: list[int], stop: asyncio.Event
) -> None:
    """Read frames until stopped, noting each frame's arrival time by its step."""
    async with websockets.connect(url, max_size=None, compression=None) as ws:
        n = 0
        while not stop.is_set():
            try:
                text = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            step = step_of(str(text))
            if step is not None:
                arrivals[step].append(time.perf_counter())
                n += 1
        counts.append(n)


async def stalled(url: str, stop: asyncio.Event) -> None:
    """Connect and never read: the server must drop it, not wait for it."""
    try:
        async with websockets.connect(url, max_size=None, compression=None, max_queue=1) as ws:
            ws.transport.pause_reading()  # TCP backpressure: the server's sends block
            await stop.wait()
    except (OSError, websockets.ConnectionClosed):
        pass


async def run(base: str, pid: int, n: int, seconds: float, fps: float, stall: bool) -> dict:
    """One measurement: n participants (+1 stalled), the presenter playing for `seconds`."""
    code, token = create_room(base)
    url = base.replace("http", "ws") + f"/ws/rooms/{code}"
    arrivals: dict[int, list[float]] = defaultdict(list)
    counts: list[int] = []
    stop = asyncio.Event()
    tasks = []
    for k in range(n):
        tasks.append(asyncio.create_task(participant(url, arrivals, counts, stop)))
        if k % 50 == 49:
            await asyncio.sleep(0.05)  # don't look like a SYN flood to the kernel
    if stall:
        tasks.append(asyncio.create_task(stalled(url, stop)))
    await asyncio.sleep(1.0)
    rss0 = rss_mb(pid)
    async with websockets.connect(url, max_size=None) as presenter:
        await presenter.send(json.dumps({"type": "hello", "token": token}))
        arrivals.clear()
        t0 = time.perf_counter()
        await presenter.send(json.dumps({"type": "play", "steps_per_frame": 1, "fps": fps}))

        async def drain() -> None:
            while True:
                await presenter.recv()

        drainer = asyncio.create_task(drain())
        await asyncio.sleep(seconds)
        elapsed = time.perf_counter() - t0
        await presenter.send(json.dumps({"type": "pause"}))
        drainer.cancel()
    rss1 = rss_mb(pid)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    # Frames per participant over the window; spread over frames most participants got.
    full = [t for t in arrivals.values() if len(t) >= n * 0.9]
    spreads = sorted((max(t) - min(t)) * 1000 for t in full)
    per = sorted(c / elapsed for c in counts)
    return {
        "fps_median": statistics.median(per) if per else 0.0,
        "fps_p5": per[len(per) // 20] if per else 0.0,
        "spread_p50": spreads[len(spreads) // 2] if spreads else float("nan"),
        "spread_p99": spreads[int(len(spreads) * 0.99)] if spreads else float("nan"),
        "rss0": rss0,
        "rss1": rss1,
        "frames": len(full),
    }


def main() -> None:
    """A baseline without the stalled participant, then with it; print both and a summary."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--participants", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--fps", type=float, default=30.0)
    args = ap.parse_args()
    env = {
        "BACKPROP_MAX_PARTICIPANTS": str(args.participants + 10),
        "BACKPROP_MAX_CONNECTIONS": str(args.participants * 3),
        "BACKPROP_MAX_CONNECTIONS_PER_IP": str(args.participants * 3),
    }
    with server(env) as (base, proc):
        results = {}
        for stall in (False, True):
            r = asyncio.run(run(base, proc.pid, args.participants, args.seconds, args.fps, stall))
            results[stall] = r
            print(
                f"{'with' if stall else 'without'} a stalled participant: "
                f"median {r['fps_median']:.1f} frames/s (p5 {r['fps_p5']:.1f}), "
                f"arrival spread p50 {r['spread_p50']:.1f} ms p99 {r['spread_p99']:.1f} ms, "
                f"server RSS {r['rss0']:.0f} -> {r['rss1']:.0f} MiB over {r['frames']} frames"
            )
    r = results[True]
    print(
        f"summary: {args.participants} participants at {args.fps:g} fps: median "
        f"{r['fps_median']:.1f} frames/s, p99 spread {r['spread_p99']:.0f} ms "
        f"(without stall: {results[False]['fps_median']:.1f}, "
        f"{results[False]['spread_p99']:.0f} ms)"
    )


if __name__ == "__main__":
    main()
