"""A run's loss history: one loss per step for the newest, thinned further back; bounded memory."""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

MAX_FRAME_LOSSES = 20_000  # a frame never carries more losses than this (the newest)
HISTORY_KEEP = 100_000  # the newest losses are kept one per step...
ARCHIVE_POINTS = 10_000  # ...older ones thinned to at most this many, so memory stays bounded


class LossHistory:
    """Training (and test) losses by step: dense from `start` on, thinned in `archive` before."""

    def __init__(self) -> None:
        self.train = array("d")  # losses of steps start .. (the head)
        self.test = array("d")  # empty when the run has no test set
        self.start = 0
        # Older losses, thinned: steps that are multiples of stride, with their losses.
        self.archive: list[tuple[int, float, float | None]] = []
        self.stride = 1

    def __iter__(self) -> Iterator[float]:
        """The dense training losses, oldest first."""
        return iter(self.train)

    def __len__(self) -> int:
        """Dense training losses held."""
        return len(self.train)

    def record(self, loss: float, test_loss: float | None) -> None:
        """The losses of the next step."""
        self.train.append(loss)
        if test_loss is not None:
            self.test.append(test_loss)

    def amend(self, loss: float, test_loss: float | None) -> None:
        """The last step's losses, recomputed (a settings change at that step) in place."""
        if self.train:
            self.train[-1] = loss
        if self.test and test_loss is not None:
            self.test[-1] = test_loss

    def trim(self) -> None:
        """Thin the oldest losses once the dense part holds twice HISTORY_KEEP."""
        if len(self.train) > 2 * HISTORY_KEEP:
            self._thin()

    def _thin(self) -> None:
        """Move all but the newest HISTORY_KEEP losses into the thinned archive."""
        cut = len(self.train) - HISTORY_KEEP
        steps = np.arange(self.start, self.start + cut)
        old = np.frombuffer(self.train, dtype=float, count=cut)
        tests = np.frombuffer(self.test, dtype=float, count=cut) if self.test else None
        keep = np.flatnonzero(steps % self.stride == 0)
        for k in keep.tolist():
            t = float(tests[k]) if tests is not None else None
            self.archive.append((int(steps[k]), float(old[k]), t))
        while len(self.archive) > ARCHIVE_POINTS:
            # Halve the resolution of the whole archive rather than forget its beginning.
            self.stride *= 2
            self.archive = [p for p in self.archive if p[0] % self.stride == 0]
        del old, tests  # release the buffer views before resizing the arrays
        del self.train[:cut]
        if self.test:
            del self.test[:cut]
        self.start += cut

    def window(self, since: int | None, step: int) -> tuple[int, array[float], array[float] | None]:
        """A frame's losses: the first step, then losses after steps since+1 .. step.

        None for since means the step's own loss; at most MAX_FRAME_LOSSES, the newest.
        """
        first = step if since is None else max(since + 1, 0)
        first = max(first, step - MAX_FRAME_LOSSES + 1, self.start)
        at = first - self.start
        # After a seek the history runs on to the head: a frame stops at its own step.
        end = max(step - self.start + 1, 0)
        return first, self.train[at:end], self.test[at:end] if self.test else None

    def upto(self, step: int) -> tuple[list[int], list[float], list[float | None] | None]:
        """Steps and losses up to `step`: the thinned ones (every stride-th step), then each."""
        end = max(step - self.start + 1, 0)
        steps = [p[0] for p in self.archive] + list(range(self.start, step + 1))
        losses = [p[1] for p in self.archive] + list(self.train[:end])
        tests: list[float | None] | None = None
        if self.test:
            tests = [p[2] for p in self.archive] + list(self.test[:end])
        return steps, losses, tests

    def branch(self, step: int, loss: float, test_loss: float | None) -> None:
        """A new branch from `step` (whose losses are given): forget the losses after it."""
        if step >= self.start:
            del self.train[step - self.start + 1 :]
            if self.test:
                del self.test[step - self.start + 1 :]
        else:
            # Back into the thinned archive: the dense history restarts at this very step.
            self.archive = [p for p in self.archive if p[0] < step]
            self.start = step
            self.train = array("d", [loss])
            test = test_loss if self.test else None
            self.test = array("d", [] if test is None else [test])

    def state(self) -> dict[str, Any]:
        """What a snapshot keeps: the dense losses, where they start, the thinned archive."""
        archive = self.archive
        return {
            "history_start": self.start,
            "archive_stride": self.stride,
            "has_test_history": bool(self.test),
            "history": np.frombuffer(self.train, dtype=float).copy(),
            "test_history": np.frombuffer(self.test, dtype=float).copy(),
            "archive_steps": np.array([p[0] for p in archive], dtype=np.int64),
            "archive_loss": np.array([p[1] for p in archive], dtype=float),
            "archive_test": np.array(
                [np.nan if p[2] is None else p[2] for p in archive], dtype=float
            ),
            "archive_has_test": np.array([p[2] is not None for p in archive], dtype=bool),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> LossHistory:
        """The history state() described."""
        new = cls()
        new.train = array("d", np.asarray(state["history"], dtype=float).tobytes())
        new.test = array(
            "d",
            np.asarray(state["test_history"], dtype=float).tobytes()
            if state["has_test_history"]
            else b"",
        )
        new.start = int(state["history_start"])
        new.stride = int(state["archive_stride"])
        new.archive = [
            (int(s), float(v), float(t) if has else None)
            for s, v, t, has in zip(
                state["archive_steps"].tolist(),
                state["archive_loss"].tolist(),
                state["archive_test"].tolist(),
                state["archive_has_test"].tolist(),
                strict=True,
            )
        ]
        return new
