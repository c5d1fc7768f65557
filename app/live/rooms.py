"""Workshop rooms: one presenter drives a training run, a room of participants follows it live.

A room is "one runner, many slots" (docs/streaming.md): its Runner is the only training loop,
every connection (presenter or participant) reads its own latest-frame Slot, so a slow viewer
never delays the others. The presenter proves itself with a token that only the room's creator
received; the room keeps nothing but its SHA-256 digest and compares digests in constant time.
No web imports here: app/web/api/rooms.py and app/web/ws/rooms.py translate to HTTP and WebSockets.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from app.domain.codec import encode
from app.domain.errors import ForbiddenError, FullError, InvalidError
from app.domain.session import TrainingSession
from app.live.fairness import ROOM
from app.live.keys import count_key
from app.live.quiz import Quiz
from app.live.registry import Registry
from app.live.route import room_code
from app.live.stream import Runner, Slot
from app.live.studio import announce

if TYPE_CHECKING:
    from app.live.registry import Peers
    from app.live.stream import Driver

log = logging.getLogger(__name__)

# Easy to read aloud and to type: no 0/O, 1/I/L look-alikes.
VOTER = re.compile(r"[A-Za-z0-9_-]{16,64}")  # a page's anonymous voter id
MAX_SELECTION_BYTES = 2048  # a selection goes to every participant: keep it small
COUNT_SECONDS = 0.25  # head-count messages at most this often, however fast people come and go
COUNT_TTL = 15.0  # a peer's head count in Redis counts this long unless refreshed (a dead peer)
COUNT_REFRESH = 5.0  # how often a peer with people in a room refreshes its head count

NOT_PRESENTER = "only the presenter drives this room: fork it to experiment on a copy of your own"
WRONG_TOKEN = "wrong presenter token: this connection stays a participant"


class RoomsFullError(FullError):
    """The server holds as many rooms as it allows."""


def new_code() -> str:
    """A fresh random room code, e.g. `K7RM3Q`."""
    return room_code(None)


def normalize_code(text: str) -> str:
    """Codes as people type them: any case, spaces or dashes between groups."""
    return "".join(text.split()).replace("-", "").upper()


def token_digest(token: str) -> bytes:
    """What a room keeps of its presenter token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


@dataclass(eq=False)
class Member:
    """One WebSocket connection in a room."""

    slot: Slot
    presenter: bool = False
    voter: str = field(default_factory=lambda: secrets.token_hex(8))  # anonymous, for answers


