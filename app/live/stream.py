"""Streaming engine: a Runner owns one session's play loop; every viewer reads a latest-frame Slot.

A single-user WebSocket is "one runner, one slot"; a workshop room is "one runner, many slots".
The runner publishes a frame after every change (a step, a play tick, reset, patch, pause); each
slot keeps only the newest unsent frame, merging the loss curve of frames it replaces so that a
viewer's `losses` stay complete however slowly it reads. Training never waits for a viewer.
"""

from __future__ import annotations

import asyncio
import logging
import operator
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from app.domain.codec import encode, pack_frame
from app.domain.errors import InvalidError, UnavailableError
from app.domain.frames import listed
from app.domain.history import MAX_FRAME_LOSSES
from app.domain.limits import step_work
from app.live.capacity import Shape, costs
from app.live.fairness import INLINE_SEEK_WORK, ROOM, SESSION, gate, heavy, turn
from app.live.ops import apply, read
from app.live.together import Coalescer, coalescer

if TYPE_CHECKING:
    from app.domain.protocol import ClientMsg
    from app.domain.session import TrainingSession
    from app.settings import Settings

log = logging.getLogger(__name__)

Frame = dict[str, Any]
T = TypeVar("T")

CHUNK_SECONDS = 0.015  # longest stretch of stepping between two yields to the event loop
MAX_CHUNK = 1_000_000
# A frame late by less than this keeps the schedule (the next come a little sooner): a hiccup
# of the machine costs no frames; later than this, the schedule restarts from now.
CATCH_UP_SECONDS = 0.25


def merge_frames(older: Frame, newer: Frame) -> Frame:
    """`newer` with the losses of `older` it does not cover prepended: nothing unsent is lost."""
    old_losses: list[Any] = older.get("losses") or []
    new_losses: list[Any] = newer.get("losses") or []
    old_first = older.get("first_step")
    new_first = newer.get("first_step")
    if not old_losses or old_first is None:
        return newer
    if not new_losses or new_first is None:
        if newer["step"] != older["step"]:
            return newer  # the run moved (a reset) without a curve: the old losses are void
        new_first = older["step"] + 1  # a patch or pause frame: keep the unsent curve
    old_end = old_first + len(old_losses) - 1
    if new_first <= old_first or new_first > old_end + 1:
        return newer  # newer covers everything (reset, full snapshot), or a gap we cannot fill
    keep = new_first - old_first
    losses = old_losses[:keep] + new_losses
    test_losses = _merge_parallel(older, newer, keep)
    first = old_first
    if len(losses) > MAX_FRAME_LOSSES:
        cut = len(losses) - MAX_FRAME_LOSSES
        losses = losses[cut:]
        test_losses = test_losses[cut:] if test_losses is not None else None
        first += cut
    merged = {**newer, "losses": losses, "test_losses": test_losses, "first_step": first}
    if older.get("seeked"):
        merged["seeked"] = True  # a seek happened since this viewer's last frame: keep saying so
    return merged


def _merge_parallel(older: Frame, newer: Frame, keep: int) -> list[Any] | None:
    """`test_losses` follow `losses` index for index, or are null when there is no test split."""
    old_tests = older.get("test_losses")
    new_tests = newer.get("test_losses")
    if old_tests is None or new_tests is None:
        return None
    return list(old_tests[:keep]) + list(new_tests)


class StepError(InvalidError):
    """The session raised while stepping; a ValueError, so it is answered, not crashed on."""


class Tick:
    """A published frame and, once asked for, its JSON text: shared by all slots it reaches.

    `source` may hold its arrays as arrays (frames.frame(arrays=True)): packed viewers get them
    packed straight from there; the JSON-ready `frame` is made only when something asks for it.
    """

    __slots__ = ("_frame", "_packed", "_text", "source")

    def __init__(self, frame: Frame) -> None:
        self.source = frame
        self._frame: Frame | None = None
        self._text: str | None = None
        self._packed: str | None = None

    @property
    def frame(self) -> Frame:
        """The frame as JSON-ready dicts and lists (docs/api.md), made once."""
        if self._frame is None:
            self._frame = listed(self.source)
        return self._frame

    def text(self, packed: bool = False) -> str:
        """Encode at most once per encoding (app/domain/codec.py), however many viewers send it."""
        if packed:
            if self._packed is None:
                self._packed = encode(pack_frame(self.source))
            return self._packed
        if self._text is None:
            self._text = encode(self.frame)
        return self._text


