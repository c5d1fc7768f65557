"""A run another peer trains, as this peer's viewers and web layer see it: a FollowerProxy.

It answers the questions a Runner answers (app/live/stream.py Driver) by asking the peer that
trains the run, through a Remote (app/live/cluster.py Link), and hands the frames that peer
publishes to this peer's viewers as if they were made here. It trains nothing and saves
nothing: the cluster's wiring puts it in a registry's item in place of a Runner, and swaps the
two when the run changes hands (the viewers move over, their connections stay open).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from app.domain.limits import step_work
from app.domain.protocol import PauseMsg
from app.live.stream import Audience, Slot, Tick

if TYPE_CHECKING:
    from app.domain.protocol import ClientMsg
    from app.domain.session import TrainingSession
    from app.live.capacity import Shape
    from app.live.stream import Frame
    from app.settings import Settings


class Remote(Protocol):
    """The peer that trains a run, seen from a peer that only follows it."""

    async def command(self, msg: ClientMsg) -> Frame:
        """Forward a driving message; the owner's acknowledgement (step, diverged, ...)."""
        ...

    async def read(self, name: str, params: dict[str, Any]) -> Any:
        """Forward a read-only question (app/live/ops.py READS)."""
        ...

    def prime(self, slot: Slot) -> None:
        """Give a new viewer the whole curve, fetched from the owner (without waiting)."""
        ...

    async def delete(self) -> None:
        """Delete the run for good, at the owner."""
        ...

    def halt(self) -> None:
        """Nobody watches here any more: ask the owner to pause, without waiting."""
        ...


class FollowerProxy(Audience):
    """Forwards commands and questions to the run's owner; relays its frames to viewers here."""

    def __init__(self, remote: Remote, session: TrainingSession) -> None:
        """`session`: this peer's copy of the run (its last snapshot), for prices and shapes."""
        super().__init__()
        self.remote = remote
        self.session = session
        self._followed: Frame | None = None  # the newest frame from the owner
        self._unprimed: set[Slot] = set()  # new viewers waiting for the whole curve

    # ---- what the web layer asks: at the owner -------------------------------------------

    async def command(self, msg: ClientMsg, settings: Settings) -> Frame:
        """Forward a driving message once; the owner's small acknowledgement (`type` "ack",
        `step`, `head`, `playing`, `diverged`), never the whole frame: the viewers here get
        the frame on the run's channel, whoever asked (a WebSocket, a REST route)."""
        return await self.remote.command(msg)

    async def read(self, name: str, **params: Any) -> Any:
        """A read-only question, answered by the owner."""
        return await self.remote.read(name, params)

    async def delete(self) -> None:
        """Delete the run at its owner."""
        await self.remote.delete()

    @property
    def step_count(self) -> int:
        """The step of the newest frame from the owner (this peer's copy's before any came)."""
        if self._followed is not None:
            return int(self._followed.get("step", 0))
        return self.session.step_count

    @property
    def playing(self) -> bool:
        """Whether the owner's newest frame says the run plays."""
        return bool(self._followed and self._followed.get("playing"))

    @property
    def busy(self) -> bool:
        """Someone watches here or the run plays."""
        return self.playing or bool(self._slots)

    @property
    def shape(self) -> Shape:
        """The network's layers and step work (this peer's copy has the same network)."""
        return tuple(self.session.config.layers), step_work(self.session)

    # ---- viewers ---------------------------------------------------------------------------

    def attach(self, max_errors: int = 16) -> Slot:
        """A new viewer's slot; its first frame is the whole curve, fetched from the owner."""
        slot = Slot(max_errors)
        self._slots.add(slot)
        self._unprimed.add(slot)
        self.remote.prime(slot)  # this peer's copy of the session is not the live one
        return slot

    def detach(self, slot: Slot) -> None:
        """Forget a viewer and stop its sender."""
        self._unprimed.discard(slot)
        super().detach(slot)

    def hand_over(self) -> set[Slot]:
        """Every viewer's slot, given up (a Runner here trains the run now, and sends each
        of them the whole curve)."""
        self._unprimed.clear()
        return super().hand_over()

    def follow(self, frame: Frame) -> None:
        """A frame the owner published: to every viewer here, as if made here.

        A viewer still waiting for its whole curve gets only a whole curve (`first_step` 0):
        its first frame must not be a piece of the curve, as in one process.
        """
        self._followed = frame
        tick = Tick(frame)
        merged: dict[Tick, Tick] = {}
        whole = frame.get("first_step") == 0
        for slot in self._slots:
            if whole or slot not in self._unprimed:
                slot.offer(tick, merged)
        if whole:
            self._unprimed.clear()

    def primed(self, slot: Slot, frame: Frame) -> None:
        """A new viewer's whole curve has come from the owner: frames flow from now on."""
        if slot in self._slots:
            slot.offer(Tick(frame))
            self._unprimed.discard(slot)

    # ---- playing ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Nobody watches here: the owner pauses unless someone watches there (no waiting)."""
        if self.playing:
            self.remote.halt()

    async def park(self) -> None:
        """The presenter left: the owner pauses, and its frame tells everyone."""
        await self.remote.command(PauseMsg(type="pause"))

    async def close(self) -> None:
        """Disconnect every viewer here (the owner plays on)."""
        for slot in list(self._slots):
            self.detach(slot)
