"""In-memory training sessions: unguessable ids, a cap, and a reaper for idle ones (Registry)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.domain.errors import FullError
from app.domain.session import TrainingSession
from app.live.registry import Registry
from app.live.route import session_id
from app.live.stream import Runner

if TYPE_CHECKING:
    from app.live.stream import Driver


class StoreFullError(FullError):
    """The server holds as many sessions as it allows."""


@dataclass(eq=False)
class Entry:
    """A stored session with the runner that drives it."""

    id: str
    session: TrainingSession
    runner: Driver  # a Runner, or the cluster's proxy of a run another peer trains
    last_used: float = field(default_factory=time.monotonic)
    forked_from: str | None = None  # the room's code, for a participant's fork

    @property
    def busy(self) -> bool:
        """A viewer is connected or the run plays."""
        return self.runner.busy

    async def close(self) -> None:
        """Stop the play loop and disconnect the viewers."""
        await self.runner.close()


class SessionStore(Registry[Entry]):
    """Sessions by unguessable id; idle ones (no viewer, not playing) go after `idle_seconds`."""

    noun = "session"
    full_error = StoreFullError

    @property
    def max_sessions(self) -> int:
        """The cap."""
        return self.cap

    def full_message(self) -> str:
        """What a client told 429 reads."""
        return (
            f"too many sessions: this server holds at most {self.cap}; "
            "delete one or try again later"
        )

    def new_key(self) -> str:
        """128 random bits, URL-safe; behind the proxy, an id it routes to this peer."""
        return session_id(self.route)

    def ids(self) -> list[str]:
        """The ids of every session held, oldest first."""
        return self.keys()

    def idle_ids(self) -> list[str]:
        """Sessions the reaper would drop now (Registry.idle_keys)."""
        return self.idle_keys()

    def add(self, session: TrainingSession) -> Entry:
        """Store a session under a fresh unguessable id."""
        self.check_not_full()
        return self.restore(self.fresh_key(), session)

    def restore(
        self, session_id: str, session: TrainingSession, follower: Driver | None = None
    ) -> Entry:
        """Store a session under a known id (a new one, one a snapshot brought back, or one
        another peer trains: `follower`, the cluster's proxy, in place of a Runner)."""
        runner = follower if follower is not None else self.runner_for(session)
        return self.put(session_id, Entry(session_id, session, runner, self._clock()))

    def runner_for(self, session: TrainingSession) -> Runner:
        """A Runner whose play ticks step with other forks' (app/live/together.py)."""
        runner = Runner(session)
        runner.together = True  # forks playing at one fps step together
        return runner

    def revive(
        self, key: str, state: dict[str, Any], session: Any, follower: Driver | None
    ) -> Entry:
        """A session its snapshot brought back (the cluster's lookups)."""
        return self.restore(key, session, follower)

    async def stop_unwatched(self) -> None:
        """The cluster's tick: a session trained here, playing, watched nowhere, stops."""
        cluster = self.cluster
        for key, entry in list(self._items.items()):
            runner = entry.runner
            if (
                self.trained_here(entry)  # a followed one is its owner's to stop
                and runner.playing
                and not runner.watchers
                and (cluster is None or not cluster.followed(self.noun, key))
            ):
                await runner.park()  # viewers elsewhere see playing: false

    def get(self, session_id: str) -> Entry | None:
        """The entry, marked as used now, or None."""
        entry = self.find(session_id)
        if entry is not None:
            self.touch(entry)
        return entry
