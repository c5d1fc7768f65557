"""Hardening in front of the routes: body size, security headers, WebSocket guard, safe errors.

Pure ASGI middlewares (not BaseHTTPMiddleware, which would buffer streamed answers and does not
see WebSockets). What each defends, and the test that shows it, is listed in SECURITY.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from app.domain.codec import encode
from app.domain.errors import ClientError
from app.settings import Settings
from app.web.origin import origin_allowed
from app.web.schemas import ErrorOut
from app.web.sockets import RETRY_SECONDS, SHED_MESSAGE, VIEWER, Admission, SocketBook

log = logging.getLogger(__name__)

MAX_ERRORS = 10  # validation errors listed in one answer: enough to fix the input, never huge
MAX_TEXT = 200  # characters of any client-supplied text echoed in an error
LOG_EVERY = 10.0  # seconds between two log lines about refused connections

# ---- safe error answers ---------------------------------------------------------------------


def safe_text(value: object) -> str:
    """Text fit for an answer: valid UTF-8 (lone surrogates replaced) and short."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + "…"
    return text.encode("utf-8", "replace").decode("utf-8")


def _safe(value: Any) -> Any:
    """A JSON-able copy of an error detail with every string made safe."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {safe_text(k): _safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_safe(v) for v in value]
    if value is None or isinstance(value, bool | int):
        return value
    return safe_text(value)  # floats (maybe NaN), exceptions, anything else: as text


def validation_detail(errors: Iterable[Any]) -> list[dict[str, Any]]:
    """Where and what, never the offending input: it may be huge, non-finite or not UTF-8."""
    out = []
    for error in list(errors)[:MAX_ERRORS]:
        loc = [p if isinstance(p, int) else safe_text(p) for p in error.get("loc", ())]
        out.append({"type": error.get("type"), "loc": loc, "msg": safe_text(error.get("msg", ""))})
    return out


async def on_validation_error(request: Request, exc: Exception) -> Response:
    """422 naming each bad field; FastAPI's own answer echoes the input and can fail on NaN."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse({"detail": validation_detail(errors)}, status_code=422)


async def on_http_error(request: Request, exc: Exception) -> Response:
    """As FastAPI's answer, with any client text in the detail made safe to encode."""
    if not isinstance(exc, StarletteHTTPException):  # pragma: no cover - registered for it only
        raise exc
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    return JSONResponse(
        {"detail": _safe(exc.detail)}, status_code=exc.status_code, headers=exc.headers
    )


async def on_client_error(request: Request, exc: Exception) -> Response:
    """A refusal raised on purpose: its status, and its message as the detail."""
    if not isinstance(exc, ClientError):  # pragma: no cover - registered for it only
        raise exc
    headers = None
    if exc.retry_after is not None:
        headers = {"Retry-After": str(max(1, int(exc.retry_after + 0.999)))}  # whole seconds, up
    return JSONResponse({"detail": safe_text(exc.message)}, status_code=exc.status, headers=headers)


async def on_unexpected_error(request: Request, exc: Exception) -> Response:
    """A bug: JSON with no internals; Starlette re-raises it after, so the log has the trace."""
    return JSONResponse({"detail": "internal server error"}, status_code=500)


HARDENING_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "the body cannot be read (not UTF-8 JSON)"},
    413: {"model": ErrorOut, "description": "the body is over the server's size limit"},
    403: {"model": ErrorOut, "description": "a change sent by another site's page"},
    429: {"model": ErrorOut, "description": "over a rate limit, quota or work budget"},
}


def install_error_handlers(app: FastAPI) -> None:
    """Register the safe error answers."""
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(ClientError, on_client_error)
    app.add_exception_handler(Exception, on_unexpected_error)


# ---- request body size ----------------------------------------------------------------------


