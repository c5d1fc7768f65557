"""What every WebSocket endpoint shares: parse client messages, drive a Runner, stream frames."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from fastapi import WebSocket
from pydantic import TypeAdapter, ValidationError
from starlette.websockets import WebSocketDisconnect, WebSocketDisconnected, WebSocketState

from app.domain.codec import encode
from app.domain.errors import ClientError, InvalidError
from app.domain.protocol import (
    ClientMsg,
    ConfigureMsg,
    HelloMsg,
    PhaseMsg,
    QuizMsg,
    SelectMsg,
    SessionPatch,
    SetMsg,
    StepMsg,
)
from app.live.ops import DIVERGED
from app.live.stream import Driver, Slot, pump
from app.settings import Settings
from app.web.middleware import ADMISSION
from app.web.sockets import Admission

log = logging.getLogger(__name__)

CLIENT_MSG: TypeAdapter[ClientMsg] = TypeAdapter(ClientMsg)
Handler = Callable[[ClientMsg], Awaitable[None]]
_GONE = (WebSocketDisconnect, WebSocketDisconnected, OSError)  # the client left: not a bug
CLOSE_SECONDS = 1.0  # longest wait to hand a close frame to a client that may not be reading


def gone(exc: BaseException) -> bool:
    """The client left, or its connection was closed under a send: not a bug, no traceback."""
    if isinstance(exc, _GONE):
        return True
    # uvicorn closes a connection itself (a frame over ws_max_size: 1009) and then refuses the
    # send in flight with this RuntimeError, the only way it has to say so.
    return isinstance(exc, RuntimeError) and "after sending 'websocket.close'" in str(exc)


class MessageError(InvalidError):
    """A client message that cannot be used; its text goes back to the client."""


def admission(websocket: WebSocket) -> Admission:
    """This connection's door (the WebSocketGuard middleware put it in the scope's state)."""
    door = (websocket.scope.get("state") or {}).get(ADMISSION)
    if not isinstance(door, Admission):
        raise RuntimeError("the WebSocketGuard middleware seats room and session sockets")
    return door


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


async def drive(runner: Driver, msg: ClientMsg, settings: Settings) -> None:
    """Apply a driving message (step, play, pause, reset, set, seek); InvalidError says why not.

    The runner applies it here, or forwards it to the peer that trains the run (app/live/ops.py).
    """
    if isinstance(msg, HelloMsg | SelectMsg | PhaseMsg | QuizMsg | ConfigureMsg):
        raise InvalidError(f"{msg.type!r} is for workshop rooms, not sessions")
    if isinstance(msg, SetMsg):
        try:
            SessionPatch.model_validate(msg.model_dump(exclude={"type"}, exclude_unset=True))
        except ValidationError as exc:
            raise MessageError(describe(exc)) from exc
    # A follower's proxy answers with the owner's small acknowledgement: the frame reaches the
    # slots on the run's channel; a Runner's frame reached them already.
    frame = await runner.command(msg, settings)
    if isinstance(msg, StepMsg) and frame.get("diverged"):
        raise InvalidError(DIVERGED)


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
    slot.packed = websocket.query_params.get("frames") == "packed"  # app/domain/codec.py
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
            if exc is not None and not gone(exc):
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
        except ClientError as exc:  # MessageError, a limit, a participant driving a room
            slot.error(str(exc))
        except Exception:  # a bug must not cost the learner the connection; log it loudly
            log.exception("message handler failed")
            slot.error("internal error while handling this message")


def _result(task: asyncio.Task[str | None]) -> str | None:
    """A finished reader's close reason; None if it failed (already logged)."""
    return None if task.exception() is not None else task.result()
