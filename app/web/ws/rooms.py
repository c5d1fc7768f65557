"""The workshop room WebSocket: everyone follows the room's frames, the presenter drives."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from app.domain.errors import UnavailableError
from app.domain.protocol import (
    ClientMsg,
    ConfigureMsg,
    HelloMsg,
    PhaseMsg,
    QuizMsg,
    SelectMsg,
)
from app.live.rooms import WRONG_TOKEN
from app.live.studio import configure
from app.web.deps import get_rooms, get_settings
from app.web.middleware import turn_away
from app.web.sockets import (
    PRESENTER,
    PRESENTER_PROTOCOL,
    RETRY_SECONDS,
    ROOMMATE,
    offered_token,
)
from app.web.work import charge_message
from app.web.ws.base import admission, drive, serve

router = APIRouter()


@router.websocket("/ws/rooms/{code}")
async def room_socket(websocket: WebSocket, code: str) -> None:
    """A room: the current frame (whole curve) on connect, then the room's frames live."""
    # The Origin was checked by the WebSocketGuard middleware; the seat is taken here.
    settings, rooms = get_settings(websocket), get_rooms(websocket)
    token = offered_token(websocket.scope)
    offered = PRESENTER_PROTOCOL in (websocket.scope.get("subprotocols") or ())
    # Then explain any refusal: a browser cannot read a 4xx handshake. The protocol asked for is
    # echoed whatever the token: a browser drops a handshake that answers none.
    await websocket.accept(subprotocol=PRESENTER_PROTOCOL if offered else None)
    try:
        room = await rooms.lookup(code)  # a cluster peer may follow a room another one trains
    except UnavailableError as exc:
        await turn_away(websocket, str(exc), 1013, "try again later", RETRY_SECONDS)
        return
    if room is None:
        await turn_away(websocket, "no workshop room with this code", 4404, "unknown room")
        return
    presenter = token is not None and room.check_token(token)
    # A room's participants count against its seats, not their address's socket cap: a whole
    # hall behind one NAT gets in. The presenter is never refused (app/web/sockets.py).
    if not presenter and room.full:
        await turn_away(websocket, room.full_message(), 4429, "room full", RETRY_SECONDS)
        return
    door = admission(websocket)
    refusal = door.admit(PRESENTER if presenter else ROOMMATE, room.code)
    if refusal is not None:
        await turn_away(websocket, refusal, 1013, "try again later", RETRY_SECONDS)
        return
    member = room.join(presenter=presenter, voter=websocket.query_params.get("voter"))
    if token is not None and not presenter:
        member.slot.error(WRONG_TOKEN)

    async def handle(msg: ClientMsg) -> None:
        room.touch()
        if isinstance(msg, HelloMsg):
            room.hello(member, msg.token)
            door.promote(room.code)  # a presenter's socket is never shed
        elif isinstance(msg, SelectMsg):
            room.select(member, msg.selection)
        elif isinstance(msg, PhaseMsg):
            room.phase(member, msg.index)
        elif isinstance(msg, QuizMsg):
            await room.quiz.handle(member, msg, settings)  # ask, answer, reveal
        elif isinstance(msg, ConfigureMsg):  # the room's run replaced (app/live/studio.py)
            room.require_presenter(member)
            charge_message(websocket.scope, websocket.app, msg, room.session)
            await configure(room, member, msg, settings)
        else:
            room.require_presenter(member)
            charge_message(websocket.scope, websocket.app, msg, room.session, room.runner.playing)
            await drive(room.runner, msg, settings)

    try:
        await serve(
            websocket, member.slot, handle, settings, send_timeout=settings.room_send_seconds
        )
    finally:
        room.leave(member)  # synchronous: this also runs when the task is being cancelled
