"""How many forks this server keeps at full speed, from the step and frame costs it measures.

Every Runner reports what its steps and its frames cost (seconds, measured on this process's
clock while it plays or steps) under its network's shape; an exponential moving average per
shape smooths the noise of a shared machine. A fork playing at `fps` frames a second with
`steps_per_frame` steps each needs fps * (steps_per_frame * step + frame) seconds of the event
loop every second; one loop has one second a second, so it keeps floor(1 / that) forks.
"""

from __future__ import annotations

import math
from typing import Any

Shape = tuple[tuple[int, ...], int]  # the layers and the multiply-adds of one step

ALPHA = 0.05  # weight of the newest measurement in the moving average (about 20 samples)
MAX_SHAPES = 256  # shapes remembered; the oldest is forgotten past this


class Costs:
    """Moving averages of the seconds a step and a frame take, per network shape."""

    def __init__(self, alpha: float = ALPHA) -> None:
        """No shape measured yet."""
        self.alpha = alpha
        self._step: dict[Shape, float] = {}
        self._frame: dict[Shape, float] = {}

    def _add(self, table: dict[Shape, float], shape: Shape, seconds: float) -> None:
        """Fold one measurement into `shape`'s average (the first one starts it)."""
        if not (math.isfinite(seconds) and seconds >= 0):
            return
        old = table.pop(shape, None)  # re-inserted last: the dict's order is least recent first
        table[shape] = seconds if old is None else old + self.alpha * (seconds - old)
        if len(table) > MAX_SHAPES:
            del table[next(iter(table))]

    def step(self, shape: Shape, seconds: float) -> None:
        """One step of `shape` took `seconds` (a stretch of n steps: its time over n)."""
        self._add(self._step, shape, seconds)

    def frame(self, shape: Shape, seconds: float) -> None:
        """Building, packing and encoding one frame of `shape` took `seconds`."""
        self._add(self._frame, shape, seconds)

    def of(self, shape: Shape) -> tuple[float, float] | None:
        """The averaged (step, frame) seconds of `shape`, or None before both are measured."""
        step, frame = self._step.get(shape), self._frame.get(shape)
        return None if step is None or frame is None else (step, frame)


_COSTS = Costs()


def costs() -> Costs:
    """This process's measurements (one event loop serves all its runs)."""
    return _COSTS


def forks_at(step: float, frame: float, fps: float = 30.0, steps_per_frame: int = 1) -> int:
    """Forks one loop keeps at `fps` x `steps_per_frame`: floor(1 / (fps (n step + frame)))."""
    need = fps * (steps_per_frame * step + frame)
    return math.floor(1.0 / need) if need > 0 else 0


def about(n: int) -> int:
    """`n` rounded down to two significant digits (187 -> 180): a figure, not a promise."""
    if n < 100:
        return n
    unit = 10 ** (len(str(n)) - 2)
    return int(n // unit * unit)


def capacity(shape: Shape, fps: float = 30.0, steps_per_frame: int = 1) -> dict[str, Any] | None:
    """The room's `capacity` field (docs/api.md), or None before anything was measured."""
    measured = costs().of(shape)
    if measured is None:
        return None
    step, frame = measured
    forks = forks_at(step, frame, fps, steps_per_frame)
    shown = about(forks)
    return {
        "forks": forks,
        "fps": fps,
        "steps_per_frame": steps_per_frame,
        "step_us": step * 1e6,
        "frame_us": frame * 1e6,
        "text": f"this server keeps ~{shown} fork{'' if shown == 1 else 's'} of this network "
        f"at {fps:g} fps",
    }