class BodyLimit:
    """413 for a request body over `max_bytes`: by Content-Length, or counted when chunked."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check before the route reads anything; pass everything else through untouched."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            await self.app(scope, receive, send)  # the server holds the body to its length
            return
        # No length (chunked, or no body at all): read at most max_bytes before the route runs,
        # then replay it. Not by Transfer-Encoding: not every server passes that header on.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replay: list[Message] = [{"type": "http.request", "body": b"".join(chunks)}]

        async def replayed() -> Message:
            return replay.pop() if replay else await receive()

        await self.app(scope, replayed, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The clear answer; the connection is closed so the rest of the body is never read."""
        detail = f"request body too large: the limit is {self.max_bytes} bytes"
        response = JSONResponse(
            {"detail": detail}, status_code=413, headers={"Connection": "close"}
        )
        await response(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    """A request header's value (latin-1, as HTTP sends them), or None."""
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1").strip()
    return None


# ---- security headers -----------------------------------------------------------------------

# A Host we may repeat in a header: a name or address and a port, nothing else.
_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")
# Scripts only from this origin, never inline; Plotly injects <style> elements, hence
# 'unsafe-inline' for styles (our own pages use none).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src {connect}; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# /docs and /redoc: Swagger UI / ReDoc from our own files (docs_offline.py), started by an
# inline script. They show no user content, so they alone get 'unsafe-inline' scripts.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "font-src 'self'; img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
STATIC_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


def content_security_policy(host: str | None) -> str:
    """The CSP; `'self'` plus this host's ws:// and wss:// (older Safari: 'self' has no ws)."""
    connect = "'self'"
    if host and _HOST.fullmatch(host):
        connect += f" ws://{host} wss://{host}"
    return CSP.format(connect=connect)


class SecurityHeaders:
    """Adds CSP, nosniff, Referrer-Policy and X-Frame-Options to every HTTP answer.

    A route that sets one of these itself keeps its own (a page may need a stricter policy).
    """

    def __init__(self, app: ASGIApp, docs_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.docs_paths = frozenset(docs_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap `send` to add the headers to the response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get("path") in self.docs_paths:
            csp = DOCS_CSP
        else:
            csp = content_security_policy(_header(scope, b"host"))
        extra = ((b"content-security-policy", csp.encode("latin-1")), *STATIC_HEADERS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {bytes(k).lower() for k, _ in headers}
                headers.extend((k, v) for k, v in extra if k not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# ---- WebSocket guard: origin and connection counts ------------------------------------------

ADMISSION = "admission"  # scope["state"] key: the door a room or session socket's route uses
SHED_CLOSE: Message = {"type": "websocket.close", "code": 1013, "reason": "try again later"}
# The routes that know what kind of socket they hold (app/web/sockets.py) and take their seat
# themselves; any other WebSocket route, present or future, is a viewer's, seated here.
ROUTED = ("/ws/rooms/", "/ws/sessions/")


class WebSocketGuard:
    """Every WebSocket route: the Origin check, the connection caps, and shedding."""

    def __init__(self, app: ASGIApp, settings: Settings, book: SocketBook) -> None:
        self.app = app
        self.settings = settings
        self.book = book
        self._refused = 0  # refusals not yet logged
        self._logged_at = -LOG_EVERY

    def _log_refusal(self, reason: str) -> None:
        """One log line per LOG_EVERY seconds however many are refused: a flood cannot fill logs."""
        self._refused += 1
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY:
            log.warning("refused %d websocket(s): %s", self._refused, reason.split(";")[0])
            self._refused = 0
            self._logged_at = now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a foreign origin (403) or a connection over a cap (1013 with a message)."""
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        websocket = WebSocket(scope, receive, send)
        if not origin_allowed(websocket, self.settings):
            await refuse(websocket, "origin not allowed")
            return
        client = scope.get("client")
        door = Admission(self.book, str(client[0]) if client else "unknown")
        door.on_refusal = self._log_refusal
        if str(scope.get("path", "")).startswith(ROUTED):
            scope.setdefault("state", {})[ADMISSION] = door
        else:
            reason = door.admit(VIEWER)
            if reason is not None:
                await turn_away(websocket, reason, 1013, "try again later", RETRY_SECONDS)
                return
        closed = False

        async def watched_receive() -> Message:
            ticket = door.ticket
            if ticket is None:
                return await receive()
            message = await _unless_shed(receive, ticket.shed)
            if message is None:  # shed: the route sees the client leave, we tell it why
                return {"type": "websocket.disconnect", "code": 1013}
            self.book.touch(ticket)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal closed
            closed = closed or message["type"] == "websocket.close"
            await send(message)

        try:
            await self.app(scope, watched_receive, watched_send)
            ticket = door.ticket
            if ticket is not None and ticket.shed.is_set() and not closed:
                with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
                    text = encode(
                        {"type": "error", "message": SHED_MESSAGE, "retry_after": RETRY_SECONDS}
                    )
                    await send({"type": "websocket.send", "text": text})
                    await send(SHED_CLOSE)
        finally:
            door.release()


async def _unless_shed(receive: Receive, shed: asyncio.Event) -> Message | None:
    """The next message, or None as soon as the socket is shed."""
    if shed.is_set():
        return None
    getting = asyncio.ensure_future(receive())
    shedding = asyncio.ensure_future(shed.wait())
    try:
        await asyncio.wait({getting, shedding}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        shedding.cancel()
        if not getting.done():
            getting.cancel()
    if getting.done() and not getting.cancelled():
        return getting.result()
    return None


async def turn_away(
    websocket: WebSocket, message: str, code: int, reason: str, retry_after: int | None = None
) -> None:
    """Accept (if not yet), send an error the page can show, then close with `code`.

    A browser cannot read a refused handshake's status, so every refusal is said this way;
    `retry_after` (seconds) marks it as temporary: the page waits at least that, then retries.
    """
    refusal: dict[str, object] = {"type": "error", "message": message}
    if retry_after is not None:
        refusal["retry_after"] = retry_after
    with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
        if websocket.application_state == WebSocketState.CONNECTING:
            await websocket.accept()
        await websocket.send_text(encode(refusal))
        await websocket.close(code=code, reason=reason)


async def refuse(websocket: WebSocket, reason: str) -> None:
    """Close before accepting: servers answer the handshake with 403 Forbidden."""
    # Not send_denial_response(): uvicorn logs a spurious error after it.
    await websocket.close(code=1008, reason=reason)


def install_middleware(app: FastAPI, settings: Settings) -> SocketBook:
    """Add the middlewares (outermost last) and return the book of open WebSockets."""
    book = SocketBook(settings)
    app.add_middleware(WebSocketGuard, settings=settings, book=book)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    docs = [p for p in (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url) if p]
    docs += ["/docs", "/redoc"]  # served by docs_offline.py
    app.add_middleware(SecurityHeaders, docs_paths=docs)
    return book
