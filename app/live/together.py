"""Forks step together on the server: play ticks due together share one stretch (issue 26).

A session's play loop (app/live/stream.py) asks `Coalescer.advance(runner, n)` for its tick's
steps instead of taking its own turn at the CPU gate. Ticks of runs at the same fps and steps
per frame whose key (app/domain/together.py `group_key`) is equal wait a short window, then are
stepped by one `advance_together` call inside one turn, charged (held) as long as all their
steps took; each runner then publishes its own frame as before. The runs' deadlines are put on
one grid of 1/fps, so forks that started playing at different moments fall due together.
`advance_together` is bit for bit each run's own `advance(n)`: nothing a run computes changes,
only when it is computed. Runs that cannot share a stack (group_key None) never come here.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.domain.together import advance_together, group_key
from app.live.capacity import costs
from app.live.fairness import SESSION, turn

if TYPE_CHECKING:
    from app.live.stream import Runner

log = logging.getLogger(__name__)

WINDOW_SECONDS = 0.002  # ticks falling due this close together are stepped as one
MAX_BATCH = 256  # runs per stretch at most: one stretch stays a few ms (rest go in the next)


@dataclass
class _Ask:
    """One runner's tick: its steps, and the future its play loop awaits."""

    runner: Runner
    steps: int
    done: asyncio.Future[int] = field(repr=False)


@dataclass
class Stats:
    """What the coalescer did since the server started (GET /api/rooms/{code}/capacity)."""

    batches: int = 0  # stretches that stepped two runs or more through advance_together
    runs: int = 0  # run-ticks stepped in those stretches
    steps: int = 0  # steps those run-ticks took

    def as_dict(self) -> dict[str, int]:
        """JSON-ready."""
        return {"batches": self.batches, "runs": self.runs, "steps": self.steps}


class Coalescer:
    """Gathers play ticks due within WINDOW_SECONDS and steps each group in one stretch."""

    def __init__(self, window: float = WINDOW_SECONDS) -> None:
        self.window = window
        self._pending: dict[Hashable, list[_Ask]] = {}
        self.stats = Stats()

    @staticmethod
    def key(runner: Runner, steps: int) -> Hashable | None:
        """What ticks must share to be stepped together; None: this tick goes alone."""
        if runner.guard is not None or runner.priority != SESSION:
            return None
        shared = group_key(runner.session)
        if shared is None:
            return None
        return (runner.fps, steps, shared)

    @staticmethod
    def align(deadline: float, fps: float) -> float:
        """The deadline moved to the nearest point of the grid of 1/fps (shared by all runs)."""
        return round(deadline * fps) / fps

    async def advance(self, runner: Runner, steps: int, key: Hashable) -> int:
        """Run `steps` steps of the runner's session in the next stretch of its group; done."""
        ask = _Ask(runner, steps, asyncio.get_running_loop().create_future())
        queue = self._pending.get(key)
        if queue is None:
            queue = self._pending[key] = []
            task = asyncio.create_task(self._flush(key))
            task.add_done_callback(_log_failure)
        queue.append(ask)
        # A cancelled play loop (pause, seek, stop) cancels its future: its run is not stepped.
        return await ask.done

    async def _flush(self, key: Hashable) -> None:
        """After the window, one turn at the gate for every tick gathered by then."""
        try:
            await asyncio.sleep(self.window)
            await self._flush_now(key)
        except BaseException:
            # Never a play loop left waiting for a stretch that will not come (a crash, a
            # shutdown): its tick is cancelled, as its own turn would be.
            for a in self._pending.pop(key, []):
                if not a.done.done():
                    a.done.cancel()
            raise

    async def _flush_now(self, key: Hashable) -> None:
        """Turn after turn until every tick gathered for `key` has been stepped."""
        while True:
            queue = self._pending.get(key, [])
            expected = sum(a.runner._stretch for a in queue[:MAX_BATCH] if not a.done.done())
            async with turn(SESSION, expected):
                queue = self._pending.pop(key, [])
                asks = [a for a in queue if not a.done.done()]  # the cancelled ones drop out
                asks, rest = asks[:MAX_BATCH], asks[MAX_BATCH:]
                if rest:
                    self._pending[key] = rest  # the next stretch, after everyone else's turn
                if asks:
                    self._step(asks)
            if not rest:
                return

    def _step(self, asks: list[_Ask]) -> None:
        """One advance_together for the gathered ticks; each future gets its run's steps."""
        from app.live.stream import StepError  # stream imports this module

        runs = [a.runner for a in asks]
        steps = asks[0].steps
        try:
            started = time.perf_counter()
            ran = advance_together([r.session for r in runs], steps)
            elapsed = time.perf_counter() - started
        except Exception as exc:
            log.exception("training steps failed for %d runs stepped together", len(runs))
            for a in asks:
                a.done.set_exception(
                    StepError(
                        f"the training step failed inside the engine ({type(exc).__name__}); "
                        f"the session is kept at step {a.runner.session.step_count}: step "
                        "again, reset, or change the settings"
                    )
                )
            return
        total = sum(ran)
        if total:
            costs().step(runs[0].shape, elapsed / total)
        if len(asks) > 1:
            self.stats.batches += 1
            self.stats.runs += len(asks)
            self.stats.steps += total
        for a, done in zip(asks, ran, strict=True):
            a.runner._stretch = elapsed  # what the gate expects of its next stretch
            a.done.set_result(done)


_COALESCERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Coalescer] = (
    weakref.WeakKeyDictionary()
)


def coalescer() -> Coalescer:
    """The running loop's coalescer (one per event loop, as the CPU gate)."""
    loop = asyncio.get_running_loop()
    found = _COALESCERS.get(loop)
    if found is None:
        found = _COALESCERS[loop] = Coalescer()
    return found


def stats() -> dict[str, int]:
    """The running loop's coalescer's figures (zeros before any tick came)."""
    return coalescer().stats.as_dict()


def _log_failure(task: asyncio.Task[None]) -> None:
    """A flush that crashed is a bug: say so."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("coalesced play stretch failed", exc_info=exc)
