"""What a run answers, by name: the driving messages and the read-only questions.

The web layer asks a Driver for these (`runner.command(msg)`, `runner.read(name, ...)`): a
Runner answers from its own session; on a cluster peer that does not train the run, a
FollowerProxy (app/live/follower.py) forwards the same names to the peer that does. Names, not
closures: they must travel over Redis as data.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any

from app.domain.codec import encode
from app.domain.errors import InvalidError
from app.domain.limits import check_patch_limits, check_play, check_step_count, step_work
from app.domain.neurons import neurons, neurons_work
from app.domain.protocol import (
    ClientMsg,
    ConfigureMsg,
    EditMsg,
    PauseMsg,
    PlayMsg,
    PointsChange,
    PointsMsg,
    ResetMsg,
    SeekMsg,
    SessionPatch,
    SetMsg,
    StepMsg,
    WeightEdit,
)
from app.engine.trace import SLICE_POINTS
from app.live import views
from app.live.fairness import INLINE_SEEK_WORK, heavy
from app.live.studio import replace_run
from app.settings import Settings

if TYPE_CHECKING:
    from app.domain.session import TrainingSession
    from app.live.stream import Frame, Runner

DIVERGED = (
    "the run has diverged (its loss or weights are no longer finite): "
    "reset it, or lower the learning rate and reset"
)

# The read-only questions a run answers (GET routes); anything else is refused.
READS = (
    "frame",
    "full_frame",
    "config",
    "data",
    "matrix",
    "chain",
    "slice",
    "trace",
    "export",
    "gradcheck",
    "claims",
    "fork",
    "fixes",
    "landscape",
    "animation",
    "neurons",
)


async def apply(runner: Runner, msg: ClientMsg, settings: Settings) -> Frame:
    """Apply a driving message (step, play, pause, reset, set, seek, edit, points); the frame
    it published."""
    if isinstance(msg, StepMsg):
        check_step_count(msg.count, settings, step_work(runner.session))
        return await runner.step(msg.count)
    if isinstance(msg, PlayMsg):
        check_play(msg, settings, step_work(runner.session))
        if not await runner.play(msg.steps_per_frame, msg.fps):
            raise InvalidError(DIVERGED)
        return runner.snapshot()
    if isinstance(msg, PauseMsg):
        return await runner.pause()
    if isinstance(msg, ResetMsg):
        return await runner.reset()
    if isinstance(msg, SetMsg):
        patch = SessionPatch.model_validate(msg.model_dump(exclude={"type"}, exclude_unset=True))
        check_patch_limits(patch, settings)
        return await runner.patch(lambda session: session.patch(patch))
    if isinstance(msg, SeekMsg):
        return await runner.seek(msg.step)
    if isinstance(msg, EditMsg):  # a weight or bias set by hand, logged like a setting
        edit = WeightEdit.model_validate(msg.model_dump(exclude={"type"}))
        return await runner.patch(lambda session: session.edit(edit))
    if isinstance(msg, PointsMsg):  # the learner's own points, logged like a setting
        change = PointsChange.model_validate(msg.model_dump(exclude={"type"}))
        return await runner.patch(lambda session: session.draw(change))
    if isinstance(msg, ConfigureMsg):  # a room's presenter (checked by the peer it reached)
        return await replace_run(runner, msg.config, settings)
    raise InvalidError(f"{msg.type!r} is for workshop rooms, not sessions")


async def read(runner: Runner, name: str, params: dict[str, Any]) -> Any:
    """The answer to a read-only question about the run, from this process's session."""
    session = runner.session
    # What computes runs as a stretch at the CPU gate, as steps do (app/live/fairness.py):
    # a client looping traces or frames queues behind a playing room, never ahead of it.
    if name == "frame":
        return await runner.gated(lambda _: runner.snapshot())
    if name == "full_frame":
        return await runner.gated(lambda _: runner.full_frame())
    if name == "config":
        return session.config.model_dump(mode="json")
    if name == "data":
        return session.data()
    if name == "matrix":
        return await runner.gated(lambda s: s.matrix())
    if name == "trace":
        return await runner.gated(lambda s: s.trace())
    if name in ("chain", "slice"):
        kind, layer, i, j = params["kind"], params["layer"], params["i"], params["j"]
        if name == "chain":
            return await runner.gated(lambda s: s.chain(kind, layer, i, j))
        # The curve's points and E at the next value: inline when that is as short as a short seek.
        if (SLICE_POINTS + 1) * step_work(session) <= INLINE_SEEK_WORK:
            return await runner.gated(lambda s: s.slice(kind, layer, i, j), SLICE_POINTS + 1)
        # A big network: the forward passes run on a copy in a thread; the loop goes on.
        copy = await runner.gated(_clone)
        return await heavy(lambda: copy.slice(kind, layer, i, j))
    if name == "export":
        # Built and encoded off the event loop (megabytes for a long run), the session held still.
        step, text = await runner.off_loop(lambda s: (s.step_count, encode(s.export())))
        return [step, text]
    if name == "gradcheck":
        # On a copy, in a thread (one heavy job at a time): the check nudges weights for a while.
        return await heavy((await runner.gated(_clone)).gradcheck)
    if name == "claims":
        # As gradcheck: central differences and a replay of the run, on a copy, in a thread.
        return await heavy((await runner.gated(_clone)).claims)
    if name == "fixes":
        return await fixes(session)
    if name in ("landscape", "animation"):
        # On a copy, in a thread (one heavy job at a time): both replay the run's timeline.
        return await heavy(views.job(name, await runner.gated(_clone), params))
    if name == "neurons":
        grid = int(params["grid"])
        # A thumbnail's worth at the gate (as a short seek); a big network's on a copy, in a thread.
        if neurons_work(session, grid) <= INLINE_SEEK_WORK:
            return await runner.gated(lambda s: neurons(s, grid))
        copy = await runner.gated(_clone)
        return await heavy(lambda: neurons(copy, grid))
    if name == "fork":
        # On the event loop, never in a thread: the play loop mutates the session between awaits.
        return await runner.gated(_clone)
    raise InvalidError(f"unknown question {name!r}; one of {', '.join(READS)}")


