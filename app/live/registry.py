"""One registry for what the server holds live (sessions, rooms): keys, a cap, idle reaping."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from app.domain.errors import FullError
from app.live.state import Persister
from app.live.stream import Runner

log = logging.getLogger(__name__)


class Held(Protocol):
    """What a registry holds: a runner, when it was last used, whether it is busy, close()."""

    last_used: float

    @property
    def runner(self) -> Runner:
        """The runner that drives the item's session."""
        ...

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

    def __len__(self) -> int:
        """Items held."""
        return len(self._items)

    def keys(self) -> list[str]:
        """The keys of every item held, oldest first."""
        return list(self._items)

    @property
    def full(self) -> bool:
        """No place for one more item."""
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
        """Hold an item under a key (a new one, or one a snapshot brought back)."""
        self._items[key] = item
        if self.persist is not None:
            self.persist.watch(self.noun, key, item.runner, self.snapshot_extra(item))
        return item

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
        """Close and forget an item; False if unknown."""
        key = self.normalize(key)
        item = self._items.pop(key, None)
        if item is None:
            return False
        if self.persist is not None:
            self.persist.forget(self.noun, key)
        await item.close()
        return True

    def idle_keys(self) -> list[str]:
        """Items unused for longer than idle_seconds, not playing, and nobody there.

        Viewers alone keep an item for grace_seconds more, no longer: an open socket that
        never sends anything cannot hold an item (and a place under the cap) forever.
        """
        limit = self._clock() - self.idle_seconds
        return [
            key
            for key, item in self._items.items()
            if item.last_used < limit
            and not item.runner.playing
            and (not item.busy or item.last_used < limit - self.grace_seconds)
        ]

    async def reap(self) -> int:
        """Drop idle items now; returns how many."""
        keys = self.idle_keys()
        for key in keys:
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
        """Drop everything (shutdown)."""
        for key in list(self._items):
            await self.remove(key)
