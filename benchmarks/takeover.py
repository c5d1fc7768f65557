"""How long a room goes dark when the peer that trains it is killed, and how much play is lost.

Run: .venv/bin/python benchmarks/takeover.py [--rounds 3] [--fps 20] [--steps-per-frame 2]

Three peers share a redis-server started here. Each round: a room made on one peer plays; a
participant on another peer notes every frame's arrival; the owner is SIGKILLed. Reported per
round: the gap between the last frame before the kill and the first after it (the lease must
expire, LEASE_MS, then a follower notices within MISSES ticks and restores the snapshot), and
the steps lost (last step seen before the kill minus the step the run resumed from), also as
seconds of play. The killed peer is started again for the next round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from websockets.asyncio.client import connect

from benchmarks._server import ROOT, free_port
from benchmarks.room import create_room, redis_server


def start_peer(redis_url: str) -> tuple[str, subprocess.Popen[bytes]]:
    """A peer on a free port, once /healthz answers."""
    port = free_port()
    env = {**os.environ, "BACKPROP_STATE_DIR": "", "BACKPROP_REDIS_URL": redis_url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "--port", str(port)], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(400):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1).read()
            return base, proc
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("peer did not start")


async def measure(
    owner_proc: subprocess.Popen[bytes], owner: str, other: str, fps: float, spf: int
) -> tuple[float, int]:
    """One round: play, kill the owner, wait for the first frame from the new owner."""
    code, token = create_room(owner)
    ws = other.replace("http", "ws", 1)
    async with (
        connect(f"{ws}/ws/rooms/{code}") as presenter,
        connect(f"{ws}/ws/rooms/{code}") as watcher,
    ):
        await presenter.send(json.dumps({"type": "hello", "token": token}))
        await presenter.send(json.dumps({"type": "play", "steps_per_frame": spf, "fps": fps}))
        last_step = 0
        while last_step < 2 * fps * spf:  # two seconds of play
            msg = json.loads(await asyncio.wait_for(watcher.recv(), 30))
            if msg["type"] == "frame":
                last_step = msg["step"]
        owner_proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        # Frames already in flight may still arrive: the gap ends at the new owner's full curve.
        while True:
            msg = json.loads(await asyncio.wait_for(watcher.recv(), 60))
            if msg["type"] != "frame":
                continue
            if msg["first_step"] == 0:
                return time.monotonic() - killed, max(0, last_step - msg["step"])
            last_step = max(last_step, msg["step"])


def main() -> None:
    """Rounds of kill-and-take-over; print each and the medians."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fps", type=float, default=20.0)
    ap.add_argument("--steps-per-frame", type=int, default=2)
    args = ap.parse_args()
    gaps, lost = [], []
    with redis_server() as (url, _):
        peers = [start_peer(url) for _ in range(3)]
        try:
            for k in range(args.rounds):
                owner, other = k % 3, (k + 1) % 3
                gap, steps = asyncio.run(
                    measure(peers[owner][1], peers[owner][0], peers[other][0], args.fps,
                            args.steps_per_frame)
                )  # fmt: skip
                peers[owner][1].wait(10)
                peers[owner] = start_peer(url)
                seconds = steps / (args.fps * args.steps_per_frame)
                print(
                    f"round {k + 1}: no frames for {gap:.2f} s; lost {steps} steps "
                    f"({seconds:.2f} s of play)"
                )
                gaps.append(gap)
                lost.append(seconds)
        finally:
            for _, proc in peers:
                proc.terminate()
                proc.wait(10)
    print(
        f"summary: {args.rounds} takeovers, median {statistics.median(gaps):.2f} s without frames "
        f"(max {max(gaps):.2f}), median {statistics.median(lost):.2f} s of play lost "
        f"(max {max(lost):.2f})"
    )


if __name__ == "__main__":
    main()
