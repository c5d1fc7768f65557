"""WebSocket endpoints: parse client messages, drive a Runner, stream its frames."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import cast
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket
from pydantic import TypeAdapter, ValidationError
from starlette.websockets import WebSocketDisconnect, WebSocketDisconnected, WebSocketState

from app.limits import check_patch_limits, check_play, check_step_count, step_work
from app.protocol import (
    ClientMsg,
    HelloMsg,
    PauseMsg,
    PlayMsg,
    ResetMsg,
    SelectMsg,
    SessionPatch,
    SetMsg,
    StepMsg,
)
from app.settings import Settings
from app.store import SessionStore
from app.stream import Runner, Slot, encode, pump
from app.work import charge_message

log = logging.getLogger(__name__)
router = APIRouter()

CLIENT_MSG: TypeAdapter[ClientMsg] = TypeAdapter(ClientMsg)
DIVERGED = (
    "the run has diverged (its loss or weights are no longer finite): "
    "reset it, or lower the learning rate and reset"
)
Handler = Callable[[ClientMsg], Awaitable[None]]
_GONE = (WebSocketDisconnect, WebSocketDisconnected, OSError)  # the client left: not a bug
CLOSE_SECONDS = 1.0  # longest wait to hand a close frame to a client that may not be reading


class MessageError(ValueError):
    """A client message that cannot be used; its text goes back to the client."""


# ---- handshake ------------------------------------------------------------------------------


def origin_allowed(websocket: WebSocket, settings: Settings) -> bool:
    """No Origin (not a browser), the server's own origin, or one of settings.allowed_origins."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    origin = origin.strip().rstrip("/").lower()
    allowed = {o.lower() for o in settings.allowed_origins}
    if "*" in allowed or origin in allowed:
        return True
    host = websocket.headers.get("host", "").strip().lower()
    scheme = "https" if websocket.url.scheme == "wss" else "http"
    parts = urlsplit(origin)
    return bool(host) and parts.scheme == scheme and parts.netloc == host and not parts.path


async def refuse(websocket: WebSocket, reason: str) -> None:
    """Close before accepting: servers answer the handshake with 403 Forbidden."""
    # Not send_denial_response(): uvicorn logs a spurious error after it.
    await websocket.close(code=1008, reason=reason)


# ---- messages -------------------------------------------------------------------------------


def parse_message(raw: str | bytes | None, settings: Settings) -> ClientMsg:
    """Size check, JSON and schema validation; MessageError says what is wrong."""
    if raw is None:
        raise MessageError("empty message")
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode())
    if size > settings.max_message_bytes:
        raise MessageError(
            f"message too large: {size} bytes, the limit is {settings.max_message_bytes}"
        )
    try:
        return CLIENT_MSG.validate_json(raw)
    except ValidationError as exc:
        raise MessageError(describe(exc)) from exc


def describe(exc: ValidationError) -> str:
    """A short, readable summary of a validation error: where and what."""
    parts = []
    for error in exc.errors(include_url=False)[:3]:
        where = ".".join(str(p) for p in error["loc"])
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "invalid message: " + "; ".join(parts)


async def drive(runner: Runner, msg: ClientMsg, settings: Settings) -> None:
    """Apply a driving message (step, play, pause, reset, set); ValueError says why not."""
    if isinstance(msg, StepMsg):
        check_step_count(msg.count, settings, step_work(runner.session))
        await runner.step(msg.count)
        if runner.session.diverged:
            raise ValueError(DIVERGED)
    elif isinstance(msg, PlayMsg):
        check_play(msg, settings, step_work(runner.session))
        if not await runner.play(msg.steps_per_frame, msg.fps):
            raise ValueError(DIVERGED)
    elif isinstance(msg, PauseMsg):
        await runner.pause()
    elif isinstance(msg, ResetMsg):
        await runner.reset()
    elif isinstance(msg, SetMsg):
        patch = SessionPatch.model_validate(msg.model_dump(exclude={"type"}, exclude_unset=True))
        check_patch_limits(patch, settings)
        await runner.patch(lambda session: session.patch(patch))
    elif isinstance(msg, HelloMsg | SelectMsg):
        raise ValueError(f"{msg.type!r} is for workshop rooms, not sessions")
    else:  # pragma: no cover - the union is closed
        raise ValueError(f"unsupported message {msg!r}")


# ---- a connection: one reader task, one sender task -----------------------------------------