class Slot:
    """One viewer's outbox: the newest frame (merged) plus a few error messages."""

    def __init__(self, max_errors: int = 16) -> None:
        self._tick: Tick | None = None
        # Bounded: a client flooding bad messages without reading cannot grow memory.
        self._errors: deque[str] = deque(maxlen=max_errors)
        # Side messages (a room's selection, its head count) by kind: the newest of each wins,
        # so a slow viewer holds at most one of each however often they change.
        self._notices: dict[str, str] = {}
        self._event = asyncio.Event()
        self.closed = False
        self.sent_step: int | None = None  # step of the newest frame handed to the sender
        self.packed = False  # frames in the packed encoding (app/domain/codec.py), as the page asks

    @property
    def pending(self) -> Frame | None:
        """The frame waiting to be sent, if any."""
        return self._tick.frame if self._tick is not None else None

    def offer(self, tick: Tick, merged: dict[Tick, Tick] | None = None) -> None:
        """Replace the unsent frame by a newer one, keeping the unsent part of the curve.

        `merged` is shared by the slots of one broadcast: slots behind by the same frames hold
        the same unsent Tick, so they share one merge and one encoding, not one per viewer.
        """
        if self.closed:
            return
        if self._tick is None:
            self._tick = tick
        else:
            older = self._tick
            newer = merged.get(older) if merged is not None else None
            if newer is None:
                newer = Tick(merge_frames(older.source, tick.source))
                if merged is not None:
                    merged[older] = newer
            self._tick = newer
        self._event.set()

    def error(self, message: str) -> None:
        """Queue an error message for this viewer only."""
        if not self.closed:
            self._errors.append(encode({"type": "error", "message": message}))
            self._event.set()

    def notify(self, kind: str, text: str) -> None:
        """Queue a side message (JSON text), replacing any unsent one of the same kind."""
        if not self.closed:
            self._notices[kind] = text
            self._event.set()

    def close(self) -> None:
        """Wake the sender so it stops."""
        self.closed = True
        self._event.set()

    async def next(self) -> list[str]:
        """Wait for something to send: the newest frame, side messages, errors; [] once closed."""
        while True:
            await self._event.wait()
            self._event.clear()
            if self.closed:
                return []
            out: list[str] = []
            if self._tick is not None:
                out.append(self._tick.text(self.packed))
                self.sent_step = self._tick.source.get("step")
                self._tick = None
            out.extend(self._notices.values())
            self._notices.clear()
            out.extend(self._errors)
            self._errors.clear()
            if out:
                return out


async def pump(
    slot: Slot, send_text: Callable[[str], Awaitable[None]], timeout: float | None = None
) -> None:
    """A connection's sender task: send whatever is newest until the slot closes.

    With `timeout`, a message the client takes no part of for that long raises TimeoutError
    (a viewer that stopped reading). A watchdog checks the send in progress, rather than a timer
    per message: a room pays the deadline once per `timeout`, not at every frame of every viewer.
    """
    if timeout is None:
        while batch := await slot.next():
            for text in batch:
                await send_text(text)
        return
    loop = asyncio.get_running_loop()
    started = 0.0  # loop time at which the send in progress began; 0.0 when none is

    async def run() -> None:
        nonlocal started
        while batch := await slot.next():
            for text in batch:
                started = loop.time()
                await send_text(text)
                started = 0.0

    task = asyncio.create_task(run())
    try:
        while not task.done():
            since = started
            left = timeout if not since else since + timeout - loop.time()
            if since and left <= 0:
                raise TimeoutError(f"a message took over {timeout:g} s to send")
            await asyncio.wait({task}, timeout=left)
        task.result()  # the sender's own end: closed slot, or the client gone
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
        if not task.cancelled():
            # Retrieved whatever happens: a send that failed as we were stopped (the client left
            # mid-frame) is no bug, and an unretrieved one is logged as a traceback.
            task.exception()


