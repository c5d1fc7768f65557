"""The cluster's parts that need no peers: lost frames detected, old orphaned runs swept."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Coroutine
from typing import Any

import pytest
import redis
from support import RedisProcess

from app.domain.errors import UnavailableError
from app.domain.presets import resolve
from app.domain.protocol import SessionConfigIn, StepMsg
from app.domain.session import TrainingSession
from app.live.cluster import ACQUIRE, RELEASE, RENEW, Cluster, Link
from app.live.follower import FollowerProxy
from app.live.keys import fence_key, lease_key
from app.live.state import LeaseMissingError, RedisBackend, StaleLeaseError
from app.live.stream import Runner, Slot
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
        self.seq: int | None = None  # the owner's frame number of its answer (None: the latest)
        self.gate: asyncio.Event | None = None
        self.tasks: list[asyncio.Task[Any]] = []

    async def call(self, link: Link, op: str, args: dict[str, Any]) -> Any:
        """The owner's answer: the whole curve up to `head`, numbered as the frames it covers.

        503 while `failing` is above 0; held until `gate` opens, when there is one.
        """
        self.asked.append(args.get("name", op))
        if self.gate is not None:
            await self.gate.wait()
        if self.failing > 0:
            self.failing -= 1
            raise UnavailableError("the owner is being taken over")
        seq = self.seq if self.seq is not None else max(link.seq, 0)
        return {"frame": frame(self.head, first=0), "seq": seq, "owner": link.owner or "peer-a"}

    async def listen_to(self, channel: str) -> None:
        """Subscribing: nothing to do here (frames are handed to the link by the test)."""

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run it as a task, kept to be awaited."""
        self.tasks.append(asyncio.get_running_loop().create_task(coro))

    async def settle(self) -> None:
        """Wait for every task spawned so far (and those they spawn)."""
        while self.tasks:
            await self.tasks.pop()

    async def asked_more_than(self, count: int) -> None:
        """Let the loop run until the follower has sent its next question."""
        while len(self.asked) <= count:
            await asyncio.sleep(0)

    def whole(self, sent: list[str]) -> dict[str, Any] | None:
        """The last whole-curve frame among sent texts, decoded."""
        frames = [json.loads(m) for m in sent if '"first_step":0' in m]
        return frames[-1] if frames else None


def follower() -> tuple[OwnerStub, Link, FollowerProxy, Slot]:
    """A proxy following a room through a Link to the stub owner, with one viewer attached."""
    owner = OwnerStub()
    link = Link(owner, "room", "ABCDEF")  # type: ignore[arg-type]
    owner.links[("room", "ABCDEF")] = link
    link.proxy = FollowerProxy(link, TrainingSession(resolve(SessionConfigIn(preset="article"))))
    return owner, link, link.proxy, link.proxy.attach()


def test_a_gap_in_sequence_numbers_or_a_new_owner_fetches_the_whole_curve() -> None:
    """Pub/sub is at-most-once: a lost frame must not leave a hole in a viewer's curve."""

    async def scenario() -> None:
        owner, link, runner, slot = follower()
        await owner.settle()
        assert owner.asked == ["full_frame"]  # a new viewer gets the whole curve first
        assert [m for m in await slot.next() if '"first_step":0' in m]

        owner.head = 1
        # The whole curve said who sent it and which frame it covers: the next frame joins on.
        link.received(1, "peer-a", frame(1))
        await owner.settle()
        link.received(2, "peer-a", frame(2))
        link.received(3, "peer-a", frame(3))
        await owner.settle()
        assert owner.asked == ["full_frame"]  # in order: nothing fetched

        owner.head = 5
        link.received(5, "peer-a", frame(5))  # frame 4 was lost
        await owner.settle()
        assert owner.asked[-1] == "full_frame" and len(owner.asked) == 2
        sent = await slot.next()
        assert any('"first_step":0' in m and '"step":5' in m for m in sent), sent

        owner.head = 6
        link.received(1, "peer-b", frame(6))  # a new owner (a takeover) numbers from 1
        await owner.settle()
        assert len(owner.asked) == 3
        assert runner.step_count == 6 and runner.playing

        # The owner cannot answer twice (its listener reconnects): asked again until it can.
        owner.head, owner.failing = 9, 2
        link.received(3, "peer-b", frame(9))
        await owner.settle()
        assert len(owner.asked) == 6
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