async def serve(
    websocket: WebSocket,
    slot: Slot,
    handle: Handler,
    settings: Settings,
    *,
    send_timeout: float | None = None,
) -> None:
    """Run a connection until either side stops; errors in messages never end it.

    With `send_timeout`, a client that takes no message for that long is disconnected (a room's
    stalled participant), so its sender never waits on it forever.
    """
    reader = asyncio.create_task(_read(websocket, slot, handle, settings))
    # The timeout is a watchdog in pump(), not a timer per message (benchmarks/room.py).
    sender = asyncio.create_task(pump(slot, websocket.send_text, send_timeout))
    try:
        done, _ = await asyncio.wait({reader, sender}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (reader, sender):
            task.cancel()
        # wait(), not gather(): if we are cancelled ourselves, our own CancelledError must
        # propagate (anyio/TestClient recognise it), not a child's.
        await asyncio.wait({reader, sender})
        # Both, not just the first done: a cancelled send can still end with the disconnect
        # (wait_for re-raises it), and an unretrieved exception is logged as a traceback.
        for task in (reader, sender):
            exc = None if task.cancelled() else task.exception()
            if exc is not None and not isinstance(exc, _GONE):
                log.error("websocket task failed", exc_info=exc)
    flood = None if reader not in done or reader.cancelled() else _result(reader)
    if flood is not None and websocket.application_state == WebSocketState.CONNECTED:
        # Policy violation: say why, then close; bounded, a flooder may not read at all.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                websocket.send_text(encode({"type": "error", "message": flood})), CLOSE_SECONDS
            )
            closing = websocket.close(code=1008, reason="message flood")
            await asyncio.wait_for(closing, CLOSE_SECONDS)
    elif reader not in done and websocket.application_state == WebSocketState.CONNECTED:
        # The sender stopped first: the session went away (deleted or expired), or the client
        # stopped reading. Bounded: a close frame waits for the same full buffer as a frame.
        failure = None if sender.cancelled() or sender not in done else sender.exception()
        slow = isinstance(failure, TimeoutError)
        code, reason = (1008, "too slow to receive frames") if slow else (1001, "session closed")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(websocket.close(code=code, reason=reason), CLOSE_SECONDS)


class MessageRate:
    """A connection's message budget: a token bucket, plus a tally of refusals that closes a flood.

    `rate` messages per second on average, `burst` at once. A message over the budget is
    refused (with an error at most once per WARN_SECONDS, then quietly); refusals are forgiven at
    `rate` per second, and more than `flood_limit` outstanding mean the client keeps flooding:
    close it. Sending under twice the rate never closes (a held-down step key is not a flood).
    """

    WARN_SECONDS = 1.0  # one explanation per second is plenty; more would flood the client back

    OK, WARN, QUIET, FLOOD = "ok", "warn", "quiet", "flood"

    def __init__(
        self,
        rate: float,
        burst: int,
        flood_limit: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.flood_limit = flood_limit
        self._clock = clock
        self._tokens = float(burst)
        self._strikes = 0.0
        self._at = clock()
        self._warned_at: float | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> MessageRate:
        """The server's configured budget."""
        return cls(
            settings.ws_messages_per_second, settings.ws_message_burst, settings.ws_flood_limit
        )

    def check(self) -> str:
        """Spend one message: OK, WARN / QUIET (refused), or FLOOD (close the connection)."""
        now = self._clock()
        elapsed, self._at = max(0.0, now - self._at), now
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._strikes = max(0.0, self._strikes - elapsed * self.rate)
        if self._tokens >= 1:
            self._tokens -= 1
            return self.OK
        self._strikes += 1
        if self._strikes > self.flood_limit:
            return self.FLOOD
        if self._warned_at is not None and now - self._warned_at < self.WARN_SECONDS:
            return self.QUIET
        self._warned_at = now
        return self.WARN

    def message(self) -> str:
        """What a refused client reads."""
        return (
            f"too many messages: at most {self.rate:g} per second (bursts of {self.burst}); "
            "this one was ignored"
        )


FLOOD_MESSAGE = "message flood: this connection sent far too many messages and is closed"


async def _read(
    websocket: WebSocket, slot: Slot, handle: Handler, settings: Settings
) -> str | None:
    """Read messages in order; a bad one gets an error in the slot, the connection stays.

    Returns None when the client left, or a reason to close (a message flood).
    """
    rate = MessageRate.from_settings(settings)
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return None
        # Before parsing: a flood must cost as little as possible.
        verdict = rate.check()
        if verdict == MessageRate.FLOOD:
            return FLOOD_MESSAGE
        if verdict != MessageRate.OK:
            if verdict == MessageRate.WARN:
                slot.error(rate.message())
            continue
        raw = message.get("text")
        if raw is None:
            raw = message.get("bytes")
        try:
            await handle(parse_message(raw, settings))
        except ValueError as exc:  # MessageError included
            slot.error(str(exc))
        except Exception:  # a bug must not cost the learner the connection; log it loudly
            log.exception("message handler failed")
            slot.error("internal error while handling this message")


def _result(task: asyncio.Task[str | None]) -> str | None:
    """A finished reader's close reason; None if it failed (already logged)."""
    return None if task.exception() is not None else task.result()


# ---- endpoints ------------------------------------------------------------------------------


@router.websocket("/ws/sessions/{session_id}")
async def session_socket(websocket: WebSocket, session_id: str) -> None:
    """One learner's live session: the current frame on connect, then frames as it trains."""
    settings = cast(Settings, websocket.app.state.settings)
    store = cast(SessionStore, websocket.app.state.store)
    if not origin_allowed(websocket, settings):
        await refuse(websocket, "origin not allowed")
        return
    entry = store.get(session_id)
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
        if runner.watchers == 0:
            runner.stop()  # nobody watches: stop spending CPU on this session
