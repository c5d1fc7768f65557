"""What snapshots cost the play loop (issue 12): saturated play with and without a Persister.

Run: .venv/bin/python benchmarks/state.py [--seconds 3] [--rounds 3]

In one process: a Runner plays the article net as fast as the engine goes (many steps per
frame, fps 60), once with snapshots off and once with a SQLite Persister (twice a second while
playing, writes in a thread), alternating for `rounds`; prints steps per second of each and
their ratio. Also the on-loop cost of a snapshot (state(): array copies) and the writer's cost
(encode + SQLite write) for a run whose history is full (200,000 losses).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.domain.history import HISTORY_KEEP
from app.domain.presets import resolve
from app.domain.protocol import SessionConfigIn
from app.domain.session import TrainingSession
from app.live.state import Persister, SqliteBackend, encode_state
from app.live.stream import Runner


def article() -> TrainingSession:
    """A fresh article session."""
    return TrainingSession(resolve(SessionConfigIn.model_validate({"preset": "article"})))


async def play(seconds: float, directory: str | None) -> tuple[float, int]:
    """Steps per second of saturated play, and snapshots written."""
    runner = Runner(article())
    persist = Persister(SqliteBackend(directory)) if directory else None
    if persist is not None:
        persist.start()
        persist.watch("session", "bench", runner)
    await runner.play(5000, 60)  # more steps per frame than one frame's time allows
    start_step, started = runner.session.step_count, time.perf_counter()
    await asyncio.sleep(seconds)
    steps = runner.session.step_count - start_step
    elapsed = time.perf_counter() - started
    await runner.close()
    writes = 0
    if persist is not None:
        await persist.close()
        writes = persist.writes
    return steps / elapsed, writes


def snapshot_costs(directory: str) -> tuple[float, float, int]:
    """ms on the loop (state()), ms in the writer (encode + write), bytes, after a long run."""
    session = article()
    session.advance(2 * HISTORY_KEEP)
    backend = SqliteBackend(directory)
    on_loop, writer = [], []
    size = 0
    for _ in range(10):
        t0 = time.perf_counter()
        state = session.state()
        t1 = time.perf_counter()
        blob = encode_state(state)
        backend.snapshot("session", "big", blob)
        t2 = time.perf_counter()
        on_loop.append(t1 - t0)
        writer.append(t2 - t1)
        size = len(blob)
    backend.close()
    return 1000 * statistics.median(on_loop), 1000 * statistics.median(writer), size


def main() -> None:
    """Alternate rounds without and with snapshots; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    off, on, writes = [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.rounds):
            off.append(asyncio.run(play(args.seconds, None))[0])
            rate, w = asyncio.run(play(args.seconds, f"{tmp}/r{k}"))
            on.append(rate)
            writes += w
        loop_ms, writer_ms, size = snapshot_costs(f"{tmp}/big")
    a, b = statistics.median(off), statistics.median(on)
    print(f"saturated play, snapshots off: {a:,.0f} steps/s (median of {args.rounds})")
    print(f"saturated play, snapshots on:  {b:,.0f} steps/s ({writes} snapshots written)")
    print(f"ratio on/off: {b / a:.3f}")
    print(
        f"after {2 * HISTORY_KEEP:,} steps: state() {loop_ms:.2f} ms on the loop, "
        f"encode + SQLite write {writer_ms:.2f} ms in the writer, {size / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    main()
