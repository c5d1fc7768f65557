"""The cluster's parts that need no peers: lost frames detected, old orphaned runs swept."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

import redis
from support import RedisProcess

from app.domain.errors import UnavailableError
from app.domain.presets import resolve
from app.domain.protocol import SessionConfigIn
from app.domain.session import TrainingSession
from app.live.cluster import Cluster, Link, lease_key
from app.live.state import RedisBackend
from app.live.stream import Runner
from app.settings import Settings


def frame(step: int, first: int | None = None) -> dict[str, Any]:
    """A frame of `step` whose curve starts at `first` (default: just this step's loss)."""
    start = step if first is None else first
    return {
        "type": "frame",
        "step": step,
        "first_step": start,
        "losses": [1.0 / (k + 1) for k in range(start, step + 1)],
        "test_losses": None,
        "playing": True,
    }


class OwnerStub:
    """Stands in for Cluster: answers every question with the whole curve at `head`."""

    def __init__(self) -> None:
        self.head = 0
        self.links: dict[tuple[str, str], Link] = {}  # the runs followed, as Cluster keeps them
        self.asked: list[str] = []
        self.failing = 0
        self.tasks: list[asyncio.Task[Any]] = []

    async def call(self, link: Link, op: str, args: dict[str, Any]) -> Any:
        """The owner's answer: the whole curve (or 503 while `failing` is above 0)."""
        self.asked.append(args.get("name", op))
        if self.failing > 0:
            self.failing -= 1
            raise UnavailableError("the owner is being taken over")
        return frame(self.head, first=0)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run it as a task, kept to be awaited."""
        self.tasks.append(asyncio.get_running_loop().create_task(coro))

    async def settle(self) -> None:
        """Wait for every task spawned so far."""
        while self.tasks:
            await self.tasks.pop()


def test_a_gap_in_sequence_numbers_or_a_new_owner_fetches_the_whole_curve() -> None:
    """Pub/sub is at-most-once: a lost frame must not leave a hole in a viewer's curve."""

    async def scenario() -> None:
        owner = OwnerStub()
        link = Link(owner, "room", "ABCDEF")  # type: ignore[arg-type]
        owner.links[("room", "ABCDEF")] = link
        runner = Runner(TrainingSession(resolve(SessionConfigIn(preset="article"))))
        runner.remote, link.runner = link, runner
        slot = runner.attach()
        await owner.settle()
        assert owner.asked == ["full_frame"]  # a new viewer gets the whole curve first
        assert [m for m in await slot.next() if '"first_step":0' in m]

        owner.head = 1
        link.received(1, "peer-a", frame(1))  # the first frame from this owner: resync
        await owner.settle()
        link.received(2, "peer-a", frame(2))
        link.received(3, "peer-a", frame(3))
        await owner.settle()
        assert owner.asked == ["full_frame", "full_frame"]  # in order: nothing fetched

        owner.head = 5
        link.received(5, "peer-a", frame(5))  # frame 4 was lost
        await owner.settle()
        assert owner.asked[-1] == "full_frame" and len(owner.asked) == 3
        sent = await slot.next()
        assert any('"first_step":0' in m and '"step":5' in m for m in sent), sent

        owner.head = 6
        link.received(1, "peer-b", frame(6))  # a new owner (a takeover) numbers from 1
        await owner.settle()
        assert len(owner.asked) == 4
        assert runner.step_count == 6 and runner.playing

        # The owner cannot answer twice (its listener reconnects): asked again until it can.
        owner.head, owner.failing = 9, 2
        link.received(3, "peer-b", frame(9))
        await owner.settle()
        assert len(owner.asked) == 7
        assert any('"first_step":0' in m and '"step":9' in m for m in await slot.next())

    asyncio.run(scenario())


def test_the_janitor_forgets_only_old_runs_nobody_holds(redis_server: RedisProcess) -> None:
    """Old and leaseless: deleted. Old with a lease, or recent: kept."""
    store = RedisBackend(redis_server.url)
    for key in ("old", "held", "recent"):
        store.snapshot("session", key, b"blob")
    store.close()
    r: redis.Redis = redis_server.client()
    long_ago = f"{time.time() - 10_000:.3f}"
    r.hset("bp:saved", mapping={"session:old": long_ago, "session:held": long_ago})
    r.set(lease_key("session", "held"), "some-peer", px=60_000)
    settings = Settings(session_idle_seconds=60)

    async def sweep() -> int:
        cluster = Cluster(redis_server.url, settings)
        try:
            return await cluster.sweep()
        finally:
            await cluster.close()

    assert asyncio.run(sweep()) == 1
    assert r.get("bp:run:session:old") is None
    assert r.get("bp:run:session:held") == b"blob" and r.get("bp:run:session:recent") == b"blob"
    assert {m.decode() for m in r.smembers("bp:runs")} == {"session:held", "session:recent"}  # type: ignore[union-attr]
    r.close()
