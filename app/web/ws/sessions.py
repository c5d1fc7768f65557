"""The learner's WebSocket: one session, the current frame on connect, then frames as it trains."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from app.domain.codec import encode
from app.domain.errors import UnavailableError
from app.domain.protocol import ClientMsg
from app.web.deps import get_settings, get_store
from app.web.work import charge_message
from app.web.ws.base import drive, serve

router = APIRouter()


# ---- endpoints ------------------------------------------------------------------------------


@router.websocket("/ws/sessions/{session_id}")
async def session_socket(websocket: WebSocket, session_id: str) -> None:
    """One learner's live session: the current frame on connect, then frames as it trains."""
    settings, store = get_settings(websocket), get_store(websocket)
    try:
        entry = await store.lookup(session_id)  # a cluster peer may follow another's session
    except UnavailableError as exc:
        await websocket.accept()
        await websocket.send_text(encode({"type": "error", "message": str(exc)}))
        await websocket.close(code=1013, reason="try again later")
        return
    if entry is not None:
        store.touch(entry)
    if entry is None:
        # Accept, then explain: a browser cannot read a refused handshake's status.
        await websocket.accept()
        await websocket.send_text(encode({"type": "error", "message": "no session with this id"}))
        await websocket.close(code=4404, reason="unknown session")
        return
    await websocket.accept()
    runner = entry.runner
    slot = runner.attach()

    async def handle(msg: ClientMsg) -> None:
        store.touch(entry)
        charge_message(websocket.scope, websocket.app, msg, runner.session)  # a fair share
        await drive(runner, msg, settings)

    try:
        # A viewer that stops reading is dropped, so it cannot keep the session playing.
        await serve(websocket, slot, handle, settings, send_timeout=settings.ws_send_seconds)
    finally:
        # Synchronous on purpose: this also runs when the connection's task is being cancelled.
        runner.detach(slot)
        store.touch(entry)
        cluster = store.cluster
        if runner.watchers == 0 and (cluster is None or not cluster.followed("session", entry.id)):
            runner.stop()  # nobody watches (here or on another peer): stop spending CPU