def _clone(session: TrainingSession) -> TrainingSession:
    """A copy to work on off the loop (made on it, at the gate: cloning reads everything)."""
    return session.clone()


async def fixes(session: TrainingSession) -> dict[str, Any]:
    """The findings with their fixes tried on copies (app/domain/fixes.py), cached per state.

    The trials run on a clone in a worker thread (one heavy job at a time); the answer is kept
    on the session for this (step, settings, findings), so asking again costs nothing.
    """
    key, step = session.fixes_key(), session.step_count
    found = session.cached_fixes()
    if found is None:
        running = _TRYING.get(session)
        if running is None or running[0] != key:
            # One set of trials per state: a room's participants asking at once share it.
            running = (key, asyncio.ensure_future(heavy(session.clone().prove_fixes)))
            _TRYING[session] = running
        task = running[1]
        try:
            found = await asyncio.shield(task)  # a client that goes away leaves it to others
        finally:
            if _TRYING.get(session) is running and task.done():
                del _TRYING[session]
        if session.fixes_key() == key:  # the run may have moved on meanwhile
            session.keep_fixes(key, found)
    return {"step": step, "trouble": found or None}


# Trials under way, per session: (the state's key, the task trying its fixes).
_TRYING: weakref.WeakKeyDictionary[
    TrainingSession, tuple[str, asyncio.Future[list[dict[str, Any]]]]
] = weakref.WeakKeyDictionary()


def trying(session: TrainingSession) -> bool:
    """Fixes for the session's current state are being tried already (asking adds no work)."""
    running = _TRYING.get(session)
    return running is not None and running[0] == session.fixes_key()
