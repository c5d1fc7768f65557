"""One session streaming over a real WebSocket: frames per second and training speed.

Run: .venv/bin/python benchmarks/stream.py [--seconds 5]

Plays the article net at 60 fps with 100 steps per frame and counts frames and steps a
client receives; then plays with more steps per frame than the engine can do in 1/60 s, so
training is the bottleneck, and compares its steps per second with the bare engine's
(TrainingSession.advance, run in this process right before) — the cost of streaming.
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

from app.presets import resolve
from app.protocol import SessionConfigIn
from app.training import TrainingSession
from benchmarks._server import server


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


def bare_rate(seconds: float = 2.0) -> float:
    """The engine's own steps per second on the article net, in this process: the best of
    short runs, so a moment of load from other users of the machine does not lower it."""
    s = TrainingSession(resolve(SessionConfigIn(preset="article")))
    s.advance(2000)
    best, t_end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        n = s.advance(2000)
        best = max(best, n / (time.perf_counter() - t0))
    return best


def frame_sizes() -> list[str]:
    """Encoded size of a typical mid-run frame (one loss) per field, and the cost of building
    and encoding it; a room encodes each frame once and sends the same text to everyone."""
    from app.stream import encode

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
    with server(env) as (base, _):
        a = asyncio.run(play(base, 100, 60, args.seconds))
        bare = bare_rate()
        # Twice what the engine can do per 1/60 s: training, not the clock, sets the pace.
        spf = int(2 * bare / 60)
        sat = asyncio.run(play(base, spf, 60, args.seconds))
        bare = max(bare, bare_rate())  # before and after, as the machine's load drifts
    print(
        f"play 60 fps x 100 steps: {a['fps']:.1f} frames/s, {a['steps']:.0f} steps/s "
        f"(asked 6000), holes in the curve: {a['holes']}"
    )
    print(f"bare engine (this process): {bare:.0f} steps/s")
    print(
        f"play saturated ({spf} steps/frame): {sat['steps']:.0f} steps/s, "
        f"{sat['fps']:.1f} frames/s, holes: {sat['holes']}"
    )
    for line in sizes:
        print(line)
    print(f"summary: {a['fps']:.1f} frames/s at 60x100; streaming trains at "
          f"{sat['steps'] / bare:.0%} of bare engine speed")  # fmt: skip


if __name__ == "__main__":
    main()
