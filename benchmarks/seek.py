"""Seek speed: a long run, then seeks to random steps; ms per seek and its ratio to one step.

Run: .venv/bin/python benchmarks/seek.py [--quick] [--steps N] [--seeks K]

Each case trains `steps` steps (the checkpoints are taken on the way), with two settings changes
along the run, then seeks to `seeks` random steps. A seek is timed as the server runs it:
restore + replay (`session.seek`, which also builds the frame with the curve). The baseline, in
the same process, is one plain step (`advance(1)` averaged over a stretch of steps).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.domain.presets import resolve
from app.domain.protocol import SessionConfigIn, SessionPatch
from app.domain.session import TrainingSession

CASES = [
    ("article [4,5,1] x5, sgd", {"preset": "article"}),
    (
        "[2,16,16,16,1] spiral x100, adam, batch 25",
        {"preset": "spiral", "layers": [2, 16, 16, 16, 1], "batch_size": 25, "loss": "half_sse",
         "optimizer": {"name": "adam", "learning_rate": 0.01},
         "dataset": {"name": "spiral", "samples": 100}},
    ),
]  # fmt: skip


def train(session: TrainingSession, steps: int) -> float:
    """Run `steps` steps with two settings changes on the way; seconds per step."""
    started = time.perf_counter()
    session.advance(steps // 3)
    session.patch(SessionPatch.model_validate({"optimizer": {"learning_rate": 0.02}}))
    session.advance(steps // 3)
    session.patch(SessionPatch(l2=0.001))
    session.advance(steps - session.step_count)
    return (time.perf_counter() - started) / steps


def bench(name: str, config: dict[str, object], steps: int, seeks: int) -> dict[str, object]:
    """Train, then time random seeks; the numbers for one case."""
    session = TrainingSession(resolve(SessionConfigIn.model_validate(config)))
    per_step = train(session, steps)
    rng = random.Random(0)
    times = []
    for _ in range(seeks):
        n = rng.randint(0, steps)
        started = time.perf_counter()
        session.seek(n)
        times.append(time.perf_counter() - started)
    times.sort()
    median = statistics.median(times)
    # Of which: building the frame (the curve, up to 20,000 losses), at the last seek's step.
    started = time.perf_counter()
    session.frame(since=-1)
    frame_ms = (time.perf_counter() - started) * 1e3
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    timeline = session.timeline
    return {
        "case": name,
        "steps": steps,
        "step_us": per_step * 1e6,
        "median_ms": median * 1e3,
        "p95_ms": p95 * 1e3,
        "ratio": median / per_step,
        "frame_ms": frame_ms,
        "checkpoints": len(timeline.checkpoints),
        "every": timeline.every,
        "kib": timeline.nbytes / 1024,
    }  # fmt: skip


def main() -> None:
    """Print one line per case."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10,000 steps, 50 seeks: a trial")
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--seeks", type=int, default=200)
    args = parser.parse_args()
    steps, seeks = (10_000, 50) if args.quick else (args.steps, args.seeks)
    print(f"{'case':44} {'step µs':>8} {'median ms':>10} {'p95 ms':>8} {'x step':>7} "
          f"{'frame ms':>8} {'ckpts':>6} {'K':>5} {'KiB':>7}")  # fmt: skip
    for name, config in CASES:
        r = bench(name, config, steps, seeks)
        print(
            f"{r['case']:44} {r['step_us']:8.1f} {r['median_ms']:10.2f} {r['p95_ms']:8.2f} "
            f"{r['ratio']:7.0f} {r['frame_ms']:8.2f} {r['checkpoints']:6d} {r['every']:5d} "
            f"{r['kib']:7.0f}"
        )


if __name__ == "__main__":
    main()
