"""Forks stepped together against the same forks stepped one by one, in one process (issue 26).

Run: .venv/bin/python benchmarks/batch.py [--quick] [--forks 50,200] [--steps 1,10] [--clock cpu]

A room's forks start identical; each tick advances every fork by `steps` (1 at 30 fps x 1 step).
"alone" is `[s.advance(steps) for s in forks]` (what a server does per fork); "together" is
`advance_together(forks, steps)` (app/domain/together.py). Both sets start from the same state
and are interleaved, best of 7; the last line checks that both ended bit for bit equal.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.domain.presets import resolve
from app.domain.protocol import SessionConfigIn
from app.domain.session import TrainingSession
from app.domain.together import advance_together

CASES = [
    ("article [4,5,1] x5", {"preset": "article"}),
    (
        "[2,16,16,16,1] spiral x500",
        {"preset": "spiral", "layers": [2, 16, 16, 16, 1], "batch_size": None, "loss": "half_sse",
         "optimizer": {"name": "sgd", "learning_rate": 0.1},
         "dataset": {"name": "spiral", "samples": 500}},
    ),
]  # fmt: skip


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def fork_steps_per_second(
    base: TrainingSession, forks: int, steps: int, ticks: int, clock: Any = time.perf_counter
) -> tuple[float, float, bool]:
    """(alone, together) fork-steps per second, best of 7 interleaved, and whether they agree."""
    alone = [base.clone() for _ in range(forks)]
    together = [base.clone() for _ in range(forks)]
    best = [0.0, 0.0]
    for _ in range(7):
        t = clock()
        for _ in range(ticks):
            for s in alone:
                s.advance(steps)
        best[0] = max(best[0], forks * steps * ticks / (clock() - t))
        t = clock()
        for _ in range(ticks):
            advance_together(together, steps)
        best[1] = max(best[1], forks * steps * ticks / (clock() - t))
    same = all(
        np.array_equal(a.net.theta.view(np.uint64), b.net.theta.view(np.uint64))
        and a.step_count == b.step_count
        for a, b in zip(alone, together, strict=True)
    )
    return best[0], best[1], same


def main() -> None:
    """One line per case, fork count and steps per tick."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer ticks, for make bench")
    ap.add_argument("--forks", default="50,200")
    ap.add_argument("--steps", default="1,10", help="steps per tick")
    ap.add_argument("--clock", choices=list(CLOCKS), default="wall", help="cpu: process time")
    args = ap.parse_args()
    print(f"{'case':28} {'forks':>5} {'steps':>5} {'alone/s':>10} {'together/s':>11} {'ratio':>7}")
    ratios = []
    for name, cfg in CASES:
        base = TrainingSession(resolve(SessionConfigIn.model_validate(cfg)))
        for forks in (int(f) for f in args.forks.split(",")):
            for steps in (int(s) for s in args.steps.split(",")):
                work = 8000 if "article" in name else 200  # fork-steps per timed round
                ticks = max(1, work // (forks * steps) // (4 if args.quick else 1))
                alone, together, same = fork_steps_per_second(
                    base, forks, steps, ticks, CLOCKS[args.clock]
                )
                ratio = together / alone
                if "article" in name:
                    ratios.append(ratio)
                flag = "" if same else "  NOT BIT-EQUAL"
                print(
                    f"{name:28} {forks:5} {steps:5} {alone:10.0f} {together:11.0f} "
                    f"{ratio:6.2f}x{flag}"
                )
    print("summary: article together/alone " + " ".join(f"{r:.2f}x" for r in ratios))


if __name__ == "__main__":
    main()
