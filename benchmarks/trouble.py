"""What the frame's `trouble` costs: building a frame with and without the diagnosis.

Ratios against a baseline in the same run (frame() with the diagnosis switched off), per
configuration: the article's 5 houses, and a 1,000-sample 2D set on [2, 12, 12, 1].
`python -m benchmarks.trouble [--quick]`.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from app.domain.presets import DATASET_SETTINGS, resolve
from app.domain.protocol import SessionConfigIn
from app.domain.session import TrainingSession

CONFIGS: dict[str, dict[str, Any]] = {
    "article (5 samples, [4,5,1])": {"preset": "article"},
    "spiral (1000 samples, [2,12,12,1])": {
        "preset": "article",
        **DATASET_SETTINGS["spiral"],
        "dataset": {"name": "spiral", "samples": 1000},
    },
}


def per_frame(s: TrainingSession, n: int, diagnose: bool) -> float:
    """Seconds per (one step + one frame)."""
    if not diagnose:
        s.trouble = lambda: None  # type: ignore[method-assign]
    t = time.perf_counter()
    for _ in range(n):
        s.advance(1)
        s.frame()
    dt = (time.perf_counter() - t) / n
    if not diagnose:
        del s.trouble
    return dt


def main() -> None:
    """Print per-frame cost with and without the diagnosis, and their ratio."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer frames (about 5 s in all)")
    n = 300 if ap.parse_args().quick else 3000
    for name, cfg in CONFIGS.items():
        s = TrainingSession(resolve(SessionConfigIn.model_validate(cfg)), max_samples=1000)
        per_frame(s, n // 10, True)  # warm up
        best = {True: float("inf"), False: float("inf")}
        for _ in range(3):  # interleaved, best of three: the machine is shared
            for d in (False, True):
                best[d] = min(best[d], per_frame(s, n, d))
        print(
            f"{name}: step+frame {best[False] * 1e6:.0f} us without, {best[True] * 1e6:.0f} us "
            f"with the diagnosis: x{best[True] / best[False]:.2f}"
        )


if __name__ == "__main__":
    main()
