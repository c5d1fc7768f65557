"""A run's past, kept so any step 0..head can be revisited bit for bit: checkpoints + settings log.

Seeking to step n restores the nearest checkpoint at or before n and replays the steps after it
(and any settings change logged in between), so the state is recomputed, not stored, for most
steps. Memory is bounded by a byte budget: when the checkpoints outgrow it, every other one is
dropped (the spacing doubles), so a 100,000-step run keeps at most a few thousand checkpoints.
No web imports here.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.engine.optimizers import Optimizer

Array = np.ndarray

CHECKPOINT_EVERY = 64  # steps between checkpoints at first (the spacing doubles when thinned)
CHECKPOINT_BUDGET = 16 * 1024 * 1024  # bytes of checkpoints one run may hold
MIN_CHECKPOINTS = 32  # never thinned below this many, however big one is
OVERHEAD_BYTES = 1024  # Python objects and the generator's state, per checkpoint, roughly


@dataclass(frozen=True)
class Checkpoint:
    """Everything a run needs to go on from `step` as it first did. Never mutated once taken."""

    step: int
    log_len: int  # settings changes already applied in this state
    theta: Array
    optimizer: Optimizer  # restore a clone(): the run mutates its optimizer in place
    config: Any  # app.domain.protocol.SessionConfig (immutable in practice: patches model_copy it)
    rng_state: Mapping[str, Any]
    order: Array  # the epoch's shuffled order; replaced, never written in place
    pos: int
    idx: Array | None  # the batch the next step uses (a view of `order`)
    diverged: bool
    seen: int = 0  # samples trained on so far (epoch = seen // training samples)
    drawn: tuple[Any, ...] = ()  # the learner's drawn points in force (domain/drawn.py)

    @property
    def nbytes(self) -> int:
        """Memory held, roughly (arrays shared between checkpoints are counted each time)."""
        arrays = [v for v in vars(self.optimizer).values() if isinstance(v, np.ndarray)]
        held = self.theta.nbytes + self.order.nbytes + sum(a.nbytes for a in arrays)
        return OVERHEAD_BYTES + held


@dataclass
class Timeline:
    """Checkpoints (one per step at most, sorted) and the settings log of the current branch."""

    every: int = CHECKPOINT_EVERY
    budget: int = CHECKPOINT_BUDGET
    checkpoints: list[Checkpoint] = field(default_factory=list)
    log: list[tuple[int, Any]] = field(default_factory=list)  # (step, change) in order
    head: int = 0
    _bytes: int = 0
    version: int = 0  # bumped whenever the log changes (app/domain/links.py caches by it)

    def copy(self) -> Timeline:
        """An independent timeline sharing the (immutable) checkpoints: forks are cheap."""
        return Timeline(
            self.every, self.budget, list(self.checkpoints), list(self.log), self.head,
            self._bytes, self.version,
        )  # fmt: skip

    @property
    def nbytes(self) -> int:
        """Memory held by the checkpoints, roughly."""
        return self._bytes

    def due(self, step: int) -> bool:
        """A regular checkpoint belongs at this step."""
        return step % self.every == 0

    def add(self, ck: Checkpoint) -> None:
        """Keep a checkpoint; one at the same step is replaced (a later settings change)."""
        steps = self.steps()
        at = bisect.bisect_left(steps, ck.step)
        if at < len(steps) and steps[at] == ck.step:
            self._bytes -= self.checkpoints[at].nbytes
            self.checkpoints[at] = ck
        else:
            self.checkpoints.insert(at, ck)
        self._bytes += ck.nbytes
        self._thin()

    def nearest(self, step: int) -> Checkpoint:
        """The latest checkpoint at or before `step` (step 0's is never dropped)."""
        at = bisect.bisect_right(self.steps(), step) - 1
        return self.checkpoints[max(at, 0)]

    def record(self, step: int, patch: Any) -> None:
        """A settings change applied at `step` (after `step` updates)."""
        self.log.append((step, patch))
        self.version += 1

    def replace_last(self, change: Any) -> None:
        """The last change, at the same step, replaced by one with the same effect folded in."""
        self.log[-1] = (self.log[-1][0], change)
        self.version += 1

    def drop_last(self) -> None:
        """The last change undone by the next one at the same step: as if never made."""
        self.log.pop()
        self.version += 1

    def truncate(self, step: int) -> None:
        """A new branch from `step`: forget checkpoints and settings changes after it."""
        self.checkpoints = [c for c in self.checkpoints if c.step <= step]
        kept = [entry for entry in self.log if entry[0] <= step]
        if len(kept) != len(self.log):
            self.log = kept
            self.version += 1
        self._bytes = sum(c.nbytes for c in self.checkpoints)
        self.head = step

    def steps(self) -> list[int]:
        """Steps that have a checkpoint, ascending."""
        return [c.step for c in self.checkpoints]

    def _thin(self) -> None:
        """Over budget: double the spacing and drop the checkpoints off the new grid."""
        while self._bytes > self.budget and len(self.checkpoints) > MIN_CHECKPOINTS:
            self.every *= 2
            # Step 0 is on every grid; off-grid ones (settings changes) are replayed from the log.
            self.checkpoints = [c for c in self.checkpoints if c.step % self.every == 0]
            self._bytes = sum(c.nbytes for c in self.checkpoints)
