"""One registry for what the server holds live (sessions, rooms): keys, a cap, idle reaping."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from app.domain.errors import FullError
from app.live.state import Persister
from app.live.stream import Runner

if TYPE_CHECKING:
    from app.domain.session import TrainingSession
    from app.live.stream import Driver

log = logging.getLogger(__name__)


class Peers(Protocol):
    """The cluster as registries and rooms see it (app/live/cluster.py implements it; the
    cluster sits above them and they never import it: an import-linter contract)."""

    peer: str  # this peer's id
    redis: Any  # the shared Redis (asyncio client)

    def held(self, kind: str, key: str, runner: Driver) -> None:
        """A run is held here: trained, or followed."""
        ...

    def dropped(self, kind: str, key: str, runner: Driver, deleted: bool) -> None:
        """A run is no longer held here."""
        ...

    async def claim(self, kind: str, key: str) -> None:
        """Take a new run's lease now."""
        ...

    async def delete_at_owner(self, kind: str, key: str) -> None:
        """Delete for good a run another peer trains (this peer follows it)."""
        ...

    async def find(self, registry: Any, key: str) -> Any:
        """A run this peer does not hold: follow it, or take it over."""
        ...

    def followed(self, kind: str, key: str) -> bool:
        """Viewers on another peer watch a run trained here."""
        ...

    def notice(self, kind: str, key: str, what: str, text: str) -> None:
        """A side message for every other peer's viewers of this run."""
        ...


class Held(Protocol):
    """What a registry holds: a runner, when it was last used, whether it is busy, close().

    `runner` is a Runner when this peer trains the run, else the cluster's follower proxy
    (app/live/follower.py); the cluster swaps one for the other when the run changes hands.
    """

    last_used: float
    session: TrainingSession
    runner: Driver

    @property
    def busy(self) -> bool:
        """Someone watches or the run plays: never reaped for idleness alone."""
        ...

    async def close(self) -> None:
        """Stop playing and disconnect everyone."""
        ...


T = TypeVar("T", bound=Held)