class Audience:
    """A run's viewers on this peer, one Slot each: what a Runner (the run is trained here) and
    a follower's proxy (app/live/follower.py: trained at another peer) both keep.

    When the run changes hands between this peer and another, the registry swaps the one for
    the other and the viewers move over (`take_viewers`): their connections stay open.
    """

    def __init__(self) -> None:
        self._slots: set[Slot] = set()
        # Set by the persister of what this peer saves (app/live/state.py: a Runner's run):
        # called after every published frame, True unless a play tick, so a step, pause,
        # reset or settings change is saved at once. A follower's stays None.
        self.on_change: Callable[[bool], None] | None = None

    @property
    def watchers(self) -> int:
        """Slots attached."""
        return len(self._slots)

    def tell(self, message: str) -> None:
        """An error message for every viewer here (a cluster owner handing the run over)."""
        for slot in self._slots:
            slot.error(message)

    def detach(self, slot: Slot) -> None:
        """Forget a viewer and stop its sender."""
        self._slots.discard(slot)
        slot.close()

    def take_viewers(self, other: Driver) -> None:
        """Serve `other`'s viewers from now on; `other` keeps none."""
        self._slots |= other.hand_over()

    def hand_over(self) -> set[Slot]:
        """Every viewer's slot, given up (another Driver serves them now)."""
        slots, self._slots = self._slots, set()
        return slots


class Driver(Protocol):
    """What the web layer and the registries ask of a run held here: a Runner, or a follower's
    proxy (app/live/follower.py) that forwards to the peer that trains it. The cluster's wiring
    picks which (app/live/cluster.py); a registry asks only whether it holds a Runner, which it
    saves and reaps itself (a followed run is its owner's to save, reap and delete)."""

    session: TrainingSession  # the run here, or this peer's copy of it (prices, shapes)
    on_change: Callable[[bool], None] | None  # the persister's, where the run is saved here

    async def command(self, msg: ClientMsg, settings: Settings) -> Frame:
        """Apply a driving message; the frame it made (a follower: the owner's acknowledgement:
        `step`, `head`, `playing`, `diverged`)."""
        ...

    async def read(self, name: str, **params: Any) -> Any:
        """A read-only question about the run (app/live/ops.py READS)."""
        ...

    @property
    def step_count(self) -> int:
        """The run's step."""
        ...

    @property
    def playing(self) -> bool:
        """Whether the run plays."""
        ...

    @property
    def watchers(self) -> int:
        """Viewers here."""
        ...

    @property
    def busy(self) -> bool:
        """Someone watches here or the run plays."""
        ...

    @property
    def shape(self) -> Shape:
        """The network's layers and step work."""
        ...

    def attach(self, max_errors: int = 16) -> Slot:
        """A new viewer's slot; its first frame holds the whole curve."""
        ...

    def detach(self, slot: Slot) -> None:
        """Forget a viewer."""
        ...

    def tell(self, message: str) -> None:
        """An error message for every viewer here."""
        ...

    def stop(self) -> None:
        """Nobody watches: stop playing (at the owner, for a follower), without waiting."""
        ...

    def take_viewers(self, other: Driver) -> None:
        """Serve `other`'s viewers from now on (the run changed hands)."""
        ...

    def hand_over(self) -> set[Slot]:
        """Every viewer's slot, given up to another Driver."""
        ...

    async def park(self) -> None:
        """Stop playing now and tell every viewer with a frame (the presenter left)."""
        ...

    async def close(self) -> None:
        """Stop playing here and disconnect every viewer."""
        ...


class Guard(Protocol):
    """A cluster owner's lease on the run (app/live/cluster.py): train and answer only under it."""

    def check(self) -> None:
        """UnavailableError unless the lease is certainly still this peer's."""
        ...

    async def commit(self) -> None:
        """Save the run under the lease's fencing token before a command is acknowledged."""
        ...


