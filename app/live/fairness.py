"""Fair CPU: one stretch of training at a time, rooms first, and a work budget per client address.

- `turn(priority)`: every stretch of training (a play chunk, a step request, a reset, a setting
  change) takes a turn on one gate per event loop. Waiting rooms go first, then sessions in the
  order they asked, so a session that wants more simply queues again behind the others
  (round-robin). A playing room therefore waits for at most one stretch (about 15 ms) per frame,
  however many anonymous sessions compete.
- `WorkBudgets`: discrete requests (steps, resets, settings, gradient checks, exports), over REST
  or a WebSocket, spend a token bucket of multiply-adds per client address; over it, a 429 or an
  `error` says how long to wait. Play is not charged: the gate already shares it out.
- `heavy()`: gradient checks and exports run in a worker thread, one at a time, off the loop.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from app.domain.errors import FullError
from app.settings import Settings

ROOM = 0  # priorities: lower goes first
SESSION = 1
STALE_BOOKING = 1.0  # a booking this far in the past is forgotten (its room is stuck elsewhere)
# While a room plays, sessions together get a share of the loop that adapts: it shrinks when a
# room's frame starts late and grows back while frames are on time (additive increase,
# multiplicative decrease). A server kept busy every instant is the one an operating system
# wakes last on a loaded machine, so on a busy box sessions yield more; on an idle one, less.
MAX_SHARE = 0.9
MIN_SHARE = 0.01
LATE_SECONDS = 0.004  # a room's stretch starting this long after its booked time is late
BOOKING_SLACK = 0.001  # past the booked time, the room is queued: then sessions queue behind
REST_CHECK_SECONDS = 0.05  # a resting session looks again this often
# Multiply-adds a seek's replay or a slice may run on the event loop (a few ms, one stretch at
# the gate); more runs in the heavy-job thread on a copy.
INLINE_SEEK_WORK = 5_000_000

T = TypeVar("T")


class CpuGate:
    """A lock with priorities: FIFO within a priority, lower priorities first; and bookings.

    A playing room books the time of its next frame. A session about to run a stretch that it
    expects to last past a booking waits for the room to take its turn first: a room's frame
    never waits behind a stretch begun just before it was due (one step of a big network can
    take longer than a frame on a busy machine).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._held = False
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._bookings: dict[object, float] = {}
        self._clock = clock
        self._rest_until = 0.0  # while rooms play, sessions wait till then between stretches
        self.share = MAX_SHARE  # of the loop's time that sessions get while a room plays

    def book(self, owner: object, at: float) -> None:
        """`owner` (a playing room) needs a turn at `at` (the clock's time)."""
        self._bookings[owner] = at

    def unbook(self, owner: object) -> None:
        """`owner` took its turn, or stopped playing."""
        self._bookings.pop(owner, None)

    def started(self, owner: object) -> None:
        """A room's stretch begins: was it on time? Sessions' share follows the answer."""
        at = self._bookings.pop(owner, None)
        if at is None:
            return
        if self._clock() - at > LATE_SECONDS:
            self.share = max(MIN_SHARE, self.share * 0.7)
        else:
            self.share = min(MAX_SHARE, self.share + 0.01)

    async def _clear_of_bookings(self, expected: float) -> None:
        """If a room is due within `expected` seconds, wait until it has taken its turn.

        Only that one frame: waiting for every later one too would starve a session whose
        stretch is longer than a frame.
        """
        now = self._clock()
        due = [(at, owner) for owner, at in self._bookings.items() if at > now - STALE_BOOKING]
        if not due:
            return
        at, owner = min(due, key=lambda booking: booking[0])
        if at - now >= expected:
            return
        while self._bookings.get(owner) == at and self._clock() < at + STALE_BOOKING:
            await asyncio.sleep(max(at - self._clock(), 0.0) + BOOKING_SLACK)

    @property
    def waiting(self) -> int:
        """Turns asked for and not yet given."""
        return sum(1 for *_, f in self._waiting if not f.done())

    async def acquire(self, priority: int, expected: float = 0.0) -> None:
        """Wait for a turn: immediately if nobody holds or waits for one.

        `expected`: how long the holder expects to keep it; a session then first lets any room
        due within that time go ahead (checked again once granted: the wait may have been long),
        but only one room frame per stretch, so sessions never starve.
        """
        if priority == ROOM:
            await self._take(priority)
            return
        waited = False
        while True:
            while self._bookings and (rest := self._rest_until - self._clock()) > 0:
                await asyncio.sleep(min(rest, REST_CHECK_SECONDS))  # the room may stop
            if not waited and self._room_due(expected):
                await self._clear_of_bookings(expected)
                waited = True
            await self._take(priority)
            if waited or not self._room_due(expected):
                return
            self.release()  # a room fell due while we queued: it goes first

    def _room_due(self, within: float) -> bool:
        """A (fresh) booking falls within the next `within` seconds."""
        now = self._clock()
        return within > 0 and any(
            now - STALE_BOOKING < at < now + within for at in self._bookings.values()
        )

    async def _take(self, priority: int) -> None:
        """The turn itself: FIFO within a priority, lower priorities first."""
        if not self._held and not self._waiting:
            self._held = True
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._order), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # granted as we were cancelled: pass the turn on
            raise

    def rested(self, held: float) -> None:
        """A session held the gate `held` seconds: while a room plays, sessions rest as long."""
        if self._bookings:
            self._rest_until = self._clock() + held * (1 - self.share) / self.share

    def release(self) -> None:
        """End a turn: hand it to the first waiter still waiting."""
        while self._waiting:
            _, _, future = heapq.heappop(self._waiting)
            if not future.done():
                future.set_result(None)  # stays held: the turn passes straight on
                return
        self._held = False


