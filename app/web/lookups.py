"""A rate limit on guessing room codes: failed lookups per client address (pure ASGI).

Every path that names a room code (`/api/rooms/{code}...`, `/room/{code}`, `/present/{code}`,
`/join?code=`, `/ws/rooms/{code}`) is a lookup. Only misses are charged: a code this server
holds is looked up for free and holds nothing while its answer runs, so a lecture hall of
hundreds behind one NAT opens the page, config, data and socket at once. A code not held here
takes a token of its address's bucket (`room_lookups_per_second` on average, bursts of
`room_lookup_burst`) before it is looked up (concurrent guesses cannot outrun the bucket), given
back if it was found after all (a cluster peer brought the room in) and kept on a miss (a 404,
or a WebSocket closed with 4404). With the bucket empty, every lookup from that address is
answered 429 with Retry-After (a page: the join form that says so and reloads itself; a
WebSocket: an error with `retry_after`, then close 1013) until it refills, known codes too:
otherwise a guesser's 200 among 429s would tell it which code is right. Two proofs pass
regardless, since neither can be guessed: a room socket whose handshake offers the presenter
token, and a request carrying the room's pass, a cookie its page set when it was found
(everyone already in stays in, whatever one student behind the same NAT guesses).
"""

from __future__ import annotations

import contextlib
import hmac
import math
from collections.abc import Callable
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.domain.codec import encode
from app.live.fairness import AddressBuckets
from app.live.rooms import Room
from app.live.route import ALPHABET, CODE_LENGTH
from app.settings import Settings
from app.web.pages import page_context, templates
from app.web.sockets import offered_token

ROOM_PREFIXES = ("/api/rooms/", "/room/", "/present/", "/ws/rooms/")
PAGE_PREFIXES = ("/room/", "/present/", "/join")


class MissBudget(AddressBuckets):
    """Failed room-code lookups per address."""

    def wait(self, address: str) -> float:
        """Seconds until `address` may look up again; 0 if it may now."""
        tokens = self.tokens(address)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate


def looked_up_code(scope: Scope) -> str | None:
    """The room code this request names (as typed), or None if it names none."""
    path = str(scope.get("path", ""))
    if path.startswith(ROOM_PREFIXES) and path.rstrip("/") not in ("/api/rooms", "/ws/rooms"):
        prefix = next(p for p in ROOM_PREFIXES if path.startswith(p))
        return path[len(prefix) :].split("/", 1)[0]
    if path == "/join":
        query = bytes(scope.get("query_string", b"")).decode("latin-1")
        codes = parse_qs(query).get("code")
        return codes[0] if codes else None
    return None


def is_lookup(scope: Scope) -> bool:
    """Whether this request names a room code."""
    return looked_up_code(scope) is not None


class LookupLimit:
    """The middleware: known codes pass free; unknown ones are charged, refused when out."""

    def __init__(
        self, app: ASGIApp, settings: Settings, find: Callable[[str], Room | None] | None = None
    ) -> None:
        self.app = app
        self.budget = MissBudget(settings.room_lookups_per_second, settings.room_lookup_burst)
        # The room this server holds under a code, if any (no I/O: the registry's own table).
        self.find = find or (lambda code: None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass through, watching the answer for a miss."""
        code = looked_up_code(scope) if scope["type"] in ("http", "websocket") else None
        if code is None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = str(client[0]) if client else "unknown"
        room = self.find(code)
        if room is not None and (self._presenter(scope, room) or _has_pass(scope, room)):
            # The token, or the pass a hit gave this browser, proves the code was not guessed:
            # a hall's typos (or one student guessing) never lock out those already in.
            await self.app(scope, receive, send)
            return
        wait = self.budget.wait(address)
        if wait > 0:  # known codes too: see the module's docstring
            await self._refuse(scope, receive, send, wait)
            return
        if room is not None:  # a hit: free, nothing held meanwhile; a page gets its pass
            await self.app(scope, receive, _giving_pass(send, room) if _is_page(scope) else send)
            return
        # Spent up front, given back on a hit (a peer's room followed from here now).
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

    @staticmethod
    def _presenter(scope: Scope, room: Room) -> bool:
        """A room socket whose handshake offers the room's presenter token."""
        token = offered_token(scope) if scope["type"] == "websocket" else None
        return token is not None and room.check_token(token)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, wait: float) -> None:
        """429 with Retry-After (a page: the join form, reloading), or for a WebSocket 1013."""
        retry = max(1, math.ceil(wait))
        message = (
            "too many room codes not found from your address: check the code and try again "
            f"in {retry} s"
        )
        if scope["type"] == "http":
            if str(scope.get("path", "")).startswith(PAGE_PREFIXES):
                await _busy_page(scope, retry)(scope, receive, send)
                return
            response = JSONResponse(
                {"detail": message}, status_code=429, headers={"Retry-After": str(retry)}
            )
            await response(scope, receive, send)
            return
        websocket = WebSocket(scope, receive, send)
        with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
            await websocket.accept()
            refusal = {"type": "error", "message": message, "retry_after": retry}
            await websocket.send_text(encode(refusal))
            await websocket.close(code=1013, reason="try again later")


PASS_COOKIE = "bp_pass_"  # + the room's code
PASS_SECONDS = 12 * 3600  # a day's workshop


def _is_page(scope: Scope) -> bool:
    """An HTTP request for a room's page (where a pass is handed out)."""
    return scope["type"] == "http" and str(scope.get("path", "")).startswith(
        ("/room/", "/present/")
    )


def _has_pass(scope: Scope, room: Room) -> bool:
    """The request carries this room's pass cookie (sent by the browser on every request)."""
    wanted = f"{PASS_COOKIE}{room.code}="
    for key, value in scope.get("headers", ()):
        if key.lower() != b"cookie":
            continue
        for part in bytes(value).decode("latin-1").split(";"):
            part = part.strip()
            if part.startswith(wanted):
                return hmac.compare_digest(part[len(wanted) :], room.join_pass())
    return False


def _giving_pass(send: Send, room: Room) -> Send:
    """`send`, adding the room's pass cookie to a successful page."""
    cookie = (
        f"{PASS_COOKIE}{room.code}={room.join_pass()}; Path=/; Max-Age={PASS_SECONDS}; "
        "HttpOnly; SameSite=Strict"
    ).encode("latin-1")

    async def giving(message: Message) -> None:
        if message["type"] == "http.response.start" and message.get("status") == 200:
            headers = [*message.get("headers", ()), (b"set-cookie", cookie)]
            message = {**message, "headers": headers}
        await send(message)

    return giving


def _busy_page(scope: Scope, retry: int) -> Response:
    """The join form saying it will try again, with Refresh: no script needed to come back."""
    code = looked_up_code(scope) or ""
    error = (
        "Many lookups of room codes that do not exist came from your network just now. "
        f"This page tries again by itself in {retry} s."
    )
    context = page_context(
        code=code[:32], error=error, code_length=CODE_LENGTH, code_alphabet=ALPHABET
    )
    headers = {"Retry-After": str(retry), "Refresh": str(retry), "Cache-Control": "no-store"}
    return templates.TemplateResponse(
        Request(scope), "join.html", context, status_code=429, headers=headers
    )
