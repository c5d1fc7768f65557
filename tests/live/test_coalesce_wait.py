"""The coalescer waits only for the ticks it expects (app/live/together.py), never for nobody."""

from __future__ import annotations

import asyncio
import time

from app.domain.presets import resolve
from app.domain.protocol import SessionConfigIn
from app.domain.session import TrainingSession
from app.live.stream import Runner
from app.live.together import Coalescer

DEADLINE = 60.0  # seconds a tick may take on a loaded 2-core box
NEVER = 1e6  # a window no test outlives: a tick stepped at all was not held by it


def runner(fps: float) -> Runner:
    r = Runner(TrainingSession(resolve(SessionConfigIn(preset="article"))))
    r.fps = fps
    return r


async def until(done: object, what: str) -> None:
    """Wait (yielding) for `done()`, at most DEADLINE seconds."""
    end = time.monotonic() + DEADLINE
    while not done():  # type: ignore[operator]
        if time.monotonic() > end:
            raise AssertionError(f"never: {what}")
        await asyncio.sleep(0.005)


def test_a_lone_tick_is_stepped_without_waiting_the_window() -> None:
    """No other run of its group is due: its steps run at once, however long the window."""

    async def scenario() -> tuple[int, int]:
        c = Coalescer(window=NEVER)
        r = runner(30.0)
        key = Coalescer.key(r, 3)
        assert key is not None
        first = await asyncio.wait_for(c.advance(r, 3, key), DEADLINE)
        second = await asyncio.wait_for(c.advance(r, 3, key), DEADLINE)  # seen, but it is here
        return first + second, r.session.step_count

    ran, step = asyncio.run(scenario())
    assert ran == 6 and step == 6


def test_a_tick_waits_for_the_group_s_other_run_due_then_both_step_as_one() -> None:
    """Two runs stepped together a frame ago: the first to ask again waits for the other
    (not for the window), and both are then stepped in one stretch."""

    async def scenario() -> tuple[bool, int, int, list[int]]:
        c = Coalescer(window=NEVER)
        fps = 0.5  # a frame of 2 s: room for a loaded machine between the two checks below
        a, b = runner(fps), runner(fps)
        key = Coalescer.key(a, 1)
        assert key is not None and key == Coalescer.key(b, 1)
        await asyncio.wait_for(asyncio.gather(c.advance(a, 1, key), c.advance(b, 1, key)), DEADLINE)
        assert c.stats.batches == 1 and c.stats.runs == 2
        stepped = time.monotonic()
        # Half a frame later, `b` is due again: `a`'s tick waits for it.
        await until(lambda: time.monotonic() > stepped + 0.55 / fps, "half a frame")
        first = asyncio.ensure_future(c.advance(a, 1, key))
        for _ in range(20):
            await asyncio.sleep(0)
        waited = not first.done()
        await asyncio.wait_for(asyncio.gather(first, c.advance(b, 1, key)), DEADLINE)
        return waited, c.stats.batches, c.stats.runs, [a.session.step_count, b.session.step_count]

    waited, batches, runs, steps = asyncio.run(scenario())
    assert waited
    assert batches == 2 and runs == 4
    assert steps == [2, 2]


def test_a_run_that_stopped_playing_is_forgotten_after_two_frames() -> None:
    """A group's run that stops asking is no longer expected two frames on: the other run's
    ticks go at once again."""

    async def scenario() -> int:
        c = Coalescer(window=NEVER)
        fps = 20.0
        a, b = runner(fps), runner(fps)
        key = Coalescer.key(a, 1)
        assert key is not None
        await asyncio.wait_for(asyncio.gather(c.advance(a, 1, key), c.advance(b, 1, key)), DEADLINE)
        stepped = time.monotonic()
        await until(lambda: time.monotonic() > stepped + 2.5 / fps, "two frames and a half")
        await asyncio.wait_for(c.advance(a, 1, key), DEADLINE)  # `b` paused: not waited for
        return a.session.step_count

    assert asyncio.run(scenario()) == 2


def test_the_same_runs_keep_their_stack_whatever_order_their_ticks_come_in() -> None:
    """Ticks of the same runs asking in another order are stepped in the stack they shared
    (not a new one each frame, which would copy every run's state in again)."""

    async def scenario() -> tuple[object, object, list[int]]:
        c = Coalescer(window=NEVER)
        runs = [runner(30.0) for _ in range(4)]
        key = Coalescer.key(runs[0], 1)
        assert key is not None
        await asyncio.wait_for(asyncio.gather(*(c.advance(r, 1, key) for r in runs)), DEADLINE)
        first = runs[0].session.together
        await asyncio.wait_for(
            asyncio.gather(*(c.advance(r, 1, key) for r in reversed(runs))), DEADLINE
        )
        return first, runs[0].session.together, [r.session.step_count for r in runs]

    first, second, steps = asyncio.run(scenario())
    assert first is not None and second is first
    assert steps == [2, 2, 2, 2]


def test_the_coalescer_does_not_keep_a_run_that_is_gone() -> None:
    """A run stepped through the coalescer and then dropped (its session deleted) is freed,
    though the coalescer remembers when each run was stepped."""
    import gc
    import weakref

    async def scenario() -> tuple[Coalescer, weakref.ref[Runner]]:
        c = Coalescer(window=NEVER)
        r = runner(30.0)
        key = Coalescer.key(r, 1)
        assert key is not None
        await asyncio.wait_for(c.advance(r, 1, key), DEADLINE)
        assert c._seen[key]  # remembered for the next frame's gathering
        return c, weakref.ref(r)

    c, ref = asyncio.run(scenario())
    gc.collect()
    assert ref() is None
    assert c is not None