class Room:
    """A shared training run: a runner, the presenter's selection, the connections watching."""

    def __init__(
        self,
        code: str,
        token: str,
        session: TrainingSession,
        *,
        max_participants: int,
        clock: Callable[[], float] = time.monotonic,
        runner: Driver | None = None,
    ) -> None:
        """`runner`: the cluster's proxy when another peer trains the room; else a Runner."""
        self.code = code
        self.session = session
        self.runner: Driver = runner if runner is not None else room_runner(session)
        self.max_participants = max_participants
        self.members: set[Member] = set()
        self.selection: dict[str, Any] | None = None
        self._digest = token_digest(token)
        self._selection_text: str | None = None
        self._phase_text: str | None = None  # the presenter's phase message, for late joiners
        self._clock = clock
        self.last_used = clock()
        self.closed = False
        self._count_task: asyncio.Task[None] | None = None
        self._counted: tuple[int, bool] | None = None  # the head count last broadcast
        self._tasks: set[asyncio.Task[Any]] = set()
        # Peers sharing one Redis (app/live/cluster.py): the head count of the others.
        self.cluster: Peers | None = None
        self.elsewhere: tuple[int, int] = (0, 0)  # (participants, presenters) on other peers
        self._count_written = 0.0  # when this peer last wrote its head count to Redis
        self._count_read = 0.0  # ... and last read the others'
        self.quiz = Quiz(self)  # questions tied to the next step (app/live/quiz.py)

    # ---- who is here ---------------------------------------------------------------------

    @property
    def participants(self) -> int:
        """Connections that are not the presenter's (yet), on every peer."""
        return self.elsewhere[0] + sum(1 for m in self.members if not m.presenter)

    @property
    def presenter_connected(self) -> bool:
        """At least one presenter connection is open (on any peer)."""
        return self.elsewhere[1] > 0 or any(m.presenter for m in self.members)

    @property
    def full(self) -> bool:
        """No seat for one more participant (the presenter always gets in)."""
        return self.participants >= self.max_participants

    @property
    def busy(self) -> bool:
        """Someone is connected or the run plays: never reap."""
        return bool(self.members) or self.runner.playing

    def full_message(self) -> str:
        """What a participant turned away reads."""
        n = self.max_participants
        return (
            f"this room is full: it seats at most {n} participant{'' if n == 1 else 's'}; "
            "a seat frees up when someone leaves"
        )

    def info(self) -> dict[str, Any]:
        """The public state of the room (never the token)."""
        return {
            "code": self.code,
            "participants": self.participants,
            "presenter": self.presenter_connected,
            "step": self.runner.step_count,
            "playing": self.runner.playing,
        }

    def touch(self) -> None:
        """Mark as used now (the idle reaper counts from here)."""
        self.last_used = self._clock()

    def check_token(self, token: str) -> bool:
        """Constant-time comparison of digests: timing says nothing about the token."""
        return hmac.compare_digest(token_digest(token), self._digest)

    def join_pass(self) -> str:
        """Proof that a browser found this room once (a cookie): derived from the token's digest,
        so every peer and every restart agrees, and nobody without the server can make one."""
        return hmac.new(self._digest, b"join-pass", hashlib.sha256).hexdigest()[:32]

    # ---- connections ---------------------------------------------------------------------

    def join(self, *, presenter: bool = False, voter: str | None = None) -> Member:
        """A new connection: the whole curve first, then the presenter's selection, head count.

        `voter` (the page's own anonymous id, app/live/quiz.py) is used unless in use here."""
        member = Member(self.runner.attach(), presenter)
        if voter and VOTER.fullmatch(voter) and all(m.voter != voter for m in self.members):
            member.voter = voter
        self.members.add(member)
        if self._selection_text is not None:
            member.slot.notify("select", self._selection_text)
        if self._phase_text is not None:
            member.slot.notify("phase", self._phase_text)
        if presenter:
            member.slot.notify("welcome", _WELCOME)
        self.quiz.joined(member)
        member.slot.notify("room", self._count_text())
        self.touch()
        self._count_changed()
        return member

    def leave(self, member: Member) -> None:
        """A connection closed. Synchronous: it also runs while the connection is cancelled."""
        self.members.discard(member)
        self.runner.detach(member.slot)
        self.touch()
        if member.presenter and not self.presenter_connected and self.runner.playing:
            # Nobody left to press pause: stop now (here, or at the peer that trains it), and
            # tell the room with a frame.
            self._spawn(self.runner.park())
        elif not self.members and self.elsewhere == (0, 0) and not self._watched_elsewhere():
            # Nobody here and, as far as this peer knows, nowhere else: stop spending CPU. A
            # follower leaves that to the owner (its head count of the others may be stale).
            self.runner.stop()
        self._count_changed()

    def stop_if_unwatched(self) -> None:
        """Trained here, playing, and nobody watches on any peer: stop, and say so."""
        if (
            self.runner.playing
            and not self.members
            and self.elsewhere == (0, 0)
            and not self._watched_elsewhere()
        ):
            self._spawn(self.runner.park())

    def _watched_elsewhere(self) -> bool:
        """A follower (the owner decides), or an owner whose room has viewers on other peers."""
        if not isinstance(self.runner, Runner):
            return True
        return self.cluster is not None and self.cluster.followed("room", self.code)

    # ---- messages ------------------------------------------------------------------------

    def hello(self, member: Member, token: str) -> None:
        """Make this connection the presenter's if the token is right; ForbiddenError if not."""
        if not self.check_token(token):
            raise ForbiddenError(WRONG_TOKEN)
        if not member.presenter:
            member.presenter = True
            self._count_changed()
        member.slot.notify("welcome", _WELCOME)
        self.quiz.joined(member)

    def require_presenter(self, member: Member) -> None:
        """ForbiddenError unless this connection may drive the room."""
        if not member.presenter:
            raise ForbiddenError(NOT_PRESENTER)

    def select(self, member: Member, selection: dict[str, Any]) -> None:
        """The presenter's selection, to every other connection now and to late joiners."""
        self.require_presenter(member)
        text = encode({"type": "select", "selection": selection})
        if len(text) > MAX_SELECTION_BYTES:
            raise InvalidError(
                f"selection: {len(text)} bytes is over the limit of {MAX_SELECTION_BYTES}"
            )
        self._selected(selection, text, member)
        if self.cluster is not None:
            self.cluster.notice("room", self.code, "select", text)

    def changed(self, urgent: bool) -> None:
        """What the room's snapshot holds beyond its run changed: save it (now, if urgent).
        Only where the room is trained: a followed one is its owner's to save."""
        if self.runner.on_change is not None:
            self.runner.on_change(urgent)

    def _selected(self, selection: dict[str, Any], text: str, sender: Member | None) -> None:
        """Keep a selection (for late joiners and snapshots) and show it here."""
        self.selection = selection
        self._selection_text = text
        self.changed(True)  # snapshots keep the selection (app/live/state.py)
        for other in self.members:
            if other is not sender:  # the sender knows; echoing could fight its own UI
                other.slot.notify("select", text)

    def phase(self, member: Member, index: int) -> None:
        """The presenter's phase of the step (-1: none), to every other member and late joiners."""
        self.require_presenter(member)
        text = encode({"type": "phase", "index": index, "step": self.runner.step_count})
        self._phased(text, member)
        if self.cluster is not None:
            self.cluster.notice("room", self.code, "phase", text)

    def _phased(self, text: str, sender: Member | None) -> None:
        """Keep the presenter's phase (for late joiners) and show it here."""
        self._phase_text = text
        for other in self.members:
            if other is not sender:  # as select: the sender's own page already shows it
                other.slot.notify("phase", text)

    def noticed(self, what: str, text: str) -> None:
        """A side message from another peer's connection (app/live/cluster.py)."""
        if what == "select":
            message = orjson.loads(text)
            if isinstance(message, dict) and isinstance(message.get("selection"), dict):
                self._selected(message["selection"], text, None)
        elif what == "phase":
            self._phased(text, None)
        elif what == "count":
            self._spawn(self._read_counts())
        elif what == "quiz":
            self.quiz.noticed(text)
        elif what == "configured":  # the presenter replaced the run (app/live/studio.py)
            announce(self, text)

    # ---- lifecycle -----------------------------------------------------------------------

    async def close(self) -> None:
        """Stop playing, disconnect everyone, cancel the room's own tasks."""
        self.closed = True
        tasks = [t for t in (self._count_task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        await self.runner.close()
        self.members.clear()

    def _count_text(self) -> str:
        """The head-count message."""
        return encode(
            {
                "type": "room",
                "participants": self.participants,
                "presenter": self.presenter_connected,
            }
        )

    def _count_changed(self) -> None:
        """Broadcast the head count soon, at most once per COUNT_SECONDS (trailing edge)."""
        if self._count_task is None:
            self._count_task = self._spawn(self._send_count())

    async def _send_count(self) -> None:
        """After a short pause, the newest head count to everyone, if it changed."""
        try:
            await asyncio.sleep(COUNT_SECONDS)
        finally:
            self._count_task = None
        if self.cluster is not None:
            await self.share_count()
            self.cluster.notice("room", self.code, "count", "")
            await self._read_counts()  # the others' too: a peer new to the room knows none yet
            return
        self._broadcast_count()

    async def share_count(self) -> None:
        """Write this peer's head count to Redis (it expires: a dead peer stops counting)."""
        cluster = self.cluster
        if cluster is None:
            return
        here = sum(1 for m in self.members if not m.presenter)
        presenters = sum(1 for m in self.members if m.presenter)
        value = f"{here} {presenters} {time.time() + COUNT_TTL:.3f}"
        self._count_written = self._clock()
        try:
            name = count_key("room", self.code)
            async with cluster.redis.pipeline(transaction=False) as pipe:
                pipe.hset(name, cluster.peer, value)
                pipe.pexpire(name, int(COUNT_TTL * 2000))  # a room gone with every peer: gone
                await pipe.execute()
        except Exception as exc:
            log.debug("cannot share the head count (%s)", exc)

    async def _read_counts(self) -> None:
        """The other peers' head counts from Redis; tell the room if the total changed."""
        cluster = self.cluster
        if cluster is None:
            return
        self._count_read = self._clock()
        try:
            fields = await cluster.redis.hgetall(count_key("room", self.code))
        except Exception as exc:
            log.debug("cannot read head counts (%s)", exc)
            self._broadcast_count()  # this peer's change, with the others' last known counts
            return
        now, participants, presenters = time.time(), 0, 0
        for peer, value in fields.items():
            name = peer.decode() if isinstance(peer, bytes) else str(peer)
            here, there, until = (value.decode() if isinstance(value, bytes) else value).split()
            if name != cluster.peer and float(until) > now:
                participants, presenters = participants + int(here), presenters + int(there)
        self.elsewhere = (participants, presenters)
        self._broadcast_count()

    def _broadcast_count(self) -> None:
        """The head count to everyone here, if it changed."""
        counted = (self.participants, self.presenter_connected)
        if counted == self._counted:
            return
        self._counted = counted
        text = self._count_text()
        for member in self.members:
            member.slot.notify("room", text)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any] | None:
        """A background task the room owns (cancelled on close); none once closed."""
        if self.closed:
            coro.close()
            return None
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        """Forget a finished task; a failure is a bug worth a log line."""
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("room task failed", exc_info=exc)


_WELCOME = encode({"type": "welcome", "role": "presenter"})


class RoomRegistry(Registry[Room]):
    """Rooms by code; a room with nobody connected is dropped after `idle_seconds`."""

    noun = "room"
    full_error = RoomsFullError

    def __init__(
        self,
        max_rooms: int,
        max_participants: int,
        idle_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        grace_seconds: float = 7200,
    ) -> None:
        super().__init__(max_rooms, idle_seconds, clock, grace_seconds)
        self.max_participants = max_participants

    @property
    def max_rooms(self) -> int:
        """The cap."""
        return self.cap

    def full_message(self) -> str:
        """What a client told 429 reads."""
        return f"too many workshop rooms: this server holds at most {self.cap}; try again later"

    def new_key(self) -> str:
        """A room code (31^6 codes and a few dozen rooms: collisions are rare); behind the
        proxy, one it routes to this peer (app/live/route.py)."""
        return room_code(self.route)

    def normalize(self, key: str) -> str:
        """Codes as people type them."""
        return normalize_code(key)

    def codes(self) -> list[str]:
        """The codes of every open room, oldest first."""
        return self.keys()

    def create(self, session: TrainingSession) -> tuple[Room, str]:
        """A new room around a session; returns it with its presenter token (shown once)."""
        self.check_not_full()
        code = self.fresh_key()
        token = secrets.token_urlsafe(32)
        return self.restore(code, token_digest(token), session), token

    def restore(
        self,
        code: str,
        digest: bytes,
        session: TrainingSession,
        selection: Any = None,
        follower: Driver | None = None,
        *,
        questions: Any = None,
    ) -> Room:
        """A room under a known code and token digest (new, brought back, or one another peer
        trains: `follower`, the cluster's proxy, in place of a Runner)."""
        room = Room(
            code, "", session, max_participants=self.max_participants, clock=self._clock,
            runner=follower,
        )  # fmt: skip
        room._digest = digest
        room.cluster = self.cluster
        if isinstance(selection, dict):
            room.selection = selection
            room._selection_text = encode({"type": "select", "selection": selection})
        room.quiz.load(questions)
        return self.put(code, room)

    def revive(
        self, key: str, state: dict[str, Any], session: Any, follower: Driver | None
    ) -> Room:
        """A room its snapshot brought back (the cluster's lookups)."""
        digest = bytes.fromhex(str(state["digest"]))
        selection, questions = state.get("selection"), state.get("questions")
        return self.restore(key, digest, session, selection, follower, questions=questions)

    def runner_for(self, session: TrainingSession) -> Runner:
        """A room's Runner: first at the CPU gate."""
        return room_runner(session)

    def noticed(self, code: str, what: str, text: str) -> None:
        """Another peer's side message for one room: to this peer's connections, if any."""
        room = self.find(code)
        if room is not None:
            room.noticed(what, text)

    async def share_counts(self) -> None:
        """Refresh this peer's head count of every room with people here (the cluster's tick)."""
        due = self._clock() - COUNT_REFRESH
        for room in list(self._items.values()):
            if room.members and room._count_written < due:
                await room.share_count()
            # Re-read where others' counts matter: a dead peer's count expires, the total drops.
            counted_elsewhere = room.elsewhere != (0, 0) or (
                self.trained_here(room) and room.runner.playing
            )
            if (room.members or counted_elsewhere) and room._count_read < due:
                await room._read_counts()
            room.stop_if_unwatched()

    def snapshot_extra(self, item: Room) -> Callable[[], dict[str, Any]]:
        """A room's snapshot holds its token's digest (never the token) and the selection."""
        return lambda: _room_extra(item)

    def get(self, code: str) -> Room | None:
        """The room with this code (any case, spaces or dashes), or None."""
        return self.find(code)


def _room_extra(room: Room) -> dict[str, Any]:
    """What a room's snapshot holds beyond its session: never the token, only its digest."""
    return {
        "digest": room._digest.hex(),
        "selection": room.selection,
        "questions": room.quiz.state(),
    }


def room_runner(session: TrainingSession) -> Runner:
    """A Runner for a room: a live workshop goes first at the CPU gate."""
    runner = Runner(session)
    runner.priority = ROOM
    return runner


def reaper_interval(idle_seconds: float) -> float:
    """Check often enough to honour the idle time, never in a busy loop."""
    return max(0.05, min(60.0, idle_seconds / 4))
