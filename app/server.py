"""uvicorn protocol classes that free what a stalled or slow client would otherwise hold.

- A WebSocket whose application has ended but whose peer stopped reading: asyncio's
  `transport.close()` waits for the write buffer to drain, forever if the peer never reads, so
  the descriptor stays open. Here the transport is aborted shortly after the app has returned.
- An HTTP request that arrives slowly (slowloris: headers a byte at a time, a body that never
  ends): uvicorn has no read timeout of its own; here a request must arrive whole within
  `http_read_seconds`, or the connection is closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

ABORT_SECONDS = 1.0  # after the app returned: time for a close frame to leave before aborting


class ReapingWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol; a connection the app is done with cannot linger."""

    async def run_asgi(self) -> None:
        """Run the app; then, if the peer still holds the connection, abort it soon."""
        try:
            await super().run_asgi()
        finally:
            if not self.disconnected:
                self.loop.call_later(ABORT_SECONDS, self._abort_if_stuck)

    def _abort_if_stuck(self) -> None:
        """Abort if unsent data is still buffered: close() would wait on it forever."""
        transport = self.transport
        if self.disconnected or transport is None:
            return
        if transport.get_write_buffer_size() > 0 or not self.close_sent:
            transport.abort()  # frees the descriptor now; connection_lost runs as usual


class TimedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for reading each request, body included."""

    read_seconds = 20.0  # set per server by configure()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock: the first request must arrive in time."""
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Nothing left to time."""
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        """A keep-alive connection's next request: its own deadline."""
        super().on_message_begin()
        if self._read_timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        """A WebSocket upgrade is no longer ours to time once its headers are in."""
        super().on_headers_complete()
        if self.parser.should_upgrade():
            self._disarm()

    def on_message_complete(self) -> None:
        """The whole request arrived: the app's own time is not limited here."""
        self._disarm()
        super().on_message_complete()

    def _arm(self) -> None:
        self._disarm()
        self._read_timer = self.loop.call_later(self.read_seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _too_slow(self) -> None:
        """Close a connection whose request did not arrive in time (nothing to answer yet)."""
        self._read_timer = None
        if not self.transport.is_closing():
            if self.cycle is not None and not self.cycle.response_complete:
                self.cycle.disconnected = True  # the app, if reading the body, sees a disconnect
                self.cycle.message_event.set()
            self.transport.close()


def configure(http_read_seconds: float) -> type[TimedHttpProtocol]:
    """The HTTP protocol class with this server's read deadline."""
    return type("TimedHttp", (TimedHttpProtocol,), {"read_seconds": http_read_seconds})
