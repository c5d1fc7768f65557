"""A run another peer trains is held as a FollowerProxy; a takeover or a step-down swaps it
for a Runner (and back) with the viewers' slots moving over, their connections kept."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from app.domain.presets import resolve
from app.domain.protocol import ClientMsg, SessionConfigIn, StepMsg
from app.domain.session import TrainingSession
from app.live.follower import FollowerProxy
from app.live.sessions import SessionStore
from app.live.stream import Runner, Slot
from app.settings import Settings


def session() -> TrainingSession:
    """A small run, as a snapshot would bring it back."""
    return TrainingSession(resolve(SessionConfigIn(preset="xor")))


class OwnerStub:
    """The peer that trains the run, as a FollowerProxy's Remote sees it."""

    def __init__(self) -> None:
        self.commands: list[ClientMsg] = []
        self.primed: list[Slot] = []
        self.halted = 0
        self.deleted = 0

    async def command(self, msg: ClientMsg) -> dict[str, Any]:
        """Acknowledge as the owner does: step, head, playing, diverged."""
        self.commands.append(msg)
        return {"type": "ack", "step": 3, "head": 3, "playing": False, "diverged": False}

    async def read(self, name: str, params: dict[str, Any]) -> Any:
        """Questions are not asked in these tests."""
        raise AssertionError(f"unexpected question {name}")

    def prime(self, slot: Slot) -> None:
        """Remember who waits for the whole curve."""
        self.primed.append(slot)

    async def delete(self) -> None:
        """Count deletions."""
        self.deleted += 1

    def halt(self) -> None:
        """Count requests to pause."""
        self.halted += 1


def decoded(texts: list[str]) -> list[dict[str, Any]]:
    """The messages a slot handed its sender."""
    return [json.loads(text) for text in texts]


def test_a_proxy_forwards_commands_and_relays_frames_to_its_viewers() -> None:
    """Commands go to the owner and come back as its acknowledgement; frames reach the slots,
    a new viewer's first one being the whole curve."""

    async def scenario() -> None:
        owner = OwnerStub()
        proxy = FollowerProxy(owner, session())
        slot = proxy.attach()
        assert owner.primed == [slot]
        ack = await proxy.command(StepMsg(type="step", count=3), Settings())
        assert ack["type"] == "ack" and owner.commands == [StepMsg(type="step", count=3)]
        piece = {"type": "frame", "step": 3, "first_step": 3, "losses": [0.5], "playing": True}
        proxy.follow(piece)  # not whole: this viewer waits for its whole curve first
        whole = {"type": "frame", "step": 3, "first_step": 0, "losses": [0.7, 0.6, 0.55, 0.5]}
        proxy.primed(slot, {**whole, "playing": True})
        sent = decoded(await slot.next())
        assert [m["first_step"] for m in sent] == [0]
        assert proxy.step_count == 3 and proxy.playing
        proxy.stop()  # nobody watches here: the owner is asked to pause
        assert owner.halted == 1

    asyncio.run(scenario())


def test_promote_and_demote_swap_the_driver_and_keep_the_viewers() -> None:
    """A takeover puts a Runner in the proxy's place; a step-down, a proxy in the Runner's."""

    async def scenario() -> None:
        store = SessionStore(cap=10, idle_seconds=3600)
        owner = OwnerStub()
        followed = session()
        entry = store.restore("sid", followed, FollowerProxy(owner, followed))
        slot = entry.runner.attach()
        assert not isinstance(entry.runner, Runner)

        mine = session()
        for _ in range(4):
            mine.advance(1)
        store.promote("sid", mine)  # a takeover, from the snapshot at step 4
        runner = entry.runner
        assert isinstance(runner, Runner) and entry.session is mine
        assert runner.watchers == 1 and runner.together  # the session store's kind of Runner
        runner.publish_full()
        whole = [m for m in decoded(await slot.next()) if m.get("type") == "frame"]
        assert whole[-1]["step"] == 4 and whole[-1]["first_step"] == 0
        frame = await runner.command(StepMsg(type="step", count=2), Settings())
        assert frame["step"] == 6 and len(frame["losses"]) == 2  # trained here: the frame

        proxy = FollowerProxy(owner, mine)
        store.demote("sid", proxy)  # the lease went elsewhere
        assert entry.runner is proxy and proxy.watchers == 1 and runner.watchers == 0
        await entry.runner.command(StepMsg(type="step", count=1), Settings())
        assert owner.commands[-1] == StepMsg(type="step", count=1)
        proxy.follow({"type": "frame", "step": 7, "first_step": 7, "losses": [0.1]})
        sent = [m for m in decoded(await slot.next()) if m.get("type") == "frame"]
        assert sent[-1]["step"] == 7  # the same slot, fed by the owner's frames now
        entry.runner.detach(slot)

    asyncio.run(scenario())
