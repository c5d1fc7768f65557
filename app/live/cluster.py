"""Peers sharing one Redis: one peer trains each run, every peer serves its viewers.

- A lease (`bp:lease:{kind}:{key}`, the owner's peer id, expiring after LEASE_MS, renewed every
  TICK) says which peer trains a run. Every acquisition raises the run's fencing token
  (`bp:fence:{kind}:{key}`); snapshots are written only under the current token, and an owner
  that has not renewed for LEASE_MS - FENCE_MARGIN (or is told the lease is not its own) stops
  training and refuses commands at once, before any other peer can take the lease
  (docs/cluster.md, "Fencing"). A peer asked about a run it does not hold *follows* it: its
  registry holds a FollowerProxy (app/live/follower.py) in place of a Runner, through a Link to
  the owner, with its own slots fed by the owner's frames. This module alone picks which; a
  takeover or a step-down swaps one for the other, the viewers moving over.
- The owner publishes each frame once on `bp:f:{kind}:{key}` with a sequence number, only while
  some follower has viewers (`bp:w:...`); a follower subscribes to that channel only while it
  has viewers of the run (never a pattern: a peer gets no frames of runs nobody watches there),
  and hands each frame to its viewers. Pub/sub is at-most-once: a gap in the numbers (or a new
  owner) makes the follower fetch the whole curve again, so no viewer's curve keeps a hole.
  Side messages (selection, phase, head counts, quiz, gone) travel on `bp:e:{kind}:{key}`,
  which the owner and every follower subscribe to while they hold the run.
- Commands and questions go to the owner on its own channel `bp:p:{peer}`; answers come back on
  the asker's. Any peer serves any request: no sticky routing.
- When an owner dies its lease expires; a follower that sees it gone twice in a row takes the run
  over from the last snapshot (app/live/state.py, written at least every 0.5 s while playing),
  plays on if it was playing, and sends everyone the whole curve.
- Redis restarting under the peers: the listener reconnects and resubscribes, followers fetch
  the whole curve again, owners take their leases back and rewrite their snapshots.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from app.domain.codec import encode
from app.domain.errors import (
    ClientError,
    ForbiddenError,
    FullError,
    InvalidError,
    NotFoundError,
    UnavailableError,
)
from app.domain.protocol import ClientMsg, client_message
from app.live.follower import FollowerProxy
from app.live.keys import (
    INDEX,
    SAVED,
    answer_key,
    count_key,
    fence_key,
    frames_channel,
    lease_key,
    member,
    notices_channel,
    peer_channel,
    run_of_channel,
    snapshot_key,
    watch_key,
)
from app.live.state import decode_state, encode_state, restore_session
from app.live.stream import Runner, merge_frames
from app.settings import Settings

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from app.live.state import Persister
    from app.live.stream import Driver, Frame, Slot, Tick

log = logging.getLogger(__name__)

LEASE_MS = 3000  # an owner dead for this long loses its runs: followers take over
# An owner stops training this long before its lease could expire in Redis, counted from the
# moment it *sent* its last renewal that succeeded (Redis counts from when it received it).
FENCE_MARGIN = 1.0
FENCE_KEEP_MS = 86_400_000  # a deleted run's fencing counter is kept this long
TICK = 0.5  # leases renewed, followers' checks, head counts refreshed
RPC_SECONDS = 5.0  # longest wait for the owner's answer
HEAVY_RPC_SECONDS = 120.0  # ... to a question that queues for the one heavy job at a time
KEPT_COMMANDS = 1024  # commands' replies kept for de-duplication (a retry comes within seconds)
HEAVY_READS = (
    "gradcheck",
    "claims",
    "export",
    "slice",
    "fixes",
    "landscape",
    "animation",
    "neurons",
)
BIG_ANSWER = 256 * 1024  # answers over this go through a short-lived key, not pub/sub
FIRST_SNAPSHOT_SECONDS = 3.0  # a run made on another peer an instant ago: wait for it
FOLLOW_MS = 3000  # a peer with viewers of a run says so this often (owners publish only then)
RESYNC_SECONDS = 0.25  # first wait before asking the owner for the whole curve again
PING_SECONDS = 2.0  # a quiet listener asks Redis this often
SILENT_SECONDS = 6.0  # ... and reconnects when nothing at all came back for this long
MISSES = 2  # ticks in a row without a lease before a follower takes over
JANITOR_TICKS = 60  # every 30 s: forget runs nobody has trained or saved for their idle time

# Every acquisition of a lease raises the run's fencing token (bp:fence:...), so the token the
# counter holds is the current holder's; snapshot writes carry theirs (app/live/state.py).
ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then
  return redis.call('INCR', KEYS[2])
end
return 0
"""
# Ours under our token → extend, answer the token. Nobody's and nobody acquired it since
# (Redis restarted empty, or the key was deleted) → ours again, under a new token. Else 0:
# another peer holds it or held it since: stop training at once.
RENEW = """
local v = redis.call('GET', KEYS[1])
local t = redis.call('GET', KEYS[2])
if v == ARGV[1] and t == ARGV[3] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(ARGV[3])
end
if not v and (not t or t == ARGV[3]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return redis.call('INCR', KEYS[2])
end
return 0
"""
# Only the holder under its token: a release delivered late never frees a later acquisition.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[2] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

HANDOVER = (
    "this server lost contact with the shared store and stopped training this run; it goes on "
    "from its last save within seconds (taken over by another server, or by this one once the "
    "store answers again) and this page follows it"
)
REFUSED = (
    "not done: this server cannot confirm it still runs this (it lost contact with the shared "
    "store); it goes on from its last save within seconds: try again then"
)

# Delete a run's snapshot, index entries and head counts, unless some peer holds its lease, a
# follower has viewers of it (a takeover under way), or it was saved since the cutoff.
SWEEP = """
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[6]) == 1 then return 0 end
local at = redis.call('HGET', KEYS[4], ARGV[1])
if at and tonumber(at) > tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[2], KEYS[5], KEYS[7])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
return 1
"""

