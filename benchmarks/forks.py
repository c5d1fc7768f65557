"""Everyone forks: N sessions from one address, each playing 30 fps x 1 step (issue 26).

Run: .venv/bin/python benchmarks/forks.py [--seconds 8] [--forks 60 120 200] [--compare DIR]

One client process opens N packed WebSockets (`?frames=packed`) to a real server on loopback,
one session each (the article net, then spiral [2,16,16,16,1] on 500 samples), presses play
at 30 fps x 1 step on all, and after a 1 s warm-up counts for `--seconds` the frames and steps
each receives. Prints the share of the asked steps served, the per-fork frame rate (median,
min, max, and the largest distance from the median), and the steps served per second against
the engine's own steps per second measured in this process in the same run, and the CPU
(cores) the server and this client used while playing. `--compare DIR`
(another checkout, e.g. `git archive main | tar -x -C /tmp/before`) runs each row there and
here alternately, so both see the same load of a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._server import ROOT, cpu_seconds, server

FPS = 30.0
NETS: dict[str, dict[str, Any]] = {
    "article": {"preset": "article"},
    "spiral16": {
        "preset": "spiral",
        "layers": [2, 16, 16, 16, 1],
        "dataset": {"name": "spiral", "samples": 500, "noise": 0.05, "test_fraction": 0.2},
    },
}


def create(base: str, config: dict[str, Any]) -> str:
    """A new session's id."""
    req = urllib.request.Request(
        base + "/api/sessions", data=json.dumps(config).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(req) as r:
        return str(json.loads(r.read())["id"])


async def fork(url: str, start: float, end: float) -> tuple[int, int]:
    """Play one session; frames and steps received between `start` and `end` (loop time)."""
    loop = asyncio.get_running_loop()
    async with websockets.connect(url, max_size=None, open_timeout=120) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "play", "steps_per_frame": 1, "fps": FPS}))
        frames, first, last = 0, None, None
        while loop.time() < end:
            try:
                text = await asyncio.wait_for(ws.recv(), max(end - loop.time(), 0.001))
            except TimeoutError:
                break
            msg = orjson.loads(text)
            if msg.get("type") != "frame" or loop.time() < start:
                continue
            if first is None:
                first = msg["step"]
            else:
                frames += 1
            last = msg["step"]
        await ws.send(json.dumps({"type": "pause"}))
    return frames, (last - first) if first is not None and last is not None else 0


async def play_all(
    base: str, ids: list[str], seconds: float, pid: int | None = None
) -> tuple[list[tuple[int, int]], float]:
    """Every fork plays at once; each one's frames and steps in the measured window, and the
    server's (`pid`) CPU seconds in that window (0.0 without a pid)."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 1.0 + 0.01 * len(ids)  # after every socket is open and playing
    end = start + seconds
    ws = base.replace("http", "ws")
    urls = [f"{ws}/ws/sessions/{sid}?frames=packed" for sid in ids]

    async def server_cpu() -> float:
        """The server's CPU seconds between `start` and `end`."""
        if pid is None:
            return 0.0
        await asyncio.sleep(max(start - loop.time(), 0.0))
        cpu0 = cpu_seconds(pid)
        await asyncio.sleep(max(end - loop.time(), 0.0))
        return cpu_seconds(pid) - cpu0

    *got, cpu = await asyncio.gather(*(fork(url, start, end) for url in urls), server_cpu())
    return got, cpu


def engine_rate(config: dict[str, Any], seconds: float = 1.5) -> float:
    """This checkout's engine alone: steps per second of one session, in this process."""
    from app.domain.presets import resolve
    from app.domain.protocol import SessionConfigIn
    from app.domain.session import TrainingSession

    s = TrainingSession(resolve(SessionConfigIn.model_validate(config)))
    s.advance(20)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        n += s.advance(10)
    return n / (time.perf_counter() - t0)


def row(root: Path, config: dict[str, Any], n: int, seconds: float) -> dict[str, float]:
    """One server of `root`'s code, `n` forks playing; what they were served."""
    with server(env={"PYTHONPATH": str(root)}, root=root) as (base, proc):
        ids = [create(base, config) for _ in range(n)]
        cpu0, mine0 = cpu_seconds(proc.pid), time.process_time()
        got, window_cpu = asyncio.run(play_all(base, ids, seconds, proc.pid))
        cpu, mine = cpu_seconds(proc.pid) - cpu0, time.process_time() - mine0
    fps = sorted(f / seconds for f, _ in got)
    frames = sum(f for f, _ in got)
    steps = sum(s for _, s in got)
    med = statistics.median(fps)
    return {
        "share": steps / (n * FPS * seconds),
        "steps_s": steps / seconds,
        "fps_med": med,
        "fps_min": fps[0],
        "fps_max": fps[-1],
        "spread": max(abs(fps[0] - med), abs(fps[-1] - med)) / med if med else float("inf"),
        "server_cpu": cpu / (seconds + 1.0 + 0.01 * n),
        "client_cpu": mine / (seconds + 1.0 + 0.01 * n),
        # The server's whole cost of a delivered fork-frame (its step, building, packing,
        # encoding, sending, the event loop's wake-ups), in CPU time: robust to a busy machine.
        "cpu_us_frame": 1e6 * window_cpu / frames if frames else float("nan"),
    }


def main() -> None:
    """Print one table row per net, fork count and checkout."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--forks", type=int, nargs="+", default=[60, 120, 200])
    parser.add_argument("--nets", nargs="+", default=list(NETS))
    parser.add_argument("--compare", type=Path, default=None)
    args = parser.parse_args()
    roots = ([("before", args.compare)] if args.compare else []) + [("after", ROOT)]
    load = os.getloadavg()
    print(f"load average at start {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; "
          f"{args.seconds:g} s per row, loopback, one client process")  # fmt: skip
    print("| net | forks | code | share of asked steps | served steps/s | engine alone steps/s"
          " | served / engine | fps median (min-max) | max spread | server CPU"
          " | client CPU | server CPU µs per frame |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for net in args.nets:
        for n in args.forks:
            for name, root in roots:
                alone = engine_rate(NETS[net])
                r = row(root, NETS[net], n, args.seconds)
                print(f"| {net} | {n} | {name} | {r['share']:.2f} | {r['steps_s']:.0f} | "
                      f"{alone:.0f} | {r['steps_s'] / alone:.2f} | {r['fps_med']:.1f} "
                      f"({r['fps_min']:.1f}-{r['fps_max']:.1f}) | {r['spread']:.0%} | "
                      f"{r['server_cpu']:.2f} | {r['client_cpu']:.2f} | "
                      f"{r['cpu_us_frame']:.0f} |", flush=True)  # fmt: skip
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
