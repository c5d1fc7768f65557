"""The workshop room WebSocket: everyone follows the room's frames, the presenter drives."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from app.domain.codec import encode
from app.domain.errors import UnavailableError
from app.domain.protocol import ClientMsg, HelloMsg, PhaseMsg, SelectMsg
from app.live.rooms import Room
from app.settings import Settings
from app.web.deps import get_rooms, get_settings
from app.web.middleware import OVER_CAP
from app.web.work import charge_message
from app.web.ws.base import MessageError, drive, parse_message, serve

router = APIRouter()

# A full room still lets its presenter back in: a connection has this long to say hello.
HELLO_SECONDS = 2.0


@router.websocket("/ws/rooms/{code}")
async def room_socket(websocket: WebSocket, code: str) -> None:
    """A room: the current frame (whole curve) on connect, then the room's frames live."""
    # The Origin and connection caps were checked by the WebSocketGuard middleware.
    settings, rooms = get_settings(websocket), get_rooms(websocket)
    await websocket.accept()  # then explain any refusal: a browser cannot read a 4xx handshake
    try:
        room = await rooms.lookup(code)  # a cluster peer may follow a room another one trains
    except UnavailableError as exc:
        await _turn_away(websocket, str(exc), 1013, "try again later")
        return
    if room is None:
        await _turn_away(websocket, "no workshop room with this code", 4404, "unknown room")
        return
    presenter = False
    # Over a connection cap (security.py let it in to knock) or a full room: only the presenter.
    over_cap = (websocket.scope.get("state") or {}).get(OVER_CAP)
    if room.full or over_cap:
        presenter = await _presenter_knocks(websocket, room, settings)
        if not presenter and over_cap:
            await _turn_away(websocket, over_cap, 1013, "try again later")
            return
        if not presenter:
            await _turn_away(websocket, room.full_message(), 4429, "room full")
            return
    member = room.join(presenter=presenter)

    async def handle(msg: ClientMsg) -> None:
        room.touch()
        if isinstance(msg, HelloMsg):
            room.hello(member, msg.token)
        elif isinstance(msg, SelectMsg):
            room.select(member, msg.selection)
        elif isinstance(msg, PhaseMsg):
            room.phase(member, msg.index)
        else:
            room.require_presenter(member)
            charge_message(websocket.scope, websocket.app, msg, room.session)
            await drive(room.runner, msg, settings)

    try:
        await serve(
            websocket, member.slot, handle, settings, send_timeout=settings.room_send_seconds
        )
    finally:
        room.leave(member)  # synchronous: this also runs when the task is being cancelled


async def _presenter_knocks(websocket: WebSocket, room: Room, settings: Settings) -> bool:
    """True if the first message, within HELLO_SECONDS, is a hello with the right token."""
    try:
        message = await asyncio.wait_for(websocket.receive(), HELLO_SECONDS)
    except TimeoutError:
        return False
    if message["type"] == "websocket.disconnect":
        return False
    raw = message.get("text")
    if raw is None:
        raw = message.get("bytes")
    try:
        msg = parse_message(raw, settings)
    except MessageError:
        return False
    return isinstance(msg, HelloMsg) and room.check_token(msg.token)


async def _turn_away(websocket: WebSocket, message: str, code: int, reason: str) -> None:
    """An error message the page can show, then close."""
    with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
        await websocket.send_text(encode({"type": "error", "message": message}))
        await websocket.close(code=code, reason=reason)
