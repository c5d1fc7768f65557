"""Gzip for the pages and the JSON answers: a slow link waits for bytes (issue 21).

Static files are zipped once and kept (app.web.static); everything else that is text, whole
(one body message) and at least MIN_BYTES long is gzipped here when the client accepts gzip.
Pure ASGI, as the other middlewares: WebSockets and streamed answers pass untouched, an answer
that already has a Content-Encoding keeps it, and `Vary: Accept-Encoding` is said once.
"""

from __future__ import annotations

import gzip

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.web.static import accepts_gzip

MIN_BYTES = 500  # below this gzip's header and the work cost more than they save
LEVEL = 6  # per answer, not once: zlib's default balance of size and time
TYPES = ("text/html", "application/json", "text/csv", "text/plain", "text/javascript")


class Gzip:
    """Gzip whole text answers for clients that accept it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hold the response start until the first body part says whether to compress."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        accept = ""
        for key, value in scope.get("headers", ()):
            if key.lower() == b"accept-encoding":
                accept = bytes(value).decode("latin-1")
        zip_ok = accepts_gzip(accept)
        start: Message | None = None

        async def send_maybe_zipped(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            first, start = start, None
            headers = MutableHeaders(raw=list(first.get("headers", ())))
            body = message.get("body", b"")
            kind = headers.get("content-type", "").partition(";")[0].strip().lower()
            whole = not message.get("more_body", False)
            if (
                whole
                and len(body) >= MIN_BYTES
                and kind in TYPES
                and "content-encoding" not in headers
                and first.get("status", 200) not in (204, 206, 304)
            ):
                vary = headers.get("vary", "")
                if "accept-encoding" not in vary.lower():
                    headers["Vary"] = f"{vary}, Accept-Encoding" if vary else "Accept-Encoding"
                if zip_ok:
                    body = gzip.compress(body, compresslevel=LEVEL, mtime=0)
                    headers["Content-Encoding"] = "gzip"
                    headers["Content-Length"] = str(len(body))
                    message = {**message, "body": body}
            await send({**first, "headers": headers.raw})
            await send(message)

        await self.app(scope, receive, send_maybe_zipped)