class Registry(Generic[T]):
    """Items by key, oldest first; idle ones (nobody there, not playing) go after idle_seconds."""

    noun = "item"  # for log lines ("dropped 2 idle item(s)") and snapshots' kind
    full_error: type[FullError] = FullError

    def __init__(
        self,
        cap: int,
        idle_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        grace_seconds: float = 7200,
    ) -> None:
        self.cap = cap
        self.idle_seconds = idle_seconds
        self.grace_seconds = grace_seconds
        self._clock = clock
        self._items: dict[str, T] = {}
        self.persist: Persister | None = None  # snapshots (app/live/state.py), when configured
        self.cluster: Peers | None = None  # peers sharing one Redis (app/live/cluster.py)
        # This peer's slot behind the proxy (app/live/route.py): new keys route to it.
        self.route: tuple[int, int] | None = None

    def __len__(self) -> int:
        """Items held."""
        return len(self._items)

    def keys(self) -> list[str]:
        """The keys of every item held, oldest first."""
        return list(self._items)

    @property
    def full(self) -> bool:
        """No place for one more item here. Peers sharing a Redis also reserve a place under
        the cluster-wide cap before a run is made (app/live/quotas.py ClusterCap)."""
        return len(self._items) >= self.cap

    def full_message(self) -> str:
        """What a client told 429 reads."""
        return f"too many {self.noun}s: this server holds at most {self.cap}; try again later"

    def check_not_full(self) -> None:
        """FullError (429) when the cap is reached."""
        if self.full:
            raise self.full_error(self.full_message())

    def new_key(self) -> str:
        """A fresh random key (subclasses say how keys look)."""
        raise NotImplementedError

    def normalize(self, key: str) -> str:
        """A key as it is stored (subclasses may accept other spellings)."""
        return key

    def fresh_key(self) -> str:
        """A key no item holds yet."""
        key = self.new_key()
        while key in self._items:  # random keys rarely collide, but it is cheap to be sure
            key = self.new_key()
        return key

    def put(self, key: str, item: T) -> T:
        """Hold an item under a key (a new one, one a snapshot brought back, or a follower)."""
        self._items[key] = item
        if self.persist is not None and isinstance(item.runner, Runner):  # trained_here()
            self.persist.watch(self.noun, key, item.runner, self.snapshot_extra(item))
        if self.cluster is not None:
            self.cluster.held(self.noun, key, item.runner)
        return item

    async def settle(self, key: str) -> None:
        """In a cluster, before a new item's id is handed out: its lease and first snapshot.

        Otherwise a page sent to another peer an instant later could be told it does not exist.
        """
        if self.cluster is None:
            return
        try:
            await self.cluster.claim(self.noun, key)
            if self.persist is not None:
                await self.persist.flush(self.noun, key)
        except Exception:
            await self.remove(key)  # its id was never handed out: nobody could use it
            raise

    async def lookup(self, key: str) -> T | None:
        """The item under a key; in a cluster, also one another peer holds (followed from here)."""
        item = self.find(key)
        if item is not None or self.cluster is None:
            return item
        found: T | None = await self.cluster.find(self, self.normalize(key))
        return found

    def revive(self, key: str, state: dict[str, Any], session: Any, follower: Driver | None) -> T:
        """Hold a run a snapshot brought back; `follower`: the cluster's proxy of a run another
        peer trains, held in place of a Runner (subclasses)."""
        raise NotImplementedError

    @staticmethod
    def trained_here(item: T) -> bool:
        """Whether this peer trains the item's run, and so saves, stops and reaps it: its runner
        is a Runner, not the cluster's proxy of a run another peer trains (the one place the
        registries ask)."""
        return isinstance(item.runner, Runner)

    def runner_for(self, session: TrainingSession) -> Runner:
        """A Runner that trains `session` here (subclasses set its place at the CPU gate)."""
        return Runner(session)

    def promote(self, key: str, session: TrainingSession) -> T:
        """A followed run is trained here from now on, from `session` (its last snapshot): a
        Runner takes the follower's place and its viewers."""
        item = self._items[key]
        runner = self.runner_for(session)
        runner.take_viewers(item.runner)
        item.session, item.runner = session, runner
        if self.persist is not None:
            self.persist.watch(self.noun, key, runner, self.snapshot_extra(item))
        if self.cluster is not None:
            self.cluster.held(self.noun, key, runner)
        return item

    def demote(self, key: str, follower: Driver) -> None:
        """Another peer trains this run now: stop here; `follower` (the cluster's proxy) takes
        the Runner's place and its viewers (the snapshot stays)."""
        item = self._items[key]
        item.runner.stop()
        follower.take_viewers(item.runner)
        item.runner = follower
        if self.persist is not None:
            self.persist.unwatch(self.noun, key)

    def snapshot_extra(self, item: T) -> Callable[[], dict[str, Any]] | None:
        """What an item's snapshot holds beyond its session (subclasses say); None: nothing."""
        return None

    def has(self, key: str) -> bool:
        """Whether an item is held under this key (without marking it as used)."""
        return self.normalize(key) in self._items

    def find(self, key: str) -> T | None:
        """The item under a key, or None; not marked as used."""
        return self._items.get(self.normalize(key))

    def touch(self, item: T) -> None:
        """Mark as used now (the idle reaper counts from here)."""
        item.last_used = self._clock()

    async def remove(self, key: str) -> bool:
        """Close and forget an item for good (its snapshot too); False if unknown here.

        A followed item is deleted at the peer that trains it, then dropped here.
        """
        key = self.normalize(key)
        item = self._items.get(key)
        if item is None:
            return False
        if not self.trained_here(item) and self.cluster is not None:
            await self.cluster.delete_at_owner(self.noun, key)  # another peer trains it
            await self.drop(key)
            return True
        self._items.pop(key, None)
        deleted = self.persist.forget(self.noun, key) if self.persist is not None else None
        if self.cluster is not None:
            self.cluster.dropped(self.noun, key, item.runner, deleted=True)
        await item.close()
        if deleted is not None and self.cluster is not None:
            await asyncio.wrap_future(deleted)  # out of the cluster's index before the answer
        return True

    async def drop(self, key: str) -> None:
        """Close an item here only: a follower nobody watches here, or every item at shutdown."""
        item = self._items.pop(key, None)
        if item is None:
            return
        if self.cluster is not None:
            self.cluster.dropped(self.noun, key, item.runner, deleted=False)
        await item.close()

    def idle_keys(self) -> list[str]:
        """Items unused for longer than idle_seconds, not playing, and nobody there.

        Viewers alone keep an item for grace_seconds more, no longer: an open socket that
        never sends anything cannot hold an item (and a place under the cap) forever.
        """
        limit = self._clock() - self.idle_seconds
        cluster = self.cluster
        return [
            key
            for key, item in self._items.items()
            if item.last_used < limit
            and (not item.runner.playing or not self.trained_here(item))
            and (not item.busy or item.last_used < limit - self.grace_seconds)
            and (cluster is None or not cluster.followed(self.noun, key))
        ]

    async def reap(self) -> int:
        """Drop idle items now (a followed one only here); returns how many."""
        keys = self.idle_keys()
        for key in keys:
            item = self._items.get(key)
            if item is not None and not self.trained_here(item):
                await self.drop(key)  # followed: its owner reaps it
            else:
                await self.remove(key)
        if keys:
            log.info("dropped %d idle %s(s)", len(keys), self.noun)
        return len(keys)

    async def run_reaper(self, interval: float) -> None:
        """Background task (started in the app's lifespan): reap every `interval` seconds."""
        while True:
            await asyncio.sleep(interval)
            await self.reap()

    async def close(self) -> None:
        """Drop everything (shutdown): snapshots stay, for a restart or another peer."""
        for key in list(self._items):
            if self.persist is None and self.cluster is None:
                await self.remove(key)
            else:
                await self.drop(key)