class Runner(Audience):
    """Owns a session's mutations and play loop and publishes each new frame to every slot.

    It trains, nothing else: a cluster peer that does not train a run holds a FollowerProxy
    (app/live/follower.py) in its place, with the same viewers and the same questions.
    """

    def __init__(
        self,
        session: TrainingSession,
        *,
        chunk_seconds: float = CHUNK_SECONDS,
        chunk: int | None = None,
        clock: Clock | None = None,
    ) -> None:
        """`chunk` fixes the steps per stretch (no tuning); `clock` replaces the real one."""
        super().__init__()
        self.session = session
        self.steps_per_frame = 1
        self.fps = 30.0
        self._lock = asyncio.Lock()
        self._published = session.step_count  # `since` of the next published frame
        self._play_task: asyncio.Task[None] | None = None
        self._chunk = chunk or 1  # steps per uninterrupted stretch, tuned to chunk_seconds
        self._tuned = chunk is None
        self._chunk_seconds = chunk_seconds
        self._clock = clock or Clock()
        self.priority = SESSION  # its place at the CPU gate (app/live/fairness.py): rooms go first
        self._stretch = 0.0  # seconds the last stretch of steps took (the gate's estimate)
        # Called with every published frame (app/live/cluster.py sends it to the other peers).
        self.on_frame: Callable[[Tick], None] | None = None
        self.guard: Guard | None = None  # set while this peer trains it under a lease
        # Frames held back while a command is being saved (a guard's commit): shown to nobody
        # until it is, dropped if it is not (the command is refused, the run handed over).
        self._held: list[Frame] | None = None
        self._holding = 0
        # Play ticks may be stepped with other runs' (app/live/together.py); the registry of
        # sessions turns it on, so a runner made alone (tests, rooms) keeps its own turns.
        self.together = False
        self._shape: tuple[tuple[object, ...], Shape] | None = None  # what it was of; shape

    # ---- what the web layer asks (app/live/ops.py) ---------------------------------------

    async def command(self, msg: ClientMsg, settings: Settings) -> Frame:
        """Apply a driving message (step, play, pause, reset, set, seek); the frame it made."""
        guard = self.guard
        if guard is None:
            return await apply(self, msg, settings)
        # Under a lease: refused unless it is ours, acknowledged only once saved under its
        # fencing token, so a takeover never loses (or resurrects) an acknowledged command.
        guard.check()
        if self._held is None:
            self._held = []
        self._holding += 1
        refused = False
        try:
            frame = await apply(self, msg, settings)
            await guard.commit()
            return frame
        except UnavailableError:
            refused = True  # the lease is lost: the run is handed over from its last save
            raise
        finally:
            self._holding -= 1
            if not self._holding:
                held, self._held = self._held or [], None
                if not refused:  # else shown nowhere: the run is handed over
                    for kept in held:
                        self._broadcast(kept, saved=True)

    async def read(self, name: str, **params: Any) -> Any:
        """A read-only question about the run (app/live/ops.py READS)."""
        return await read(self, name, params)

    @property
    def step_count(self) -> int:
        """The run's step."""
        return self.session.step_count

    def publish_full(self) -> None:
        """Send every viewer (and every peer's) the whole curve: after a takeover."""
        self._broadcast(self.full_frame())

    # ---- viewers -------------------------------------------------------------------------

    @property
    def playing(self) -> bool:
        """Whether the play loop runs."""
        return self._play_task is not None

    @property
    def busy(self) -> bool:
        """Someone watches or the loop plays: the session is in use."""
        return self.playing or bool(self._slots)

    def attach(self, max_errors: int = 16) -> Slot:
        """A new viewer's slot, primed with the whole loss curve (`first_step` 0)."""
        slot = Slot(max_errors)
        slot.offer(Tick(self.full_frame()))
        self._slots.add(slot)
        return slot

    def full_frame(self) -> Frame:
        """The current frame with the whole loss curve from step 0 (`since=-1`: step 0 included)."""
        return self.session.frame(since=-1, playing=self.playing)

    def snapshot(self) -> Frame:
        """The current frame with just this step's loss (GET)."""
        return self.session.frame(since=None, playing=self.playing)

    # ---- driving -------------------------------------------------------------------------

    async def step(self, count: int) -> Frame:
        """Run `count` steps (fewer if the run diverges) and publish; the frame holds them all."""
        async with self._lock:
            before = self.session.step_count
            published_before = self._published
            try:
                await self._advance(count)
            except StepError:
                self._publish_quietly()  # viewers see the steps that did run
                raise
            frame = self._publish()
            if published_before == before:
                return frame
            return self.session.frame(since=before, playing=self.playing)

    async def reset(self) -> Frame:
        """Back to step 0 with the same seed; playing goes on if it was on."""
        async with self._lock, turn(self.priority):
            frame = self.session.reset()
            frame["playing"] = self.playing
            self._published = self.session.step_count
            self._broadcast(frame)
            return frame

    async def seek(self, step: int) -> Frame:
        """Go to `step` (0..head, else ValueError); playing stops; every viewer gets the frame."""
        self.session.check_seek(step)
        await self._stop()
        async with self._lock:
            session = self.session
            steps = session.replay_steps(step)
            if steps * step_work(session) <= INLINE_SEEK_WORK:
                # A short replay: one stretch at the CPU gate, as steps are (rooms first).
                async with turn(self.priority, self._expected(steps + 1)):
                    frame = session.seek(step)
            else:
                # A long replay (a big network, sparse checkpoints) runs on a copy in a thread,
                # one heavy job at a time server-wide, so the event loop and everyone else's
                # sessions go on; the run is locked. The copy is made on the loop, at the gate:
                # cloning reads the whole session.
                async with turn(self.priority, self._expected(1)):
                    copy = session.clone()
                checkpoint = await heavy(lambda: copy.replayed(step))
                async with turn(self.priority, self._expected(1)):
                    frame = session.adopt(checkpoint)
            self._published = self.session.step_count
            self._broadcast(frame)
            return frame

    async def patch(self, apply: Callable[[TrainingSession], object]) -> Frame:
        """Change the session between two steps (optimizer, batch size, ...) and publish."""
        async with self._lock, turn(self.priority):
            apply(self.session)
            return self._publish()

    async def replace(self, session: TrainingSession) -> Frame:
        """Train another run from now on (a room's new config): every viewer gets its whole
        curve next, never a frame of the old run after it; playing goes on if it was on."""
        was_playing = self._play_task is not None
        await self._stop()
        async with self._lock:
            self.session = session
            self._published = session.step_count
            if was_playing and not session.diverged:
                # Created now, runs only after this frame is out: its frames follow this one.
                self._play_task = asyncio.create_task(self._play_loop())
                self._play_task.add_done_callback(_log_failure)
            frame = self.full_frame()
            self._broadcast(frame)
            return frame

    async def gated(self, read: Callable[[TrainingSession], T], steps: float = 1.0) -> T:
        """`read(session)` on the loop as one stretch at the CPU gate, as steps are: a question
        that computes (a trace, a slice, a frame) waits its turn and lets a due room go first.

        `steps`: what it costs in steps of this network, for the gate's estimate of its length.
        """
        async with turn(self.priority, self._expected(steps)):
            return read(self.session)

    def _expected(self, steps: float) -> float:
        """Seconds `steps` steps of this network take here, as measured (0 before any is)."""
        measured = costs().of(self.shape)
        return measured[0] * steps if measured is not None else 0.0

    async def off_loop(self, read: Callable[[TrainingSession], Any]) -> Any:
        """`read(session)` in a worker thread (one heavy job at a time), the session held still."""
        async with self._lock:
            return await heavy(lambda: read(self.session))

    async def play(self, steps_per_frame: int, fps: float) -> bool:
        """Start (or retune) the play loop; False, with a frame published, if the run diverged."""
        self.steps_per_frame = steps_per_frame
        self.fps = fps
        if self.session.diverged:
            async with self._lock:
                self._publish()
            return False
        if self._play_task is None:
            self._play_task = asyncio.create_task(self._play_loop())
            self._play_task.add_done_callback(_log_failure)
        return True

    async def pause(self) -> Frame:
        """Stop the play loop and publish a frame with `playing` false."""
        await self._stop()
        async with self._lock:
            return self._publish()

    def stop(self) -> None:
        """Stop playing now, without a frame (nobody to tell): safe in a cancelled context."""
        task, self._play_task = self._play_task, None
        if task is not None:
            task.cancel()

    async def park(self) -> None:
        """Stop playing now, then tell every viewer with a frame. Not pause(): whoever presses
        play again meanwhile is not undone by a pause that waited its turn."""
        self.stop()
        await self.patch(_unchanged)

    async def close(self) -> None:
        """Stop playing and disconnect every viewer."""
        await self._stop()
        for slot in list(self._slots):
            self.detach(slot)

    # ---- internals -----------------------------------------------------------------------

    async def _stop(self) -> None:
        """Cancel the play loop and wait for it to end (it ends between two chunks)."""
        task, self._play_task = self._play_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.wait([task])

    async def _play_loop(self) -> None:
        """A frame every 1/fps seconds against a monotonic deadline, not 1/fps plus the work."""
        clock = self._clock
        deadline = clock.now()
        try:
            while True:
                async with self._lock:
                    try:
                        await self._tick_steps(self.steps_per_frame)
                    except UnavailableError:
                        self._play_task = None  # the lease is gone: another peer plays it on
                        return
                    except StepError as exc:
                        # Stop rather than fail the same way 30 times a second; tell every viewer.
                        self._play_task = None
                        self._publish_quietly()
                        for slot in self._slots:
                            slot.error(str(exc))
                        return
                    if self.session.diverged or self.session.stopped is not None:
                        # Diverged, or a stop rule met (the frame's `stopped` says which).
                        self._play_task = None  # so the last frame says playing: false
                        self._publish()
                        return
                    self._emit()
                deadline += 1.0 / self.fps
                if self.together:
                    deadline = Coalescer.align(deadline, self.fps)  # forks fall due together
                now = clock.now()
                if deadline < now - CATCH_UP_SECONDS:
                    deadline = now  # far behind schedule: full speed, never a burst to catch up
                if self.priority == ROOM:
                    gate().book(self, deadline)  # sessions let the room's next frame go first
                await clock.sleep(deadline - now)
        finally:
            gate().unbook(self)
            if self._play_task is asyncio.current_task():
                self._play_task = None  # a crash must not leave "playing" on forever

    async def _tick_steps(self, count: int) -> int:
        """A play tick's steps: with other runs' ticks due now where they can share a stack
        (bit for bit the same steps), else in this runner's own stretches."""
        if self.together and count <= self._chunk:
            key = Coalescer.key(self, count)
            if key is not None:
                return await coalescer().advance(self, count, key)
        return await self._advance(count)

    async def _advance(self, count: int) -> int:
        """Run up to `count` steps in chunks of about chunk_seconds, yielding in between."""
        done = 0
        while done < count:
            chunk = min(count - done, self._chunk)
            # One stretch at a time, server-wide; rooms first (app/live/fairness.py).
            async with turn(self.priority, self._stretch, self):
                if self.guard is not None:
                    self.guard.check()  # a lease lost mid-command: not one more step here
                try:
                    started = self._clock.work()
                    ran = self.session.advance(chunk)
                    elapsed = self._clock.work() - started
                except Exception as exc:
                    # A bug or a numeric failure in the engine: the session (and the connection)
                    # stay usable; the log gets the traceback, the client a short message.
                    log.exception("training step failed at step %d", self.session.step_count)
                    raise StepError(
                        f"the training step failed inside the engine ({type(exc).__name__}); "
                        f"the session is kept at step {self.session.step_count}: step again, "
                        "reset, or change the settings"
                    ) from exc
            done += ran
            if ran:
                costs().step(self.shape, elapsed / ran)
            if ran < chunk or self.session.stopped is not None:
                break  # diverged, or a stop rule met: the session stopped early
            if self._tuned:
                self._chunk = next_chunk(self._chunk, ran, elapsed, self._chunk_seconds)
            self._stretch = elapsed * self._chunk / ran  # the next stretch, as the gate expects it
            if done < count:
                await self._clock.sleep(0)
        return done

    def _publish_quietly(self) -> None:
        """Publish after a failure; a session too broken to build a frame is only logged."""
        try:
            self._publish()
        except Exception:
            log.exception("cannot build a frame after a failed step")

    def _publish(self) -> Frame:
        """Build the frame of the steps since the last one published and hand it to all slots."""
        return listed(self._emit(plain=True))

    def _emit(self, plain: bool = False) -> Frame:
        """Publish the steps since the last frame; `plain`: the caller wants the full frame.

        A play tick builds its frame from the engine's arrays (packed viewers never see lists)
        and leaves out the optimizer's next update unless a viewer here or at a peer may show it.
        """
        started = self._clock.work()
        packed = [s.packed for s in self._slots]
        wants_update = plain or self.on_frame is not None or not all(packed)
        frame = self.session.frame(
            since=self._published, playing=self.playing, arrays=True, update=wants_update
        )
        self._published = self.session.step_count
        tick = self._broadcast(frame)
        if tick is not None and not plain and any(packed):
            # Packed now, once for every viewer, so what the frame costs is measured in one
            # place (app/live/capacity.py); the senders find the text ready.
            tick.text(packed=True)
            costs().frame(self.shape, self._clock.work() - started)
        return frame

    @property
    def shape(self) -> Shape:
        """The network's layers and the multiply-adds of its step: what its costs depend on."""
        s = self.session
        d = s.dataset
        of = (s, s.config, d.X, d.X_test)
        held = self._shape
        # Kept while the session, its config and its samples are the same objects: every frame
        # asks, and a settings change, a new run or drawn points replace one of them.
        if held is None or not all(map(operator.is_, held[0], of)):
            held = self._shape = (of, (tuple(s.config.layers), step_work(s)))
        return held[1]

    def _broadcast(self, frame: Frame, saved: bool = False) -> Tick | None:
        """One Tick for all: one encoding for the viewers that are up to date, one per backlog.

        `saved`: a command's frame shown after its commit, which saved the run: not again.
        None: a command is being saved, the frame is held until it is.
        """
        if self._held is not None:
            self._held.append(frame)  # a command is being saved: shown once it is
            return None
        tick = Tick(frame)
        merged: dict[Tick, Tick] = {}
        for slot in self._slots:
            slot.offer(tick, merged)
        if self.on_frame is not None:
            self.on_frame(tick)
        if self.on_change is not None and not saved:
            self.on_change(not frame.get("playing", False))
        return tick


def next_chunk(chunk: int, ran: int, elapsed: float, target: float) -> int:
    """The next chunk size from the last one's speed: about `target` seconds, growing at most 4x."""
    ideal = chunk * 4 if elapsed <= 0 else int(target * ran / elapsed)
    return max(1, min(ideal, chunk * 4, MAX_CHUNK))


class Clock:
    """Time and sleeping for the play loop; tests pass a fake one, so no test waits on the wall."""

    def now(self) -> float:
        """Seconds on a monotonic clock."""
        return time.monotonic()

    def work(self) -> float:
        """A fine clock to time a chunk of steps with."""
        return time.perf_counter()

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` (0: just yield to the event loop)."""
        await asyncio.sleep(seconds)


def _unchanged(_: TrainingSession) -> None:
    """A patch that changes nothing: publishes a frame (with `playing` as it is now)."""


def _log_failure(task: asyncio.Task[None]) -> None:
    """A play loop that crashed is a bug: say so in the log rather than dying silently."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("play loop failed", exc_info=exc)
