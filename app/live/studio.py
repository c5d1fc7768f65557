"""The presenter's whole studio: `configure` replaces a room's run, the room keeps its code.

The new run is built (and checked against the server's limits, as POST /api/sessions checks
it) before anything changes, so a bad config costs the room nothing. The runner then swaps it in
and publishes its whole curve, which replaces any unsent frame of the old run in every viewer's
slot; only then does every connection get `configured`, so no frame of the old shape ever
follows that message (docs/api.md). On a cluster peer that only follows the room, the
message goes to the owner like every presenter command (app/live/ops.py) and the notice to
every other peer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.domain.codec import encode
from app.domain.protocol import ConfigureMsg, SessionConfigIn
from app.domain.session import new_session
from app.live.fairness import heavy

if TYPE_CHECKING:
    from app.live.rooms import Member, Room
    from app.live.stream import Frame, Runner
    from app.settings import Settings


async def replace_run(runner: Runner, config: SessionConfigIn, settings: Settings) -> Frame:
    """Build a run from `config` (InvalidError if it is bad or over a limit), then train it."""
    # In a worker thread, one heavy job at a time: a big data set takes a while to draw.
    session = await heavy(lambda: new_session(config, settings))
    return await runner.replace(session)


async def configure(room: Room, member: Member, msg: ConfigureMsg, settings: Settings) -> None:
    """The presenter's new config for the room: the run is replaced, everyone is told."""
    room.require_presenter(member)
    await room.runner.command(msg, settings)  # here, or at the peer that trains the room
    room.session = room.runner.session  # the trained copy here (a follower's is refreshed later)
    config = await room.runner.read("config")
    text = encode(configured_message(config))
    announce(room, text)
    if room.cluster is not None:
        room.cluster.notice("room", room.code, "configured", text)


def configured_message(config: dict[str, Any]) -> dict[str, Any]:
    """What every connection of the room reads: the new run's shape, never its data."""
    dataset = config.get("dataset") or {}
    return {
        "type": "configured",
        "preset": config.get("preset"),
        "layers": config.get("layers"),
        "activation": config.get("activation"),
        "output_activation": config.get("output_activation"),
        "loss": config.get("loss"),
        "dataset": dataset.get("name", "custom"),
    }


def announce(room: Room, text: str) -> None:
    """Tell this peer's connections; the old run's selection and phase mean nothing now."""
    room.selection = None
    room._selection_text = None
    room._phase_text = None
    for member in room.members:
        member.slot.notify("configured", text)