_ERRORS: dict[int, type[ClientError]] = {
    403: ForbiddenError,
    404: NotFoundError,
    422: InvalidError,
    429: FullError,
    503: UnavailableError,
}


class Registry(Protocol):
    """What the cluster needs of SessionStore and RoomRegistry (app/live/registry.py)."""

    noun: str

    def find(self, key: str) -> Any:
        """The item held here under `key`, or None."""

    def revive(self, key: str, state: dict[str, Any], session: Any, follower: Driver | None) -> Any:
        """Hold a run brought back from its snapshot (through `follower` when it is set)."""

    def promote(self, key: str, session: Any) -> Any:
        """A followed run is ours now: a Runner trains it from this session."""

    def demote(self, key: str, follower: Driver) -> None:
        """Another peer trains this run now: `follower` takes the Runner's place."""

    async def drop(self, key: str) -> None:
        """Close an item here only."""

    async def remove(self, key: str) -> bool:
        """Close and forget an item, deleting its snapshot."""


class Owned:
    """A run this peer trains: its lease (fencing token, deadline), frame counter, watchers.

    The runner's guard (app/live/stream.py): training and commands go on only while the last
    renewal that succeeded was sent less than LEASE_MS - FENCE_MARGIN ago; a timer steps the
    run down at that deadline, whatever Redis does (a partition may leave calls hanging).
    """

    __slots__ = (
        "cluster", "followed_until", "key", "kind", "lost", "renewed", "runner", "seq", "timer",
        "token",
    )  # fmt: skip

    def __init__(self, cluster: Cluster, kind: str, key: str, runner: Runner) -> None:
        self.cluster = cluster
        self.kind = kind
        self.key = key
        self.runner = runner
        self.seq = 0
        self.followed_until = 0.0
        self.token: int | None = None  # the lease's fencing token, once acquired
        self.renewed = 0.0  # loop time the last successful acquisition or renewal was sent
        self.timer: asyncio.TimerHandle | None = None
        self.lost = False  # stepped down: never trains or answers again

    def arm(self, token: int, sent: float) -> None:
        """The lease is ours under `token` as of `sent`: train until sent + LEASE - margin."""
        if self.lost or sent < self.renewed:
            return  # a late reply to an older renewal says nothing new
        self.token, self.renewed = token, sent
        if self.timer is not None:
            self.timer.cancel()
        loop = asyncio.get_running_loop()
        self.timer = loop.call_at(self.deadline, self.cluster.expired, self)

    @property
    def deadline(self) -> float:
        """Loop time after which this peer may no longer act on the lease."""
        return self.renewed + LEASE_MS / 1000 - FENCE_MARGIN

    def check(self) -> None:
        """UnavailableError unless the lease is certainly still ours."""
        if self.lost or self.token is None:
            raise UnavailableError(REFUSED, retry_after=3)
        loop = asyncio.get_running_loop()
        if loop.time() >= self.deadline:
            loop.call_soon(self.cluster.expired, self)  # the timer is due: do not wait for it
            raise UnavailableError(REFUSED, retry_after=3)

    async def commit(self) -> None:
        """The run saved under the fencing token, or UnavailableError with the run handed over.

        A command whose save fails is refused, and this peer steps down: the next owner starts
        from the last saved state, in which that command never happened.
        """
        self.check()
        persist = self.cluster.persister(self.kind)
        if persist is None:
            return
        try:
            await persist.flush(self.kind, self.key)
        except ClientError as exc:
            self.cluster.step_down(self.kind, self.key, f"a save failed ({exc.__cause__})")
            raise UnavailableError(REFUSED, retry_after=3) from exc

    def disarm(self) -> None:
        """Never act on this lease again (stepped down, dropped, closing)."""
        self.lost = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class Link:
    """A followed run's way to its owner: commands, questions, the whole curve for a viewer."""

    def __init__(self, cluster: Cluster, kind: str, key: str) -> None:
        self.cluster = cluster
        self.kind = kind
        self.key = key
        self.proxy: FollowerProxy  # the viewers' side of it (made with the link, follower())
        self.owner: str | None = None  # peer id of the frames last received
        self.answered: str | None = None  # peer id of the owner that last answered a request
        self.seq = -1  # their sequence number
        self.misses = 0  # ticks in a row that found no lease
        self._resyncing = False
        # Frames received while a whole curve is being fetched: the answer may come after them
        # (another connection), and must not set a viewer's curve back (app/live/stream.py).
        self._fetching = 0
        self._meanwhile: list[tuple[int, str, Frame]] = []
        self._stale = False  # a gap seen while a resync was under way
        self._inflight: asyncio.Future[Frame] | None = None
        # The last snapshot this peer saved before it stepped down: taken over from only if
        # Redis came back without any snapshot of the run (restarted empty), not to lose it.
        self.kept: bytes | None = None

    async def command(self, msg: ClientMsg) -> Frame:
        """Forward a driving message; the owner's acknowledgement, never the whole frame (the
        viewers here get it on the run's channel; Cluster.answer says what it holds)."""
        args: dict[str, Any] = {"msg": msg.model_dump_json(), "ack": True}
        ack: Frame = await self.cluster.call(self, "command", args)
        return ack

    async def read(self, name: str, params: dict[str, Any]) -> Any:
        """Forward a question; the owner's answer (a fork comes back as a session)."""
        answer = await self.cluster.call(self, "read", {"name": name, "params": params})
        if name == "fork":
            state = decode_state(bytes.fromhex(answer))
            return await asyncio.to_thread(restore_session, state, self.cluster.max_samples)
        return answer

    async def delete(self) -> None:
        """Delete the run at its owner (DELETE from a peer that only follows it)."""
        await self.cluster.call(self, "delete", {})

    def halt(self) -> None:
        """Nobody watches here any more: the owner pauses if nobody watches there either."""

        async def halt() -> None:
            with contextlib.suppress(ClientError):
                await self.cluster.call(self, "halt", {})

        self.cluster.spawn(halt())

    def prime(self, slot: Slot) -> None:
        """A new viewer here: the whole curve, fetched from the owner."""
        self.cluster.spawn(self._prime(slot))

    async def _prime(self, slot: Slot) -> None:
        """The whole curve for one new slot; if it cannot be had, for every viewer, retried.

        The run's frames are subscribed to first (a viewer here now wants them), so none
        published after the curve is lost in between.
        """
        await self.cluster.listen_to(frames_channel(self.kind, self.key))
        try:
            frame = await self.shared_curve()
        except (ClientError, StaleError) as exc:
            if isinstance(exc, ClientError):
                slot.error(str(exc))
            self.resync()  # retried for every viewer until the owner answers
            return
        self.proxy.primed(slot, frame)

    async def shared_curve(self) -> Frame:
        """The whole curve; viewers arriving together (a crowd reconnecting) share one fetch."""
        if self._inflight is None or self._inflight.done():
            inflight = asyncio.ensure_future(self.whole_curve())
            self._inflight = inflight

            def done(_: asyncio.Future[Frame]) -> None:
                if self._inflight is inflight:
                    self._inflight = None

            inflight.add_done_callback(done)
        return await asyncio.shield(self._inflight)

    async def whole_curve(self) -> Frame:
        """The owner's whole curve, brought up to the newest frame received since it was made.

        The owner says which of its frames the curve includes (its sequence number); frames
        numbered after it are merged on in order. A gap among them, or another owner, is a
        StaleError: the caller fetches again.
        """
        self._fetching += 1
        start = len(self._meanwhile)
        try:
            answer = await self.read("full_frame", {})
            frame: Frame = answer["frame"]
            seq, owner = int(answer["seq"]), str(answer["owner"])
            for number, sender, newer in self._meanwhile[start:]:
                if sender != owner:
                    raise StaleError("the run changed owners meanwhile")
                if number <= seq:
                    continue  # already in the whole curve
                if number != seq + 1:
                    raise StaleError("a frame was lost meanwhile")
                frame, seq = merge_frames(frame, newer), number
            if self.owner != owner or self.seq < seq:
                # A follower that just subscribed knows no number yet: the next frame joins on
                # this curve, not a gap that would fetch it all again.
                self.owner, self.seq = owner, seq
            return frame
        finally:
            self._fetching -= 1
            if not self._fetching:
                self._meanwhile.clear()

    def received(self, seq: int, owner: str, frame: Frame) -> None:
        """A frame from the owner; a gap or a new owner means fetching the whole curve."""
        expected = self.owner == owner and seq == self.seq + 1
        self.owner, self.seq = owner, seq
        if self._fetching:
            self._meanwhile.append((seq, owner, frame))
        self.proxy.follow(frame)
        if not expected and self.proxy.watchers:
            self._stale = True
            self.resync()

    def resync(self) -> None:
        """Fetch the whole curve for every viewer here (once at a time)."""
        if not self._resyncing:
            self._resyncing = True
            self.cluster.spawn(self._resync())

    async def _resync(self) -> None:
        """The whole curve to every viewer; it covers whatever frames were lost.

        Retried while it fails (the owner's own listener may be reconnecting too, or the owner
        is being taken over) and again if another gap was seen meanwhile: a viewer's curve must
        not keep a hole.
        """
        delay = RESYNC_SECONDS
        try:
            while self.cluster.links.get((self.kind, self.key)) is self:
                self._stale = False
                try:
                    self.proxy.follow(await self.shared_curve())
                    if not self._stale:
                        return
                    continue  # another gap while this one was fetched: again, at once
                except StaleError:
                    continue
                except ClientError as exc:
                    log.info("cannot resync %s %s yet: %s", self.kind, self.key, exc)
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)
        finally:
            self._resyncing = False


