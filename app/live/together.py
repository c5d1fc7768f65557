"""Forks step together on the server: play ticks due together share one stretch (issue 26).

A session's play loop (app/live/stream.py) asks `Coalescer.advance(runner, n)` for its tick's
steps instead of taking its own turn at the CPU gate. Ticks of runs at the same fps and steps
per frame whose key (app/domain/together.py `group_key`) is equal wait for the group's other
runs due this frame (at most a short window), then are stepped, in one order, by one
`advance_together` call inside one turn, charged (held) as long as all their
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

WINDOW_SECONDS = 0.002  # at most this long for the group's other ticks due (timers are ~1 ms)
SWEEP_SECONDS = 5.0  # how often groups that stopped are forgotten
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
    """Gathers play ticks due within WINDOW_SECONDS and steps each group in one stretch.

    It waits only for runs it expects: those of the group stepped one frame ago and not yet
    this frame. A lone fork, or a group whose every expected run has asked, is stepped at once
    (no time added to its play loop); a run that stopped playing is waited for at most once.
    """

    def __init__(self, window: float = WINDOW_SECONDS) -> None:
        self.window = window
        self._pending: dict[Hashable, list[_Ask]] = {}
        # Per group: each run's last stretch (monotonic seconds), the runs it still waits for
        # before stepping the gathered ticks, and the future that says they all came.
        # Weak: a run deleted while nothing else plays is not held here until the next sweep.
        self._seen: dict[Hashable, weakref.WeakKeyDictionary[Runner, float]] = {}
        self._swept = 0.0  # when groups nobody steps any more were last dropped from _seen
        self._expected: dict[Hashable, set[Runner]] = {}
        self._ready: dict[Hashable, asyncio.Future[None]] = {}
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
        loop = asyncio.get_running_loop()
        ask = _Ask(runner, steps, loop.create_future())
        queue = self._pending.get(key)
        if queue is None:
            queue = self._pending[key] = []
            self._expected[key] = self._due(key, runner.fps)
            self._ready[key] = loop.create_future()
            task = asyncio.create_task(self._flush(key))
            task.add_done_callback(_log_failure)
        queue.append(ask)
        expected = self._expected.get(key)
        if expected is not None:
            expected.discard(runner)
            ready = self._ready.get(key)
            if not expected and ready is not None and not ready.done():
                ready.set_result(None)  # every run due this frame has asked: step now
        # A cancelled play loop (pause, seek, stop) cancels its future: its run is not stepped.
        return await ask.done

    def _due(self, key: Hashable, fps: float) -> set[Runner]:
        """The group's runs stepped about one frame ago and not since: the ticks still to come.

        Runs not stepped for two frames are forgotten (paused, retuned, gone).
        """
        seen = self._seen.get(key)
        if not seen:
            return set()
        now, period = time.monotonic(), 1.0 / fps
        kept = weakref.WeakKeyDictionary({r: at for r, at in seen.items() if at > now - 2 * period})
        self._seen[key] = kept
        return {r for r, at in kept.items() if at < now - 0.5 * period}

    async def _flush(self, key: Hashable) -> None:
        """Once the expected ticks are in (at most the window), one turn at the gate for every
        tick gathered by then."""
        try:
            # A yield first: the play loops woken with this one ask in this same pass.
            await asyncio.sleep(0)
            ready = self._ready.get(key)
            if ready is not None and not ready.done() and self._expected.get(key):
                await asyncio.wait({ready}, timeout=self.window)
            self._expected.pop(key, None)
            self._ready.pop(key, None)
            await self._flush_now(key)
        except BaseException:
            # Never a play loop left waiting for a stretch that will not come (a crash, a
            # shutdown): its tick is cancelled, as its own turn would be.
            self._expected.pop(key, None)
            self._ready.pop(key, None)
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
                # One order for the same runs whatever order their ticks came in: the stack
                # they shared last frame is stepped again, not rebuilt (domain/together.py).
                asks.sort(key=_order)
                asks, rest = asks[:MAX_BATCH], asks[MAX_BATCH:]
                if rest:
                    self._pending[key] = rest  # the next stretch, after everyone else's turn
                if asks:
                    self._step(key, asks)
            if not rest:
                return

    def _sweep(self, now: float) -> None:
        """Now and then, forget the groups whose runs all stopped (they would hold the runs)."""
        if now - self._swept < SWEEP_SECONDS:
            return
        self._swept = now
        for key, seen in list(self._seen.items()):
            if key not in self._pending and all(
                at < now - 2.0 / r.fps for r, at in seen.items()
            ):  # fmt: skip
                del self._seen[key]

    def _step(self, key: Hashable, asks: list[_Ask]) -> None:
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
        now = time.monotonic()
        self._sweep(now)
        seen = self._seen.get(key)  # what the next frame's gathering waits for
        if seen is None:
            seen = self._seen[key] = weakref.WeakKeyDictionary()
        for r in runs:
            seen[r] = now
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


def _order(ask: _Ask) -> int:
    """Where a run's row goes in its group's stack: the same every frame."""
    return id(ask.runner)


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
