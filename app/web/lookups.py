"""A rate limit on guessing room codes: failed lookups per client address (pure ASGI).

Every path that names a room code (`/api/rooms/{code}...`, `/room/{code}`, `/present/{code}`,
`/join?code=`, `/ws/rooms/{code}`) is a lookup. Each takes a token of its address's bucket
(`room_lookups_per_second` on average, bursts of `room_lookup_burst`), given back if the room
was found (a WebSocket's at once when accepted); a miss (a 404, or a WebSocket closed with
4404) keeps it. With the bucket empty,
every lookup from that address is answered 429 with Retry-After (a WebSocket: an error, then
close 1013) until it refills. Lookups that find their room cost nothing: a workshop of
hundreds behind one NAT joins at once, while guessing codes is all misses.
"""

from __future__ import annotations

import contextlib
import math

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.domain.codec import encode
from app.live.fairness import AddressBuckets
from app.settings import Settings

ROOM_PREFIXES = ("/api/rooms/", "/room/", "/present/", "/ws/rooms/")


class MissBudget(AddressBuckets):
    """Failed room-code lookups per address."""

    def wait(self, address: str) -> float:
        """Seconds until `address` may look up again; 0 if it may now."""
        tokens = self.tokens(address)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate


def is_lookup(scope: Scope) -> bool:
    """Whether this request names a room code."""
    path = str(scope.get("path", ""))
    if path.startswith(ROOM_PREFIXES) and path.rstrip("/") not in ("/api/rooms", "/ws/rooms"):
        return True
    return path == "/join" and b"code=" in bytes(scope.get("query_string", b""))


class LookupLimit:
    """The middleware: refuse while the address's bucket is empty, charge each miss."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.budget = MissBudget(settings.room_lookups_per_second, settings.room_lookup_burst)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass through, watching the answer for a miss."""
        if scope["type"] not in ("http", "websocket") or not is_lookup(scope):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = str(client[0]) if client else "unknown"
        wait = self.budget.wait(address)
        if wait > 0:
            await self._refuse(scope, receive, send, wait)
            return
        # Spent up front, given back on a hit: concurrent guesses cannot outrun the bucket.
        # A WebSocket is given back as soon as it is accepted (it may stay open for hours: a
        # whole workshop's sockets must not hold the address's tokens) and charged again if it
        # is then closed with 4404.
        self.budget.spend(address)
        held = True
        missed = False

        async def watch(message: Message) -> None:
            nonlocal held, missed
            kind = message["type"]
            if kind == "websocket.accept" and held:
                held = False
                self.budget.spend(address, -1.0)
            elif (kind == "http.response.start" and message.get("status") == 404) or (
                kind == "websocket.close" and message.get("code") == 4404
            ):
                missed = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if missed and not held:
                self.budget.spend(address)  # given back at accept: a miss after all
            elif not missed and held:
                self.budget.spend(address, -1.0)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, wait: float) -> None:
        """429 with Retry-After, or for a WebSocket an error the page can show, then 1013."""
        retry = max(1, math.ceil(wait))
        message = (
            "too many room codes not found from your address: check the code and try again "
            f"in {retry} s"
        )
        if scope["type"] == "http":
            response = JSONResponse(
                {"detail": message}, status_code=429, headers={"Retry-After": str(retry)}
            )
            await response(scope, receive, send)
            return
        websocket = WebSocket(scope, receive, send)
        with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
            await websocket.accept()
            await websocket.send_text(encode({"type": "error", "message": message}))
            await websocket.close(code=1013, reason="try again later")