class _NotHeardError(Exception):
    """A request published where nobody listens: its peer is gone (never received: safe to
    send again elsewhere)."""


class StaleError(Exception):
    """Frames seen while the whole curve was fetched do not join on it: fetch again."""


class Cluster:
    """This peer's part: leases, the listener, publishing, forwarding, takeovers."""

    def __init__(self, url: str, settings: Settings) -> None:
        import redis.asyncio as aioredis  # here: single-process deployments never import it

        self.url = url
        self.settings = settings
        self.max_samples = settings.max_samples
        self.peer = secrets.token_hex(6)
        self.redis: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=5
        )
        self.registries: dict[str, Registry] = {}
        self.owned: dict[tuple[str, str], Owned] = {}
        self.links: dict[tuple[str, str], Link] = {}
        self._pending: dict[str, asyncio.Future[Any]] = {}
        # Commands answered for other peers, by asker and request id: a retry is not re-applied.
        self._commands: OrderedDict[str, asyncio.Future[dict[str, Any]]] = OrderedDict()
        self._finding: dict[tuple[str, str], asyncio.Future[Any]] = {}
        self._outbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._main: list[asyncio.Task[None]] = []
        self._listening = asyncio.Event()
        self.notice_handlers: dict[str, Callable[[str, str, str], None]] = {}
        self.tick_hooks: list[Callable[[], Awaitable[None]]] = []  # the rooms' head counts
        self.closed = False
        # Channels this peer listens to besides its own: subscribed as runs come and go, and
        # all again whenever the listener reconnects.
        self._wanted: set[str] = set()
        self._pubsub: Any = None
        self._beats = 0
        self.takeovers = 0  # runs taken over from a dead owner (tests and logs)

    # ---- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Listen, publish and tick in the background; returns once the listener subscribed."""
        self._main = [
            asyncio.create_task(self._listen()),
            asyncio.create_task(self._publish()),
            asyncio.create_task(self._tick()),
        ]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self._listening.wait()

    async def close(self) -> None:
        """Stop the background tasks, give the leases back (a restart takes over at once)."""
        self.closed = True
        for task in (*self._main, *self._tasks):
            task.cancel()
        if self._main or self._tasks:
            await asyncio.wait([*self._main, *self._tasks], timeout=5)
        owned = list(self.owned.values())
        for run in owned:
            run.disarm()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                for run in owned:
                    if run.token is not None:
                        await self._release_lease(run.kind, run.key, run.token)
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """A background task the cluster keeps (and cancels at close)."""
        if self.closed:
            coro.close()
            return
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        """Forget a finished task; a failure is worth a log line."""
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("cluster task failed", exc_info=exc)

    # ---- runs held here --------------------------------------------------------------------

    def held(self, kind: str, key: str, runner: Driver) -> None:
        """A run is held here: trained (its lease is already ours: claim(), or a SET NX won by a
        lookup or a takeover) or followed."""
        if isinstance(runner, Runner):
            self._own(kind, key, runner)

    def dropped(self, kind: str, key: str, runner: Driver, deleted: bool) -> None:
        """A run is no longer held here; `deleted`: gone for good (its lease goes too)."""
        self.links.pop((kind, key), None)
        self._unwant(frames_channel(kind, key))
        self._unwant(notices_channel(kind, key))
        owned = self.owned.pop((kind, key), None)
        if owned is not None:
            owned.disarm()
            owned.runner.on_frame = None
            if deleted:
                # Every follower's viewers are told, as this peer's are: the run is gone.
                self.notice(kind, key, "gone", "")
                self.spawn(self._release(kind, key, owned.token, deleted=True))

    def follower(self, kind: str, key: str, session: Any) -> FollowerProxy:
        """Follow a run another peer trains: the proxy a registry holds in place of a Runner,
        and its link to the owner. `session`: this peer's copy (prices and shapes)."""
        link = Link(self, kind, key)
        link.proxy = FollowerProxy(link, session)
        self.links[(kind, key)] = link
        self._want(notices_channel(kind, key))  # frames only once it has viewers here
        return link.proxy

    async def delete_at_owner(self, kind: str, key: str) -> None:
        """Delete for good a run followed here, at the peer that trains it."""
        link = self.links.get((kind, key))
        if link is None:
            raise _unavailable()
        await link.delete()

    def _own(self, kind: str, key: str, runner: Runner) -> None:
        """Train a run here: its frames go to the other peers while they watch."""
        self.links.pop((kind, key), None)
        self._unwant(frames_channel(kind, key))  # its own frames: never wanted back
        self._want(notices_channel(kind, key))
        owned = Owned(self, kind, key, runner)
        self.owned[(kind, key)] = owned
        runner.guard = owned
        channel = frames_channel(kind, key)

        def publish(tick: Tick) -> None:
            owned.seq += 1
            if owned.followed_until > time.monotonic():
                header = f"F {owned.seq} {self.peer}\n".encode()
                self._outbox.put_nowait((channel, header + tick.text().encode()))

        runner.on_frame = publish

    async def claim(self, kind: str, key: str) -> None:
        """Take a new run's lease now (its creation waits for it); a 503 if Redis is away."""
        sent = asyncio.get_running_loop().time()
        try:
            token = await self._acquire(kind, key)
        except Exception as exc:
            raise UnavailableError(
                "the shared store is unreachable right now; try again in a few seconds",
                retry_after=3,
            ) from exc
        owned = self.owned.get((kind, key))
        if not token or owned is None:
            raise UnavailableError("this run's lease is held elsewhere; try again", retry_after=1)
        owned.arm(token, sent)

    async def _acquire(self, kind: str, key: str) -> int:
        """SET NX the lease and raise the fencing token: the new token, or 0 if held."""
        return int(
            await self.redis.eval(
                ACQUIRE, 2, lease_key(kind, key), fence_key(kind, key), self.peer, LEASE_MS
            )
        )

    async def _release_lease(self, kind: str, key: str, token: int) -> None:
        """Free the lease if this peer still holds it under `token` (others take over at once)."""
        await self.redis.eval(
            RELEASE, 2, lease_key(kind, key), fence_key(kind, key), self.peer, str(token)
        )

    async def _release(self, kind: str, key: str, token: int | None, deleted: bool = False) -> None:
        """Give a lease back; a deleted run's head counts go, its fencing counter a day later
        (a peer cut off meanwhile must not take the run for one Redis lost by restarting)."""
        with contextlib.suppress(Exception):
            if token is not None:
                await self._release_lease(kind, key, token)
            if deleted:
                await self.redis.delete(count_key(kind, key))
                await self.redis.pexpire(fence_key(kind, key), FENCE_KEEP_MS)

    def token_of(self, run: tuple[str, str]) -> int | None:
        """The fencing token a snapshot write of this run carries now (None: not held here)."""
        owned = self.owned.get(run)
        return None if owned is None or owned.lost else owned.token

    def persister(self, kind: str) -> Persister | None:
        """Where runs of this kind are saved (the registry's persister)."""
        registry = self.registries.get(kind)
        persist: Persister | None = getattr(registry, "persist", None)
        return persist

    def followed(self, kind: str, key: str) -> bool:
        """Whether viewers on another peer watch a run trained here (the reaper keeps it)."""
        owned = self.owned.get((kind, key))
        return owned is not None and owned.followed_until > time.monotonic()

    # ---- finding a run held elsewhere ------------------------------------------------------

    async def find(self, registry: Registry, key: str) -> Any:
        """A run this peer does not hold: follow it, or take it over if nobody trains it.

        Concurrent lookups of one run (a whole room reconnecting) share one: the first builds
        the follower (or owner), the others get the same item.
        """
        kind = registry.noun
        pending = self._finding.get((kind, key))
        if pending is None:
            pending = asyncio.ensure_future(self._find(registry, key))
            self._finding[(kind, key)] = pending
            self._tasks.add(pending)
            pending.add_done_callback(self._tasks.discard)
            pending.add_done_callback(lambda _: self._finding.pop((kind, key), None))
        return await asyncio.shield(pending)

    async def _find(self, registry: Registry, key: str) -> Any:
        """find()'s work, once per run at a time; Redis failing is a 503, never a 500."""
        kind = registry.noun
        try:
            owner, blob = await self.redis.mget(lease_key(kind, key), snapshot_key(kind, key))
            if blob is None and owner is not None:
                # Held, but its snapshot not (yet) in Redis: Redis came back empty and the
                # owner is rewriting it. Wait a moment rather than say "no such run".
                blob = await self._first_snapshot(kind, key)
            if blob is None:
                return None
            try:
                state = decode_state(_bytes(blob))
                session = await asyncio.to_thread(restore_session, state, self.max_samples)
            except Exception:
                log.exception("cannot restore %s %s from its snapshot", kind, key)
                return None
            found = registry.find(key)
            if found is not None:  # brought here meanwhile (a takeover, a create)
                return found
            sent = asyncio.get_running_loop().time()
            mine = 0 if owner is not None else await self._acquire(kind, key)
        except ClientError:
            raise
        except Exception as exc:
            raise UnavailableError(
                "the shared store is unreachable right now; try again in a few seconds",
                retry_after=3,
            ) from exc
        found = registry.find(key)
        if found is not None:
            return found
        if mine:
            item = registry.revive(key, state, session, None)
            owned = self.owned.get((kind, key))
            if owned is not None:  # the page that asked is about to connect: do not stop yet
                owned.arm(mine, sent)
                owned.followed_until = time.monotonic() + FOLLOW_MS / 1000
            await self._resume(item.runner, state)
            return item
        return registry.revive(key, state, session, self.follower(kind, key, session))

    async def _first_snapshot(self, kind: str, key: str) -> bytes | None:
        """Wait up to FIRST_SNAPSHOT_SECONDS for a new run's first snapshot."""
        deadline = time.monotonic() + FIRST_SNAPSHOT_SECONDS
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            blob = await self.redis.get(snapshot_key(kind, key))
            if blob is not None:
                return _bytes(blob)
        if await self.redis.exists(lease_key(kind, key)):
            raise UnavailableError("this run was just made and is not ready yet; try again")
        return None

    async def _resume(self, runner: Runner, state: dict[str, Any]) -> None:
        """Play on if the run was playing when its snapshot was taken."""
        tempo = state.get("runner") or {}
        runner.steps_per_frame = int(tempo.get("steps_per_frame", runner.steps_per_frame))
        runner.fps = float(tempo.get("fps", runner.fps))
        if tempo.get("playing"):
            await runner.play(runner.steps_per_frame, runner.fps)

    async def _take_over(self, link: Link) -> None:
        """The owner is gone: train the run here from its last snapshot."""
        kind, key = link.kind, link.key
        sent = asyncio.get_running_loop().time()
        token = await self._acquire(kind, key)
        if not token:
            return  # another peer was quicker: keep following it
        blob = await self.redis.get(snapshot_key(kind, key))
        if blob is None and link.kept is not None and token == 1:
            # Redis came back without the run, its fencing counter included (a deleted run's
            # counter stays a day): this peer saved it last, so go on from there.
            blob = link.kept
        if blob is None:  # nothing to start from (Redis restarted empty): wait for the owner
            await self._release(kind, key, token)
            return
        state = decode_state(_bytes(blob))
        session = await asyncio.to_thread(restore_session, state, self.max_samples)
        registry = self.registries[kind]
        if (kind, key) not in self.links or registry.find(key) is None:
            await self._release(kind, key, token)  # dropped here meanwhile
            return
        item = registry.promote(key, session)
        self.takeovers += 1
        log.warning("took over %s %s at step %d", kind, key, session.step_count)
        runner = item.runner
        assert isinstance(runner, Runner)  # promote() put one in the follower's place
        owned = self.owned[(kind, key)]
        owned.arm(token, sent)
        owned.followed_until = time.monotonic() + FOLLOW_MS / 1000
        runner.publish_full()
        await self._resume(runner, state)

    # ---- asking the owner ------------------------------------------------------------------

    async def call(self, link: Link, op: str, args: dict[str, Any]) -> Any:
        """Ask the run's owner; its answer, or its error raised here as the same error.

        The owner is the sender of the frames last received, else the peer that answered last
        (no round trip: a REST client on a peer with no viewers of the run gets no frames), else
        the lease's holder (one GET). A request nobody received (the cached owner is gone) is
        sent again to the lease's holder; one that timed out is sent again once to the same
        owner under the same id, which the owner de-duplicates: a command is applied at most
        once.
        """
        kind, key = link.kind, link.key
        cached = link.owner or link.answered
        owner_id = cached or await self._owner_of(kind, key)
        rid = secrets.token_hex(8)
        request = {"op": op, "id": rid, "from": self.peer, "kind": kind, "key": key, **args}
        reply: dict[str, Any] | None = None
        for attempt in range(2):
            if owner_id == self.peer:  # ours since (a takeover): answer here
                return await self.answer(kind, key, op, args)
            try:
                reply = await self._ask(owner_id, request, op, args)
                if attempt or not cached or reply.get("status") != 503:
                    break
                # The cached owner holds the run no more (it refused: nothing was applied).
                link.owner = link.answered = cached = None
                owner_id = await self._owner_of(kind, key)
            except _NotHeardError:
                if attempt or not cached:
                    raise _unavailable() from None
                link.owner = link.answered = cached = None  # stale: ask the lease
                owner_id = await self._owner_of(kind, key)
            except TimeoutError:
                if attempt or op != "command":
                    raise _unavailable() from None
        assert reply is not None
        if reply.get("status") != 503:
            link.answered = owner_id  # it holds the run: asked first next time
        if "error" in reply:
            status = int(reply.get("status", 500))
            if status not in _ERRORS:  # a bug at the owner (logged there): a bug here too
                raise RuntimeError(f"the owning peer failed: {reply['error']}")
            raise _ERRORS[status](str(reply["error"]), retry_after=reply.get("retry_after"))
        return reply.get("ok")

    async def _owner_of(self, kind: str, key: str) -> str:
        """The peer that holds the run's lease (one GET); 503 if none or Redis is away."""
        try:
            owner = await self.redis.get(lease_key(kind, key))
        except Exception as exc:
            raise UnavailableError(
                "this server cannot reach the shared store right now; try again in a few seconds",
                retry_after=3,
            ) from exc
        if owner is None:
            raise _unavailable()
        return owner.decode() if isinstance(owner, bytes) else str(owner)

    async def _ask(
        self, owner_id: str, request: dict[str, Any], op: str, args: dict[str, Any]
    ) -> dict[str, Any]:
        """One request to `owner_id` and its reply; _NotHeardError if nobody listens there,
        TimeoutError if no reply came in time."""
        rid = str(request["id"])
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            if not await self.redis.publish(peer_channel(owner_id), encode(request)):
                raise _NotHeardError
            heavy = op == "read" and args.get("name") in HEAVY_READS
            async with asyncio.timeout(HEAVY_RPC_SECONDS if heavy else RPC_SECONDS):
                reply: dict[str, Any] = await future
            if "key" in reply:  # a big answer, left in a key that expires by itself
                text = await self.redis.getdel(str(reply["key"]))
                if text is None:
                    raise _unavailable()
                reply = orjson.loads(text)
            return reply
        except (_NotHeardError, TimeoutError, ClientError):
            raise
        except OSError as exc:
            raise _unavailable() from exc
        except Exception as exc:
            if type(exc).__module__.startswith("redis"):
                raise _unavailable() from exc
            raise
        finally:
            self._pending.pop(rid, None)

    async def answer(self, kind: str, key: str, op: str, args: dict[str, Any]) -> Any:
        """Do what another peer asked of a run trained here."""
        registry = self.registries.get(kind)
        item = registry.find(key) if registry is not None else None
        if item is None or not isinstance(item.runner, Runner):
            raise _unavailable()
        owned = self.owned.get((kind, key))
        if owned is not None and op == "read" and args.get("name") == "full_frame":
            # A viewer elsewhere wants the whole curve (a new one, or a resync): publish the
            # run's frames from now on; the tick keeps them flowing while it watches. A REST
            # command from a peer with no viewers of the run gets no frames it would not read.
            owned.followed_until = max(owned.followed_until, time.monotonic() + FOLLOW_MS / 1000)
        touch = getattr(registry, "touch", None)
        if touch is not None:
            touch(item)
        runner = item.runner
        if op == "command":
            frame = await runner.command(client_message(args["msg"]), self.settings)
            if args.get("ack"):
                # The asker's viewers get the frame on the run's channel: the reply says only
                # what the asker itself needs (a WebSocket's `diverged` error, a REST answer).
                return acknowledgement(frame)
            return frame
        if op == "read" and args["name"] == "full_frame":
            # With the number of the last frame it includes: the asker merges the later ones.
            seq = owned.seq if owned is not None else 0
            return {"frame": await runner.read("full_frame"), "seq": seq, "owner": self.peer}
        if op == "read":
            result = await runner.read(str(args["name"]), **dict(args.get("params") or {}))
            if args["name"] == "fork":  # state() on the loop (consistent), encoding in a thread
                blob = await asyncio.to_thread(encode_state, result.state())
                return blob.hex()
            return result
        if op == "delete":
            assert registry is not None
            return await registry.remove(key)
        if op == "halt":  # a follower's last viewer left: pause unless someone watches still
            if (
                runner.playing
                and not runner.watchers
                and not await self.redis.exists(watch_key(kind, key))
            ):
                runner.stop()
                await runner.patch(lambda _: None)  # tell every viewer: playing is off
            return None  # else the owner's tick stops it once nobody anywhere watches
        raise InvalidError(f"unknown operation {op!r}")

    async def _reply(self, request: dict[str, Any]) -> dict[str, Any]:
        """The reply to one request: `ok` with the answer, or the error and its status."""
        reply: dict[str, Any] = {"re": request.get("id")}
        try:
            reply["ok"] = await self.answer(
                str(request["kind"]), str(request["key"]), str(request["op"]), request
            )
        except ClientError as exc:
            reply.update(error=str(exc), status=exc.status, retry_after=exc.retry_after)
        except Exception:
            log.exception("cannot answer %s for another peer", request.get("op"))
            reply.update(error="internal error on the peer that runs this", status=500)
        return reply

    async def _serve(self, request: dict[str, Any]) -> None:
        """Answer one request from another peer on its channel."""
        asker = request.get("from")
        if not isinstance(asker, str):
            log.warning("ignoring a request with no sender")
            return
        if request.get("op") == "command":
            # A command asked again under the same id (its asker timed out and retried) is
            # applied once: the retry waits for, or gets, the first one's reply.
            tag = f"{asker} {request.get('id')}"
            done = self._commands.get(tag)
            if done is None:
                done = asyncio.ensure_future(self._reply(request))
                self._commands[tag] = done
                while len(self._commands) > KEPT_COMMANDS:
                    self._commands.popitem(last=False)
            reply = await asyncio.shield(done)
        else:
            reply = await self._reply(request)
        text = encode(reply).encode()
        if len(text) > BIG_ANSWER:
            # Megabytes over pub/sub could push the asker's listener over Redis's output-buffer
            # limit (and drop it): leave the answer in a key for a minute instead.
            name = answer_key(secrets.token_hex(8))
            try:
                await self.redis.set(name, text, px=60_000)
            except Exception as exc:
                log.warning("cannot hand a big answer over (%s)", exc)
                return  # the asker times out: a 503
            text = encode({"re": request.get("id"), "key": name}).encode()
        self._outbox.put_nowait((peer_channel(asker), text))

    # ---- notices (select, phase, head counts) ------------------------------------------------

    def notice(self, kind: str, key: str, what: str, text: str) -> None:
        """A side message for every other peer's viewers of this run."""
        header = f"N {self.peer} {what}\n".encode()
        self._outbox.put_nowait((notices_channel(kind, key), header + text.encode()))

    # ---- background tasks ------------------------------------------------------------------

    async def _listen(self) -> None:
        """Receive frames, notices, requests and answers; reconnect when Redis goes away."""
        delay = 0.2
        first = True
        while not self.closed:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(peer_channel(self.peer), *sorted(self._wanted))
                self._pubsub = pubsub
                if not first:
                    log.warning("listening to Redis again")
                    self._reconnected()
                first, delay = False, 0.2
                self._listening.set()
                loop = asyncio.get_running_loop()
                heard = pinged = loop.time()
                while not self.closed:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    now = loop.time()
                    if message is None:
                        # A listener can die silently (a half-open connection): ask now and
                        # then, and give up on it when not even the PONG comes back.
                        if now - heard > SILENT_SECONDS:
                            raise ConnectionError(f"no answer from Redis for {now - heard:.0f} s")
                        if now - max(heard, pinged) >= PING_SECONDS:
                            await pubsub.ping()
                            pinged = now
                        continue
                    heard = now
                    if message.get("type") in ("message", "pmessage"):  # not a pong
                        try:
                            self._dispatch(message)
                        except Exception:  # one bad message must not end the listener
                            log.exception("cannot handle a message from Redis")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self.closed:
                    log.warning("lost the Redis listener (%s); reconnecting", exc)
                    await asyncio.sleep(delay * (0.5 + secrets.randbelow(1000) / 1000))
                    delay = min(2.0, delay * 2)
            finally:
                if self._pubsub is pubsub:
                    self._pubsub = None
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]

    def _want(self, channel: str) -> None:
        """Listen to `channel` from now on (and after every reconnection)."""
        if channel not in self._wanted:
            self._wanted.add(channel)
            self._change(channel, True)

    async def listen_to(self, channel: str) -> None:
        """Listen to `channel` from now on, subscribed before this returns (if connected)."""
        if channel in self._wanted:
            return
        self._wanted.add(channel)
        pubsub = self._pubsub
        if pubsub is not None:
            try:
                await pubsub.subscribe(channel)
            except Exception as exc:  # the listener reconnects and subscribes what is wanted
                log.debug("cannot subscribe %s (%s)", channel, exc)

    def _unwant(self, channel: str) -> None:
        """Stop listening to `channel`."""
        if channel in self._wanted:
            self._wanted.discard(channel)
            self._change(channel, False)

    def _change(self, channel: str, on: bool) -> None:
        """(Un)subscribe the live listener; if there is none, its next connection does it."""
        pubsub = self._pubsub
        if pubsub is None:
            return

        async def change() -> None:
            try:
                if on:
                    await pubsub.subscribe(channel)
                else:
                    await pubsub.unsubscribe(channel)
            except Exception as exc:  # the listener reconnects and subscribes what is wanted
                log.debug("cannot (un)subscribe %s (%s)", channel, exc)

        self.spawn(change())

    def watching(self, link: Link) -> None:
        """A follower here has viewers of `link`'s run: its frames are wanted (or not) now."""
        channel = frames_channel(link.kind, link.key)
        if link.proxy.watchers:
            self._want(channel)
        else:
            self._unwant(channel)

    def subscribed(self) -> set[str]:
        """The channels this peer listens to besides its own (tests, logs)."""
        return set(self._wanted)

    def _reconnected(self) -> None:
        """Messages may have been lost: followers fetch the whole curve, owners resave."""
        for link in self.links.values():
            link.resync()
        for kind, key in self.owned:
            registry = self.registries.get(kind)
            persist = getattr(registry, "persist", None)
            if persist is not None:
                persist.mark((kind, key), True)

    def _dispatch(self, message: dict[str, Any]) -> None:
        """One pub/sub message."""
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else str(channel)
        data = message["data"]
        data = data if isinstance(data, bytes) else str(data).encode()
        run = run_of_channel(channel)
        if run is not None:
            self._on_run_message(*run, data)
            return
        payload = orjson.loads(data)
        if "re" in payload:
            future = self._pending.get(str(payload["re"]))
            if future is not None and not future.done():
                future.set_result(payload)
        elif "op" in payload:
            self.spawn(self._serve(payload))

    def _on_run_message(self, kind: str, key: str, data: bytes) -> None:
        """A frame or a notice of some run: for this peer's viewers, if any."""
        head, _, body = data.partition(b"\n")
        parts = head.decode().split(" ")
        if parts[0] == "F":
            link = self.links.get((kind, key))
            if link is not None and parts[2] != self.peer:
                link.received(int(parts[1]), parts[2], orjson.loads(body))
        elif parts[0] == "N" and parts[1] != self.peer:
            if parts[2] == "gone":  # deleted or reaped at its owner: drop it here too
                registry = self.registries.get(kind)
                item = registry.find(key) if registry is not None else None
                if (
                    registry is not None
                    and item is not None
                    and not isinstance(item.runner, Runner)
                ):
                    self.spawn(registry.drop(key))
                return
            handler = self.notice_handlers.get(kind)
            if handler is not None:
                handler(key, parts[2], body.decode())

    async def _publish(self) -> None:
        """Send queued messages in order, many per round trip; drop them while Redis is away."""
        while True:
            channel, data = await self._outbox.get()
            batch = [(channel, data)]
            while not self._outbox.empty() and len(batch) < 256:
                batch.append(self._outbox.get_nowait())
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for name, payload in batch:
                        pipe.publish(name, payload)
                    await pipe.execute()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # at-most-once: followers resync after the gap
                log.debug("cannot publish (%s)", exc)

    async def _tick(self) -> None:
        """Every TICK: renew leases, say which runs have viewers here, check followed owners."""
        while True:
            await asyncio.sleep(TICK)
            try:
                await self._beat()
                for hook in self.tick_hooks:
                    await hook()
                self._beats += 1
                if self._beats % JANITOR_TICKS == 0:
                    await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("cluster tick failed (%s)", exc)

    async def _beat(self) -> None:
        """One tick's work, in one pipeline."""
        # Runs whose lease is still being taken (a creation's claim) wait for their token.
        owned = [(k, run) for k, run in self.owned.items() if run.token is not None]
        links = list(self.links.values())
        if not owned and not links:
            return  # nothing to renew or check: not one command
        sent = asyncio.get_running_loop().time()
        async with self.redis.pipeline(transaction=False) as pipe:
            for (kind, key), run in owned:
                pipe.eval(
                    RENEW, 2, lease_key(kind, key), fence_key(kind, key), self.peer, LEASE_MS,
                    str(run.token),
                )  # fmt: skip
                pipe.exists(watch_key(kind, key))
            for link in links:
                self.watching(link)  # a last viewer gone: its frames no longer wanted here
                pipe.exists(lease_key(link.kind, link.key))
                if link.proxy.watchers:
                    pipe.set(watch_key(link.kind, link.key), "1", px=FOLLOW_MS)
                else:
                    pipe.echo("-")
            replies = await pipe.execute()
        now = time.monotonic()
        for index, ((kind, key), run) in enumerate(owned):
            renewed, watched = replies[2 * index], replies[2 * index + 1]
            if watched:
                run.followed_until = max(run.followed_until, now + FOLLOW_MS / 1000)
            if self.owned.get((kind, key)) is not run:
                continue  # stepped down or dropped meanwhile
            if int(renewed) == 0:
                self.step_down(kind, key, "it is trained by another peer now")
            else:
                run.arm(int(renewed), sent)
        offset = 2 * len(owned)
        for index, link in enumerate(links):
            if replies[offset + 2 * index]:
                link.misses = 0
            else:
                link.misses += 1
                if link.misses >= MISSES:
                    link.misses = 0
                    self.spawn(self._take_over(link))

    async def sweep(self) -> int:
        """Delete snapshots of runs no peer holds that were idle longer than their kind allows.

        In one process the reaper does this; in a cluster, a run whose every peer went away
        (or that nobody asked for since a restart) has no reaper: its lease is gone and its
        snapshot ages. Returns how many were deleted.
        """
        idle = {
            "session": self.settings.session_idle_seconds,
            "room": self.settings.room_idle_seconds,
        }
        saved = await self.redis.hgetall(SAVED)
        now = time.time()
        old = []
        for field, at in saved.items():
            name = field.decode() if isinstance(field, bytes) else str(field)
            kind, _, key = name.partition(":")
            if now - float(at) > idle.get(kind, float("inf")) and (kind, key) not in self.owned:
                old.append((kind, key))
        deleted = 0
        for kind, key in old:
            deleted += int(
                await self.redis.eval(
                    SWEEP, 7, lease_key(kind, key), snapshot_key(kind, key), INDEX, SAVED,
                    count_key(kind, key), watch_key(kind, key), fence_key(kind, key),
                    member(kind, key), f"{now - idle[kind]:.3f}",
                )
            )  # fmt: skip
        if deleted:
            log.info("forgot %d run(s) no peer held for their idle time", deleted)
        return deleted

    def expired(self, owned: Owned) -> None:
        """An owned run's deadline passed with no renewal confirmed: step down now."""
        if self.owned.get((owned.kind, owned.key)) is owned:
            late = asyncio.get_running_loop().time() - owned.renewed
            self.step_down(owned.kind, owned.key, f"its lease was not renewed for {late:.1f} s")

    def stale(self, run: tuple[str, str]) -> None:
        """A snapshot write was refused: another peer holds the lease (the persister says)."""
        if run in self.owned:
            self.step_down(*run, "it is trained by another peer now (a save was refused)")

    def step_down(self, kind: str, key: str, why: str) -> None:
        """Stop training a run at once, refuse its commands, tell its viewers; follow it.

        The lease is freed if Redis still answers (another peer takes over at once), else it
        expires there: no later than this peer's own deadline plus FENCE_MARGIN.
        """
        owned = self.owned.pop((kind, key), None)
        if owned is None:
            return
        owned.disarm()  # the runner's guard refuses from now on, mid-command included
        owned.runner.on_frame = None
        registry = self.registries.get(kind)
        item = registry.find(key) if registry is not None else None
        if registry is None or item is None:
            return
        runner = owned.runner
        persist = self.persister(kind)
        log.warning(
            "stopped training %s %s at step %d: %s; following it",
            kind, key, runner.session.step_count, why,
        )  # fmt: skip
        follower = self.follower(kind, key, runner.session)
        self.links[(kind, key)].kept = persist.saved(kind, key) if persist is not None else None
        runner.tell(HANDOVER)  # before the viewers move to the follower
        registry.demote(key, follower)
        if owned.token is not None:
            self.spawn(self._let_go(kind, key, owned.token))

    async def _let_go(self, kind: str, key: str, token: int) -> None:
        """Free a lease stepped down from, if Redis answers soon (else it expires by itself)."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await self._release_lease(kind, key, token)


def acknowledgement(frame: Frame) -> dict[str, Any]:
    """What a command forwarded from another peer is answered with: the frame's step, head,
    playing and diverged, not the frame (docs/api.md, "Routing to the owner")."""
    return {
        "type": "ack",
        "step": frame.get("step"),
        "head": frame.get("head"),
        "playing": bool(frame.get("playing")),
        "diverged": bool(frame.get("diverged")),
    }


def _bytes(value: bytes | str) -> bytes:
    """Replies are bytes (no decode_responses); the client's types allow str as well."""
    return value if isinstance(value, bytes) else value.encode()


def _unavailable() -> UnavailableError:
    """The owner did not answer: it may have died, another peer takes over within seconds."""
    return UnavailableError(
        "the server process that runs this did not answer (another takes it over within a "
        "few seconds); try again",
        retry_after=3,
    )


def open_cluster(url: str | None, settings: Settings) -> Cluster | None:
    """A cluster peer when a Redis URL is set; None: one process, nothing shared."""
    return Cluster(url, settings) if url else None
