"""One session streaming over a real WebSocket: frames per second and training speed.

Run: .venv/bin/python benchmarks/stream.py [--seconds 5]

Plays the article net at 60 fps with 100 steps per frame and counts frames and steps a
client receives; then plays with more steps per frame than the engine can do in 1/60 s, so
training is the bottleneck, and compares its steps per second with the bare engine's
(TrainingSession.advance in this process, interleaved with 3 rounds of saturated play) — the
cost of streaming. Also prints a typical frame's encoded size per field and its build and
encoding cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import urllib.request
from pathlib import Path

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.domain.presets import resolve
from app.domain.protocol import SessionConfigIn
from app.domain.session import TrainingSession
from benchmarks._server import cpu_seconds, machine_busy, server


def create(base: str) -> str:
    """A new article session's id."""
    req = urllib.request.Request(
        base + "/api/sessions", data=b'{"preset": "article"}',
        headers={"Content-Type": "application/json"}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(req) as r:
        return str(json.loads(r.read())["id"])


async def play(base: str, spf: int, fps: float, seconds: float) -> dict[str, float]:
    """Play for `seconds`; frames/s, steps/s and whether the curve had holes."""
    sid = create(base)
    url = base.replace("http", "ws") + f"/ws/sessions/{sid}"
    async with websockets.connect(url, max_size=None) as ws:
        first = json.loads(await ws.recv())
        next_step = first["step"] + 1
        await ws.send(json.dumps({"type": "play", "steps_per_frame": spf, "fps": fps}))
        frames, holes, start, step0 = 0, 0, None, first["step"]
        t_end = None
        while True:
            msg = json.loads(await ws.recv())
            if msg.get("type") != "frame" or not msg["losses"]:
                continue
            if msg["first_step"] != next_step:
                holes += 1
            next_step = msg["step"] + 1
            now = time.perf_counter()
            if start is None:  # the clock starts at the first streamed frame
                start, step0 = now, msg["step"]
                t_end = now + seconds
                continue
            frames += 1
            if t_end is not None and now >= t_end:
                break
        await ws.send(json.dumps({"type": "pause"}))
        elapsed = time.perf_counter() - (start or 0)
        return {"fps": frames / elapsed, "steps": (msg["step"] - step0) / elapsed, "holes": holes}


def bare_rate(seconds: float = 1.0) -> float:
    """The engine's own steps per second on the article net, in this process."""
    s = TrainingSession(resolve(SessionConfigIn(preset="article")))
    s.advance(2000)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        n += s.advance(500)
    return n / (time.perf_counter() - t0)


def frame_sizes() -> list[str]:
    """Encoded size of a typical mid-run frame (one loss) per field, and the cost of building
    and encoding it; a room encodes each frame once and sends the same text to everyone."""
    from app.domain.codec import encode

    lines = []
    cases = (("article [4,5,1]", {"preset": "article"}), ("spiral [2,8,8,1]", {"preset": "spiral"}))
    for name, cfg in cases:
        s = TrainingSession(resolve(SessionConfigIn.model_validate(cfg)))
        s.advance(150)
        s.advance(1)
        frame = s.frame(since=s.step_count - 1)  # what play sends at 1 step per frame
        text = encode(frame)
        parts = {k: len(encode(frame[k])) for k in ("weights", "biases", "gradients", "losses")}
        rest = len(text) - sum(parts.values())
        n = 2000
        t0 = time.perf_counter()
        for _ in range(n):
            s.frame(since=s.step_count - 1)
        build = (time.perf_counter() - t0) / n
        t0 = time.perf_counter()
        for _ in range(n):
            encode(frame)
        enc = (time.perf_counter() - t0) / n
        lines.append(
            f"frame {name}: {len(text)} bytes (weights {parts['weights']}, gradients "
            f"{parts['gradients']}, biases {parts['biases']}, losses {parts['losses']}, "
            f"other fields {rest}); built in {build * 1e6:.0f} us, encoded in {enc * 1e6:.0f} us"
        )
    return lines


def main() -> None:
    """Print details and one summary line."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    sizes = frame_sizes()
    env = {"BACKPROP_MAX_STEPS_PER_FRAME": "100000"}
    with server(env) as (base, proc):
        a = asyncio.run(play(base, 100, 60, args.seconds))
        # Saturated play (twice what the engine can do per 1/60 s: training, not the clock,
        # sets the pace) interleaved with the bare engine, 3 rounds: this machine's speed
        # drifts by 2x within minutes (shared host), so both are measured side by side.
        bares, sats, shares = [], [], []
        busy0 = machine_busy()
        for _ in range(3):
            bares.append(bare_rate())
            spf = int(2 * bares[-1] / 60)
            cpu0, wall0 = cpu_seconds(proc.pid), time.perf_counter()
            sats.append(asyncio.run(play(base, spf, 60, args.seconds / 3)))
            shares.append((cpu_seconds(proc.pid) - cpu0) / (time.perf_counter() - wall0))
        bares.append(bare_rate())
        busy = machine_busy(busy0)
        bare = sum(bares) / len(bares)
        share = sum(shares) / len(shares)
        sat = {
            "steps": sum(x["steps"] for x in sats) / len(sats),
            "fps": sum(x["fps"] for x in sats) / len(sats),
            "holes": sum(x["holes"] for x in sats),
        }
    print(
        f"play 60 fps x 100 steps: {a['fps']:.1f} frames/s, {a['steps']:.0f} steps/s "
        f"(asked 6000), holes in the curve: {a['holes']}"
    )
    print(f"bare engine (this process, mean of 4 interleaved runs): {bare:.0f} steps/s")
    print(
        f"play saturated ({spf} steps/frame, 3 rounds): {sat['steps']:.0f} steps/s, "
        f"{sat['fps']:.1f} frames/s, holes: {sat['holes']}"
    )
    per_cpu = sat["steps"] / max(share, 1e-9)
    print(
        f"  bare per round: {', '.join(f'{b:.0f}' for b in bares)} steps/s; server CPU while "
        f"saturated: {share:.0%} of a core, {per_cpu:.0f} steps per CPU-second; "
        f"whole machine {busy:.0%} busy (2 cores = 200%)"
    )
    for line in sizes:
        print(line)
    print(f"summary: {a['fps']:.1f} frames/s at 60x100; streaming trains at "
          f"{sat['steps'] / bare:.0%} of bare engine speed")  # fmt: skip


if __name__ == "__main__":
    main()
