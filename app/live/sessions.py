"""In-memory training sessions: unguessable ids, a cap, and a reaper for idle ones."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.domain.errors import FullError
from app.domain.session import TrainingSession
from app.live.stream import Runner

log = logging.getLogger(__name__)


class StoreFullError(FullError):
    """The server holds as many sessions as it allows."""


@dataclass(eq=False)
class Entry:
    """A stored session with the runner that drives it."""

    id: str
    session: TrainingSession
    runner: Runner
    last_used: float = field(default_factory=time.monotonic)


class SessionStore:
    """Sessions by id; idle ones (no viewer, not playing) are dropped after `idle_seconds`."""

    def __init__(
        self,
        max_sessions: int,
        idle_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        grace_seconds: float = 7200,
    ) -> None:
        self.max_sessions = max_sessions
        self.idle_seconds = idle_seconds
        self.grace_seconds = grace_seconds
        self._clock = clock
        self._entries: dict[str, Entry] = {}

    def __len__(self) -> int:
        """Sessions held."""
        return len(self._entries)

    def ids(self) -> list[str]:
        """The ids of every session held, oldest first."""
        return list(self._entries)

    @property
    def full(self) -> bool:
        """No room for one more session."""
        return len(self._entries) >= self.max_sessions

    def full_message(self) -> str:
        """What a client told 429 reads."""
        return (
            f"too many sessions: this server holds at most {self.max_sessions}; "
            "delete one or try again later"
        )

    def add(self, session: TrainingSession) -> Entry:
        """Store a session under a fresh unguessable id."""
        if self.full:
            raise StoreFullError(self.full_message())
        session_id = secrets.token_urlsafe(16)
        while session_id in self._entries:  # 128 random bits: never, but cheap to be sure
            session_id = secrets.token_urlsafe(16)
        entry = Entry(session_id, session, Runner(session), self._clock())
        self._entries[session_id] = entry
        return entry

    def has(self, session_id: str) -> bool:
        """Whether the session exists (without marking it as used)."""
        return session_id in self._entries

    def get(self, session_id: str) -> Entry | None:
        """The entry, marked as used now, or None."""
        entry = self._entries.get(session_id)
        if entry is not None:
            entry.last_used = self._clock()
        return entry

    def touch(self, entry: Entry) -> None:
        """Mark as used now."""
        entry.last_used = self._clock()

    async def remove(self, session_id: str) -> bool:
        """Drop a session, stopping its play loop and its viewers; False if unknown."""
        entry = self._entries.pop(session_id, None)
        if entry is None:
            return False
        await entry.runner.close()
        return True

    def idle_ids(self) -> list[str]:
        """Sessions unused for longer than idle_seconds, with no viewer and not playing.

        Viewers alone keep a session for grace_seconds more, no longer: an open socket that
        never sends anything cannot hold a session (and a place under the cap) forever.
        """
        limit = self._clock() - self.idle_seconds
        return [
            sid
            for sid, entry in self._entries.items()
            if entry.last_used < limit
            and not entry.runner.playing
            and (not entry.runner.busy or entry.last_used < limit - self.grace_seconds)
        ]

    async def reap(self) -> int:
        """Drop idle sessions now; returns how many."""
        ids = self.idle_ids()
        for session_id in ids:
            await self.remove(session_id)
        if ids:
            log.info("dropped %d idle session(s)", len(ids))
        return len(ids)

    async def run_reaper(self, interval: float) -> None:
        """Background task (started in the app's lifespan): reap every `interval` seconds."""
        while True:
            await asyncio.sleep(interval)
            await self.reap()

    async def close(self) -> None:
        """Drop everything (shutdown)."""
        for session_id in list(self._entries):
            await self.remove(session_id)