_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CpuGate] = weakref.WeakKeyDictionary()


def gate() -> CpuGate:
    """The running loop's gate (tests run many loops; each has its own)."""
    loop = asyncio.get_running_loop()
    found = _GATES.get(loop)
    if found is None:
        found = _GATES[loop] = CpuGate()
    return found


@asynccontextmanager
async def turn(priority: int, expected: float = 0.0, owner: object = None) -> AsyncIterator[None]:
    """Hold the CPU gate for one stretch of training (`owner`'s booking, if any, is used up)."""
    g = gate()
    await g.acquire(priority, expected)
    if owner is not None:
        g.started(owner)
    started = time.monotonic()
    try:
        yield
    finally:
        if priority != ROOM:
            g.rested(time.monotonic() - started)
        g.release()


# ---- work budget per client address ---------------------------------------------------------


class OverBudgetError(FullError):
    """A client asked for more work than its budget allows now; `retry_after` in seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        """The refusal, and when to try again."""
        super().__init__(message, retry_after=retry_after)


class AddressBuckets:
    """A token bucket per client address: `rate` tokens a second, at most `burst` held."""

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Every address starts with a full bucket."""
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, at)

    def tokens(self, address: str) -> float:
        """What `address` holds now."""
        tokens, at = self._buckets.get(address, (self.burst, self._clock()))
        return min(self.burst, tokens + (self._clock() - at) * self.rate)

    def spend(self, address: str, tokens: float = 1.0) -> None:
        """Spend (or, negative, give back) tokens."""
        self._buckets[address] = (self.tokens(address) - tokens, self._clock())
        if len(self._buckets) > 10_000:  # bounded memory: full buckets carry no information
            for key in [a for a in self._buckets if self.tokens(a) >= self.burst]:
                del self._buckets[key]


class WorkBudgets(AddressBuckets):
    """Multiply-adds per client address (a NAT'ed workshop shares one)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkBudgets:
        """The server's configured budget."""
        return cls(settings.client_work_per_second, settings.client_work_burst)

    def charge(self, address: str, work: float) -> None:
        """Spend `work`; OverBudgetError (nothing spent) if the bucket holds less.

        Never more than a full bucket at once: a request over the burst runs from a full bucket
        and empties it, and one the per-request limit then refuses (a typo such as a million
        steps) costs no more than that, not minutes of waiting.
        """
        work = min(work, self.burst)
        tokens = self.tokens(address)
        if tokens < work:
            wait = (work - tokens) / self.rate
            raise OverBudgetError(
                "too much computation from your address right now: "
                f"wait {math.ceil(wait)} s and try again (other learners share this server)",
                wait,
            )
        self.spend(address, work)


def budgets(app: Any) -> WorkBudgets:
    """The app's work budgets (create_app makes them from its settings)."""
    found = getattr(app.state, "work_budgets", None)
    if not isinstance(found, WorkBudgets):
        raise RuntimeError("create_app sets app.state.work_budgets")
    return found


def client_address(scope: Any) -> str:
    """The client's address as the server sees it (a trusted proxy's forwarded one included)."""
    client = scope.get("client") if isinstance(scope, dict) else None
    return str(client[0]) if client else "unknown"


# ---- heavy one-off work ---------------------------------------------------------------------

_LIMITERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


async def heavy(fn: Callable[[], T]) -> T:
    """Run `fn` in a worker thread, one heavy job at a time per server: the loop keeps serving."""
    loop = asyncio.get_running_loop()
    limiter = _LIMITERS.get(loop)
    if limiter is None:
        limiter = _LIMITERS[loop] = anyio.CapacityLimiter(1)
    return await anyio.to_thread.run_sync(fn, limiter=limiter)
