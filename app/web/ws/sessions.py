"""The learner's WebSocket: one session, the current frame on connect, then frames as it trains."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from app.domain.errors import UnavailableError
from app.domain.protocol import ClientMsg
from app.web.deps import get_settings, get_store
from app.web.middleware import turn_away
from app.web.sockets import RETRY_SECONDS, ROOMMATE, VIEWER
from app.web.work import charge_message
from app.web.ws.base import admission, drive, serve

router = APIRouter()


# ---- endpoints ------------------------------------------------------------------------------


@router.websocket("/ws/sessions/{session_id}")
async def session_socket(websocket: WebSocket, session_id: str) -> None:
    """One learner's live session: the current frame on connect, then frames as it trains."""
    settings, store = get_settings(websocket), get_store(websocket)
    try:
        entry = await store.lookup(session_id)  # a cluster peer may follow another's session
    except UnavailableError as exc:
        await turn_away(websocket, str(exc), 1013, "try again later", RETRY_SECONDS)
        return
    if entry is None:
        await turn_away(websocket, "no session with this id", 4404, "unknown session")
        return
    store.touch(entry)
    # A fork of a room is a participant's socket: it counts against the address's session
    # quota, not its socket cap (a whole hall behind one NAT forks the room).
    refusal = admission(websocket).admit(ROOMMATE if entry.forked_from else VIEWER)
    if refusal is not None:
        await turn_away(websocket, refusal, 1013, "try again later", RETRY_SECONDS)
        return
    await websocket.accept()
    # entry.runner, asked anew each time: a Runner, or a follower's proxy, swapped when the
    # run changes hands between peers (the slot moves with it).
    slot = entry.runner.attach()

    async def handle(msg: ClientMsg) -> None:
        store.touch(entry)
        runner = entry.runner
        charge_message(websocket.scope, websocket.app, msg, runner.session, runner.playing)
        await drive(runner, msg, settings)

    try:
        # A viewer that stops reading is dropped, so it cannot keep the session playing.
        await serve(websocket, slot, handle, settings, send_timeout=settings.ws_send_seconds)
    finally:
        # Synchronous on purpose: this also runs when the connection's task is being cancelled.
        runner = entry.runner
        runner.detach(slot)
        store.touch(entry)
        cluster = store.cluster
        if runner.watchers == 0 and (cluster is None or not cluster.followed("session", entry.id)):
            runner.stop()  # nobody watches (here or on another peer): stop spending CPU