def test_frames_that_overtake_the_whole_curve_are_merged_on_and_gaps_refetched() -> None:
    """The answer comes after newer frames, one of them after a lost one: no hole, no going back."""

    async def scenario() -> None:
        owner, link, runner, slot = follower()
        await owner.settle()
        for n in range(1, 6):  # frames 1..5 in order, from peer-a
            link.received(n, "peer-a", frame(n))
        await owner.settle()
        await slot.next()
        asked = len(owner.asked)

        owner.gate = asyncio.Event()
        owner.head, owner.seq = 8, 8  # the owner's answer will cover frames up to 8
        link.received(7, "peer-a", frame(7))  # 6 was lost: a fetch starts, held at the gate
        await owner.asked_more_than(asked)
        link.received(8, "peer-a", frame(8))  # already in the answer
        link.received(10, "peer-a", frame(10))  # 9 lost too, while the fetch is on its way
        owner.gate.set()
        await asyncio.sleep(0)
        owner.head, owner.seq = 10, 10  # fetched again: now up to 10
        await owner.settle()
        assert len(owner.asked) >= asked + 2  # the first answer did not join on: asked again
        last = owner.whole(await slot.next())
        assert last is not None and last["step"] == 10
        assert last["losses"] == frame(10, first=0)["losses"]  # every step, 0..10

        # A same-step frame after the answer (a pause between two ticks) is not dropped.
        owner.gate = asyncio.Event()
        owner.seq = 12  # the answer is made after frame 12, before the pause's frame 13
        asked = len(owner.asked)
        link.received(12, "peer-a", frame(11))  # 11 lost: fetch
        await owner.asked_more_than(asked)
        paused = {**frame(11), "first_step": None, "losses": [], "playing": False}
        link.received(13, "peer-a", paused)
        owner.head = 11
        owner.gate.set()
        await owner.settle()
        assert runner.step_count == 11 and not runner.playing
        sent = [json.loads(m) for m in await slot.next() if m.startswith('{"type":"frame"')]
        assert sent[-1]["playing"] is False and sent[-1]["step"] == 11

    asyncio.run(scenario())


def test_snapshots_are_written_only_under_the_current_fencing_token(
    redis_server: RedisProcess,
) -> None:
    """A write with an old token, another holder's lease, or no lease is refused in Redis."""
    store = RedisBackend(redis_server.url)
    store.peer = "peer-a"
    r: redis.Redis = redis_server.client()
    r.set(lease_key("room", "K"), "peer-a")
    r.set(fence_key("room", "K"), 3)
    store.snapshot("room", "K", b"three", 3)
    assert r.get("bp:run:room:K") == b"three"
    with pytest.raises(LeaseMissingError):  # an older token of the same peer: not now
        store.snapshot("room", "K", b"two", 2)
    with pytest.raises(LeaseMissingError):  # no token at all on a cluster peer
        store.snapshot("room", "K", b"none", None)
    r.set(lease_key("room", "K"), "peer-b")
    r.set(fence_key("room", "K"), 4)
    with pytest.raises(StaleLeaseError):  # another peer holds it: stop
        store.snapshot("room", "K", b"late", 3)
    r.delete(lease_key("room", "K"))
    with pytest.raises(LeaseMissingError):
        store.snapshot("room", "K", b"orphan", 3)
    assert r.get("bp:run:room:K") == b"three"  # none of them landed
    store.close()
    r.close()


def test_leases_raise_the_token_and_renew_or_release_only_under_it(
    redis_server: RedisProcess,
) -> None:
    """ACQUIRE raises the token; RENEW and RELEASE act only for the holder under its token."""
    r: redis.Redis = redis_server.client()
    lease, fence = lease_key("session", "S"), fence_key("session", "S")

    def run(script: str, *args: Any) -> int:
        return int(r.eval(script, 2, lease, fence, *args))

    assert run(ACQUIRE, "peer-a", 60_000) == 1
    assert run(ACQUIRE, "peer-b", 60_000) == 0  # held
    assert run(RENEW, "peer-a", 60_000, "1") == 1
    assert run(RENEW, "peer-b", 60_000, "1") == 0  # not the holder
    r.delete(lease)  # expired; then B acquires (token 2) and lets go
    assert run(ACQUIRE, "peer-b", 60_000) == 2
    assert run(RELEASE, "peer-a", "1") == 0 and r.get(lease) == b"peer-b"  # late, stale
    assert run(RELEASE, "peer-b", "2") == 1 and r.get(lease) is None
    # A's late renewal finds the lease free but acquired since: not A's again.
    assert run(RENEW, "peer-a", 60_000, "1") == 0 and r.get(lease) is None
    # Redis restarted empty: the owner takes its lease back under a new token.
    r.flushdb()
    assert run(RENEW, "peer-b", 60_000, "2") == 1 and r.get(lease) == b"peer-b"
    r.close()


class GuardStub:
    """A lease that holds until `lost`; a save that fails while `failing`."""

    def __init__(self) -> None:
        self.lost = False
        self.failing = False
        self.commits = 0

    def check(self) -> None:
        """Refused once lost."""
        if self.lost:
            raise UnavailableError("lost")

    async def commit(self) -> None:
        """Saved, or refused."""
        self.check()
        if self.failing:
            raise UnavailableError("not saved")
        self.commits += 1


def test_a_command_is_shown_only_once_saved_and_a_refused_one_never() -> None:
    """Frames of a command wait for its save; a refused command's frames reach no viewer."""

    async def scenario() -> None:
        runner = Runner(TrainingSession(resolve(SessionConfigIn(preset="article"))))
        guard = GuardStub()
        runner.guard = guard
        slot = runner.attach()
        await slot.next()  # the whole curve
        settings = Settings()
        frame = await runner.command(StepMsg(type="step", count=3), settings)
        assert frame["step"] == 3 and guard.commits == 1
        assert any('"step":3' in m for m in await slot.next())
        guard.failing = True
        with pytest.raises(UnavailableError):
            await runner.command(StepMsg(type="step", count=2), settings)
        guard.lost = True  # stepped down
        with pytest.raises(UnavailableError):  # training itself refuses once the lease is lost
            await runner.step(1)
        slot.error("marker")  # whatever was queued is flushed with it
        sent = await slot.next()
        assert not [m for m in sent if m.startswith('{"type":"frame"')], sent

    asyncio.run(scenario())
