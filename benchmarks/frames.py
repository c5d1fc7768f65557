"""What a streamed frame costs the server, as a ratio to the step it reports (issue 26, item 1).

Run: .venv/bin/python benchmarks/frames.py [--frames 400] [--compare DIR] [--clock cpu]

For the article net and spiral [2,16,16,16,1] on 500 samples, one packed viewer: per frame,
a step (`advance(1)`), then the stream's own path (Runner publishes a Tick, the slot's text is
the packed JSON) and a send of its bytes over a local socket pair. Prints microseconds per part
and the frame's cost over the step's. `--compare DIR` (an export of another checkout, e.g.
`git archive main | tar -x -C /tmp/before`) runs it and this checkout alternately, 3 rounds
each, in subprocesses, so both see the same load of a shared machine.
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


def child(root: str, frames: int, cpu: bool) -> None:
    """Measure with `root`'s app on the path; print one JSON line."""
    sys.path.insert(0, root)
    out = {name: measure(config, frames, cpu) for name, config in NETS.items()}
    print(json.dumps(out))


def run(root: Path, frames: int, clock: str) -> dict[str, dict[str, float]]:
    """One measurement in a fresh interpreter with `root`'s app."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    cmd = [sys.executable, __file__, "--child", str(root), "--frames", str(frames)]
    cmd += ["--clock", clock]
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
    args = parser.parse_args()
    if args.child:
        child(args.child, args.frames, args.clock == "cpu")
        return
    load = os.getloadavg()
    roots = [("after", ROOT)] + ([("before", args.compare)] if args.compare else [])
    results: dict[str, list[dict[str, dict[str, float]]]] = {name: [] for name, _ in roots}
    for _ in range(args.rounds):
        for name, root in reversed(roots):  # before, after, before, after, ...
            results[name].append(run(root, args.frames, args.clock))
    now = os.getloadavg()[0]
    print(f"load average at start {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}, now {now:.1f}; "
          f"{args.rounds} alternating rounds, median of rounds, {args.clock} clock")  # fmt: skip
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
