"""What a streamed frame costs the server, as a ratio to the step it reports (issue 26, item 1).

Run: .venv/bin/python benchmarks/frames.py [--frames 400] [--compare DIR] [--clock cpu]
     .venv/bin/python benchmarks/frames.py --forks 60 [--seconds 4] [--compare DIR]

For the article net and spiral [2,16,16,16,1] on 500 samples, one packed viewer: per frame,
a step (`advance(1)`), then the stream's own path (Runner publishes a Tick, the slot's text is
the packed JSON) and a send of its bytes over a local socket pair. Prints microseconds per part
and the frame's cost over the step's. `--compare DIR` (an export of another checkout, e.g.
`git archive main | tar -x -C /tmp/before`) runs it and this checkout alternately, 3 rounds
each, in subprocesses, so both see the same load of a shared machine.

`--forks N`: N runs of each net playing 30 fps x 1 step in one event loop (stepped together
where they can be), each with a packed viewer whose sender writes to a sink: the server's
whole per-frame path but the socket, as CPU microseconds per fork-frame (time.process_time,
so a busy machine's waits for a core are left out).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NETS = {
    "article": {"preset": "article"},
    "spiral16": {
        "preset": "spiral",
        "layers": [2, 16, 16, 16, 1],
        "dataset": {"name": "spiral", "samples": 500, "noise": 0.05, "test_fraction": 0.2},
    },
}


def measure(config: dict[str, Any], frames: int, cpu: bool = False) -> dict[str, float]:
    """Median microseconds of a step, of building+packing+encoding its frame, and of sending it."""
    from app.domain.presets import resolve
    from app.domain.protocol import SessionConfigIn
    from app.domain.session import TrainingSession
    from app.live.stream import Runner

    session = TrainingSession(resolve(SessionConfigIn.model_validate(config)))
    session.advance(20)
    runner = Runner(session)
    slot = runner.attach()
    slot.packed = True
    slot._tick = None  # the first frame (the whole curve) went out already
    emit = getattr(runner, "_emit", None) or runner._publish  # this checkout, or one before it
    a, b = socket.socketpair()
    b.setblocking(True)

    def drain() -> None:
        while b.recv(1 << 20):
            pass

    threading.Thread(target=drain, daemon=True).start()
    step, frame, send = [], [], []
    # CPU time of this process (`--clock cpu`) leaves out the waits for a core on a busy machine.
    clock = time.process_time if cpu else time.perf_counter
    for _ in range(frames):
        t0 = clock()
        session.advance(1)
        t1 = clock()
        emit()
        tick = slot._tick
        assert tick is not None
        text = tick.text(True)
        slot._tick = None
        t2 = clock()
        a.sendall(text.encode())
        t3 = clock()
        step.append(t1 - t0)
        frame.append(t2 - t1)
        send.append(t3 - t2)
    a.close()
    us = {
        k: 1e6 * statistics.median(v) for k, v in (("step", step), ("frame", frame), ("send", send))
    }
    us["ratio"] = (us["frame"] + us["send"]) / us["step"]
    us["bytes"] = len(text)
    return us


def play_forks(config: dict[str, Any], n: int, seconds: float) -> dict[str, float]:
    """`n` runs of `config` playing 30 fps x 1 step in this process's event loop, as the
    server's registry runs them (stepped together where they can be), each with a packed viewer
    whose sender (the stream's own `pump`) writes to a sink: no sockets, so what is left is
    the server's whole per-frame path but the ASGI send. CPU microseconds per fork-frame."""
    import asyncio

    from app.domain.presets import resolve
    from app.domain.protocol import SessionConfigIn
    from app.domain.session import TrainingSession
    from app.live.stream import Runner, pump

    async def sink(text: str) -> None:
        """A viewer that takes every frame at once."""

    async def scenario() -> dict[str, float]:
        resolved = resolve(SessionConfigIn.model_validate(config))
        runners = [Runner(TrainingSession(resolved)) for _ in range(n)]
        senders = []
        for r in runners:
            r.together = True
            slot = r.attach()
            slot.packed = True
            senders.append(asyncio.create_task(pump(slot, sink)))
        for r in runners:
            await r.play(1, 30.0)
        await asyncio.sleep(1.0)  # warm-up: every loop on the grid
        steps0 = sum(r.session.step_count for r in runners)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        steps = sum(r.session.step_count for r in runners) - steps0
        for r in runners:
            await r.close()
        await asyncio.gather(*senders, return_exceptions=True)
        return {
            "share": steps / (n * 30.0 * wall),
            "cpu_us": 1e6 * cpu / steps if steps else float("nan"),
            "cores": cpu / wall,
        }

    return asyncio.run(scenario())


def child(root: str, frames: int, cpu: bool, forks: int, seconds: float) -> None:
    """Measure with `root`'s app on the path; print one JSON line."""
    sys.path.insert(0, root)
    if forks:
        out = {name: play_forks(config, forks, seconds) for name, config in NETS.items()}
    else:
        out = {name: measure(config, frames, cpu) for name, config in NETS.items()}
    print(json.dumps(out))


def run(root: Path, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """One measurement in a fresh interpreter with `root`'s app."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    cmd = [sys.executable, __file__, "--child", str(root), "--frames", str(args.frames)]
    cmd += ["--clock", args.clock, "--forks", str(args.forks), "--seconds", str(args.seconds)]
    done = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    """Print the table (and, with --compare, the other checkout's beside it)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument("--compare", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", default=None)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument("--forks", type=int, default=0, help="N runs playing in one loop")
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.frames, args.clock == "cpu", args.forks, args.seconds)
        return
    load = os.getloadavg()
    roots = [("after", ROOT)] + ([("before", args.compare)] if args.compare else [])
    results: dict[str, list[dict[str, dict[str, float]]]] = {name: [] for name, _ in roots}
    for _ in range(args.rounds):
        for name, root in reversed(roots):  # before, after, before, after, ...
            results[name].append(run(root, args))
    now = os.getloadavg()[0]
    print(f"load average at start {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}, now {now:.1f}; "
          f"{args.rounds} alternating rounds, median of rounds, "
          f"{'CPU time' if args.forks else args.clock + ' clock'}")  # fmt: skip
    if args.forks:
        print("| net | forks | code | share of asked steps | CPU µs per fork-frame | cores |")
        print("|---|---|---|---|---|---|")
        for net in NETS:
            for name, _ in reversed(roots):
                rows = [r[net] for r in results[name]]
                med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
                print(f"| {net} | {args.forks} | {name} | {med['share']:.2f} | "
                      f"{med['cpu_us']:.0f} | {med['cores']:.2f} |")  # fmt: skip
        return
    print(
        "| net | code | step µs | frame (build+pack+encode) µs | send µs | (frame+send)/step"
        " | bytes |"
    )
    print("|---|---|---|---|---|---|---|")
    for net in NETS:
        for name, _ in reversed(roots):
            rows = [r[net] for r in results[name]]
            med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
            print(f"| {net} | {name} | {med['step']:.0f} | {med['frame']:.0f} | "
                  f"{med['send']:.1f} | {med['ratio']:.2f} | {med['bytes']:.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
